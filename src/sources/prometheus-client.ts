// One instant query against the Prometheus HTTP API, with a deadline, a size cap and
// authentication. Never throws: every failure becomes a coded error whose message is free of
// secrets (tokens, passwords, URL userinfo), so it can be logged and shown on the status page.
import type { ParsedElementInfo } from '@streamparser/json';
import { request, type Dispatcher } from 'undici';
import type { PrometheusConfig } from '../config/types.ts';
import type { Result, SourceError } from '../evidence/evidence.ts';
import { connectFailureCode } from '../base/error-codes.ts';
import { describeFileError, FILE_TIMEOUT_MS, readFileBounded } from '../files/bounded-file.ts';
import { badAnswer, fail, release, shorten, StreamedAnswer, type AnswerStream } from './prometheus-answer.ts';
import { scrub } from './secret-text.ts';

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
  readSecret?: (path: string) => string | Promise<string>;
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

/** A token or password is a line; the cap keeps a wrong path from being sent as a header. */
const MAX_SECRET_BYTES = 64 * 1024;

async function readSecretFile(path: string): Promise<string> {
  return (await readFileBounded(path, { timeoutMs: FILE_TIMEOUT_MS, maxBytes: MAX_SECRET_BYTES })).toString('utf8');
}

interface Endpoint {
  url: URL;
  /** Origin and path only: what error messages may show. */
  safeUrl: string;
  authorization: string | undefined;
  /** Every secret value in play, to scrub from any text that leaves this module. */
  secrets: string[];
}

async function resolveEndpoint(
  cfg: PrometheusConfig,
  readSecret: NonNullable<PrometheusDeps['readSecret']>,
  apiPath = '/api/v1/query',
): Promise<Result<{ endpoint: Endpoint }>> {
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
      const token = (await readSecret(cfg.bearerTokenFile)).trim();
      if (token === '') return fail('CONFIG', `prometheus bearer token file ${cfg.bearerTokenFile} is empty`);
      secrets.push(token);
      authorization = `Bearer ${token}`;
      basic = null;
    } else if (cfg.basicAuth) {
      basic = { username: cfg.basicAuth.username, password: (await readSecret(cfg.basicAuth.passwordFile)).trim() };
      secrets.push(basic.password);
    }
  } catch (err) {
    const file = cfg.bearerTokenFile ?? cfg.basicAuth?.passwordFile ?? '';
    return fail('CONFIG', `prometheus secret file ${file} ${describeFileError(err)}`);
  }
  if (basic) {
    const encoded = Buffer.from(`${basic.username}:${basic.password}`, 'utf8').toString('base64');
    secrets.push(encoded);
    authorization = `Basic ${encoded}`;
  }
  if (authorization && /[\r\n\0]/.test(authorization)) return fail('CONFIG', 'prometheus credentials contain a line break or NUL byte');
  return { ok: true, endpoint: { url, safeUrl, authorization, secrets: secrets.filter((s) => s !== '') } };
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

function prometheusErrorText(raw: Buffer, secrets: readonly string[]): string {
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as { error?: unknown; errorType?: unknown };
    if (typeof parsed.error === 'string' && parsed.error.trim() !== '') {
      const type = typeof parsed.errorType === 'string' && parsed.errorType !== '' ? `${parsed.errorType}: ` : '';
      return shorten(`${type}${parsed.error}`, secrets);
    }
  } catch {
    // Not Prometheus' JSON (a proxy's page, say): the status code has to speak for itself.
  }
  return '';
}

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
 * points count as samples).
 */
class AnswerReader extends StreamedAnswer<{ samples: PrometheusSample[] } | { series: PrometheusSeries[] }> {
  private readonly samples: PrometheusSample[] = [];
  private readonly series: PrometheusSeries[] = [];
  private count = 0;
  private resultType: unknown = undefined;
  private result: 'list' | 'other' | undefined = undefined;

  constructor(
    private readonly maxSamples: number,
    private readonly expect: Expect,
    secrets: readonly string[],
  ) {
    super(['$.data.resultType', '$.data.result', '$.data.result.*'], secrets);
  }

