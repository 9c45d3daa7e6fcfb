// `npm run bench`: fleet-scale benchmark with the peers side by side. Every target is a ratio
// against a baseline measured in the same run, or a bound with a wide margin, because the machine
// is small and shared. Prints the table, writes bench-results/latest.json. Exit code 0 even when a
// target is missed (the table says so); 1 only when the bench itself broke.
import { readFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { compileExporterChild } from './compile.ts';
import { discoveryRows } from './discovery.ts';
import { runScale, cycleRows, type ScaleRun } from './cycle.ts';
import { extractionRows } from './extraction.ts';
import { hostilePrometheusRows } from './hostile-prometheus.ts';
import { startFakePrometheus } from './fake-prometheus.ts';
import type { FleetArgs, FleetInfo } from './fleet-process.ts';
import { loadRows } from './metrics-load.ts';
import { memoryRows } from './memory.ts';
import { noScrapeRows, noScrapeRuns } from './no-scrape.ts';
import { pageRows } from './page.ts';
import { prometheusRows } from './prometheus-queries.ts';
import { cleanupAll, REPO_ROOT, startChild, tempDir, type BenchChild } from './processes.ts';
import { machineLine, markdownTable, notesList, notMeasured, writeReport, type Machine, type Row } from './report.ts';
import { fmt, openFileLimit } from './stats.ts';
import { tlsCostRows } from './tls-cost.ts';

/** `npm run bench -- --only NAME` runs one section alone; its results go to bench-results/NAME.json. */
const ONLY = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] ?? '') : null;
const RESULTS_FILE = join(REPO_ROOT, 'bench-results', ONLY ? `${ONLY}.json` : 'latest.json');
const SCALES = [10, 100, 1000] as const;
const LARGEST = SCALES[SCALES.length - 1]!;
const TLS_TARGETS = 100;
const WATCHDOG_MS = 15 * 60_000;
// Each node holds three listening sockets, and every scrape or probe one more on both sides.
const FDS_PER_NODE = 6;

const startedAt = performance.now();
const log = (line: string): void => {
  process.stdout.write(`[bench ${fmt((performance.now() - startedAt) / 1000)} s] ${line}\n`);
};

async function machineInfo(): Promise<Machine> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    kernel: release(),
    openFileLimit: openFileLimit(limits),
  };
}

