// gitaly-tls-exporter (--config.file F | --demo) [--web.listen-address HOST:PORT] [--log.level L]
//                     [--log.format logfmt|json] [--log.repeat-interval D] [--config.check]
// gitaly-tls-exporter check (--config.file F | --url URL) [--node NAME]
// Exit codes: 0 ok (check: the fleet is complete, or NAME may drop listen_addr), 1 check: not yet,
// 2 bad usage or configuration (an unknown NAME too), 3 check: could not determine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import pino, { type Logger } from 'pino';
import { parseAddress } from './base/address.ts';
import { DEFAULT_REPEAT_MS } from './cycle/failure-log.ts';
import { realProbes } from './collect/probes.ts';
import { formatDuration, parseDuration } from './config/duration.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { nodeName } from './config/schema.ts';
import { heldFileReads, settleFileReads } from './files/bounded-file.ts';
import { Inventory } from './inventory/inventory.ts';
import type { Config } from './config/types.ts';
import { demoConfig } from './demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from './demo/fleet.ts';
import { EXPORTER_VERSION, Exporter } from './exporter.ts';
import { buildApp } from './http/app.ts';
import { httpLimits } from './http/limits.ts';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log/logger.ts';
import { loadWebConfig } from './config/web-config.ts';
import { createHttpsOptions, secureApp } from './http/web-config.ts';
import { loadState, setAsideCorruptState } from './migration/state.ts';
import type { NodeHistory } from './migration/types.ts';
import { CHECK_EXIT, gateExit } from './report/check-exit.ts';
import { localCheck } from './report/local-check.ts';
import { checkRemote, checkRemoteNode, migrationUrl } from './report/remote-check.ts';
import { shownValue } from './report/terminal-text.ts';
import { rulesCommand } from './rules/command.ts';

const USAGE = `Usage:
  gitaly-tls-exporter --config.file FILE [--web.listen-address HOST:PORT] [--web.config.file FILE]
                      [--web.enable-lifecycle] [--log.level LEVEL] [--log.format FORMAT]
                      [--log.repeat-interval DURATION]
  gitaly-tls-exporter --demo [--web.listen-address HOST:PORT] [...]
  gitaly-tls-exporter --config.file FILE [--web.config.file FILE] --config.check
  gitaly-tls-exporter check --config.file FILE [--node NAME]
  gitaly-tls-exporter check --url http://exporter:9787 [--node NAME]
  gitaly-tls-exporter rules --runbook-url URL [--grafana-url URL] ...   (rules --help)

  --config.file FILE            YAML configuration (see config.example.yml)
  --demo                        run against a built-in demo fleet of simulated Gitaly nodes instead
                                (what npm start does in a checkout)
  --web.listen-address ADDR     where to serve /, /migration, /metrics, /probe (default :9787;
                                with --demo, 127.0.0.1:9787)
  --web.config.file FILE        TLS and basic auth for this endpoint, in the Prometheus exporters'
                                web config format (tls_server_config, basic_auth_users)
  --web.enable-lifecycle        serve POST /-/reload (off by default, as in Prometheus; SIGHUP always reloads)
  --log.level LEVEL             debug, info, warn or error (default info)
  --log.format FORMAT           logfmt or json (default logfmt, as Prometheus and its exporters)
  --log.repeat-interval D       a failure that lasts is logged when it starts, when its error changes,
                                when it ends, and again every D while it lasts (default 15m)
  --config.check                validate the configuration and exit (0 valid, 2 invalid)
  check                         one collection, print the verdict table; exit 0 only when the fleet is complete
  check --url URL               ask the running exporter at URL for its verdict instead (dials nothing)
  check --node NAME             exit 0 only when node NAME may drop listen_addr (tls_only_traffic or complete)
  --version, --help

Exit codes: 0 ok (check: complete, or NAME may drop listen_addr), 1 check: not yet,
2 bad usage or configuration (check: NAME is not a node of the fleet), 3 check: could not determine
(the exporter unreachable, no verdict yet, an answer that is not a /migration document).`;

/**
 * How long a stop (SIGTERM, SIGINT) may take before close-with-grace exits 1: under Kubernetes'
 * default 30 s grace period. Of it, a collection in progress gets up to 20 s to finish.
 */
/** Where the demo serves unless told otherwise: its fake series stay off the network. */
const DEMO_LISTEN_ADDRESS = '127.0.0.1:9787';
const LISTEN_ADDRESS = ':9787';
/** Without a configuration the exporter stops here rather than export a fake fleet by accident. */
const NO_CONFIG_MESSAGE =
  'no --config.file given: pass --config.file FILE to watch your Gitaly fleet (see config.example.yml), or --demo to run against the built-in demo fleet (npm start does that in a checkout)';

