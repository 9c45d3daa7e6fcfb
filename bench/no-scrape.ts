// Section 8: collections with prometheus.direct_scrape: false, where Prometheus's five
// queries are the traffic evidence and the exporter only makes its own probes (a resumed TLS
// handshake and a gRPC health check per node; the hourly checks run in the warm-up cycle). At 1,000
// nodes on the main fleet; at 10,000 on fleets in several child processes (one process may hold
// 20,000 open files here, and 10,000 nodes need 30,000 listening sockets), each on its own loopback
// address (the ephemeral port range holds 28,000 ports), with small metrics pages since nothing
// downloads them.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeConfig } from '../src/config/types.ts';
import { runScale, type ScaleRun } from './cycle.ts';
import type { FakePrometheus } from './fake-prometheus.ts';
import type { FleetArgs, FleetInfo } from './fleet-process.ts';
import { startChild, tempDir, type BenchChild } from './processes.ts';
import { met, notMeasured, type Row } from './report.ts';
import { fmt } from './stats.ts';

export const NO_SCRAPE_LARGEST = 10_000;
const NODES_PER_FLEET = 2_500;
const WALL_TARGET_MS = 30_000;
const SMALL_PAGE_BYTES = 16 * 1024;
/** The periodic checks' interval in the 10,000-node run: a few collections long, so two fit in minutes. */
const STEADY_CHECK_MS = 150_000;
const SPREAD_TARGET = 1.5;

interface Fleet {
  nodes: NodeConfig[];
  caFile: string;
  pids: number[];
}

