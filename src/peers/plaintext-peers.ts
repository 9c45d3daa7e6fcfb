// Who holds plaintext connections open on a local-mode node: per client address, how many, since when
// (first seen by this exporter process, kept in memory), and its reverse-DNS name when asked for.
import type { SocketsResult } from '../evidence/evidence.ts';
import { byConnections, type PeerTotals } from './socket-peers.ts';

/**
 * Peers listed one by one on the status page, the node page and /migration (and named by reverse
 * DNS); the others are shown as a count of addresses and connections. Twenty is what a person reads.
 */
export const PEERS_LISTED = 20;

export interface PlaintextPeer {
  address: string;
  /** Reverse DNS name; null when not looked up, none found, or the lookup has not answered yet. */
  name: string | null;
  connections: number;
  /** When this exporter process first saw the address connected without a break since. */
  firstSeenMs: number;
}

export interface PlaintextPeers {
  /** The peers with the most connections (at most MAX_PEERS_KEPT), most first. */
  peers: PlaintextPeer[];
  /** The other peers, counted only. */
  notKept: PeerTotals;
  /** How many peers get their own metric series; the rest are summed into peer="other". */
  metricLimit: number;
}

/** First and last time each peer address was seen connected, carried between collections. */
export type PeerSightings = ReadonlyMap<string, { firstSeenMs: number; lastSeenMs: number }>;

/**
 * Peers on the plaintext listener, with first-seen times carried over from earlier reads. A peer
 * missing from one read keeps its first-seen time for `graceMs`: /proc/net/tcp is not a snapshot and
 * may skip an entry while sockets change, and a client reconnecting at once has not really left.
 * Only kept peers are tracked (memory stays bounded): one that climbs into them is first seen then.
 */
export function trackPlaintextPeers(
  sockets: SocketsResult,
  previous: PeerSightings,
  nowMs: number,
  graceMs: number,
): { peers: Array<Omit<PlaintextPeer, 'name'>>; notKept: PeerTotals; sightings: PeerSightings } | null {
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
  return { peers, notKept: sockets.peersNotKept?.tcp ?? { peers: 0, connections: 0 }, sightings };
}

/**
 * The top `limit` peers by connections (the metric's by default) and all the others summed, kept
 * or not (null when there are none).
 */
export function topPeers(p: PlaintextPeers, limit = p.metricLimit): { top: PlaintextPeer[]; other: PeerTotals | null } {
  const top = p.peers.slice(0, limit);
  const rest = p.peers.slice(limit);
  const other = {
    peers: rest.length + p.notKept.peers,
    connections: rest.reduce((sum, r) => sum + r.connections, p.notKept.connections),
  };
  return { top, other: other.peers > 0 ? other : null };
}

/** What the pages say under a list cut at PEERS_LISTED. */
export function notListedSentence(other: PeerTotals): string {
  return `and ${other.peers} more client address(es) with ${other.connections} plaintext connection(s)`;
}