async function main(): Promise<number> {
  const machine = await machineInfo();
  log(`machine: ${machineLine(machine)}`);
  const rows: Row[] = [];
  const errors: string[] = [];
  const section = async (name: string, fn: () => Promise<Row[]>, fallback: () => Row[]): Promise<void> => {
    try {
      rows.push(...(await fn()));
    } catch (err) {
      const message = `${name}: ${err instanceof Error ? err.message : String(err)}`;
      errors.push(message);
      log(`BROKEN ${message}`);
      rows.push(...fallback());
    }
  };
  const hostile = (): Promise<void> =>
    section(
      'hostile Prometheus',
      async () => hostilePrometheusRows(await compileExporterChild(log), log),
      () => [
        notMeasured(
          '7',
          'Three 62 MB Prometheus answers per cycle: peak RSS, /metrics p99',
          '< 500 MiB, p99 < 1 s',
          'the section broke; see errors',
        ),
      ],
    );
  if (ONLY === 'hostile-prometheus') {
    await hostile();
    return finish(machine, rows, errors);
  }
  const discovery = (): Promise<void> =>
    section(
      'discovery',
      () => discoveryRows(log),
      () => [
        notMeasured('6', 'Discovery from Prometheus targets: requests per collection', 'the same number', 'the section broke; see errors'),
      ],
    );
  if (ONLY === 'discovery') {
    await discovery();
    return finish(machine, rows, errors);
  }
  if (ONLY === 'tls') {
    // Section 2 alone: a 100-node fleet, seconds instead of minutes.
    const small = await startChild<FleetInfo>('fleet-process.ts', { dir: await tempDir('fleet'), scale: TLS_TARGETS }, 180_000);
    await section(
      'TLS probe cost',
      () => tlsCostRows(small.ready.nodes, small.ready.caFile, log),
      () => [notMeasured('2', 'CPU per TLS probe', '≤ baseline', 'the section broke; see errors')],
    );
    await small.stop();
    return finish(machine, rows, errors);
  }
  if (ONLY === 'extraction') {
    await section(
      'extraction',
      () => extractionRows(log),
      () => [notMeasured('1', 'Extraction', '≥ 20× / ≤ 1.5×', 'the section broke; see errors')],
    );
    return finish(machine, rows, errors);
  }
  if (ONLY === 'no-scrape') {
    // Section 8 alone: its own 1,000-node fleet with small pages, then the 10,000-node one.
    const small = await startChild<FleetInfo>(
      'fleet-process.ts',
      { dir: await tempDir('fleet'), scale: LARGEST, metricsPageBytes: 16 * 1024 } satisfies FleetArgs,
      180_000,
    );
    const entry = await compileExporterChild(log);
    const prometheus = await startFakePrometheus();
    const main = { nodes: small.ready.nodes, caFile: small.ready.caFile, pids: [small.pid] };
    const done = await noScrapeRuns({ entry, prometheus, main }, log);
    await small.stop();
    errors.push(...done.errors);
    rows.push(...noScrapeRows(done.runs, null));
    return finish(machine, rows, errors);
  }
  const page = (): Promise<void> =>
    section(
      'page',
      () => pageRows(log),
      () => [notMeasured('page', 'Status page, 1000 nodes', '< 1000 ms', 'the section broke; see errors')],
    );
  if (ONLY === 'page') {
    await page();
    return finish(machine, rows, errors);
  }
  if (ONLY === 'memory') {
    // Sections 4 and 5 at 1,000 nodes only: one exporter run with the /metrics load test, its peak RSS and where it went.
    const big = await startChild<FleetInfo>(
      'fleet-process.ts',
      { dir: await tempDir('fleet'), scale: LARGEST } satisfies FleetArgs,
      180_000,
    );
    const entry = await compileExporterChild(log);
    const prometheus = await startFakePrometheus();
    const runs: ScaleRun[] = [];
    try {
      const options = { entry, caFile: big.ready.caFile, prometheus, load: true, certificateFiles: false, fleetPid: big.pid };
      runs.push(await runScale(big.ready.nodes.slice(0, LARGEST), options, log));
    } catch (err) {
      errors.push(`cycle at ${LARGEST} nodes: ${err instanceof Error ? err.message : String(err)}`);
    }
    await big.stop();
    rows.push(...loadRows(runs[0]?.load, LARGEST, null), ...memoryRows(runs, LARGEST, null));
    return finish(machine, rows, errors);
  }
  if (ONLY !== null) {
    errors.push(`--only ${ONLY}: unknown section (hostile-prometheus, discovery, tls, extraction, no-scrape, memory, page)`);
    return finish(machine, rows, errors);
  }

  await section(
    'extraction',
    () => extractionRows(log),
    () => [notMeasured('1', 'Extraction', '≥ 20× / ≤ 1.5×', 'the section broke; see errors')],
  );

  const needed = LARGEST * FDS_PER_NODE + 1024;
  const fdLimit = machine.openFileLimit;
  const skipped =
    fdLimit !== null && fdLimit < needed
      ? `the open-file limit is ${fdLimit}, below the ${needed} that ${LARGEST} nodes need: run \`ulimit -n ${needed}\` before npm run bench`
      : null;
  if (skipped) log(skipped);
  const fleetScale = skipped ? Math.max(...SCALES.filter((s) => s < LARGEST)) : LARGEST;

  let fleet: BenchChild<FleetInfo> | null = null;
  try {
    log(`starting a simulated fleet of ${fleetScale} Gitaly nodes in a child process`);
    const args: FleetArgs = { dir: await tempDir('fleet'), scale: fleetScale };
    fleet = await startChild<FleetInfo>('fleet-process.ts', args, 180_000);
  } catch (err) {
    errors.push(`fleet: ${err instanceof Error ? err.message : String(err)}`);
  }

  const runs: ScaleRun[] = [];
  let noScrape: ScaleRun[] = [];
  if (fleet) {
    const { nodes, caFile } = fleet.ready;
    await section(
      'TLS probe cost',
      () => tlsCostRows(nodes.slice(0, TLS_TARGETS), caFile, log),
      () => [notMeasured('2', 'CPU per TLS probe', '≤ baseline', 'the section broke; see errors')],
    );
    try {
      log('compiling the exporter child with tsc (it runs under plain node, as in production)');
      const entry = await compileExporterChild(log);
      const prometheus = await startFakePrometheus();
      const plans = [
        ...SCALES.filter((s) => s <= fleetScale).map((scale) => ({ scale, certificateFiles: false })),
        ...(fleetScale === LARGEST ? [{ scale: LARGEST, certificateFiles: true }] : []),
      ];
      for (const { scale, certificateFiles } of plans) {
        try {
          const options = {
            entry,
            caFile,
            prometheus,
            load: scale === LARGEST && !certificateFiles,
            certificateFiles,
            fleetPid: fleet.pid,
          };
          runs.push(await runScale(nodes.slice(0, scale), options, log));
        } catch (err) {
          errors.push(`cycle at ${scale} nodes: ${err instanceof Error ? err.message : String(err)}`);
          log(`BROKEN ${errors[errors.length - 1]!}`);
        }
      }
      if (fleetScale === LARGEST) {
        const main = { nodes: nodes.slice(0, LARGEST), caFile, pids: [fleet.pid] };
        const done = await noScrapeRuns({ entry, prometheus, main }, log);
        noScrape = done.runs;
        errors.push(...done.errors);
      }
    } catch (err) {
      errors.push(`exporter child: ${err instanceof Error ? err.message : String(err)}`);
    }
    await fleet.stop();
  } else {
    rows.push(notMeasured('2', 'CPU per TLS probe', '≤ baseline', 'the fleet did not start; see errors'));
  }
  const largest = runs.find((r) => r.scale === LARGEST && !r.certificateFiles);
  rows.push(
    ...cycleRows(runs, LARGEST, skipped),
    ...loadRows(largest?.load, LARGEST, skipped),
    ...memoryRows(runs, LARGEST, skipped),
    ...prometheusRows(runs, SCALES[0], LARGEST, skipped),
    ...noScrapeRows(noScrape, skipped),
  );
  await discovery();
  await hostile();
  await page();
  return finish(machine, rows, errors);
}

