// Which engine answers at prometheus.url. The window count and the per-change queries rest on
// Prometheus' semantics (staleness markers, subquery alignment, instant lookback); an engine that
// answers the same HTTP API with other semantics gives answers that parse but can mean something
// else. Evidence counts only from an engine the real-engine suites run against:
//   - Prometheus 2.x and 3.x;
//   - VictoriaMetrics (single node, Debian's 1.79) started with -search.latencyOffset of at most
//     1 s. With its default of 30 s, a range query's points of the newest 30 s are replaced by the
//     point before (and 1.79 ignores the latency_offset query argument), so the per-change answer
//     never shows the exporter's own latest dial and done nodes stay in dual_listen forever.
// Any other engine, or VictoriaMetrics with a larger offset, is a blocking reason naming what
// answered and what to change, never a verdict. docs/deploy.md, "Prometheus-compatible engines".
import type { PrometheusConfig } from '../config/types.ts';
import type { SourceError } from '../evidence/evidence.ts';
import { apiGetData, textGet, type PrometheusDeps, type PrometheusQueryOptions } from './prometheus-client.ts';

export type QueryEngine = 'prometheus' | 'victoriametrics';
/** The largest -search.latencyOffset of a VictoriaMetrics whose answers count. */
export const MAX_LATENCY_OFFSET_MS = 1_000;
/** VictoriaMetrics rewrites a range answer's newest points only for steps shorter than this (-search.maxStepForPointsAdjustment). */
const MAX_ADJUSTED_STEP_MS = 60_000;
/** VictoriaMetrics measures its latency offset by its own clock: a second more for skew. */
const CLOCK_SKEW_MS = 1_000;
/** VictoriaMetrics' default -search.latencyOffset. */
const DEFAULT_LATENCY_OFFSET_MS = 30_000;
/** Prometheus 2.x and 3.x: the versions the real-Prometheus suites run against. */
const PROMETHEUS_VERSION = /^[23]\.\d+\.\d+/;
const BUILD_INFO = '/api/v1/status/buildinfo';

/** What the build information says answered, in words for the blocking reason. */
export function describeBuildInfo(data: unknown): { engine: QueryEngine } | { engine: null; what: string } {
  const info = (typeof data === 'object' && data !== null && !Array.isArray(data) ? data : {}) as Record<string, unknown>;
  const text = (key: string): string | null => (typeof info[key] === 'string' && info[key] !== '' ? info[key] : null);
  const version = text('version');
  const application = text('application');
  if (application !== null) return { engine: null, what: `${application.slice(0, 60)} ${version?.slice(0, 40) ?? ''}`.trim() };
  // Prometheus reports its revision and Go version beside the version; VictoriaMetrics 1.79 reports
  // nothing at all, later releases only a made-up Prometheus version.
  if (version !== null && PROMETHEUS_VERSION.test(version) && text('revision') !== null && text('goVersion') !== null)
    return { engine: 'prometheus' };
  if (Object.keys(info).length === 0 || (version !== null && Object.keys(info).length === 1)) return { engine: 'victoriametrics' };
  return { engine: null, what: version === null ? 'an engine without a version' : `an engine reporting version ${version.slice(0, 40)}` };
}

/** A Go duration as VictoriaMetrics prints its flags ("30s", "1m0s", "500ms"), in ms; null if it is none. */
export function parseGoDurationMs(text: string): number | null {
  if (text === '0') return 0;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return text === '' ? null : total;
}

/** -search.latencyOffset from VictoriaMetrics' /flags page (it lists the flags set), in ms. */
export function latencyOffsetMs(flagsPage: string): number | null {
  const line = /^-search\.latencyOffset="?([^"\s]*)"?\s*$/m.exec(flagsPage);
  return line ? parseGoDurationMs(line[1]!) : DEFAULT_LATENCY_OFFSET_MS;
}

