// Section 6, discovery: nodes from Prometheus's targets cost the same number of requests per
// collection at 10 and at 1,000 nodes (the targets list and one role query), and reading 1,000
// targets into nodes takes little time. A stand-in Prometheus answers both, counting requests.
import http from 'node:http';
import type { Config } from '../src/config/types.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import { Inventory } from '../src/inventory/inventory.ts';
import { listenOnLoopback } from './fake-prometheus.ts';
import { met, type Row } from './report.ts';
import { fmt, median } from './stats.ts';

const SCALES = [10, 1000] as const;
const REFRESHES = 5;
/** One in this many targets exports Praefect's counter family. */
const PRAEFECT_EVERY = 50;

function instance(i: number): string {
  return `10.${Math.floor(i / 65_536) % 256}.${Math.floor(i / 256) % 256}.${i % 256}:9236`;
}

async function fakePrometheus(targets: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const activeTargets = Array.from({ length: targets }, (_, i) => ({
    labels: { job: i % PRAEFECT_EVERY === 0 ? 'praefect' : 'gitaly', instance: instance(i) },
    scrapeUrl: `http://${instance(i)}/metrics`,
    health: 'up',
  }));
  // Plus targets outside the selector, as any real Prometheus has.
  activeTargets.push({ labels: { job: 'node', instance: '10.9.9.9:9100' }, scrapeUrl: 'http://10.9.9.9:9100/metrics', health: 'up' });
  const targetsBody = JSON.stringify({ status: 'success', data: { activeTargets, droppedTargets: [] } });
  const praefects = activeTargets
    .filter((t) => t.labels.job === 'praefect')
    .map((t) => ({ metric: { instance: t.labels.instance }, value: [0, '1'] }));
  const roleBody = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: praefects } });
  const server = http.createServer((req, res) => {
    requests++;
    const path = (req.url ?? '').split('?')[0];
    req.resume();
    req.on('end', () => {
      if (path === '/api/v1/targets') res.writeHead(200, { 'content-type': 'application/json' }).end(targetsBody);
      else if (path === '/api/v1/query') res.writeHead(200, { 'content-type': 'application/json' }).end(roleBody);
      else res.writeHead(404).end();
    });
  });
  const url = await listenOnLoopback(server);
  return { url, requests: () => requests };
}

/** The defaults a config file without those keys gets. */
const D = {
  soakWindowMs: DEFAULTS.soakWindowMs,
  collectionIntervalMs: DEFAULTS.collectionIntervalMs,
  plaintextCheckIntervalMs: DEFAULTS.plaintextCheckIntervalMs,
  tlsVersionCheckIntervalMs: DEFAULTS.tlsVersionCheckIntervalMs,
  expiryWarningMs: DEFAULTS.expiryWarningMs,
  concurrency: DEFAULTS.concurrency,
  timeouts: DEFAULTS.timeouts,
  maxMetricsPageBytes: DEFAULTS.maxMetricsPageBytes,
  maxPrometheusResponseBytes: DEFAULTS.maxPrometheusResponseBytes,
  allowUnlistedTargets: DEFAULTS.allowUnlistedTargets,
};

function configFor(url: string): Config {
  return {
    source: 'bench',
    nodes: [],
    prometheus: { url, selector: 'job=~"gitaly|praefect"', instanceLabel: 'instance', scrapeIntervalMs: 60_000 },
    discovery: {
      prometheus: {
        selector: 'job=~"gitaly|praefect"',
        templates: { name: '{instance}', tlsAddress: '{host}:9999', plaintextAddress: '{host}:8075' },
      },
      fileSd: [],
      toml: [],
      overrides: [],
      fileTimeoutMs: DEFAULTS.discoveryFileTimeoutMs,
      maxFileBytes: DEFAULTS.discoveryMaxFileBytes,
    },
    ...D,
    timeouts: { ...D.timeouts },
    stateFile: '/dev/null',
  };
}

interface ScaleResult {
  targets: number;
  requestsPerRefresh: number;
  nodes: number;
  praefects: number;
  medianMs: number;
}

async function measure(targets: number): Promise<ScaleResult> {
  const prometheus = await fakePrometheus(targets);
  const inventory = new Inventory(configFor(prometheus.url));
  const times: number[] = [];
  let view = await inventory.refresh();
  // The first refresh warms up; the prometheus counts from here.
  const before = prometheus.requests();
  for (let i = 0; i < REFRESHES; i++) {
    const started = performance.now();
    view = await inventory.refresh();
    times.push(performance.now() - started);
    const failed = view.sources.find((s) => !s.ok);
    if (failed) throw new Error(`discovery failed at ${targets} targets: ${failed.error?.message ?? ''}`);
  }
  return {
    targets,
    requestsPerRefresh: (prometheus.requests() - before) / REFRESHES,
    nodes: view.nodes.length,
    praefects: view.nodes.filter((n) => n.role === 'praefect').length,
    medianMs: median(times),
  };
}

export async function discoveryRows(log: (line: string) => void): Promise<Row[]> {
  const results: ScaleResult[] = [];
  for (const targets of SCALES) {
    log(`discovery: ${REFRESHES} inventory refreshes from a Prometheus with ${targets} Gitaly targets`);
    const r = await measure(targets);
    if (r.nodes !== targets) throw new Error(`discovery found ${r.nodes} nodes among ${targets} targets`);
    results.push(r);
  }
  const [small, big] = [results[0]!, results[1]!];
  return [
    {
      section: '6',
      what: `Discovery from Prometheus targets: requests per collection, ${small.targets} vs ${big.targets} nodes`,
      ours: `${big.requestsPerRefresh} at ${big.targets} nodes (${big.praefects} found to be Praefect)`,
      baseline: `${small.requestsPerRefresh} at ${small.targets} nodes`,
      target: 'the same number',
      met: met(big.requestsPerRefresh === small.requestsPerRefresh && small.requestsPerRefresh > 0),
      data: { results },
    },
    {
      section: '6',
      what: `Discovery of ${big.targets} nodes from Prometheus targets, one refresh (median of ${REFRESHES})`,
      ours: `${fmt(big.medianMs)} ms`,
      baseline: `${fmt(small.medianMs)} ms at ${small.targets} nodes`,
      target: '— (information)',
      met: 'info',
    },
  ];
}
