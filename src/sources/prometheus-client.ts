// One instant query against the Prometheus HTTP API, with a deadline, a size cap and
// authentication. Never throws: every failure becomes a coded error whose message is free of
// secrets (tokens, passwords, URL userinfo), so it can be logged and shown on the status page.
import { readFileSync } from 'node:fs';
import { JSONParser } from '@streamparser/json';
import { request, type Dispatcher } from 'undici';
import type { PrometheusConfig } from '../config/types.ts';
import type { Result, SourceError } from '../evidence.ts';
import { connectFailureCode, type ErrorCode } from '../error-codes.ts';

export interface PrometheusQueryOptions {
  timeoutMs: number;
  /** Cap on the response body; a bigger (or endless) answer is TOO_LARGE, never half-parsed. */
  maxBytes: number;
  /**
   * Cap on the samples in one answer (DEFAULT_MAX_SAMPLES when absent). The answer is parsed as it
   * arrives and abandoned at the first sample past the cap (TOO_MANY_SAMPLES), so what one answer
   * costs is bounded by samples, not only by bytes: a 60 MB answer is never held or parsed whole.
   */
  maxSamples?: number;
  signal?: AbortSignal;
}

export interface PrometheusDeps {
  dispatcher?: Dispatcher;
  now?: () => number;
  /** Reads a secret file; called on every request so a rotated token is picked up. */
  readSecret?: (path: string) => string;
}

export interface PrometheusSample {
  labels: Record<string, string>;
  value: number;
}

export type InstantQueryResult = Result<{ samples: PrometheusSample[] }>;

/** One series of a range-vector answer (a subquery evaluated as an instant query). */
export interface PrometheusSeries {
  labels: Record<string, string>;
  /** [unix ms, value], oldest first. */
  points: Array<[number, number]>;
}

export type MatrixQueryResult = Result<{ series: PrometheusSeries[] }>;
type Expect = 'vector' | 'matrix';

/**
 * The fleet queries return one sample per instance (two for the per-type increase): 50,000 is a
 * fleet of 25,000 Gitaly instances, far beyond any real one, and parses in well under a second.
 */
export const DEFAULT_MAX_SAMPLES = 50_000;
const ERROR_TEXT_MAX_CHARS = 300;
const ERROR_BODY_MAX_BYTES = 64 * 1024;
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
]);
// Prometheus renders floats as Go does: decimals, exponents, NaN and ±Inf.
const PROMETHEUS_FLOAT = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;

function fail(code: ErrorCode, message: string): { ok: false; error: SourceError } {
  return { ok: false, error: { code, message } };
}

function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8');
}

interface Endpoint {
  url: URL;
  /** Origin and path only: what error messages may show. */
  safeUrl: string;
  authorization: string | undefined;
  /** Every secret value in play, to scrub from any text that leaves this module. */
  secrets: string[];
}

