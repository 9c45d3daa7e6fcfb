// Section 4: /metrics latency while collections run back to back, with 10 concurrent scrapers.
// Each scraper alternates between the exporter's fastify /metrics and a bare node:http server in
// the same process sending the same bytes, so both meet the same load at the same moments.
import { Agent, request, type Dispatcher } from 'undici';
import type { BenchChild } from './processes.ts';
import type { ExporterInfo } from './exporter-process.ts';
import { met, notMeasured, type Row } from './report.ts';
import { fmt, percentile } from './stats.ts';

const SCRAPERS = 10;
const DURATION_MS = 5000;
const MAX_REQUESTS = 20_000;
const REQUEST_TIMEOUT_MS = 10_000;
const TARGET = 1.5;

export interface LatencySummary {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bodyBytes: number;
}

export interface LoadResult {
  scrapers: number;
  durationMs: number;
  /** Collections that ran (and finished) while scraping; at least one was in progress throughout. */
  cycles: number;
  ours: LatencySummary;
  bare: LatencySummary;
}

function summarize(latencies: number[], bodyBytes: number): LatencySummary {
  return {
    requests: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    bodyBytes,
  };
}

async function fetchAll(url: string, dispatcher: Dispatcher): Promise<number> {
  const res = await request(url, { dispatcher, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  if (res.statusCode !== 200 || bytes === 0) throw new Error(`${url} answered HTTP ${res.statusCode} with ${bytes} bytes`);
  return bytes;
}

export async function scrapeUnderLoad(exporter: BenchChild<ExporterInfo>): Promise<LoadResult> {
  const urls = [exporter.ready.metricsUrl, exporter.ready.bareMetricsUrl] as const;
  const latencies: [number[], number[]] = [[], []];
  const bytes = [0, 0];
  const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
  let sent = 0;
  try {
    await exporter.call('loadStart');
    const started = performance.now();
    const deadline = started + DURATION_MS;
    const scraper = async (index: number): Promise<void> => {
      // Half the scrapers start with each server, so neither always follows the other.
      for (let turn = index % 2; performance.now() < deadline && sent < MAX_REQUESTS; turn = 1 - turn) {
        sent++;
        const t0 = performance.now();
        bytes[turn] = await fetchAll(urls[turn]!, dispatcher);
        latencies[turn]!.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: SCRAPERS }, (_, i) => scraper(i)));
    const durationMs = performance.now() - started;
    const { cycles } = await exporter.call<{ cycles: number }>('loadStop', undefined, 180_000);
    return { scrapers: SCRAPERS, durationMs, cycles, ours: summarize(latencies[0], bytes[0]!), bare: summarize(latencies[1], bytes[1]!) };
  } finally {
    await dispatcher.close();
  }
}

export function loadRows(load: LoadResult | undefined, scale: number, skipped: string | null): Row[] {
  const what = `GET /metrics at ${scale} nodes, ${SCRAPERS} scrapers during collection (p99; p50)`;
  const target = `p99 ≤ ${TARGET}× baseline`;
  if (!load) return [notMeasured('4', what, target, skipped ?? 'the largest scale did not run')];
  const ratio = load.ours.p99Ms / load.bare.p99Ms;
  return [
    {
      section: '4',
      what,
      ours: `${fmt(load.ours.p99Ms)} ms; ${fmt(load.ours.p50Ms)} ms (${fmt(ratio)}×)`,
      baseline: `${fmt(load.bare.p99Ms)} ms; ${fmt(load.bare.p50Ms)} ms (bare node:http, same bytes)`,
      target,
      met: met(ratio <= TARGET),
      note: `${load.ours.requests + load.bare.requests} requests in ${fmt(load.durationMs / 1000)} s, ${fmt(load.ours.bodyBytes / 1e6)} MB per response`,
      data: { ...load, ratio },
    },
  ];
}
