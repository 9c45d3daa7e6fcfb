// HTTP basic auth against the bcrypt hashes of a web config file (exporter-toolkit's basic_auth_users).
// bcrypt is slow on purpose (~50-100 ms at cost 10), so successful checks are remembered: Prometheus
// scraping every 15 s then costs one bcrypt per user and password, not one per scrape.
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BcryptBusy, bcryptPool } from './bcrypt-pool.ts';
import type { WebConfig } from '../config/web-config.ts';

export const BASIC_AUTH_REALM = 'gitaly-tls-exporter';
const DEFAULT_CACHE_SIZE = 256;

export interface BasicAuthDeps {
  /**
   * Resolves whether `password` matches the bcrypt `hash`; rejects with BcryptBusy when too many
   * checks wait (default: bcryptjs in a worker thread, bounded, see bcrypt-pool.ts).
   */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /** Successful verifications remembered, oldest forgotten first. */
  cacheSize?: number;
}

export type BasicAuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/**
 * An onRequest hook answering 401 unless the request carries the user and password of one of the
 * web config's users; paths in unauthenticated_paths pass. Null when the web config has no users.
 * Neither the password nor the Authorization header is ever logged or echoed.
 */
export function basicAuthHook(webConfig: WebConfig, deps: BasicAuthDeps = {}): BasicAuthHook | null {
  const users = webConfig.basicAuthUsers;
  if (users.size === 0) return null;
  const compare = deps.compare ?? bcryptPool().compare;
  const cacheSize = deps.cacheSize ?? DEFAULT_CACHE_SIZE;
  // An unknown user is checked against this hash, as costly as the real ones, so a response time
  // does not tell which user names exist.
  const dummyHash = bcrypt.hashSync(
    randomBytes(18).toString('base64'),
    Math.max(...[...users.values()].map((hash) => bcrypt.getRounds(hash))),
  );
  // Keyed by an HMAC with a per-process key, so the cache holds nothing a stolen memory dump could be brute-forced from quickly.
  const cacheKey = randomBytes(32);
  const verified = new Set<string>();
  const openPaths = new Set(webConfig.unauthenticatedPaths);

  const check = async (user: string, password: string): Promise<boolean> => {
    const key = `${user}\0${createHmac('sha256', cacheKey).update(password).digest('hex')}`;
    if (verified.delete(key)) {
      verified.add(key); // most recently used last
      return true;
    }
    const hash = users.get(user);
    const matches = await compare(password, hash ?? dummyHash);
    if (!matches || hash === undefined) return false;
    verified.add(key);
    if (verified.size > cacheSize) verified.delete(verified.values().next().value!);
    return true;
  };

  return async (request, reply) => {
    if (openPaths.has(request.url.split('?', 1)[0]!)) return undefined;
    const credentials = parseBasicAuth(request.headers.authorization);
    try {
      if (credentials && (await check(credentials.user, credentials.password))) return undefined;
    } catch (err) {
      if (!(err instanceof BcryptBusy)) throw err;
      // Verified users never get here (they hit the cache); only new or wrong credentials wait.
      return reply
        .code(429)
        .header('retry-after', '1')
        .type('text/plain; charset=utf-8')
        .send('Too many password checks in progress; try again in a second.\n');
    }
    return reply
      .code(401)
      .header('www-authenticate', `Basic realm="${BASIC_AUTH_REALM}"`)
      .type('text/plain; charset=utf-8')
      .send('Unauthorized: this exporter requires HTTP basic auth.\n');
  };
}

/** User and password from `Authorization: Basic base64(user:password)`; null when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  const match = header === undefined ? null : /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