function resolveEndpoint(
  cfg: PrometheusConfig,
  readSecret: (path: string) => string,
  apiPath = '/api/v1/query',
): Result<{ endpoint: Endpoint }> {
  let url: URL;
  try {
    url = new URL(cfg.url);
  } catch {
    return fail('CONFIG', 'prometheus.url is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('CONFIG', 'prometheus.url must start with http:// or https://');
  const secrets: string[] = [];
  const userinfo =
    url.username || url.password ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : null;
  if (userinfo) secrets.push(url.username, url.password, userinfo.username, userinfo.password);
  url.username = '';
  url.password = '';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${apiPath}`;
  url.search = '';
  url.hash = '';
  const safeUrl = `${url.origin}${url.pathname}`;

  if (cfg.bearerTokenFile && cfg.basicAuth) return fail('CONFIG', 'prometheus: configure either bearerTokenFile or basicAuth, not both');
  let authorization: string | undefined;
  let basic: { username: string; password: string } | null = userinfo;
  try {
    if (cfg.bearerTokenFile) {
      const token = readSecret(cfg.bearerTokenFile).trim();
      if (token === '') return fail('CONFIG', `prometheus bearer token file ${cfg.bearerTokenFile} is empty`);
      secrets.push(token);
      authorization = `Bearer ${token}`;
      basic = null;
    } else if (cfg.basicAuth) {
      basic = { username: cfg.basicAuth.username, password: readSecret(cfg.basicAuth.passwordFile).trim() };
      secrets.push(basic.password);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    const file = cfg.bearerTokenFile ?? cfg.basicAuth?.passwordFile ?? '';
    return fail('CONFIG', `cannot read prometheus secret file ${file} (${code})`);
  }
  if (basic) {
    const encoded = Buffer.from(`${basic.username}:${basic.password}`, 'utf8').toString('base64');
    secrets.push(encoded);
    authorization = `Basic ${encoded}`;
  }
  if (authorization && /[\r\n\0]/.test(authorization)) return fail('CONFIG', 'prometheus credentials contain a line break or NUL byte');
  return { ok: true, endpoint: { url, safeUrl, authorization, secrets: secrets.filter((s) => s !== '') } };
}

function scrub(text: string, secrets: readonly string[]): string {
  // Longest first, so a secret that contains another is removed whole.
  return [...secrets].sort((a, b) => b.length - a.length).reduce((out, secret) => out.split(secret).join('<redacted>'), text);
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > ERROR_TEXT_MAX_CHARS ? `${flat.slice(0, ERROR_TEXT_MAX_CHARS)}…` : flat;
}

class TooLarge extends Error {}

async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the stream, which frees the connection of an endless body.
    if (size > maxBytes) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function prometheusErrorText(raw: Buffer): string {
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as { error?: unknown; errorType?: unknown };
    if (typeof parsed.error === 'string' && parsed.error.trim() !== '') {
      const type = typeof parsed.errorType === 'string' && parsed.errorType !== '' ? `${parsed.errorType}: ` : '';
      return shorten(`${type}${parsed.error}`);
    }
  } catch {
    // Not Prometheus' JSON (a proxy's page, say): the status code has to speak for itself.
  }
  return '';
}

class TooManySamples extends Error {}

function parseValue(value: unknown): number | null {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[1] !== 'string' || !PROMETHEUS_FLOAT.test(value[1])) return null;
  const text = value[1];
  return text.endsWith('Inf') ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text);
}

function parseLabels(metric: unknown): Record<string, string> | string {
  if (typeof metric !== 'object' || metric === null || Array.isArray(metric)) return 'a sample has no label set';
  const labels: Record<string, string> = {};
  for (const [name, labelValue] of Object.entries(metric)) {
    if (typeof labelValue !== 'string') return `label ${name} is not a string`;
    labels[name] = labelValue;
  }
  return labels;
}

/**
 * Reads a vector or matrix answer as it streams in: only the samples are kept (each series checked
 * as it completes, then dropped from the parser), so memory follows the sample cap (a matrix's
 * points count as samples), and the event loop gets a turn between network chunks however large
 * the answer is.
 */
class AnswerReader {
  private readonly parser = new JSONParser({
    paths: ['$.status', '$.error', '$.warnings', '$.isPartial', '$.data.resultType', '$.data.result', '$.data.result.*'],
    keepStack: false,
  });
  private readonly samples: PrometheusSample[] = [];
  private readonly series: PrometheusSeries[] = [];
  private count = 0;
  private problem: string | null = null;
  private status: unknown = undefined;
  private error: unknown = undefined;
  private warnings: unknown = undefined;
  private isPartial: unknown = undefined;
  private resultType: unknown = undefined;
  private result: 'list' | 'other' | undefined = undefined;
  private ended = false;
  private tooMany = false;

  constructor(
    private readonly maxSamples: number,
    private readonly expect: Expect,
  ) {
    this.parser.onValue = ({ value, key, parent, stack }) => {
      if (stack.length === 3) {
        // An element of data.result: taken out of the parser's array at once, so it holds nothing.
        if (!Array.isArray(parent)) {
          if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[String(key)];
          this.result = 'other';
          return;
        }
        parent.length = 0;
        this.result = 'list';
        if (this.problem === null && !this.tooMany) this.addSample(value);
        return;
      }
      if (stack.length === 2 && key === 'result') this.result = Array.isArray(value) ? 'list' : 'other';
      else if (stack.length === 2 && key === 'resultType') this.resultType = value;
      else if (stack.length === 1 && key === 'status') this.status = value;
      else if (stack.length === 1 && key === 'error') this.error = value;
      else if (stack.length === 1 && key === 'warnings') this.warnings = value;
      else if (stack.length === 1 && key === 'isPartial') this.isPartial = value;
    };
    this.parser.onEnd = () => {
      this.ended = true;
    };
    // Without it, write() throws; the problem is reported by finish().
    this.parser.onError = (err: Error) => {
      this.problem ??= `the body is not JSON (${shorten(err.message)})`;
    };
  }

  private addSample(item: unknown): void {
    const { metric, value, values } = (item ?? {}) as { metric?: unknown; value?: unknown; values?: unknown };
    const size = this.expect === 'matrix' && Array.isArray(values) ? values.length : 1;
    if (this.count + size > this.maxSamples) {
      // Thrown from write(): the parser would turn a throw inside its callback into a parse error.
      this.tooMany = true;
      return;
    }
    this.count += size;
    const labels = parseLabels(metric);
    if (typeof labels === 'string') {
      this.problem = labels;
      return;
    }
    if (this.expect === 'vector') {
      const v = parseValue(value);
      if (v === null) this.problem = 'a sample value is not a number';
      else this.samples.push({ labels, value: v });
      return;
    }
    if (!Array.isArray(values)) {
      this.problem = 'a series has no values';
      return;
    }
    const points: Array<[number, number]> = [];
    for (const point of values as unknown[]) {
      const v = parseValue(point);
      const t: unknown = Array.isArray(point) ? (point as unknown[])[0] : undefined;
      if (v === null || typeof t !== 'number' || !Number.isFinite(t)) {
        this.problem = 'a series point is not a [time, number] pair';
        return;
      }
      points.push([Math.round(t * 1000), v]);
    }
    this.series.push({ labels, points });
  }

  /** Feeds one chunk; throws TooManySamples past the cap. */
  write(chunk: Buffer): void {
    if (this.problem !== null || this.ended) return;
    this.parser.write(chunk);
    if (this.tooMany) throw new TooManySamples();
  }

  finish(safeUrl: string): InstantQueryResult | MatrixQueryResult {
    const bad = (why: string) => fail('BAD_RESPONSE', `Prometheus at ${safeUrl} sent an unusable answer: ${why}`);
    if (this.problem === null && !this.ended) {
      try {
        this.parser.end();
      } catch {
        // onError has recorded it.
      }
      if (!this.ended) this.problem ??= 'the body is not JSON (it ends too early)';
    }
    if (this.status === undefined && this.problem !== null) return bad(this.problem);
    if (this.status !== 'success') {
      const text = typeof this.error === 'string' ? `: ${shorten(this.error)}` : '';
      return bad(`status is ${JSON.stringify(this.status ?? null)}${text}`);
    }
    if (Array.isArray(this.warnings) && this.warnings.length > 0) {
      const first = this.warnings.map(String).join('; ');
      return fail('PARTIAL', `Prometheus at ${safeUrl} answered with warnings, so the answer may be incomplete: ${shorten(first)}`);
    }
    // VictoriaMetrics' cluster version when a storage node did not answer.
    if (this.isPartial === true)
      return fail('PARTIAL', `Prometheus at ${safeUrl} answered with isPartial: true, so the answer may be incomplete`);
    if (this.problem !== null) return bad(this.problem);
    if (this.resultType === undefined && this.result === undefined) return bad('no data');
    if (this.resultType !== this.expect) {
      return bad(`resultType is ${JSON.stringify(this.resultType ?? null)}, expected ${this.expect}`);
    }
    if (this.result !== 'list') return bad('result is not a list');
    return this.expect === 'vector' ? { ok: true, samples: this.samples } : { ok: true, series: this.series };
  }
}

function describeNetworkError(err: unknown, safeUrl: string): SourceError {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown };
  const label = typeof code === 'string' ? code : typeof name === 'string' ? name : 'unknown error';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { code: 'TIMEOUT', message: `connecting to Prometheus at ${safeUrl} timed out` };
  const system = typeof code === 'string' ? code : undefined;
  const hint = system !== undefined && CONNECT_CODES.has(system) ? 'cannot reach' : 'connection failed to';
  return { code: connectFailureCode(system), message: `${hint} Prometheus at ${safeUrl} (${label})` };
}

/** The request's deadline, joined with the caller's cancel signal; `end()` releases both. */
function deadline(options: { timeoutMs: number; signal?: AbortSignal }): { signal: AbortSignal; timedOut: () => boolean; end: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    end: () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** A non-2xx answer as a coded error, with Prometheus' own error text when it is small enough to read. */
async function statusFailure(res: Dispatcher.ResponseData, safeUrl: string, maxBytes: number): Promise<{ ok: false; error: SourceError }> {
  let text = '';
  if (!(Number(res.headers['content-length']) > ERROR_BODY_MAX_BYTES))
    text = prometheusErrorText(await readCapped(res.body, Math.min(maxBytes, ERROR_BODY_MAX_BYTES)).catch(() => Buffer.alloc(0)));
  else res.body.destroy();
  const hint = res.statusCode === 401 || res.statusCode === 403 ? ' (check bearerTokenFile or basicAuth)' : '';
  return fail('HTTP_STATUS', `Prometheus at ${safeUrl} answered HTTP ${res.statusCode}${hint}${text ? `: ${text}` : ''}`);
}

async function send(
  endpoint: Endpoint,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  dispatcher: Dispatcher | undefined,
  expect: Expect,
): Promise<InstantQueryResult | MatrixQueryResult> {
  const { safeUrl } = endpoint;
  const limit = deadline(options);
  const form = new URLSearchParams({
    query: expr,
    time: (timeMs / 1000).toFixed(3),
    timeout: `${Math.max(1, Math.ceil(options.timeoutMs / 1000))}s`,
    // VictoriaMetrics answers from a response cache and hides its newest samples
    // (-search.latencyOffset) unless told not to; Prometheus, Thanos and Mimir ignore both.
    nocache: '1',
    latency_offset: '0s',
  });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (endpoint.authorization) headers.authorization = endpoint.authorization;
  try {
    const res = await request(endpoint.url, { method: 'POST', headers, body: form.toString(), signal: limit.signal, dispatcher });
    if (res.statusCode < 200 || res.statusCode >= 300) return await statusFailure(res, safeUrl, options.maxBytes);
    if (Number(res.headers['content-length']) > options.maxBytes) {
      res.body.destroy();
      throw new TooLarge();
    }
    const maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
    const reader = new AnswerReader(maxSamples, expect);
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Leaving the loop destroys the stream, which frees the connection of an endless body.
      if (size > options.maxBytes) throw new TooLarge();
      reader.write(chunk);
    }
    return reader.finish(safeUrl);
  } catch (err) {
    if (err instanceof TooLarge) return fail('TOO_LARGE', `Prometheus at ${safeUrl} answered with more than ${options.maxBytes} bytes`);
    if (err instanceof TooManySamples) {
      const limit = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
      return fail(
        'TOO_MANY_SAMPLES',
        `Prometheus at ${safeUrl} answered with more than ${limit} samples; narrow prometheus.selector to the Gitaly and Praefect jobs`,
      );
    }
    if (limit.timedOut()) return fail('TIMEOUT', `Prometheus at ${safeUrl} did not answer within ${options.timeoutMs} ms`);
    if (options.signal?.aborted) return fail('ABORTED', `the query to Prometheus at ${safeUrl} was cancelled`);
    return { ok: false, error: describeNetworkError(err, safeUrl) };
  } finally {
    limit.end();
  }
}

async function query(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps,
  expect: Expect,
): Promise<InstantQueryResult | MatrixQueryResult> {
  const resolved = resolveEndpoint(cfg, deps.readSecret ?? readSecretFile);
  if (!resolved.ok) return resolved;
  const { endpoint } = resolved;
  let result: InstantQueryResult | MatrixQueryResult;
  try {
    result = await send(endpoint, expr, timeMs, options, deps.dispatcher, expect);
  } catch (err) {
    // send() maps every expected failure; this is the guard that keeps the promise from rejecting.
    result = fail(
      'BAD_RESPONSE',
      `query to Prometheus at ${endpoint.safeUrl} failed unexpectedly (${err instanceof Error ? err.name : 'unknown'})`,
    );
  }
  return result.ok ? result : fail(result.error.code, scrub(result.error.message, endpoint.secrets));
}

/** Evaluates `expr` at `timeMs` (POST, form-encoded, so long selectors fit). Vectors only. */
export function instantQuery(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps = {},
): Promise<InstantQueryResult> {
  return query(cfg, expr, timeMs, options, deps, 'vector') as Promise<InstantQueryResult>;
}

/** Evaluates a range-vector expression (a subquery) at `timeMs`; the answer must be a matrix. */
export function matrixQuery(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps = {},
): Promise<MatrixQueryResult> {
  return query(cfg, expr, timeMs, options, deps, 'matrix') as Promise<MatrixQueryResult>;
}

/**
 * GET of another endpoint under prometheus.url with the same deadline, size cap, authentication
 * and scrubbing as the queries: the raw body of a 2xx answer.
 */
async function getBody(
  cfg: PrometheusConfig,
  path: string,
  params: Record<string, string>,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps,
  accept: string,
  parse: (raw: Buffer, safeUrl: string) => Result<{ data: unknown }>,
): Promise<Result<{ data: unknown }>> {
  const resolved = resolveEndpoint(cfg, deps.readSecret ?? readSecretFile, path);
  if (!resolved.ok) return resolved;
  const { endpoint } = resolved;
  const { safeUrl } = endpoint;
  const url = new URL(endpoint.url);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const limit = deadline(options);
  const headers: Record<string, string> = { accept };
  if (endpoint.authorization) headers.authorization = endpoint.authorization;
  const result = await (async (): Promise<Result<{ data: unknown }>> => {
    try {
      const res = await request(url, { method: 'GET', headers, signal: limit.signal, dispatcher: deps.dispatcher });
      if (res.statusCode < 200 || res.statusCode >= 300) return await statusFailure(res, safeUrl, options.maxBytes);
      if (Number(res.headers['content-length']) > options.maxBytes) {
        res.body.destroy();
        throw new TooLarge();
      }
      return parse(await readCapped(res.body, options.maxBytes), safeUrl);
    } catch (err) {
      if (err instanceof TooLarge) return fail('TOO_LARGE', `Prometheus at ${safeUrl} answered with more than ${options.maxBytes} bytes`);
      if (limit.timedOut()) return fail('TIMEOUT', `Prometheus at ${safeUrl} did not answer within ${options.timeoutMs} ms`);
      if (options.signal?.aborted) return fail('ABORTED', `the request to Prometheus at ${safeUrl} was cancelled`);
      return { ok: false, error: describeNetworkError(err, safeUrl) };
    } finally {
      limit.end();
    }
  })();
  return result.ok ? result : fail(result.error.code, scrub(result.error.message, endpoint.secrets));
}

/** GET of another API endpoint (e.g. /api/v1/targets): the answer's `data`, once status is success. */
export function apiGet(
  cfg: PrometheusConfig,
  apiPath: string,
  params: Record<string, string>,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<Result<{ data: unknown }>> {
  return getBody(cfg, apiPath, params, options, deps, 'application/json', (raw, safeUrl) => {
    let parsed: { status?: unknown; data?: unknown; error?: unknown };
    try {
      parsed = JSON.parse(raw.toString('utf8')) as typeof parsed;
    } catch {
      return fail('BAD_RESPONSE', `Prometheus at ${safeUrl} sent an unusable answer: the body is not JSON`);
    }
    if (parsed?.status !== 'success') {
      const text = typeof parsed?.error === 'string' ? `: ${shorten(parsed.error)}` : '';
      return fail(
        'BAD_RESPONSE',
        `Prometheus at ${safeUrl} sent an unusable answer: status is ${JSON.stringify(parsed?.status ?? null)}${text}`,
      );
    }
    return { ok: true, data: parsed.data };
  });
}

/** GET of a plain-text page under prometheus.url (e.g. VictoriaMetrics' /flags): its text. */
export async function textGet(
  cfg: PrometheusConfig,
  path: string,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<Result<{ text: string }>> {
  const answer = await getBody(cfg, path, {}, options, deps, 'text/plain', (raw) => ({ ok: true, data: raw.toString('utf8') }));
  return answer.ok ? { ok: true, text: answer.data as string } : answer;
}