/** The engine at prometheus.url, and how much of a range answer's newest end it rewrites (ms). */
export interface QueryEngineInfo {
  engine: QueryEngine;
  latencyOffsetMs: number;
}

export type EngineCheck =
  | ({ ok: true } & QueryEngineInfo)
  | { ok: false; error: SourceError; /** The engine answered, as another one than those verified. */ answered: boolean };

function unverified(
  what: string,
  answered: boolean,
  fix = "the exporter's queries are verified on Prometheus and VictoriaMetrics only",
): EngineCheck {
  return {
    ok: false,
    answered,
    error: {
      code: 'UNVERIFIED_ENGINE',
      message: `prometheus.url answers as ${what}: ${fix}, so its answers cannot decide a verdict (see docs/deploy.md, "Prometheus-compatible engines")`,
    },
  };
}

/**
 * Asks prometheus.url's build information (and VictoriaMetrics its flags); ok only for an engine
 * the suites verify. Network failures keep their own code (the queries meet them too).
 */
export async function checkQueryEngine(
  cfg: PrometheusConfig,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<EngineCheck> {
  const answer = await apiGetData(cfg, BUILD_INFO, options, deps);
  if (!answer.ok) {
    // No build information (HTTP 404, an answer that is not one): not an engine this exporter knows.
    const missing =
      answer.error.code === 'BAD_RESPONSE' || (answer.error.code === 'HTTP_STATUS' && / HTTP 40[45]\b/.test(answer.error.message));
    return missing
      ? unverified(`an engine without Prometheus' ${BUILD_INFO} (${answer.error.message})`, false)
      : { ...answer, answered: false };
  }
  const described = describeBuildInfo(answer.data);
  if (described.engine === null) return unverified(described.what, true);
  if (described.engine === 'prometheus') return { ok: true, engine: 'prometheus', latencyOffsetMs: 0 };
  const flags = await textGet(cfg, '/flags', options, deps);
  if (!flags.ok)
    return unverified(
      'VictoriaMetrics (its build information is empty)',
      true,
      `its /flags page, which tells whether -search.latencyOffset is at most ${MAX_LATENCY_OFFSET_MS / 1000}s, did not answer (${flags.error.message})`,
    );
  const offsetMs = latencyOffsetMs(flags.text);
  if (offsetMs === null || offsetMs > MAX_LATENCY_OFFSET_MS) {
    const shown = offsetMs === null ? 'an unreadable -search.latencyOffset' : `-search.latencyOffset=${offsetMs / 1000}s`;
    return unverified(
      `VictoriaMetrics with ${shown}`,
      true,
      `it hides the newest ${offsetMs === null ? 'seconds' : `${offsetMs / 1000} s`} of every range query, where the exporter's own dials are; start it with -search.latencyOffset=1s`,
    );
  }
  return { ok: true, engine: 'victoriametrics', latencyOffsetMs: offsetMs };
}

/** Prometheus, as assumed where no engine check runs (tests with a fake Prometheus). */
export const PROMETHEUS_ENGINE: QueryEngineInfo = { engine: 'prometheus', latencyOffsetMs: 0 };

/** How long before now the engine may rewrite a range answer (VictoriaMetrics' latency offset, by its clock); 0 for Prometheus. */
export function rewrittenMs(engine: QueryEngineInfo): number {
  return engine.engine === 'victoriametrics' ? engine.latencyOffsetMs + CLOCK_SKEW_MS : 0;
}

/**
 * How long before now a range answer with steps of `stepMs` can be trusted: VictoriaMetrics
 * replaces the points newer than its latency offset with the point before (for steps under a
 * minute), so a change there would be listed once per step it was copied to; Prometheus answers
 * every step as it is (0).
 */
export function hiddenRangeMs(engine: QueryEngineInfo, stepMs: number): number {
  return stepMs >= MAX_ADJUSTED_STEP_MS ? 0 : rewrittenMs(engine);
}