  protected onData({ value, key, parent, stack }: ParsedElementInfo): void {
    if (stack.length === 3) {
      // An element of data.result: taken out of the parser's array at once, so it holds nothing.
      release(parent, key);
      this.result = Array.isArray(parent) ? 'list' : 'other';
      if (this.result === 'list' && this.problem === null && !this.stopped) this.addSample(value);
      return;
    }
    if (key === 'result') this.result = Array.isArray(value) ? 'list' : 'other';
    else if (key === 'resultType') this.resultType = value;
  }

  private addSample(item: unknown): void {
    const { metric, value, values } = (item ?? {}) as { metric?: unknown; value?: unknown; values?: unknown };
    const size = this.expect === 'matrix' && Array.isArray(values) ? values.length : 1;
    if (this.count + size > this.maxSamples) {
      this.stopped = true;
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

  protected stopReason(safeUrl: string): { ok: false; error: SourceError } | null {
    if (!this.stopped) return null;
    return fail(
      'TOO_MANY_SAMPLES',
      `Prometheus at ${safeUrl} answered with more than ${this.maxSamples} samples; narrow prometheus.selector to the Gitaly and Praefect jobs`,
    );
  }

  protected finishData(safeUrl: string): InstantQueryResult | MatrixQueryResult {
    const bad = (why: string) => badAnswer(safeUrl, why);
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
async function statusFailure(
  res: Dispatcher.ResponseData,
  endpoint: Endpoint,
  maxBytes: number,
): Promise<{ ok: false; error: SourceError }> {
  const { safeUrl } = endpoint;
  let text = '';
  if (!(Number(res.headers['content-length']) > ERROR_BODY_MAX_BYTES)) {
    const raw = await readCapped(res.body, Math.min(maxBytes, ERROR_BODY_MAX_BYTES)).catch(() => Buffer.alloc(0));
    text = prometheusErrorText(raw, endpoint.secrets);
  } else res.body.destroy();
  const hint = res.statusCode === 401 || res.statusCode === 403 ? ' (check bearerTokenFile or basicAuth)' : '';
  return fail('HTTP_STATUS', `Prometheus at ${safeUrl} answered HTTP ${res.statusCode}${hint}${text ? `: ${text}` : ''}`);
}

interface ApiRequest<T> {
  /** The API path, e.g. /api/v1/query. */
  apiPath: string;
  /** What the request is, in the cancelled message: "query", "request". */
  what: string;
  /** POST's form, or GET's query parameters. */
  method: 'GET' | 'POST';
  params: Record<string, string>;
  /** The reader of the answer, given the request's secrets to scrub from any text of the server's it shows. */
  reader: (secrets: readonly string[]) => AnswerStream<T>;
  /** Default application/json. */
  accept?: string;
}

/** One request, its answer streamed into `reader` under the byte cap; every failure a coded result. */
async function exchange<T>(
  endpoint: Endpoint,
  req: ApiRequest<T>,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  dispatcher: Dispatcher | undefined,
): Promise<Result<T>> {
  const { safeUrl } = endpoint;
  const limit = deadline(options);
  const headers: Record<string, string> = { accept: req.accept ?? 'application/json' };
  if (endpoint.authorization) headers.authorization = endpoint.authorization;
  const url = new URL(endpoint.url);
  let body: string | undefined;
  if (req.method === 'POST') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.params).toString();
  } else for (const [key, value] of Object.entries(req.params)) url.searchParams.set(key, value);
  try {
    const res = await request(url, { method: req.method, headers, body, signal: limit.signal, dispatcher });
    if (res.statusCode < 200 || res.statusCode >= 300) return await statusFailure(res, endpoint, options.maxBytes);
    if (Number(res.headers['content-length']) > options.maxBytes) {
      res.body.destroy();
      throw new TooLarge();
    }
    const reader = req.reader(endpoint.secrets);
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Leaving the loop destroys the stream, which frees the connection of an endless body.
      if (size > options.maxBytes) throw new TooLarge();
      if (!reader.write(chunk)) break;
    }
    return reader.finish(safeUrl);
  } catch (err) {
    if (err instanceof TooLarge) return fail('TOO_LARGE', `Prometheus at ${safeUrl} answered with more than ${options.maxBytes} bytes`);
    if (limit.timedOut()) return fail('TIMEOUT', `Prometheus at ${safeUrl} did not answer within ${options.timeoutMs} ms`);
    if (options.signal?.aborted) return fail('ABORTED', `the ${req.what} to Prometheus at ${safeUrl} was cancelled`);
    return { ok: false, error: describeNetworkError(err, safeUrl) };
  } finally {
    limit.end();
  }
}

/** exchange() with the endpoint resolved and every secret scrubbed from the error; never rejects. */
async function call<T>(
  cfg: PrometheusConfig,
  req: ApiRequest<T>,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps,
): Promise<Result<T>> {
  const resolved = await resolveEndpoint(cfg, deps.readSecret ?? readSecretFile, req.apiPath);
  if (!resolved.ok) return resolved;
  const { endpoint } = resolved;
  let result: Result<T>;
  try {
    result = await exchange(endpoint, req, options, deps.dispatcher);
  } catch (err) {
    // exchange() maps every expected failure; this is the guard that keeps the promise from rejecting.
    result = fail(
      'BAD_RESPONSE',
      `${req.what} to Prometheus at ${endpoint.safeUrl} failed unexpectedly (${err instanceof Error ? err.name : 'unknown'})`,
    );
  }
  return result.ok ? result : fail(result.error.code, scrub(result.error.message, endpoint.secrets));
}

function query(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps,
  expect: Expect,
): Promise<InstantQueryResult | MatrixQueryResult> {
  const params = {
    query: expr,
    time: (timeMs / 1000).toFixed(3),
    timeout: `${Math.max(1, Math.ceil(options.timeoutMs / 1000))}s`,
    // VictoriaMetrics answers from a response cache and hides its newest samples
    // (-search.latencyOffset) unless told not to; Prometheus, Thanos and Mimir ignore both.
    nocache: '1',
    latency_offset: '0s',
  };
  const reader = (secrets: readonly string[]) => new AnswerReader(options.maxSamples ?? DEFAULT_MAX_SAMPLES, expect, secrets);
  return call(cfg, { apiPath: '/api/v1/query', what: 'query', method: 'POST', params, reader }, options, deps);
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
 * GET of another API endpoint (e.g. /api/v1/targets) with the same deadline, size cap,
 * authentication and scrubbing as the queries, its answer read as it streams in by the reader
 * `reader` makes.
 */
export function apiGet<T>(
  cfg: PrometheusConfig,
  apiPath: string,
  params: Record<string, string>,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  reader: (secrets: readonly string[]) => AnswerStream<T>,
  deps: PrometheusDeps = {},
): Promise<Result<T>> {
  return call(cfg, { apiPath, what: 'request', method: 'GET', params, reader }, options, deps);
}

/** Keeps a small answer's `data` whole (build information): for answers known to be small. */
class DataReader extends StreamedAnswer<{ data: unknown }> {
  private data: unknown = undefined;
  constructor(secrets: readonly string[]) {
    super(['$.data'], secrets);
  }
  protected onData({ value }: ParsedElementInfo): void {
    this.data = value;
  }
  protected stopReason(): null {
    return null;
  }
  protected finishData(): Result<{ data: unknown }> {
    return { ok: true, data: this.data };
  }
}

/** GET of a small API answer (e.g. /api/v1/status/buildinfo): its `data`, once status is success. */
export function apiGetData(
  cfg: PrometheusConfig,
  apiPath: string,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<Result<{ data: unknown }>> {
  const reader = (secrets: readonly string[]) => new DataReader(secrets);
  return call(cfg, { apiPath, what: 'request', method: 'GET', params: {}, reader }, options, deps);
}

/** The text of a plain page, kept whole (the byte cap bounds it). */
class TextReader implements AnswerStream<{ text: string }> {
  private readonly chunks: Buffer[] = [];
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }
  finish(): Result<{ text: string }> {
    return { ok: true, text: Buffer.concat(this.chunks).toString('utf8') };
  }
}

/** GET of a plain-text page under prometheus.url (e.g. VictoriaMetrics' /flags): its text. */
export function textGet(
  cfg: PrometheusConfig,
  path: string,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<Result<{ text: string }>> {
  return call(
    cfg,
    { apiPath: path, what: 'request', method: 'GET', params: {}, reader: () => new TextReader(), accept: 'text/plain' },
    options,
    deps,
  );
}
