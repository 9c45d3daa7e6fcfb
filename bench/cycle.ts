// Section 3: one full collection cycle at 10, 100 and 1,000 nodes, the exporter alone in a child
// process (compiled, under plain node, as in production) and the fleet in another. Each run gets a
// fresh exporter process: a warm-up cycle (which also runs the hourly plaintext and TLS-version
// checks), then the measured steady-state cycle. The same runs feed sections 4 (scrapes under
// load), 5 (peak RSS) and 6 (Prometheus queries).
import type { NodeConfig } from '../src/config/types.ts';
import type { CycleResult, ExporterArgs, ExporterInfo } from './exporter-process.ts';
import type { FakePrometheus } from './fake-prometheus.ts';
import { scrapeUnderLoad, type LoadResult } from './metrics-load.ts';
import { clockTicksPerSecond, processCpuMs, processMemory, startChild, tempDir } from './processes.ts';
import { met, notMeasured, type Row } from './report.ts';
import { fmt } from './stats.ts';

export const CONCURRENCY = 64;
// The warm-up cycle also makes every node's hourly checks (three handshakes and a plaintext dial).
const cycleCallTimeoutMs = (scale: number): number => Math.max(180_000, scale * 60);
const WALL_TARGET_MS = 10_000;
const GROWTH_TARGET = 12;

export interface ScaleRun {
  scale: number;
  /** Whether every node had certificate_file set (the on-disk comparison ran for each). */
  certificateFiles: boolean;
  /** false: the run without direct scrapes. */
  directScrape: boolean;
  warmup: CycleResult;
  measured: CycleResult;
  /** CPU the simulated fleet spent serving the measured cycle: it shares the machine's cores. */
  fleetCpuMs: number;
  /** Prometheus queries made by the measured cycle. */
  queries: number;
  /** Back-to-back collections after the measured one, across `spanMs` (RunOptions.steady). */
  steady?: { checkIntervalMs: number; spanMs: number; wallsMs: number[]; cpuMs: number[] };
  load?: LoadResult;
  /** Peak RSS (VmHWM) after each stage, and RSS before the first cycle. */
  memory: { idleRss: number | null; peakAfterWarmup: number | null; peakAfterMeasured: number | null; peakRss: number | null };
  /** process.memoryUsage() of the exporter after the last stage: heap vs memory outside it. */
  heap: unknown;
}

export interface RunOptions {
  /** Compiled exporter child (see compile.ts). */
  entry: string;
  caFile: string;
  prometheus: FakePrometheus;
  load: boolean;
  certificateFiles: boolean;
  /** The simulated fleet's processes, whose CPU during the measured cycle is recorded too. */
  fleetPid: number | number[];
  /** Default CONCURRENCY. */
  concurrency?: number;
  /** false: prometheus.direct_scrape: false (no metrics page downloaded). */
  directScrape?: boolean;
  /** Periodic checks every `checkIntervalMs`, and collections back to back for `spanMs` after the measured one. */
  steady?: { checkIntervalMs: number; spanMs: number };
}

function checkCycle(scale: number, label: string, result: CycleResult, scrapes: number): void {
  if (result.nodes !== scale || result.scrapesOk !== scrapes || result.handshakesOk !== scale) {
    throw new Error(
      `${label} cycle at ${scale} nodes: ${result.scrapesOk} scrapes and ${result.handshakesOk} handshakes of ${scale} succeeded (${result.failures.join('; ')})`,
    );
  }
}

