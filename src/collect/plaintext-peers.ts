// Who holds plaintext connections open on a local-mode node: per client address, how many, since when
// (first seen by this exporter process, kept in memory), and its reverse-DNS name when asked for.
import type { SocketsResult } from '../evidence.ts';
import { byConnections } from '../sources/socket-peers.ts';

export interface PlaintextPeer {
  address: string;
  /** Reverse DNS name; null when not looked up, none found, or the lookup has not answered yet. */
  name: string | null;
  connections: number;
  /** When this exporter process first saw the address connected without a break since. */
  firstSeenMs: number;
}

export interface PlaintextPeers {
  /** Every peer, most connections first. */
  peers: PlaintextPeer[];
  /** How many peers get their own metric series; the rest are summed into peer="other". */
  metricLimit: number;
}

/** Peers on the plaintext listener, with first-seen times carried over from the previous read. */
export function trackPlaintextPeers(
  sockets: SocketsResult,
  previous: ReadonlyMap<string, number>,
  nowMs: number,
): { peers: Array<Omit<PlaintextPeer, 'name'>>; firstSeen: Map<string, number> } | null {
  if (!sockets.ok || !sockets.peers) return null;
  const firstSeen = new Map<string, number>();
  const peers = sockets.peers
    .filter((p) => p.listener === 'tcp')
    .map((p) => {
      const since = previous.get(p.address) ?? nowMs;
      firstSeen.set(p.address, since);
      return { address: p.address, connections: p.connections, firstSeenMs: since };
    })
    .sort(byConnections);
  return { peers, firstSeen };
}

/** The metric's view: the top `limit` peers by connections and the rest summed (null when there is no rest). */
export function topPeers(p: PlaintextPeers): { top: PlaintextPeer[]; other: { peers: number; connections: number } | null } {
  const top = p.peers.slice(0, p.metricLimit);
  const rest = p.peers.slice(p.metricLimit);
  return { top, other: rest.length ? { peers: rest.length, connections: rest.reduce((sum, r) => sum + r.connections, 0) } : null };
}
