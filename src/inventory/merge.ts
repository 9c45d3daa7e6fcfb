// One node per Gitaly: the same node found by several sources (the static list names it, Prometheus
// scrapes it, Praefect routes to it) is merged when the entries share an identity key (name, TLS or
// plaintext address, Prometheus instance) and agree on every field both give. Earlier sources win
// the name; later ones fill gaps. Entries that share a key but disagree on a field describe two
// Gitalys (or one described wrongly) and are never merged: each stays a node of its own where the
// names allow, and every entry of the pair carries a conflict that blocks it until the sources
// tell them apart. A merge that dropped the second Gitaly would leave it unjudged, and the fleet
// could read complete while it still serves plaintext.
import { NO_TLS_LISTENER } from '../config/schema.ts';
import type { NodeConfig, NodeOverride } from '../config/types.ts';

export interface MergedNode {
  node: NodeConfig;
  /** Ids of the sources that list it, in source order. */
  sources: string[];
  /** Sentences, one per entry this node's identity collides with: each names both entries and the field. */
  conflicts: string[];
}

function identities(node: NodeConfig): string[] {
  const keys = [`name ${node.name}`];
  if (node.tlsAddress) keys.push(`tls_address ${node.tlsAddress.toLowerCase()}`);
  if (node.plaintextAddress) keys.push(`plaintext_address ${node.plaintextAddress.toLowerCase()}`);
  if (node.prometheusInstance) keys.push(`prometheus_instance ${node.prometheusInstance}`);
  return keys;
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}

const sameText = (a: string, b: string): boolean => a === b;
const sameHost = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The fields two entries of one Gitaly must agree on, as the configuration spells them. */
const FIELDS: ReadonlyArray<{ key: keyof NodeConfig; label: string; same: (a: string, b: string) => boolean }> = [
  { key: 'tlsAddress', label: 'tls_address', same: sameHost },
  { key: 'plaintextAddress', label: 'plaintext_address', same: sameHost },
  { key: 'metricsUrl', label: 'metrics_url', same: sameUrl },
  { key: 'prometheusInstance', label: 'prometheus_instance', same: sameText },
  { key: 'role', label: 'role', same: sameText },
  { key: 'certificateFile', label: 'certificate_file', same: sameText },
  { key: 'serverName', label: 'server_name', same: sameHost },
];

/** The first field both entries give with different values, or null when they agree. */
function disagreement(a: NodeConfig, b: NodeConfig): { label: string; a: string; b: string } | null {
  for (const f of FIELDS) {
    const x = a[f.key];
    const y = b[f.key];
    if (typeof x !== 'string' || typeof y !== 'string' || x === '' || y === '') continue;
    // An operator's `plaintext_address: none` is a declaration that a source still listing
    // listen_addr does not contradict (a Gitaly not restarted since still has it in its file).
    if (f.key === 'plaintextAddress' && (a.plaintextListenerRemoved || b.plaintextListenerRemoved)) continue;
    if (!f.same(x, y)) return { label: f.label, a: x, b: y };
  }
  return null;
}

function fill(into: NodeConfig, from: NodeConfig): NodeConfig {
  const defined = Object.fromEntries(Object.entries(into).filter(([, v]) => v !== undefined)) as NodeConfig;
  const merged: NodeConfig = { ...from, ...defined };
  // An operator's `plaintext_address: none` is not undone by a source that still lists listen_addr.
  if (into.plaintextListenerRemoved) delete merged.plaintextAddress;
  return merged;
}

function sharedKey(a: NodeConfig, b: NodeConfig): string {
  const keys = new Set(identities(a));
  return identities(b).find((k) => keys.has(k)) ?? `name ${b.name}`;
}

function conflictSentence(
  first: { node: NodeConfig; source: string },
  second: { node: NodeConfig; source: string },
  field: { label: string; a: string; b: string },
): string {
  const [keyName, ...value] = sharedKey(first.node, second.node).split(' ');
  return (
    `identity conflict: node "${first.node.name}" (${first.source}) and node "${second.node.name}" (${second.source}) ` +
    `share ${keyName} ${JSON.stringify(value.join(' '))} but disagree on ${field.label}: ${JSON.stringify(field.a)} vs ${JSON.stringify(field.b)}. ` +
    'They are not merged, and neither can advance until the sources tell them apart (a distinct name, address or instance label) or agree'
  );
}

export function mergeNodes(groups: ReadonlyArray<{ source: string; nodes: readonly NodeConfig[] }>): MergedNode[] {
  const merged: MergedNode[] = [];
  const byIdentity = new Map<string, MergedNode[]>();
  const register = (entry: MergedNode): void => {
    for (const key of identities(entry.node)) {
      const list = byIdentity.get(key) ?? [];
      if (!list.includes(entry)) list.push(entry);
      byIdentity.set(key, list);
    }
  };
  for (const group of groups) {
    for (const node of group.nodes) {
      const candidates = [...new Set(identities(node).flatMap((key) => byIdentity.get(key) ?? []))];
      const conflicts: string[] = [];
      let home: MergedNode | undefined;
      for (const candidate of candidates) {
        const field = disagreement(candidate.node, node);
        if (field === null) {
          home ??= candidate;
          continue;
        }
        const sentence = conflictSentence(
          { node: candidate.node, source: candidate.sources.join(', ') },
          { node, source: group.source },
          field,
        );
        candidate.conflicts.push(sentence);
        conflicts.push(sentence);
      }
      if (home) {
        home.node = fill(home.node, node);
        for (const s of conflicts) if (!home.conflicts.includes(s)) home.conflicts.push(s);
        if (!home.sources.includes(group.source)) home.sources.push(group.source);
        register(home);
        continue;
      }
      // A name is a node's label: an entry whose name another node holds cannot be a node of its
      // own. The node that holds the name carries the conflict, so it blocks.
      if (merged.some((m) => m.node.name === node.name)) continue;
      const entry: MergedNode = { node, sources: [group.source], conflicts };
      merged.push(entry);
      register(entry);
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
  if (o.tlsAddress === NO_TLS_LISTENER) {
    delete out.tlsAddress;
    delete out.serverName;
  } else if (o.tlsAddress) out.tlsAddress = o.tlsAddress;
  return out;
}