const SHUTDOWN_GRACE_MS = 25_000;
const SHUTDOWN_COLLECTION_WAIT_MS = 20_000;
/** How long a file read still running at the end of a stop may take before it counts as blocked. */
const SHUTDOWN_SETTLE_MS = 1_000;

/**
 * A file read blocked in the kernel (a hung NFS mount) holds a libuv pool thread, and process.exit()
 * joins every pool thread: it would never return. With the state saved, the process ends by the
 * signal's default action instead (exit status 128+n, which systemd counts as a clean stop), and
 * says why. Does nothing when no read is blocked: close-with-grace then exits as usual.
 */
function endDespiteBlockedReads(
  blocked: Array<{ path: string; sinceMs: number }>,
  signal: NodeJS.Signals | undefined,
  logger: Logger,
): void {
  if (blocked.length === 0) return;
  const sig = signal ?? 'SIGTERM';
  const list = blocked.map((b) => `${b.path} (for ${Math.round((Date.now() - b.sinceMs) / 1000)} s)`).join(', ');
  logger.warn(`file reads still blocked in the kernel: ${list}; a normal exit would wait for them for ever, ending by ${sig} instead`);
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
}

class UsageError extends Error {}

interface Options {
  command: 'serve' | 'check';
  configFile?: string;
  /** --demo: serve the built-in demo fleet (never without asking: it exports fake series). */
  demo: boolean;
  /** check --url: a running exporter to ask. */
  url?: string;
  /** check --node: the one node to gate on. */
  node?: string;
  webConfigFile?: string;
  listen: { host: string; port: number };
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** How often a failure that lasts is logged again. */
  logRepeatMs: number;
  configCheck: boolean;
  enableLifecycle: boolean;
}

