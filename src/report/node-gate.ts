// `check --node X`: may node X drop listen_addr? Decided the same way for a local collection and
// for a running exporter's /migration answer, from the node's phase and the reasons listed with it,
// so an answer that says tls_only_traffic while listing what blocks traffic is not believed.
import { printable } from './terminal-text.ts';

/** What the gate reads of a node, from a NodeView or from /migration. */
export interface GateNode {
  node: string;
  phase: string;
  reasons: readonly string[];
}

/**
 * The only reasons a node that may drop listen_addr still lists: the listener itself, which is what
 * removing listen_addr closes (tls_only_traffic). Any other reason (traffic, TLS health, identity,
 * inventory, or one this version does not know) keeps the gate shut.
 */
const LISTENER_REASONS: ReadonlySet<string> = new Set(['plaintext_listener_open', 'plaintext_listener_unknown']);

export type NodeGate =
  /** `may`: listen_addr may be removed (tls_only_traffic) or already is (complete). */
  | { found: true; may: boolean; line: string }
  /** `cannotTell`: a source of the node list failed, so the node may exist and be unlisted. */
  | { found: false; cannotTell: boolean; line: string };

function judge(n: GateNode): { may: boolean; line: string } {
  const reasons = n.reasons.length ? ` (${n.reasons.join(',')})` : '';
  const blockers = n.reasons.filter((r) => n.phase !== 'tls_only_traffic' || !LISTENER_REASONS.has(r));
  if (n.phase === 'complete' && blockers.length === 0) return { may: true, line: `${n.node}: complete, listen_addr is removed` };
  if (n.phase === 'tls_only_traffic' && blockers.length === 0)
    return { may: true, line: `${n.node}: tls_only_traffic, it is safe to remove listen_addr${reasons}` };
  if (n.phase === 'complete' || n.phase === 'tls_only_traffic')
    return {
      may: false,
      line: `${n.node}: the verdict contradicts itself: phase ${n.phase}, but it lists ${blockers.join(',')}\n${n.node}: not yet (decided from the reasons listed): keep listen_addr`,
    };
  return { may: false, line: `${n.node}: ${n.phase}, not yet: keep listen_addr${reasons}` };
}

/** `failedSources`: the sources of the node list that failed this cycle (their ids). */
export function gateNode(nodes: readonly GateNode[], name: string, failedSources: readonly string[]): NodeGate {
  const n = nodes.find((x) => x.node === name);
  if (n) return { found: true, ...judge(n) };
  const shown = printable(JSON.stringify(name));
  if (failedSources.length === 0)
    return { found: false, cannotTell: false, line: `${shown} is not a node of this fleet (${nodes.length} node(s))` };
  const failed = failedSources.slice(0, 3).map(printable).join(', ');
  const more = failedSources.length > 3 ? ` and ${failedSources.length - 3} more` : '';
  return {
    found: false,
    cannotTell: true,
    line: `${shown} is not among the ${nodes.length} node(s) found, but a source of the node list failed (${failed}${more}): it may be one of them`,
  };
}