export async function runScale(fleetNodes: NodeConfig[], options: RunOptions, log: (line: string) => void): Promise<ScaleRun> {
  const scale = fleetNodes.length;
  // A central exporter rarely has every Gitaly's certificate file; the default run leaves them out.
  const nodes = options.certificateFiles ? fleetNodes : fleetNodes.map(({ certificateFile: _, ...node }) => node);
  const directScrape = options.directScrape !== false;
  const label = `${scale} nodes${options.certificateFiles ? ', certificate files' : ''}${directScrape ? '' : ', no direct scrape'}`;
  const dir = await tempDir(`exporter-${scale}`);
  const args: ExporterArgs = {
    nodes,
    caFile: options.caFile,
    dir,
    prometheusUrl: options.prometheus.url,
    concurrency: options.concurrency ?? CONCURRENCY,
    directScrape,
    ...(options.steady ? { checkIntervalMs: options.steady.checkIntervalMs } : {}),
  };
  const exporter = await startChild<ExporterInfo>(options.entry, args, 60_000);
  const peak = async (): Promise<number | null> => (await processMemory(exporter.pid)).peakRss;
  try {
    const idleRss = (await processMemory(exporter.pid)).rss;
    log(`cycle at ${label}: warm-up`);
    const warmup = await exporter.call<CycleResult>('cycle', undefined, cycleCallTimeoutMs(scale));
    checkCycle(scale, 'warm-up', warmup, directScrape ? scale : 0);
    const peakAfterWarmup = await peak();
    log(`cycle at ${label}: measured (warm-up took ${fmt(warmup.wallMs / 1000)} s)`);
    options.prometheus.reset();
    const ticks = clockTicksPerSecond();
    const fleetPids = Array.isArray(options.fleetPid) ? options.fleetPid : [options.fleetPid];
    const fleetCpu = async (): Promise<number> =>
      (await Promise.all(fleetPids.map((pid) => processCpuMs(pid, ticks)))).reduce((a, b) => a + b, 0);
    const fleetCpu0 = await fleetCpu();
    const measured = await exporter.call<CycleResult>('cycle', undefined, cycleCallTimeoutMs(scale));
    const fleetCpuMs = (await fleetCpu()) - fleetCpu0;
    checkCycle(scale, 'measured', measured, directScrape ? scale : 0);
    const queries = options.prometheus.queries;
    const peakAfterMeasured = await peak();
    let steady: ScaleRun['steady'];
    if (options.steady) {
      const wallsMs: number[] = [];
      const cpuMs: number[] = [];
      const began = performance.now();
      log(
        `cycle at ${label}: collections back to back for ${fmt(options.steady.spanMs / 1000)} s (checks every ${fmt(options.steady.checkIntervalMs / 1000)} s)`,
      );
      while (performance.now() - began < options.steady.spanMs) {
        const r = await exporter.call<CycleResult>('cycle', undefined, cycleCallTimeoutMs(scale));
        checkCycle(scale, 'steady', r, directScrape ? scale : 0);
        wallsMs.push(r.wallMs);
        cpuMs.push(r.cpuMs);
      }
      steady = { ...options.steady, wallsMs, cpuMs };
    }
    let load: LoadResult | undefined;
    if (options.load) {
      log(`/metrics under load at ${label}`);
      load = await scrapeUnderLoad(exporter);
    }
    const memory = { idleRss, peakAfterWarmup, peakAfterMeasured, peakRss: await peak() };
    const heap = await exporter.call('memory');
    return {
      scale,
      certificateFiles: options.certificateFiles,
      directScrape,
      warmup,
      measured,
      fleetCpuMs,
      queries,
      ...(steady ? { steady } : {}),
      ...(load ? { load } : {}),
      memory,
      heap,
    };
  } finally {
    await exporter.stop();
  }
}

function cycleRow(run: ScaleRun, target: string, ok: boolean | null): Row {
  const m = run.measured;
  return {
    section: '3',
    what: `Collection cycle, ${run.scale} nodes${run.certificateFiles ? ', certificate_file on every node' : ''} (wall; CPU)`,
    ours: `${fmt(m.wallMs / 1000)} s; ${fmt(m.cpuMs / 1000)} s CPU`,
    baseline: `— (the simulated fleet used ${fmt(run.fleetCpuMs / 1000)} s CPU meanwhile)`,
    target,
    met: ok === null ? 'info' : met(ok),
    data: {
      scale: run.scale,
      concurrency: CONCURRENCY,
      certificateFiles: run.certificateFiles,
      measured: m,
      fleetCpuMs: run.fleetCpuMs,
      warmup: run.warmup,
      cpuMsPerNode: m.cpuMs / run.scale,
      memory: run.memory,
      heap: run.heap,
    },
  };
}

export function cycleRows(runs: ScaleRun[], largest: number, skipped: string | null): Row[] {
  const plain = runs.filter((r) => !r.certificateFiles);
  const rows: Row[] = plain.map((run) =>
    run.scale === largest
      ? cycleRow(run, `< ${WALL_TARGET_MS / 1000} s wall`, run.measured.wallMs < WALL_TARGET_MS)
      : cycleRow(run, '— (information)', null),
  );
  const small = plain.find((r) => r.scale === largest / 10);
  const big = plain.find((r) => r.scale === largest);
  const what = `CPU growth, ${largest / 10} → ${largest} nodes`;
  const target = `≤ ${GROWTH_TARGET}× (linear is 10×)`;
  if (!big)
    rows.push(
      notMeasured('3', `Collection cycle, ${largest} nodes`, `< ${WALL_TARGET_MS / 1000} s wall`, skipped ?? 'the run broke; see errors'),
    );
  if (small && big) {
    const growth = big.measured.cpuMs / small.measured.cpuMs;
    rows.push({
      section: '3',
      what,
      ours: `${fmt(growth)}× (${fmt(big.measured.cpuMs / 1000)} s CPU)`,
      baseline: `${fmt(small.measured.cpuMs / 1000)} s CPU at ${largest / 10} nodes`,
      target,
      met: met(growth <= GROWTH_TARGET),
      data: { growth },
    });
  } else {
    rows.push(notMeasured('3', what, target, skipped ?? 'a run broke; see errors'));
  }
  for (const run of runs.filter((r) => r.certificateFiles)) rows.push(cycleRow(run, '— (information)', null));
  return rows;
}
