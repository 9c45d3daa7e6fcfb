// Local mode, who: the remote addresses of ESTABLISHED connections on Gitaly's listener ports, read
// from the same /proc/net/tcp{,6} text the counts come from (sockets.ts validates each line first).
import { endianness } from 'node:os';

export interface PeerCount {
  /** The client's IP address (IPv4-mapped IPv6 shown as IPv4); the ephemeral port is left out. */
  address: string;
  listener: 'tcp' | 'tls';
  connections: number;
}

import { MAX_PEERS_KEPT } from '../config/schema.ts';

/** Peers kept per listener from one read: peer_metric_limit's maximum (config/schema.ts). */
export { MAX_PEERS_KEPT };

/** Peers that were counted but not kept, and their connections. */
export interface PeerTotals {
  peers: number;
  connections: number;
}

const ESTABLISHED = 0x01;
const ENTRY =
  /^\s*\d+:\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s/;

/** The kernel prints each 32-bit word of an address in host byte order. */
function bytesOf(hex: string, littleEndian: boolean): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const group = [0, 2, 4, 6].map((i) => parseInt(hex.slice(word + i, word + i + 2), 16));
    bytes.push(...(littleEndian ? group.reverse() : group));
  }
  return bytes;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as ::. */
function ipv6Text(bytes: number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

export function decodeProcAddress(hex: string, littleEndian = endianness() === 'LE'): string {
  const bytes = bytesOf(hex, littleEndian);
  if (bytes.length === 4) return bytes.join('.');
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12).join('.') : ipv6Text(bytes);
}

/** Adds this file's ESTABLISHED server-side connections on a listener port to `into`, per listener and peer address. */
export function countPeers(
  text: string,
  ports: { tcp?: number; tls?: number },
  into: Map<string, PeerCount>,
  littleEndian = endianness() === 'LE',
): void {
  // /proc/net/tcp is produced in several reads; a socket added or removed meanwhile can make one
  // entry appear twice. Its two addresses identify a connection: count each once.
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const m = ENTRY.exec(line);
    if (!m || parseInt(m[5]!, 16) !== ESTABLISHED) continue;
    const connection = `${m[1]}:${m[2]} ${m[3]}:${m[4]}`;
    if (seen.has(connection)) continue;
    seen.add(connection);
    const port = parseInt(m[2]!, 16);
    const listener = port === ports.tcp ? 'tcp' : port === ports.tls ? 'tls' : null;
    if (!listener) continue;
    const address = decodeProcAddress(m[3]!, littleEndian);
    const key = `${listener} ${address}`;
    const entry = into.get(key);
    if (entry) entry.connections += 1;
    else into.set(key, { address, listener, connections: 1 });
  }
}

/** Most connections first, then by address, so that "top N" is the same answer every time. */
export function byConnections(a: { connections: number; address: string }, b: { connections: number; address: string }): number {
  return b.connections - a.connections || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
}

/** The top `limit` peers of each listener, most connections first, and the rest of each listener counted. */
export function keepTopPeers(
  counted: Iterable<PeerCount>,
  limit: number,
): { peers: PeerCount[]; notKept: Record<PeerCount['listener'], PeerTotals> } {
  const peers: PeerCount[] = [];
  const notKept = { tcp: { peers: 0, connections: 0 }, tls: { peers: 0, connections: 0 } };
  const kept = { tcp: 0, tls: 0 };
  for (const peer of [...counted].sort(byConnections)) {
    if (kept[peer.listener] < limit) {
      kept[peer.listener] += 1;
      peers.push(peer);
    } else {
      notKept[peer.listener].peers += 1;
      notKept[peer.listener].connections += peer.connections;
    }
  }
  return { peers, notKept };
}
