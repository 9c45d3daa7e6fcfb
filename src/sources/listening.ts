// Local mode: whether Gitaly's listeners are in LISTEN state, from /proc/net/tcp and tcp6 —
// the state of listen_addr without dialling it (a dial adds to Gitaly's plaintext counter).
import type { Result } from '../evidence/evidence.ts';
import { describeFileError, fileErrorCode, readFileBounded } from '../files/bounded-file.ts';
import { PROC_NET_MAX_BYTES, PROC_NET_TIMEOUT_MS } from './sockets.ts';

/** include/net/tcp_states.h: TCP_LISTEN = 10. */
const LISTEN = 0x0a;
const ENTRY = /^\s*\d+:\s+(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+\S+\s+([0-9A-Fa-f]{2})\s/;

export type ListeningResult = Result<{ listening: { tcp: boolean; tls: boolean } }>;

export interface ListeningDeps {
  readFile?: (path: string) => Promise<Buffer | string>;
}

export async function readListening(
  procRoot: string,
  ports: { tcp: number; tls: number },
  deps: ListeningDeps = {},
): Promise<ListeningResult> {
  // The same deadline and cap as the established-connection reader: /proc/net/tcp may be a FIFO.
  const readFile =
    deps.readFile ?? ((path: string) => readFileBounded(path, { timeoutMs: PROC_NET_TIMEOUT_MS, maxBytes: PROC_NET_MAX_BYTES }));
  const listening = { tcp: false, tls: false };
  for (const name of ['tcp', 'tcp6']) {
    const file = `${procRoot.replace(/\/+$/, '')}/net/${name}`;
    let content: string;
    try {
      const raw = await readFile(file);
      content = typeof raw === 'string' ? raw : raw.toString('latin1');
    } catch (err) {
      if (name === 'tcp6' && (err as NodeJS.ErrnoException | null)?.code === 'ENOENT') continue;
      return { ok: false, error: { code: fileErrorCode(err), message: `${file} ${describeFileError(err)}.` } };
    }
    for (const line of content.split('\n')) {
      const m = ENTRY.exec(line);
      if (!m || parseInt(m[2]!, 16) !== LISTEN) continue;
      const port = parseInt(m[1]!, 16);
      if (port === ports.tcp) listening.tcp = true;
      if (port === ports.tls) listening.tls = true;
    }
  }
  return { ok: true, listening };
}
