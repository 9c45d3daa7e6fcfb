// The configuration the real-Prometheus suites give a collector: 1 s collections and scrapes, the
// fleet's Prometheus under job="gitaly", short timeouts. Only what a suite varies is a parameter:
// `prometheusUrl` null is a collector on direct scrapes alone; `stateName` names its state file.
import { join } from 'node:path';
import type { Config, NodeConfig } from '../../src/config/types.ts';

export function realPrometheusConfig(o: {
  dir: string;
  caFile: string;
  nodes: NodeConfig[];
  prometheusUrl: string | null;
  soakWindowMs: number;
  stateName?: string;
}): Config {
  return {
    source: '<test>',
    nodes: o.nodes,
    soakWindowMs: o.soakWindowMs,
    collectionIntervalMs: 1000,
    // Dials well apart compared with the scrape interval, as in production (1h vs 15s).
    plaintextCheckIntervalMs: 24_000,
    tlsVersionCheckIntervalMs: 600_000,
    expiryWarningMs: 30 * 86_400_000,
    concurrency: 8,
    timeouts: { metricsMs: 5000, tlsMs: 5000, plaintextMs: 3000, prometheusMs: 10_000 },
    maxMetricsPageBytes: 32 << 20,
    maxPrometheusResponseBytes: 32 << 20,
    stateFile: join(o.dir, `${o.stateName ?? 'state'}.json`),
    caFile: o.caFile,
    allowUnlistedTargets: false,
    ...(o.prometheusUrl === null
      ? {}
      : { prometheus: { url: o.prometheusUrl, selector: 'job="gitaly"', instanceLabel: 'instance', scrapeIntervalMs: 1000 } }),
  };
}
