// Runs the real exporter as a child process (`node --import tsx src/main.ts`, which is `tsx src/main.ts`
// without the wrapper process, so signals reach the exporter itself), for tests of what only a whole
// process shows: signals, exit codes, the state file across restarts, logs. It runs in its own
// process group (processes.ts), killed whole when it is stopped and when the test process exits.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { chainPem, createCa, createIntermediate, createLeaf } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { spawnTracked, type Exit } from './processes.ts';
import { freePort } from './prometheus-server.ts';
import { scaled } from './time-factor.ts';
import { waitFor } from './wait-for.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'main.ts');
const OUTPUT_KEEP_CHARS = 4_000_000;

/** One line of the exporter's --log.format=json log; `level` is debug, info, warn or error. */
export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export type { Exit } from './processes.ts';

export interface HttpAnswer {
  status: number;
  body: string;
  contentType: string;
}

/** The parts of /migration the tests read. */
export interface MigrationNode {
  node: string;
  phase: string;
  blockingReasons: Array<{ reason: string; text: string }>;
  details: string[];
  evidence: {
    sourcesDown: string[];
    windowConnections: { tcp: number; tls: number; source: string } | null;
    prometheusCoverage: number | null;
    observedSince: string | null;
    plaintextLastSeen: string | null;
    plaintextListenerOpen: boolean | null;
    metricsScrape:
      { ok: true; counts: { tcp: number; tls: number; unix: number } } | { ok: false; error: { code: string; message: string } } | null;
    tls: { handshakeOk: boolean; error: { code: string; message: string } | null } | null;
    ownConnections: { tcp: number; tls: number };
  };
}

export interface MigrationDoc {
  generatedAt: string;
  fleet: {
    complete: boolean;
    phase: string;
    blocking: string[];
    prometheus: { ok: true } | { ok: false; error: { code: string; message: string } } | null;
  };
  nodes: MigrationNode[];
}

export interface ExporterProcess {
  /** http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves once the process has exited and all its output has been read. */
  readonly exited: Promise<Exit>;
  /** How the process ended, or null while it runs. */
  exitState(): Exit | null;
  /** JSON log lines written so far. */
  logs(): LogLine[];
  /** Everything written to stdout and stderr so far (the tail, for failure messages). */
  output(): string;
  waitForLog(match: (line: LogLine) => boolean, options: { timeoutMs: number; what: string }): Promise<LogLine>;
  get(path: string): Promise<HttpAnswer>;
  post(path: string): Promise<HttpAnswer>;
  /** GET /migration, which must answer 200. */
  migration(): Promise<MigrationDoc>;
  /** GET /metrics, which must answer 200. */
  metrics(): Promise<string>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL to its process group after `graceMs` (scaled); resolves with how the process ended. */
  stop(graceMs?: number): Promise<Exit>;
}

export interface StartExporterOptions {
  configFile: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Wait for /-/ready (the first collection). Default true; otherwise only for the listener. */
  waitReady?: boolean;
  readyTimeoutMs?: number;
  /** Run under this open-file limit (soft and hard), through util-linux prlimit, which execs: same pid. */
  openFileLimit?: number;
  /** More command-line flags (e.g. --web.enable-lifecycle). */
  extraArgs?: string[];
  /** Node.js flags before the script (e.g. another --import), and environment variables to add. */
  nodeArgs?: string[];
  env?: Record<string, string>;
}

async function fetchText(url: string, method: 'GET' | 'POST'): Promise<HttpAnswer> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

