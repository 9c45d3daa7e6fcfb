// The query engines the Prometheus-mode suites run against, with the same fake fleet and the same
// expectations on each: `for (const engine of ENGINES) describe(...)`.
import type { PrometheusConfig } from '../../src/config/types.ts';
import type { PrometheusFleetEvidence } from '../../src/evidence/evidence.ts';
import {
  queryFleetEvidence,
  verifiedFleetEvidence,
  type PrometheusDeps,
  type PrometheusQueryOptions,
} from '../../src/sources/prometheus.ts';
import { checkQueryEngine } from '../../src/sources/prometheus-engine.ts';
import { startPrometheus, type RunningPrometheus, type StartPrometheusOptions } from './prometheus-server.ts';
import { startVictoriaMetrics } from './victoria-metrics-server.ts';

export const ENGINES = ['prometheus', 'victoria-metrics'] as const;
export type Engine = (typeof ENGINES)[number];

export function startEngine(engine: Engine, options: StartPrometheusOptions): Promise<RunningPrometheus> {
  return engine === 'prometheus' ? startPrometheus(options) : startVictoriaMetrics(options);
}

/** queryFleetEvidence from a verified engine only, the engine asked first, as the collector does it. */
export async function queryVerifiedFleetEvidence(
  cfg: PrometheusConfig,
  window: { startMs: number; endMs: number; marginMs?: number },
  options: PrometheusQueryOptions,
  deps: PrometheusDeps = {},
): Promise<PrometheusFleetEvidence> {
  const started = Date.now();
  const engine = await checkQueryEngine(cfg, options, deps);
  return verifiedFleetEvidence(
    engine,
    (info) => queryFleetEvidence(cfg, window, options, deps, info),
    () => Date.now() - started,
  );
}