/** 10,000 nodes in child processes of 2,500; one CA bundle holding every fleet's CA. */
async function startLargeFleet(scale: number, log: (line: string) => void): Promise<{ fleet: Fleet; stop: () => Promise<void> }> {
  const children: Array<BenchChild<FleetInfo>> = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((c) => c.stop()));
  };
  try {
    for (let start = 0; start < scale; start += NODES_PER_FLEET) {
      const size = Math.min(NODES_PER_FLEET, scale - start);
      log(`no direct scrape: starting fleet process ${children.length + 1} (${size} nodes)`);
      const args: FleetArgs = {
        dir: await tempDir('fleet-large'),
        scale: size,
        metricsPageBytes: SMALL_PAGE_BYTES,
        host: `127.0.0.${children.length + 2}`,
      };
      children.push(await startChild<FleetInfo>('fleet-process.ts', args, 300_000));
    }
    const dir = await tempDir('ca-bundle');
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, (await Promise.all(children.map((c) => readFile(c.ready.caFile, 'utf8')))).join('\n'));
    // Each fleet names its nodes from gitaly-0001: prefix them so names stay unique.
    const nodes = children.flatMap((c, i) => c.ready.nodes.map(({ certificateFile: _, ...n }) => ({ ...n, name: `f${i + 1}-${n.name}` })));
    return { fleet: { nodes, caFile, pids: children.map((c) => c.pid) }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface NoScrapeOptions {
  entry: string;
  prometheus: FakePrometheus;
  /** The main fleet (1,000 nodes), reused for the smaller run. */
  main: Fleet | null;
}

export async function noScrapeRuns(options: NoScrapeOptions, log: (line: string) => void): Promise<{ runs: ScaleRun[]; errors: string[] }> {
  const runs: ScaleRun[] = [];
  const errors: string[] = [];
  const base = { entry: options.entry, prometheus: options.prometheus, load: false, certificateFiles: false, directScrape: false };
  if (options.main) {
    try {
      runs.push(await runScale(options.main.nodes, { ...base, caFile: options.main.caFile, fleetPid: options.main.pids }, log));
    } catch (err) {
      errors.push(`no direct scrape at ${options.main.nodes.length} nodes: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let large: Awaited<ReturnType<typeof startLargeFleet>> | null = null;
  try {
    large = await startLargeFleet(NO_SCRAPE_LARGEST, log);
    // Periodic checks every STEADY_CHECK_MS and collections across two such intervals: no
    // collection may take much longer than the others because every node's check fell due in it.
    const steady = { checkIntervalMs: STEADY_CHECK_MS, spanMs: 2 * STEADY_CHECK_MS };
    runs.push(await runScale(large.fleet.nodes, { ...base, caFile: large.fleet.caFile, fleetPid: large.fleet.pids, steady }, log));
  } catch (err) {
    errors.push(`no direct scrape at ${NO_SCRAPE_LARGEST} nodes: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await large?.stop();
  }
  return { runs, errors };
}

function spreadOf(values: number[]): { median: number; slowest: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, slowest: sorted.at(-1) ?? 0 };
}

const MiB = (bytes: number | null): string => (bytes === null ? '—' : `${fmt(bytes / 1024 / 1024)} MiB`);

export function noScrapeRows(runs: ScaleRun[], why: string | null): Row[] {
  const rows: Row[] = [];
  const small = runs.find((r) => r.scale < NO_SCRAPE_LARGEST);
  const big = runs.find((r) => r.scale === NO_SCRAPE_LARGEST);
  for (const run of [small, big]) {
    if (!run) continue;
    const m = run.measured;
    const largest = run === big;
    rows.push({
      section: '8',
      what: `No direct scrape (Prometheus queries + own probes): collection cycle, ${run.scale} nodes (wall; CPU; peak RSS)`,
      ours: `${fmt(m.wallMs / 1000)} s; ${fmt(m.cpuMs / 1000)} s CPU; ${MiB(run.memory.peakRss)}`,
      baseline: `— (the simulated fleet used ${fmt(run.fleetCpuMs / 1000)} s CPU meanwhile, on the same 2 cores)`,
      target: largest ? `< ${WALL_TARGET_MS / 1000} s wall` : '— (information)',
      met: largest ? met(m.wallMs < WALL_TARGET_MS) : 'info',
      note: `warm-up cycle (hourly plaintext dial and TLS version check, full handshakes) took ${fmt(run.warmup.wallMs / 1000)} s; peak RSS before the first cycle ${MiB(run.memory.idleRss)}`,
      data: {
        scale: run.scale,
        measured: m,
        warmup: run.warmup,
        fleetCpuMs: run.fleetCpuMs,
        memory: run.memory,
        heap: run.heap,
        queries: run.queries,
      },
    });
  }
  const spread = `No direct scrape: slowest vs median collection, ${NO_SCRAPE_LARGEST} nodes, across two periodic-check intervals`;
  const walls = big?.steady?.wallsMs ?? [];
  if (walls.length >= 3) {
    const { median, slowest } = spreadOf(walls);
    const cpu = spreadOf(big?.steady?.cpuMs ?? []);
    rows.push({
      section: '8',
      what: spread,
      ours: `slowest ${fmt(slowest / 1000)} s, median ${fmt(median / 1000)} s (${fmt(slowest / median)}×, ${walls.length} collections; CPU ${fmt(cpu.slowest / cpu.median)}×)`,
      baseline: '— (before each node had its own slot, every check fell due in one collection: 90–106 s against 21–28 s)',
      target: `≤ ${SPREAD_TARGET}×`,
      met: met(slowest <= SPREAD_TARGET * median),
      note: `plaintext and TLS version checks every ${fmt(STEADY_CHECK_MS / 1000)} s; the warm-up collection (every check at once, at a fresh start without state) is not among them`,
      data: { wallsMs: walls, cpuMs: big?.steady?.cpuMs, checkIntervalMs: STEADY_CHECK_MS },
    });
  } else rows.push(notMeasured('8', spread, `≤ ${SPREAD_TARGET}×`, why ?? 'fewer than three collections ran; see errors'));
  if (!big)
    rows.push(
      notMeasured(
        '8',
        `No direct scrape: collection cycle, ${NO_SCRAPE_LARGEST} nodes`,
        `< ${WALL_TARGET_MS / 1000} s wall`,
        why ?? 'the run broke; see errors',
      ),
    );
  const what = `No direct scrape: Prometheus queries per collection, ${small?.scale ?? '1000'} vs ${NO_SCRAPE_LARGEST} nodes`;
  if (small && big)
    rows.push({
      section: '8',
      what,
      ours: `${big.queries} at ${big.scale} nodes`,
      baseline: `${small.queries} at ${small.scale} nodes`,
      target: 'the same number',
      met: met(big.queries === small.queries && small.queries > 0),
    });
  else rows.push(notMeasured('8', what, 'the same number', why ?? 'a run broke; see errors'));
  return rows;
}
