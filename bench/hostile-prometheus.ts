// Section 7: a Prometheus whose answers are ~62 MB each (683,703 samples, the size that cost 2.3 GB
// of RSS when answers were parsed whole), three per collection. The exporter child (compiled, plain
// node) collects back to back against it while 10 scrapers read /metrics: its peak RSS (VmHWM) and
// the /metrics latency meanwhile are the figures.
import http from 'node:http';
import { DEFAULTS } from '../src/config/schema.ts';
import type { ExporterArgs, ExporterInfo } from './exporter-process.ts';
import { scrapeUnderLoad } from './metrics-load.ts';
import { listenOnLoopback } from './fake-prometheus.ts';
import { processMemory, startChild, tempDir } from './processes.ts';
import { met, notMeasured, type Row } from './report.ts';
import { fmt } from './stats.ts';

const SAMPLES = 683_703;
const RSS_TARGET_BYTES = 500 * 1024 * 1024;
const P99_TARGET_MS = 1_000;
const MiB = (bytes: number): string => `${fmt(bytes / 1024 / 1024)} MiB`;

/** One answer body, built once: every query gets the same ~62 MB vector. */
function bigAnswer(): Buffer {
  const parts: string[] = ['{"status":"success","data":{"resultType":"vector","result":['];
  for (let i = 0; i < SAMPLES; i += 1) {
    parts.push(`${i === 0 ? '' : ','}{"metric":{"instance":"g${i}.example.com:9236","type":"tcp"},"value":[1764000000,"${i % 97}"]}`);
  }
  parts.push(']}}');
  return Buffer.from(parts.join(''));
}

async function startHostilePrometheus(body: Buffer): Promise<{ url: string; queries: () => number }> {
  let queries = 0;
  const server = http.createServer((req, res) => {
    queries += 1;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  });
  return { url: await listenOnLoopback(server), queries: () => queries };
}

export async function hostilePrometheusRows(entry: string, log: (line: string) => void): Promise<Row[]> {
  const body = bigAnswer();
  const sizeMb = body.length / 1e6;
  // Inside the default 64 MiB byte cap, as in the attack: only the sample cap can stop it.
  if (body.length > DEFAULTS.maxPrometheusResponseBytes) throw new Error(`the answer (${body.length} bytes) exceeds the byte cap`);
  log(`hostile Prometheus: every answer is ${fmt(sizeMb)} MB, ${SAMPLES} samples`);
  const prometheus = await startHostilePrometheus(body);
  const args: ExporterArgs = { nodes: [], dir: await tempDir('hostile-prom'), prometheusUrl: prometheus.url, concurrency: 16 };
  const exporter = await startChild<ExporterInfo>(entry, args, 60_000);
  try {
    const idle = await processMemory(exporter.pid);
    const first = await exporter.call<{ wallMs: number; failures: string[] }>('cycle', undefined, 180_000);
    log(`hostile Prometheus: first cycle ${fmt(first.wallMs)} ms, ${prometheus.queries()} queries`);
    const load = await scrapeUnderLoad(exporter);
    const peak = (await processMemory(exporter.pid)).peakRss;
    const metrics = await (await fetch(exporter.ready.metricsUrl)).text();
    const tooMany = /gitaly_tls_exporter_source_errors_total\{[^}]*reason="TOO_MANY_SAMPLES"[^}]*\} (\d+)/.exec(metrics)?.[1];
    const what = `Three ${fmt(sizeMb)} MB Prometheus answers (${SAMPLES} samples each) per cycle`;
    const note = `${load.cycles + 1} cycles (${prometheus.queries()} answers of ${fmt(sizeMb)} MB); Prometheus evidence refused as TOO_MANY_SAMPLES in ${tooMany ?? '?'} cycle(s); /metrics ${fmt(load.ours.bodyBytes / 1e3)} kB`;
    if (peak === null) return [notMeasured('7', `${what}: peak RSS`, '< 500 MiB', 'VmHWM could not be read')];
    return [
      {
        section: '7',
        what: `${what}: peak RSS of the exporter`,
        ours: MiB(peak),
        baseline: idle.rss === null ? '—' : `${MiB(idle.rss)} (same process before its first cycle)`,
        target: '< 500 MiB',
        met: met(peak < RSS_TARGET_BYTES),
        note,
        data: { peakRss: peak, idleRss: idle.rss, answerBytes: body.length, samples: SAMPLES, queries: prometheus.queries() },
      },
      {
        section: '7',
        what: `${what}: GET /metrics meanwhile, ${load.scrapers} scrapers (p99; p50)`,
        ours: `${fmt(load.ours.p99Ms)} ms; ${fmt(load.ours.p50Ms)} ms`,
        baseline: `${fmt(load.bare.p99Ms)} ms; ${fmt(load.bare.p50Ms)} ms (bare node:http, same bytes)`,
        target: 'p99 < 1 s',
        met: met(load.ours.p99Ms < P99_TARGET_MS),
        note: `${load.ours.requests + load.bare.requests} requests in ${fmt(load.durationMs / 1000)} s while collections ran back to back`,
        data: { ...load },
      },
    ];
  } finally {
    await exporter.stop();
  }
}
