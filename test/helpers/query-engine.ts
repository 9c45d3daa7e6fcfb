// The query engines the Prometheus-mode suites run against, with the same fake fleet and the same
// expectations on each: `for (const engine of ENGINES) describe(...)`.
import { startPrometheus, type RunningPrometheus, type StartPrometheusOptions } from './prometheus-server.ts';
import { startVictoriaMetrics } from './victoria-metrics-server.ts';

export const ENGINES = ['prometheus', 'victoria-metrics'] as const;
export type Engine = (typeof ENGINES)[number];

export function startEngine(engine: Engine, options: StartPrometheusOptions): Promise<RunningPrometheus> {
  return engine === 'prometheus' ? startPrometheus(options) : startVictoriaMetrics(options);
}