function parseOptions(argv: string[]): Options | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'config.file': { type: 'string' },
        url: { type: 'string' },
        node: { type: 'string' },
        demo: { type: 'boolean', default: false },
        'web.listen-address': { type: 'string' },
        'web.config.file': { type: 'string' },
        'web.enable-lifecycle': { type: 'boolean', default: false },
        'log.level': { type: 'string', default: 'info' },
        'log.format': { type: 'string', default: 'logfmt' },
        'log.repeat-interval': { type: 'string', default: formatDuration(DEFAULT_REPEAT_MS) },
        'config.check': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'check')) {
    throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  }
  const level = oneOf('--log.level', values['log.level'], LOG_LEVELS);
  const format = oneOf('--log.format', values['log.format'], LOG_FORMATS);
  const logRepeatMs = repeatInterval(values['log.repeat-interval']);
  const listenText = values['web.listen-address'] ?? (values.demo ? DEMO_LISTEN_ADDRESS : LISTEN_ADDRESS);
  const listen = parseAddress(listenText.startsWith(':') ? `0.0.0.0${listenText}` : listenText);
  if (!listen.ok) throw new UsageError(`--web.listen-address: ${listen.message}`);
  const command = positionals[0] === 'check' ? 'check' : 'serve';
  if (values.url !== undefined && command !== 'check') throw new UsageError('--url is only for check');
  if (values.url !== undefined && values['config.file']) throw new UsageError('check takes either --url or --config.file, not both');
  if (values.url !== undefined) {
    const url = migrationUrl(values.url);
    if (!url.ok) throw new UsageError(url.message);
  }
  if (values.node !== undefined && command !== 'check') throw new UsageError('--node is only for check');
  if (values.node !== undefined) {
    try {
      nodeName(values.node);
    } catch (err) {
      throw new UsageError(`--node ${shownValue(values.node)} ${(err as Error).message}`);
    }
  }
  if ((command === 'check' || values['config.check']) && !values['config.file'] && values.url === undefined) {
    throw new UsageError(`${command === 'check' ? 'check needs --config.file or --url' : '--config.check needs --config.file'}`);
  }
  if (values.demo && (command !== 'serve' || values['config.file'] || values['config.check'])) {
    throw new UsageError('--demo runs the exporter against the demo fleet: it takes no --config.file, --config.check or check');
  }
  if (command === 'serve' && !values['config.file'] && !values.demo) throw new UsageError(NO_CONFIG_MESSAGE);
  return {
    command,
    configFile: values['config.file'],
    demo: values.demo,
    url: values.url,
    node: values.node,
    webConfigFile: values['web.config.file'],
    listen: { host: listen.value.host, port: listen.value.port },
    logLevel: level,
    logFormat: format,
    logRepeatMs,
    configCheck: values['config.check'],
    enableLifecycle: values['web.enable-lifecycle'],
  };
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, not "${value}"`);
}

function repeatInterval(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`--log.repeat-interval: ${(err as Error).message}`);
  }
  if (ms < 60_000) throw new UsageError(`--log.repeat-interval must be at least 1m, not "${text}"`);
  return ms;
}

/**
 * --config.check also reads the discovery files (file_sd, config.toml): an invalid one would fail
 * its source at every collection. Prometheus's targets are not asked for: it may be down now.
 */
async function checkDiscoveryFiles(config: Config): Promise<{ ok: true; summary: string } | { ok: false; message: string }> {
  if (!config.discovery) return { ok: true, summary: '' };
  const files = { ...config, nodes: [], discovery: { ...config.discovery, prometheus: undefined } };
  const view = await new Inventory(files).refresh();
  const failed = view.sources.filter((s) => !s.ok);
  if (failed.length > 0) return { ok: false, message: failed.map((s) => s.error?.message ?? s.id).join('\n') };
  const found = view.sources.reduce((sum, s) => sum + s.nodes, 0);
  const prometheus = config.discovery.prometheus ? ', and the targets of Prometheus at each collection' : '';
  return { ok: true, summary: ` listed by hand, ${found} from ${view.sources.length} discovery file(s)${prometheus}` };
}

async function loadHistories(config: Config, logger: Logger): Promise<Map<string, NodeHistory>> {
  const loaded = await loadState(config.stateFile);
  if (loaded.ok) return loaded.nodes;
  // Never overwrite history we could not read: keep it beside, say so loudly, start conservative.
  const aside = await setAsideCorruptState(config.stateFile, Date.now());
  logger.error(
    `${loaded.error.message}; ${aside ? `kept as ${aside}` : 'left in place'}. History starts afresh, so every node reports insufficient_history until its soak window passes again.`,
  );
  return new Map();
}

async function startDemo(logger: Logger): Promise<{ config: Config; fleet: DemoFleet }> {
  const dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-exporter-demo-'));
  // It holds the demo's private keys and state: gone however the process ends (signal, grace
  // timeout, a failed start). 'exit' handlers run synchronously, hence rmSync.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const fleet = await startDemoFleet({ dir, logger: logger.child({ component: 'demo-fleet' }) });
  const config = demoConfig(fleet, { stateFile: join(dir, 'state.json') });
  logger.info(
    { nodes: fleet.nodes.map((n) => n.name), dir },
    `--demo: running against the built-in demo fleet (${fleet.nodes.length} simulated Gitaly nodes on loopback). Its migration plays out over a few minutes; pass --config.file for a real fleet.`,
  );
  return { config, fleet };
}

async function check(configFile: string, node: string | undefined, logger: Logger): Promise<number> {
  const loaded = loadConfigFile(configFile);
  // Each dial of listen_addr adds to Gitaly's tcp counter. A server sharing this state file checks
  // it every plaintext_check_interval; reuse its answer rather than dial behind its back.
  const config = { ...loaded, plaintextCheckIntervalMs: 2 * loaded.plaintextCheckIntervalMs };
  const exporter = new Exporter({ config, logger, probes: realProbes, histories: await loadHistories(config, logger) });
  const snapshot = await exporter.collector.collect();
  const outcome = localCheck(snapshot.view, node);
  process.stdout.write(outcome.stdout);
  process.stderr.write(outcome.stderr);
  return outcome.exit;
}

const REMOTE_LIMITS = { timeoutMs: 30_000, maxBytes: 64 * 1024 * 1024 };

async function checkUrl(url: string, node: string | undefined): Promise<number> {
  const answer = node === undefined ? await checkRemote(url, REMOTE_LIMITS) : await checkRemoteNode(url, node, REMOTE_LIMITS);
  if (!answer.ok) {
    process.stderr.write(`gitaly-tls-exporter: check: could not determine: ${answer.message}\n`);
    return CHECK_EXIT.undetermined;
  }
  if ('gate' in answer && !answer.gate.found) {
    process.stderr.write(`gitaly-tls-exporter: check: ${answer.gate.line}\n`);
    return gateExit(answer.gate);
  }
  process.stdout.write(answer.text);
  if ('gate' in answer) return gateExit(answer.gate);
  return answer.complete ? CHECK_EXIT.ok : CHECK_EXIT.notYet;
}

async function serve(options: Options, logger: Logger): Promise<void> {
  // Signal handlers come first: a SIGTERM while the demo fleet or the first render is still starting
  // must stop what has started and exit 0, not kill the process by the default action (exit 143),
  // and an early SIGHUP must not kill it either. Each step below registers what needs stopping.
  let demo: DemoFleet | null = null;
  let exporter: Exporter | null = null;
  let app: ReturnType<typeof buildApp> | null = null;
  let reloadPending = false;
  // SIGHUP means reload here, as in Prometheus, not stop. A collection in progress gets most of the
  // grace period to finish and save; one that needs longer (a large fleet behind stalled targets)
  // saves the history gathered so far instead, so the process still exits 0 with its state on disk.
  let stopSignal: NodeJS.Signals | undefined;
  const onTimeout = (delay: number): void => {
    logger.error(`killed by timeout (${delay}ms)`);
    endDespiteBlockedReads(heldFileReads(), stopSignal, logger);
  };
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger, skip: ['SIGHUP'], onTimeout }, async ({ signal, err }) => {
    stopSignal = signal;
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info(`${signal ?? 'shutdown'}: stopping collection, saving state, closing the server`);
    if (exporter) await exporter.stop(SHUTDOWN_COLLECTION_WAIT_MS);
    if (app) await app.close();
    if (demo) await demo.stop();
    endDespiteBlockedReads(await settleFileReads(SHUTDOWN_SETTLE_MS), stopSignal, logger);
  });
  process.on('SIGHUP', () => {
    if (exporter) void exporter.reload();
    else reloadPending = true;
  });

  let config: Config;
  if (options.configFile) config = loadConfigFile(options.configFile);
  else ({ config, fleet: demo } = await startDemo(logger));
  const configFile = options.configFile;
  exporter = new Exporter({
    config,
    logger,
    probes: realProbes,
    histories: await loadHistories(config, logger),
    loadConfig: configFile ? () => loadConfigFile(configFile) : undefined,
    failureRepeatMs: options.logRepeatMs,
  });
  await exporter.init();
  if (reloadPending) void exporter.reload();
  const webConfig = options.webConfigFile ? loadWebConfig(options.webConfigFile) : null;
  const https = webConfig ? createHttpsOptions(webConfig, { logger }) : null;
  const limits = httpLimits(config.concurrency);
  app = buildApp({ logger, view: exporter, https: https?.options ?? null, limits, lifecycle: options.enableLifecycle });
  if (webConfig) secureApp(app, webConfig, https);
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const scheme = https ? 'https' : 'http';
  logger.info(
    {
      version: EXPORTER_VERSION,
      nodes: config.nodes.length,
      discovery: config.discovery ? exporter.collector.inventory.sourceCount() : 0,
      config: config.source,
      maxConnections: limits.maxConnections,
      openFileLimit: limits.openFileLimit,
    },
    `listening on ${scheme}://${options.listen.host}:${options.listen.port}/`,
  );
  // A stop during startup has already stopped the collector; start() then does nothing.
  exporter.start();
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'rules')
    return rulesCommand(argv.slice(1), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
  let options: Options | 'help' | 'version';
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`gitaly-tls-exporter: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options === 'version') {
    process.stdout.write(`gitaly-tls-exporter ${EXPORTER_VERSION} (Node.js ${process.version})\n`);
    return 0;
  }
  // Synchronous writes: the last lines before an exit ("collection finished", the shutdown) are
  // never lost in a buffer or an unfinished asynchronous write when close-with-grace exits.
  // check prints its table on standard output: its log goes to standard error.
  const logger = createLogger({
    level: options.logLevel,
    format: options.logFormat,
    destination: pino.destination({ dest: options.command === 'check' ? 2 : 1, sync: true }),
  });
  try {
    if (options.configCheck && options.configFile) {
      const config = loadConfigFile(options.configFile);
      if (options.webConfigFile) loadWebConfig(options.webConfigFile);
      const files = await checkDiscoveryFiles(config);
      if (!files.ok) {
        process.stderr.write(`gitaly-tls-exporter: invalid configuration:\n${files.message}\n`);
        return 2;
      }
      process.stdout.write(`${options.configFile}: valid, ${config.nodes.length} node(s)${files.summary}\n`);
      return 0;
    }
    if (options.command === 'check' && options.url !== undefined) return await checkUrl(options.url, options.node);
    if (options.command === 'check' && options.configFile) return await check(options.configFile, options.node, logger);
    await serve(options, logger);
    return -1;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gitaly-tls-exporter: invalid configuration:\n${err.message}\n`);
      return CHECK_EXIT.usage;
    }
    // Whatever else stops a check leaves it undecided: a CI gate must not read it as "not yet".
    if (options.command === 'check') {
      process.stderr.write(`gitaly-tls-exporter: check: could not determine: ${(err as Error).message}\n`);
      return CHECK_EXIT.undetermined;
    }
    throw err;
  }
}
