// One instant query against the Prometheus HTTP API, with a deadline, a size cap and
// authentication. Never throws: every failure becomes a coded error whose message is free of
// secrets (tokens, passwords, URL userinfo), so it can be logged and shown on the status page.
import { readFileSync } from 'node:fs';
import { request, type Dispatcher } from 'undici';
import type { PrometheusConfig } from '../config/types.ts';
import type { Result, SourceError } from '../evidence.ts';

export interface PrometheusQueryOptions {
  timeoutMs: number;
  /** Cap on the response body; a bigger (or endless) answer is TOO_LARGE, never half-parsed. */
  maxBytes: number;
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

function fail(code: string, message: string): { ok: false; error: SourceError } {
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

function resolveEndpoint(cfg: PrometheusConfig, readSecret: (path: string) => string): Result<{ endpoint: Endpoint }> {
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
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`;
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

function parseSamples(raw: Buffer, safeUrl: string, expect: 'vector' | 'matrix' = 'vector'): InstantQueryResult | MatrixQueryResult {
  const bad = (why: string) => fail('BAD_RESPONSE', `Prometheus at ${safeUrl} sent an unusable answer: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return bad('the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) return bad('the body is not a JSON object');
  const answer = parsed as { status?: unknown; error?: unknown; warnings?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (answer.status !== 'success') {
    const text = typeof answer.error === 'string' ? `: ${shorten(answer.error)}` : '';
    return bad(`status is ${JSON.stringify(answer.status ?? null)}${text}`);
  }
  if (Array.isArray(answer.warnings) && answer.warnings.length > 0) {
    const first = answer.warnings.map(String).join('; ');
    return fail('PARTIAL', `Prometheus at ${safeUrl} answered with warnings, so the answer may be incomplete: ${shorten(first)}`);
  }
  const data = answer.data;
  if (typeof data !== 'object' || data === null) return bad('no data');
  if (data.resultType !== expect) return bad(`resultType is ${JSON.stringify(data.resultType ?? null)}, expected ${expect}`);
  if (!Array.isArray(data.result)) return bad('result is not a list');
  if (expect === 'matrix') {
    const series: PrometheusSeries[] = [];
    for (const item of data.result as unknown[]) {
      const { metric, values } = (item ?? {}) as { metric?: unknown; values?: unknown };
      const labels = parseLabels(metric);
      if (typeof labels === 'string') return bad(labels);
      if (!Array.isArray(values)) return bad('a series has no values');
      const points: Array<[number, number]> = [];
      for (const point of values as unknown[]) {
        const v = parseValue(point);
        const t: unknown = Array.isArray(point) ? (point as unknown[])[0] : undefined;
        if (v === null || typeof t !== 'number' || !Number.isFinite(t)) return bad('a series point is not a [time, number] pair');
        points.push([Math.round(t * 1000), v]);
      }
      series.push({ labels, points });
    }
    return { ok: true, series };
  }
  const samples: PrometheusSample[] = [];
  for (const item of data.result as unknown[]) {
    const { metric, value } = (item ?? {}) as { metric?: unknown; value?: unknown };
    const labels = parseLabels(metric);
    if (typeof labels === 'string') return bad(labels);
    const v = parseValue(value);
    if (v === null) return bad('a sample value is not a number');
    samples.push({ labels, value: v });
  }
  return { ok: true, samples };
}

function describeNetworkError(err: unknown, safeUrl: string): SourceError {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown };
  const label = typeof code === 'string' ? code : typeof name === 'string' ? name : 'unknown error';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { code: 'CONNECT', message: `connecting to Prometheus at ${safeUrl} timed out` };
  const hint = typeof code === 'string' && CONNECT_CODES.has(code) ? 'cannot reach' : 'connection failed to';
  return { code: 'CONNECT', message: `${hint} Prometheus at ${safeUrl} (${label})` };
}

async function send<R extends InstantQueryResult | MatrixQueryResult>(
  endpoint: Endpoint,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  dispatcher: Dispatcher | undefined,
  expect: 'vector' | 'matrix',
): Promise<R | { ok: false; error: SourceError }> {
  const { safeUrl } = endpoint;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  const form = new URLSearchParams({
    query: expr,
    time: (timeMs / 1000).toFixed(3),
    timeout: `${Math.max(1, Math.ceil(options.timeoutMs / 1000))}s`,
  });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (endpoint.authorization) headers.authorization = endpoint.authorization;
  try {
    const res = await request(endpoint.url, { method: 'POST', headers, body: form.toString(), signal: controller.signal, dispatcher });
    const declared = Number(res.headers['content-length']);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let text = '';
      if (!(declared > ERROR_BODY_MAX_BYTES))
        text = prometheusErrorText(
          await readCapped(res.body, Math.min(options.maxBytes, ERROR_BODY_MAX_BYTES)).catch(() => Buffer.alloc(0)),
        );
      else res.body.destroy();
      const hint = res.statusCode === 401 || res.statusCode === 403 ? ' (check bearerTokenFile or basicAuth)' : '';
      return fail('HTTP_STATUS', `Prometheus at ${safeUrl} answered HTTP ${res.statusCode}${hint}${text ? `: ${text}` : ''}`);
    }
    if (declared > options.maxBytes) {
      res.body.destroy();
      throw new TooLarge();
    }
    return parseSamples(await readCapped(res.body, options.maxBytes), safeUrl, expect) as R;
  } catch (err) {
    if (err instanceof TooLarge) return fail('TOO_LARGE', `Prometheus at ${safeUrl} answered with more than ${options.maxBytes} bytes`);
    if (timedOut) return fail('TIMEOUT', `Prometheus at ${safeUrl} did not answer within ${options.timeoutMs} ms`);
    if (options.signal?.aborted) return fail('ABORTED', `the query to Prometheus at ${safeUrl} was cancelled`);
    return { ok: false, error: describeNetworkError(err, safeUrl) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function query<R extends InstantQueryResult | MatrixQueryResult>(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps,
  expect: 'vector' | 'matrix',
): Promise<R | { ok: false; error: SourceError }> {
  const resolved = resolveEndpoint(cfg, deps.readSecret ?? readSecretFile);
  if (!resolved.ok) return resolved;
  const { endpoint } = resolved;
  let result: R | { ok: false; error: SourceError };
  try {
    result = await send<R>(endpoint, expr, timeMs, options, deps.dispatcher, expect);
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
  return query<InstantQueryResult>(cfg, expr, timeMs, options, deps, 'vector');
}

/** Evaluates a range-vector expression (a subquery) at `timeMs`; the answer must be a matrix. */
export function matrixQuery(
  cfg: PrometheusConfig,
  expr: string,
  timeMs: number,
  options: PrometheusQueryOptions,
  deps: PrometheusDeps = {},
): Promise<MatrixQueryResult> {
  return query<MatrixQueryResult>(cfg, expr, timeMs, options, deps, 'matrix');
}
