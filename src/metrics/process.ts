// prom-client's default process and Node.js metrics (CPU, memory, file descriptors, event loop lag,
// GC), for the exporter's own health. Measured at scrape time, unlike the contract metrics, which
// are rendered once per collection; one registry per process, since they describe the process.
import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | null = null;

export function processMetricsText(): Promise<string> {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // Gauges named *_total fail `promtool check metrics`; each is the sum() of the by-type gauge kept beside it.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(name);
  }
  return registry.metrics();
}
