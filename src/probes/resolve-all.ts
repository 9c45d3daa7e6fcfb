// Every address a listener's host name resolves to. A name with an A and an AAAA record names two
// sockets: a listen_addr still open on one of them is open, and a certificate served on one says
// nothing of the other, so the probes dial each. Never throws; ends by its deadline.
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { SourceError } from '../evidence/evidence.ts';
import { DNS_SYSTEM_CODES } from '../base/error-codes.ts';

export type Resolved = { ok: true; addresses: string[] } | { ok: false; error: SourceError };

/** host → its addresses (IP literals), in the resolver's order. Injected in tests. */
export type ResolveAll = (host: string, timeoutMs: number) => Promise<Resolved>;

/** A name with more addresses than this is dialled on the first ones only (and says so). */
export const MAX_ADDRESSES = 8;

export const systemResolveAll: ResolveAll = async (host, timeoutMs) => {
  if (isIP(host) !== 0) return { ok: true, addresses: [host] };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Resolved>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, error: { code: 'TIMEOUT', message: `Could not resolve ${host} within ${timeoutMs} ms.` } }),
      Math.max(0, timeoutMs),
    );
  });
  // verbatim: the resolver's order, as a Gitaly client's dialler gets it.
  const looked = dns.lookup(host, { all: true, verbatim: true }).then(
    (answers): Resolved => ({ ok: true, addresses: [...new Set(answers.map((a) => a.address))] }),
    (err: NodeJS.ErrnoException): Resolved => {
      const code = err.code ?? 'unknown error';
      return {
        ok: false,
        error: DNS_SYSTEM_CODES.has(code)
          ? { code: 'DNS', message: `Could not resolve ${host} (${code}).` }
          : { code: 'DNS', message: `Could not resolve ${host}: ${err.message}.` },
      };
    },
  );
  try {
    return await Promise.race([looked, timedOut]);
  } finally {
    clearTimeout(timer);
  }
};
