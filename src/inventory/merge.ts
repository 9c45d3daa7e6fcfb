// One node per Gitaly: the same node found by several sources (the static list names it, Prometheus
// scrapes it, Praefect routes to it) is merged by name, TLS or plaintext address, or Prometheus
// instance. Earlier sources win field by field; later ones only fill gaps.
import type { NodeConfig, NodeOverride } from '../config/types.ts';

export interface MergedNode {
  node: NodeConfig;
  /** Ids of the sources that list it, in source order. */
  sources: string[];
}

function identities(node: NodeConfig): string[] {
  const keys = [`name ${node.name}`];
  if (node.tlsAddress) keys.push(`tls ${node.tlsAddress.toLowerCase()}`);
  if (node.plaintextAddress) keys.push(`tcp ${node.plaintextAddress.toLowerCase()}`);
  if (node.prometheusInstance) keys.push(`instance ${node.prometheusInstance}`);
  return keys;
}

function fill(into: NodeConfig, from: NodeConfig): NodeConfig {
  const defined = Object.fromEntries(Object.entries(into).filter(([, v]) => v !== undefined)) as NodeConfig;
  const merged: NodeConfig = { ...from, ...defined };
  // An operator's `plaintext_address: none` is not undone by a source that still lists listen_addr.
  if (into.plaintextListenerRemoved) delete merged.plaintextAddress;
  return merged;
}

export function mergeNodes(groups: ReadonlyArray<{ source: string; nodes: readonly NodeConfig[] }>): MergedNode[] {
  const merged: MergedNode[] = [];
  const byIdentity = new Map<string, MergedNode>();
  for (const group of groups) {
    for (const node of group.nodes) {
      const existing = identities(node)
        .map((key) => byIdentity.get(key))
        .find((m) => m !== undefined);
      const entry = existing ?? { node, sources: [] };
      if (existing) existing.node = fill(existing.node, node);
      else merged.push(entry);
      if (!entry.sources.includes(group.source)) entry.sources.push(group.source);
      for (const key of identities(entry.node)) if (!byIdentity.has(key)) byIdentity.set(key, entry);
    }
  }
  return merged;
}

export function applyOverrides(node: NodeConfig, overrides: readonly NodeOverride[]): NodeConfig {
  const o = overrides.find((candidate) => candidate.name === node.name);
  if (!o) return node;
  const out: NodeConfig = { ...node };
  if (o.role) out.role = o.role;
  if (o.certificateFile) out.certificateFile = o.certificateFile;
  if (o.serverName) out.serverName = o.serverName;
  return out;
}
