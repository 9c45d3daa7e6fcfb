// Which engine answers at prometheus.url. The window count and the per-change queries rest on
// Prometheus' own semantics (staleness markers, subquery alignment, increase()'s extrapolation,
// instant lookback); an engine that answers the same HTTP API with other semantics gives answers
// that parse but can mean something else. VictoriaMetrics 1.79 is one (docs/deploy.md lists what
// differs): with the exporter's queries it called nodes tls_only_traffic that still had plaintext
// clients. So evidence counts only from an engine whose behaviour was verified, and any other is
// a blocking reason naming what answered, never a verdict.
import type { PrometheusConfig } from '../config/types.ts';
import type { SourceError } from '../evidence.ts';
import { apiGet, type PrometheusDeps, type PrometheusQueryOptions } from './prometheus-client.ts';

/** Prometheus 2.x and 3.x: the versions the real-Prometheus suites run against. */
const PROMETHEUS_VERSION = /^[23]\.\d+\.\d+/;
const BUILD_INFO = '/api/v1/status/buildinfo';

/** What the build information says answered, in words for the blocking reason. */
export function describeBuildInfo(data: unknown): { verified: true } | { verified: false; what: string } {
  const info = (typeof data === 'object' && data !== null && !Array.isArray(data) ? data : {}) as Record<string, unknown>;
  const text = (key: string): string | null => (typeof info[key] === 'string' && info[key] !== '' ? info[key] : null);
  const version = text('version');
  const application = text('application');
  if (application !== null) return { verified: false, what: `${application.slice(0, 60)} ${version?.slice(0, 40) ?? ''}`.trim() };
  // Prometheus reports its revision and Go version beside the version; VictoriaMetrics 1.79 reports
  // nothing at all, later releases only a made-up Prometheus version.
  if (version !== null && PROMETHEUS_VERSION.test(version) && text('revision') !== null && text('goVersion') !== null)
    return { verified: true };
  if (Object.keys(info).length === 0 || (version !== null && Object.keys(info).length === 1))
    return { verified: false, what: 'an engine that reports no Prometheus build (as VictoriaMetrics does)' };
  return {
    verified: false,
    what: version === null ? 'an engine without a version' : `an engine reporting version ${version.slice(0, 40)}`,
  };
}

export type EngineCheck =
  | { ok: true; engine: 'prometheus' }
  | { ok: false; error: SourceError; /** The build information answered (and named another engine). */ answered: boolean };

/**
 * Asks prometheus.url's build information; ok only for a Prometheus. Network failures keep their
 * own code (the queries meet them too); anything else is UNVERIFIED_ENGINE.
 */
export async function checkQueryEngine(
  cfg: PrometheusConfig,
  options: Omit<PrometheusQueryOptions, 'maxSamples'>,
  deps: PrometheusDeps = {},
): Promise<EngineCheck> {
  const answer = await apiGet(cfg, BUILD_INFO, {}, options, deps);
  const unverified = (what: string, answered: boolean): EngineCheck => ({
    ok: false,
    answered,
    error: {
      code: 'UNVERIFIED_ENGINE',
      message:
        `prometheus.url answers as ${what}, not as Prometheus: the exporter's queries are verified on Prometheus only, ` +
        'so its answers cannot decide a verdict (see docs/deploy.md, "Prometheus-compatible engines")',
    },
  });
  if (!answer.ok) {
    // No build information (HTTP 404, an answer that is not one): not a Prometheus this exporter knows.
    const missing =
      answer.error.code === 'BAD_RESPONSE' || (answer.error.code === 'HTTP_STATUS' && / HTTP 40[45]\b/.test(answer.error.message));
    return missing
      ? unverified(`an engine without Prometheus' ${BUILD_INFO} (${answer.error.message})`, false)
      : { ...answer, answered: false };
  }
  const described = describeBuildInfo(answer.data);
  return described.verified ? { ok: true, engine: 'prometheus' } : unverified(described.what, true);
}
