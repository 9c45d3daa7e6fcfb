// Scrapes one Gitaly or Praefect /metrics page directly and keeps only the connection counters and
// the version, streaming the body through ConnectionCounterExtractor so the page is never held whole.

import { getGlobalDispatcher, type Dispatcher } from 'undici';
import type { Role } from '../config/types.ts';
import type { GitalyScrape, SourceError } from '../evidence/evidence.ts';
import { ConnectionCounterExtractor } from './metrics-parser.ts';
import { streamGet } from './stream-get.ts';
import { connectFailureCode } from '../base/error-codes.ts';

export interface ScrapeOptions {
  role: Role;
  timeoutMs: number;
  /** Cap on the decompressed page size; the download stops as soon as it is exceeded. */
  maxBytes: number;
  /** Cancels the scrape (e.g. on shutdown); reported as ABORTED. */
  signal?: AbortSignal;
}

export interface ScrapeDeps {
  dispatcher?: Dispatcher;
  now?: () => number;
}

const ACCEPT = 'text/plain;version=0.0.4';
// A refused answer's body is read up to this size, so the connection can serve the next scrape.
const STATUS_BODY_DUMP_LIMIT = 64 * 1024;
const DECODABLE: ReadonlySet<string> = new Set(['', 'identity', 'gzip', 'x-gzip']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/**
 * GET `url` and extract the connection counters. Never throws: every failure is an `{ ok: false }`
 * with a stable code (INVALID_URL, CONNECT, TIMEOUT, ABORTED, HTTP_STATUS, DECODE, TOO_LARGE,
 * TRUNCATED, or the extractor's PARSE / NOT_GITALY). `bytes` counts the decompressed page.
 */
export async function scrapeGitalyMetrics(url: string, options: ScrapeOptions, deps: ScrapeDeps = {}): Promise<GitalyScrape> {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const failed = (error: SourceError): GitalyScrape => ({ ok: false, error, durationMs: now() - startedAt });

  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return failed({ code: 'INVALID_URL', message: 'the metrics URL is not a valid URL' });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return failed({ code: 'INVALID_URL', message: `the metrics URL must start with http:// or https://, not ${target.protocol}//` });
  }
  const headers: Record<string, string> = { accept: ACCEPT, 'accept-encoding': 'gzip', 'user-agent': 'gitaly-tls-exporter' };
  // Credentials in the URL become a Basic header, so neither undici nor any message ever sees them.
  if (target.username !== '' || target.password !== '') {
    const credentials = `${percentDecode(target.username)}:${percentDecode(target.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  const shown = target.toString();

  const deadline = AbortSignal.timeout(options.timeoutMs);
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  deadline.addEventListener('abort', abort, { once: true });
  options.signal?.addEventListener('abort', abort, { once: true });
  if (options.signal?.aborted) abort();

  const extractor = new ConnectionCounterExtractor(options.role);
  let bytes = 0;
  let tooLarge = false;
  let headersIn = false;
  // A status or encoding the page cannot be read from: the answer, whatever becomes of its body.
  // Set in onHead; the cast keeps TypeScript from taking it for null ever after.
  let refused = null as SourceError | null;
  try {
    await streamGet({
      url: target,
      headers,
      dispatcher: deps.dispatcher ?? getGlobalDispatcher(),
      timeoutMs: options.timeoutMs,
      signal: controller.signal,
      onHead: (statusCode, responseHeaders) => {
        headersIn = true;
        const encoding = headerValue(responseHeaders['content-encoding']);
        if (statusCode !== 200) refused = { code: 'HTTP_STATUS', message: `${shown} answered HTTP ${statusCode} instead of 200` };
        else if (!DECODABLE.has(encoding))
          refused = {
            code: 'DECODE',
            message: `${shown} sent content-encoding "${encoding.slice(0, 40)}", which the exporter does not decode`,
          };
        if (refused) return { discardUpTo: STATUS_BODY_DUMP_LIMIT };
        return {
          gzip: encoding === 'gzip' || encoding === 'x-gzip',
          // Throwing stops the download and closes the connection; the reason is remembered here
          // because the error that comes back may be the resulting abort.
          consume: (chunk) => {
            bytes += chunk.length;
            tooLarge = bytes > options.maxBytes;
            if (tooLarge) throw new Error('size cap exceeded');
            extractor.push(chunk);
            if (extractor.failed) throw new Error('page rejected');
          },
        };
      },
    });
  } catch (err) {
    if (tooLarge) return failed({ code: 'TOO_LARGE', message: `${shown} sent a page larger than the ${options.maxBytes}-byte limit` });
    if (!extractor.failed && !refused) return failed(describeFailure(err, headersIn ? 'body' : 'connect', shown, options, deadline));
  } finally {
    deadline.removeEventListener('abort', abort);
    options.signal?.removeEventListener('abort', abort);
  }
  if (refused) return failed(refused);
  const extracted = extractor.end();
  if (!extracted.ok) return failed(extracted.error);
  return { ...extracted, bytes, durationMs: now() - startedAt };
}

function describeFailure(
  err: unknown,
  phase: 'connect' | 'body',
  shown: string,
  options: ScrapeOptions,
  deadline: AbortSignal,
): SourceError {
  if (options.signal?.aborted) return { code: 'ABORTED', message: `the scrape of ${shown} was cancelled` };
  const code = errorCode(err);
  if (deadline.aborted || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return { code: 'TIMEOUT', message: `${shown} did not deliver its page within ${options.timeoutMs} ms` };
  }
  if (code?.startsWith('Z_')) {
    return { code: 'DECODE', message: `${shown} sent a gzip body that does not decompress (${reason(err, code)})` };
  }
  if (phase === 'connect') {
    return { code: connectFailureCode(code), message: `could not get an answer from ${shown} (${reason(err, code)})` };
  }
  return { code: 'TRUNCATED', message: `${shown} stopped sending before the page was complete (${reason(err, code)})` };
}

/** The error's code, also from AggregateError (Node tries IPv6 and IPv4 for localhost) and `cause`. */
function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  const inner = (err as { errors?: unknown[]; cause?: unknown }).errors?.[0] ?? (err as { cause?: unknown }).cause;
  return inner === undefined ? undefined : errorCode(inner);
}

function reason(err: unknown, code: string | undefined): string {
  // System codes (ECONNREFUSED, ENOTFOUND) say it best; undici's messages ("other side closed") are clearer than its codes.
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return code;
  const message = err instanceof Error ? err.message : String(err);
  return (message || code || 'unknown error').slice(0, 120);
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray % (e.g. "%zz") is taken literally rather than failing the scrape
  }
}

function headerValue(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value.join(',') : (value ?? '')).trim().toLowerCase();
}