async function finish(machine: Machine, rows: Row[], errors: string[]): Promise<number> {
  const durationSeconds = (performance.now() - startedAt) / 1000;
  await writeReport(RESULTS_FILE, { date: new Date().toISOString(), machine, durationSeconds, rows, errors });
  process.stdout.write(`\n${markdownTable(rows)}\n\n${notesList(rows)}\n\nMachine: ${machineLine(machine)}\n`);
  process.stdout.write(`Results: ${RESULTS_FILE} (${fmt(durationSeconds)} s)\n`);
  const missed = rows.filter((r) => r.met === 'no').length;
  if (missed > 0) process.stdout.write(`${missed} target(s) missed: see the table.\n`);
  if (errors.length > 0) {
    process.stderr.write(`The bench itself broke:\n${errors.map((e) => `  - ${e}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

const stopOnSignal = (signal: NodeJS.Signals): void => {
  log(`${signal}: stopping children and removing temp dirs`);
  void cleanupAll().finally(() => process.exit(130));
};
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
const watchdog = setTimeout(() => {
  log(`still running after ${WATCHDOG_MS / 60_000} minutes: giving up`);
  void cleanupAll().finally(() => process.exit(1));
}, WATCHDOG_MS);
watchdog.unref();

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await cleanupAll();
}
process.exit(code);