function launch(options: StartExporterOptions, port: number): ExporterProcess {
  const limit = options.openFileLimit ? [`--nofile=${options.openFileLimit}:${options.openFileLimit}`, '--', process.execPath] : [];
  const tracked = spawnTracked(
    limit.length > 0 ? 'prlimit' : process.execPath,
    [
      ...limit,
      '--import',
      'tsx',
      ...(options.nodeArgs ?? []),
      MAIN,
      '--config.file',
      options.configFile,
      '--web.listen-address',
      `127.0.0.1:${port}`,
      '--log.level',
      options.logLevel ?? 'debug',
      '--log.format',
      'json',
      ...(options.extraArgs ?? []),
    ],
    { cwd: ROOT, what: 'the exporter', ...(options.env ? { env: { ...process.env, ...options.env } } : {}) },
  );
  const { child } = tracked;
  const exited = tracked.closed;
  let output = '';
  let partial = '';
  const lines: LogLine[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-OUTPUT_KEEP_CHARS);
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      try {
        const parsed = JSON.parse(part) as LogLine;
        if (typeof parsed === 'object' && parsed !== null && typeof parsed.msg === 'string') lines.push(parsed);
      } catch {
        // Not a log line (a stray print); it stays in output().
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP_CHARS);
  });
  const url = `http://127.0.0.1:${port}`;
  const handle: ExporterProcess = {
    url,
    port,
    pid: tracked.pid,
    exited,
    exitState: tracked.exitState,
    logs: () => [...lines],
    output: () => output,
    waitForLog: (match, { timeoutMs, what }) =>
      waitFor(() => lines.find(match), { timeoutMs, intervalMs: 50, what, context: () => `exporter output:\n${output.slice(-4000)}` }),
    get: (path) => fetchText(`${url}${path}`, 'GET'),
    post: (path) => fetchText(`${url}${path}`, 'POST'),
    async migration() {
      const answer = await fetchText(`${url}/migration`, 'GET');
      if (answer.status !== 200) throw new Error(`/migration answered ${answer.status}: ${answer.body}`);
      return JSON.parse(answer.body) as MigrationDoc;
    },
    async metrics() {
      const answer = await fetchText(`${url}/metrics`, 'GET');
      if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}: ${answer.body}`);
      return answer.body;
    },
    signal: tracked.signal,
    stop: (graceMs = 20_000) => tracked.stop(graceMs),
  };
  return handle;
}

export async function startExporter(options: StartExporterOptions): Promise<ExporterProcess> {
  const readyPath = options.waitReady === false ? '/-/healthy' : '/-/ready';
  // The free port can be taken between probing and binding; try again with another.
  for (let attempt = 1; ; attempt++) {
    const exporter = launch(options, await freePort());
    const died = exporter.exited.then((exit) => {
      throw new Error(
        `the exporter exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${exporter.output().slice(-4000)}`,
      );
    });
    died.catch(() => undefined);
    try {
      await Promise.race([
        waitFor(async () => (await exporter.get(readyPath)).status === 200, {
          timeoutMs: options.readyTimeoutMs ?? 60_000,
          intervalMs: 100,
          what: `the exporter at ${exporter.url} to answer ${readyPath}`,
        }),
        died,
      ]);
      return exporter;
    } catch (err) {
      await exporter.stop(2_000);
      if (attempt < 3 && /EADDRINUSE/.test(exporter.output())) continue;
      if (err instanceof Error && !err.message.includes('exited before'))
        err.message += `\nexporter output:\n${exporter.output().slice(-4000)}`;
      throw err;
    }
  }
}

/** Label sets and values of one metric family in a text exposition. */
export function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const found: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const close = line.lastIndexOf('}');
    const labelText = line[name.length] === '{' ? line.slice(name.length + 1, close) : '';
    const labels: Record<string, string> = {};
    for (const m of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const value =
      line
        .slice(line[name.length] === '{' ? close + 1 : name.length)
        .trim()
        .split(/\s+/)[0] ?? '';
    found.push({ labels, value: Number(value) });
  }
  return found;
}

/** The value of the one sample of `name` whose labels include `labels`, or undefined. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Simulated Gitaly nodes with TLS (a certificate naming 127.0.0.1, from a CA in `caFile`), small pages. */
export interface TestFleet {
  caFile: string;
  nodes: SimulatedNode[];
  node(name: string): SimulatedNode;
  /** The node as a `nodes:` entry of the exporter's YAML. */
  yamlNode(name: string): Record<string, string>;
  stop(): Promise<void>;
}

export async function startTestFleet(dir: string, names: readonly string[]): Promise<TestFleet> {
  const root = await createCa();
  const intermediate = await createIntermediate(root);
  const leaf = await createLeaf(intermediate, '127.0.0.1', { dnsNames: ['localhost'] });
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, root.certPem);
  const tls = { certChainPem: chainPem(leaf, intermediate), keyPem: leaf.keyPem };
  const started = await Promise.allSettled(
    names.map((name) => startSimulatedNode({ name, role: 'gitaly', host: '127.0.0.1', tls, metricsBulk: 'small' })),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  const node = (name: string): SimulatedNode => {
    const found = nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no simulated node ${name}`);
    return found;
  };
  return {
    caFile,
    nodes,
    node,
    yamlNode: (name) => {
      const n = node(name);
      return { name, metrics_url: n.metricsUrl, tls_address: n.tlsAddress!, plaintext_address: n.plaintextAddress! };
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/**
 * Writes an exporter config: short windows so faults play out in seconds. `settings` are top-level
 * YAML keys that override the defaults here.
 */
export async function writeExporterConfig(file: string, settings: Record<string, unknown>): Promise<void> {
  const config = {
    soak_window: '20s',
    collection_interval: '2s',
    plaintext_check_interval: '6s',
    tls_version_check_interval: '1h',
    ...settings,
  };
  await writeFile(file, stringify(config));
}

/**
 * Like waitFor, but a throw from `check` fails at once: for invariants that must hold on every
 * observation ("never complete during the outage"), where waitFor would retry past a violation.
 * The deadline scales with TEST_TIME_FACTOR. `progress` says, in the timeout message, what was last seen.
 */
export async function pollUntil<T>(
  check: () => Promise<T | false | undefined>,
  options: { timeoutMs: number; intervalMs: number; what: string; progress?: () => string },
): Promise<T> {
  const timeoutMs = scaled(options.timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) {
      const seen = options.progress ? `; last seen: ${options.progress()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
