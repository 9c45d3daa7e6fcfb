// Local mode: connections ESTABLISHED right now on Gitaly's listener ports, from /proc/net/tcp and tcp6.
// This is the only view of long-lived plaintext gRPC channels, which add nothing to Gitaly's
// connection counter once open.
import type { SocketsResult } from '../evidence/evidence.ts';
import { countPeers, keepTopPeers, MAX_PEERS_KEPT, type PeerCount } from '../peers/socket-peers.ts';
import { describeFileError, fileErrorCode, readFileBounded } from '../files/bounded-file.ts';

export interface SocketsDeps {
  readFile?: (path: string) => Promise<Buffer | string>;
}

/** A host with 100,000 sockets has ~15 MB of /proc/net/tcp; reading it takes milliseconds. */
export const PROC_NET_MAX_BYTES = 32 * 1024 * 1024;
export const PROC_NET_TIMEOUT_MS = 5_000;

/** include/net/tcp_states.h: TCP_ESTABLISHED = 1. */
const ESTABLISHED = 0x01;
const LOCAL_ADDRESS = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/;
const STATE = /^[0-9A-Fa-f]{2}$/;

class ParseError extends Error {}

/** Adds this file's ESTABLISHED sockets whose local (server-side) port is a listener's port. */
function countFile(text: string, file: string, ports: { tcp?: number; tls?: number }, counts: { tcp: number; tls: number }): void {
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '' || fields[0] === 'sl') return;
    const local = fields[1] !== undefined ? LOCAL_ADDRESS.exec(fields[1]) : null;
    const state = fields[3];
    if (!/^\d+:$/.test(fields[0]!) || !local || state === undefined || !STATE.test(state)) {
      const shown = line.trim().length > 80 ? `${line.trim().slice(0, 80).trimEnd()}…` : line.trim();
      throw new ParseError(`${file} line ${index + 1} is not a socket entry: "${shown}"`);
    }
    if (parseInt(state, 16) !== ESTABLISHED) return;
    const port = parseInt(local[1]!, 16);
    if (port === ports.tcp) counts.tcp += 1;
    else if (port === ports.tls) counts.tls += 1;
  });
}

/**
 * Counts for a port that was not given stay 0: callers read only the listeners they asked about.
 * A missing tcp6 file (IPv6 disabled) is normal; a missing tcp file means procRoot is wrong.
 */
export async function readEstablished(
  procRoot: string,
  ports: { tcp?: number; tls?: number },
  deps: SocketsDeps = {},
  options: { peers?: boolean } = {},
): Promise<SocketsResult> {
  const readFile =
    deps.readFile ?? ((path: string) => readFileBounded(path, { timeoutMs: PROC_NET_TIMEOUT_MS, maxBytes: PROC_NET_MAX_BYTES }));
  if (ports.tcp === undefined && ports.tls === undefined) {
    return { ok: false, error: { code: 'CONFIG', message: 'No listener port was given to count established connections for.' } };
  }
  const counts = { tcp: 0, tls: 0 };
  const peers = options.peers ? new Map<string, PeerCount>() : null;
  for (const name of ['tcp', 'tcp6']) {
    const file = `${procRoot.replace(/\/+$/, '')}/net/${name}`;
    let content: Buffer | string;
    try {
      content = await readFile(file);
    } catch (err) {
      if (name === 'tcp6' && (err as NodeJS.ErrnoException | null)?.code === 'ENOENT') continue;
      return { ok: false, error: { code: fileErrorCode(err), message: `${file} ${describeFileError(err)}.` } };
    }
    try {
      const text = typeof content === 'string' ? content : content.toString('latin1');
      countFile(text, file, ports, counts);
      if (peers) countPeers(text, ports, peers);
    } catch (err) {
      const message = err instanceof ParseError ? err.message : `${file} could not be parsed`;
      return { ok: false, error: { code: 'PARSE', message: `${message}.` } };
    }
  }
  if (!peers) return { ok: true, established: counts };
  const top = keepTopPeers(peers.values(), MAX_PEERS_KEPT);
  return { ok: true, established: counts, peers: top.peers, peersNotKept: top.notKept };
}
