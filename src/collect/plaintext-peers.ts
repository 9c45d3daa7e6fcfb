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

/** First and last time each peer address was seen connected, carried between collections. */
export type PeerSightings = ReadonlyMap<string, { firstSeenMs: number; lastSeenMs: number }>;

/**
 * Peers on the plaintext listener, with first-seen times carried over from earlier reads. A peer
 * missing from one read keeps its first-seen time for `graceMs`: /proc/net/tcp is not a snapshot and
 * may skip an entry while sockets change, and a client reconnecting at once has not really left.
 */
export function trackPlaintextPeers(
  sockets: SocketsResult,
  previous: PeerSightings,
  nowMs: number,
  graceMs: number,
): { peers: Array<Omit<PlaintextPeer, 'name'>>; sightings: PeerSightings } | null {
  if (!sockets.ok || !sockets.peers) return null;
  const sightings = new Map<string, { firstSeenMs: number; lastSeenMs: number }>();
  for (const [address, seen] of previous) if (nowMs - seen.lastSeenMs <= graceMs) sightings.set(address, seen);
  const peers = sockets.peers
    .filter((p) => p.listener === 'tcp')
    .map((p) => {
      const firstSeenMs = sightings.get(p.address)?.firstSeenMs ?? nowMs;
      sightings.set(p.address, { firstSeenMs, lastSeenMs: nowMs });
      return { address: p.address, connections: p.connections, firstSeenMs };
    })
    .sort(byConnections);
  return { peers, sightings };
}

/** The metric's view: the top `limit` peers by connections and the rest summed (null when there is no rest). */
export function topPeers(p: PlaintextPeers): { top: PlaintextPeer[]; other: { peers: number; connections: number } | null } {
  const top = p.peers.slice(0, p.metricLimit);
  const rest = p.peers.slice(p.metricLimit);
  return { top, other: rest.length ? { peers: rest.length, connections: rest.reduce((sum, r) => sum + r.connections, 0) } : null };
}
