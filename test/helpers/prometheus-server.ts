// Runs the real Prometheus (Debian's /usr/bin/prometheus) for tests: a temp config and TSDB,
// a free loopback port, and a stop() that always leaves nothing behind (its process group is killed).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realPart } from './real-parts.ts';
import { spawnTracked, type TrackedChild } from './processes.ts';
import { waitFor } from './wait-for.ts';

export interface ScrapeJob {
  job: string;
  /** host:port of each target. */
  targets: string[];
  metricsPath?: string;
  scheme?: 'http' | 'https';
  /** Overrides the `instance` label of every target of this job (use with one target). */
  instance?: string;
  /** Static labels added to every target of this job. */
  labels?: Record<string, string>;
  /** Keep the labels the page itself sets (e.g. its own `instance`), as for federation. */
  honorLabels?: boolean;
  /** relabel_configs as Prometheus takes them, after the `instance` override (e.g. a /probe job's __param_target). */
  relabel?: Array<Record<string, unknown>>;
  /** metric_relabel_configs as Prometheus takes them (e.g. dropping process_* series). */
  metricRelabel?: Array<Record<string, unknown>>;
  /** Further static_configs groups, each with its own labels (as a file_sd file would give them). */
  groups?: Array<{ targets: string[]; labels: Record<string, string> }>;
}

export interface PrometheusConfigInput {
  jobs: ScrapeJob[];
  ruleFiles?: string[];
}

export interface RunningPrometheus {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  port: number;
  /** Temp directory holding the config and the TSDB; removed by stop(). */
  dataDir: string;
  stop(): Promise<void>;
  /** Rewrites the config and asks Prometheus to load it; resolves once it has. */
  reload(config: PrometheusConfigInput): Promise<void>;
}

export interface StartPrometheusOptions extends PrometheusConfigInput {
  /** Default '1s'. */
  scrapeInterval?: string;
  /** Default: the scrape interval. */
  evaluationInterval?: string;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const STDERR_KEEP_CHARS = 16_000;

export function prometheusBinary(): string {
  return realPart('prometheus');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The scrape config, as Prometheus takes it; `evaluationInterval` null leaves out what only Prometheus reads (rules). */
export function renderConfig(input: PrometheusConfigInput, scrapeInterval: string, evaluationInterval: string | null): string {
  const rules = evaluationInterval === null ? {} : { rule_files: input.ruleFiles ?? [] };
  const config = {
    global: {
      scrape_interval: scrapeInterval,
      scrape_timeout: scrapeInterval,
      ...(evaluationInterval === null ? {} : { evaluation_interval: evaluationInterval }),
    },
    ...rules,
    scrape_configs: input.jobs.map((job) => ({
      job_name: job.job,
      metrics_path: job.metricsPath ?? '/metrics',
      scheme: job.scheme ?? 'http',
      honor_labels: job.honorLabels ?? false,
      static_configs: [
        { targets: job.targets, labels: job.labels ?? {} },
        ...(job.groups ?? []).map((g) => ({ targets: g.targets, labels: { ...job.labels, ...g.labels } })),
      ],
      relabel_configs: [
        ...(job.instance === undefined ? [] : [{ target_label: 'instance', replacement: job.instance }]),
        ...(job.relabel ?? []),
      ],
      metric_relabel_configs: job.metricRelabel ?? [],
    })),
  };
  // JSON is YAML, and needs no quoting rules of its own.
  return JSON.stringify(config, null, 2);
}

async function isReady(url: string): Promise<boolean> {
  const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

export interface LaunchedServer {
  child: TrackedChild;
  port: number;
  output: () => string;
}

/**
 * Starts `bin` with `args(port)` on a free loopback port and resolves once its /-/ready answers
 * 200; a port taken between probing and binding is tried again with another. `what` names it in
 * errors and process reports.
 */
export async function launchServer(bin: string, what: string, args: (port: number) => string[]): Promise<LaunchedServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchOnce(bin, what, args);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !/address already in use/i.test(err.message)) throw err;
    }
  }
}

async function launchOnce(bin: string, what: string, args: (port: number) => string[]): Promise<LaunchedServer> {
  const port = await freePort();
  const tracked = spawnTracked(bin, args(port), { what });
  const { child } = tracked;
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-STDERR_KEEP_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => undefined);

  const url = `http://127.0.0.1:${port}`;
  const exited = tracked.closed.then((exit) => {
    throw new Error(`${what} exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${output}`);
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([
      waitFor(() => isReady(url), { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: `${what} ready at ${url}` }),
      exited,
      spawnError,
    ]);
  } catch (err) {
    await tracked.stop(STOP_GRACE_MS);
    if (err instanceof Error && !err.message.includes(output)) err.message += `\n${what} output:\n${output}`;
    throw err;
  }
  return { child: tracked, port, output: () => output };
}

/** Stops a launched server and removes its temp directory. */
export async function stopServer(server: LaunchedServer, dataDir: string): Promise<void> {
  await server.child.stop(STOP_GRACE_MS);
  await rm(dataDir, { recursive: true, force: true });
}

/** Asks a running server to reload its (rewritten) config file; resolves once it has. */
export async function reloadServer(url: string, what: string, output: () => string): Promise<void> {
  const res = await fetch(`${url}/-/reload`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`${what} reload failed: HTTP ${res.status} ${body.trim()}\n${output()}`);
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<RunningPrometheus> {
  const bin = prometheusBinary();
  const scrapeInterval = options.scrapeInterval ?? '1s';
  const evaluationInterval = options.evaluationInterval ?? scrapeInterval;
  const dataDir = await mkdtemp(join(tmpdir(), 'prometheus-test-'));
  const configFile = join(dataDir, 'prometheus.yml');
  try {
    await writeFile(configFile, renderConfig(options, scrapeInterval, evaluationInterval));
    const launched = await launchServer(bin, 'prometheus', (port) => [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=info',
    ]);
    const url = `http://127.0.0.1:${launched.port}`;
    return {
      url,
      port: launched.port,
      dataDir,
      stop: () => stopServer(launched, dataDir),
      async reload(config) {
        await writeFile(configFile, renderConfig(config, scrapeInterval, evaluationInterval));
        await reloadServer(url, 'prometheus', launched.output);
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
