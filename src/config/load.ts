// Loads the YAML config file (strict keys, typed values, defaults, cross-field checks), reporting every problem at once.
import { statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { FileReadError, readFileBoundedSync } from '../files/bounded-file.ts';
import { formatDuration } from './duration.ts';
import { readClients } from './clients.ts';
import { readDiscovery } from './discovery.ts';
import { readLocal, readNodes } from './nodes.ts';
import { MIN_DIAL_SPACING_SLACKS, MIN_SOAK_SLACKS, querySlackMs } from './timing-limits.ts';
import { fileKind, isWritableDir, readPath, readStateFile, type Context } from './paths.ts';
import { bool, byteSize, DEFAULTS, duration, httpUrl, integer, KEYS, labelMatchers, labelName, MAX_TIMER_MS, text } from './schema.ts';
import type { Config, PrometheusConfig, Timeouts } from './types.ts';
import { MapView, present, Reader, type ConfigProblem } from './yaml-reader.ts';

export type { ConfigProblem } from './yaml-reader.ts';
export { MAX_ALIASES } from './yaml-aliases.ts';

export interface ConfigDeps {
  fileExists?(path: string): 'file' | 'dir' | 'missing';
  dirWritable?(path: string): boolean;
  /** Resolves a relative config file path (default: process.cwd()). */
  cwd?: string;
}

/** A fleet of thousands of nodes is a few hundred KB of YAML. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Problems printed; the rest are counted ("and K more"). */
export const MAX_PROBLEMS_SHOWN = 50;
const MAX_PROBLEM_CHARS = 300;

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).map(formatProblem);
    if (problems.length > MAX_PROBLEMS_SHOWN) shown.push(`… and ${problems.length - MAX_PROBLEMS_SHOWN} more problem(s)`);
    super(shown.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A message quoting a huge value shows its start and end, and says how long it was. */
function shortenMessage(message: string): string {
  if (message.length <= MAX_PROBLEM_CHARS) return message;
  return `${message.slice(0, MAX_PROBLEM_CHARS - 100)}… (${message.length} characters in all) …${message.slice(-80)}`;
}

function formatProblem(p: ConfigProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  const message = shortenMessage(p.message);
  return p.field === '' ? `${where}: ${message}` : `${where}: ${p.field}: ${message}`;
}

export function loadConfigFile(file: string, deps: ConfigDeps = {}): Config {
  let content: string;
  try {
    const resolved = path.resolve(deps.cwd ?? process.cwd(), file);
    const size = statSync(resolved).size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError([
        {
          file,
          line: null,
          column: null,
          field: '',
          message: `the file is ${size} bytes, more than the ${MAX_CONFIG_BYTES} a config may be`,
        },
      ]);
    }
    content = readFileBoundedSync(resolved, MAX_CONFIG_BYTES).toString('utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error instanceof FileReadError ? error.message : (READ_ERRORS[code ?? ''] ?? (code ? `error ${code}` : String(error)));
    throw new ConfigError([{ file, line: null, column: null, field: '', message: `cannot read the config file: ${reason}` }]);
  }
  return parseConfig(content, file, deps);
}

const READ_ERRORS: Partial<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
};

export function parseConfig(text: string, file: string, deps: ConfigDeps = {}): Config {
  const source = path.resolve(deps.cwd ?? process.cwd(), file);
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([{ file, line: null, column: null, field: '', message: `the file is larger than ${MAX_CONFIG_BYTES} bytes` }]);
  }
  const lineCounter = new LineCounter();
  // uniqueKeys off: MapView reports duplicates itself, with the field path and the first key's line.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false, keepSourceTokens: true });
  // The Reader refuses a file of more than MAX_ALIASES aliases: a problem, so no tree is read below.
  const reader = new Reader(file, lineCounter, doc);
  for (const issue of [...doc.errors, ...doc.warnings]) {
    const message = issue.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document (a second ---); keep one' : issue.message;
    reader.report('', issue.pos[0], `invalid YAML: ${message}`);
  }

  let config: Config | null = null;
  const root = doc.contents;
  if (reader.problems.length > 0) {
    // The tree of a file with syntax errors is a guess; checking it would add noise.
  } else if (root === null || (isScalar(root) && root.value === null)) {
    reader.report('', null, 'the file is empty: it needs at least a nodes: list');
  } else if (!isMap(root)) {
    reader.report('', root, 'the top level must be a mapping of keys (soak_window:, nodes:, ...), not a single value or a list');
  } else {
    const ctx: Context = {
      reader,
      baseDir: path.dirname(source),
      fileExists: (p) => (deps.fileExists ? deps.fileExists(p) : fileKind(p)),
      dirWritable: (p) => (deps.dirWritable ? deps.dirWritable(p) : isWritableDir(p)),
    };
    config = readConfig(new MapView(reader, '', root, KEYS.top), ctx, source);
  }
  if (reader.problems.length > 0 || !config) throw new ConfigError(byPosition(reader.problems));
  return config;
}

function readConfig(root: MapView, ctx: Context, source: string): Config | null {
  const { reader } = ctx;
  const soakWindowMs = root.withDefault('soak_window', duration(), DEFAULTS.soakWindowMs);
  const collectionIntervalMs = root.withDefault('collection_interval', duration(MAX_TIMER_MS), DEFAULTS.collectionIntervalMs);
  const plaintextCheckIntervalMs = root.withDefault('plaintext_check_interval', duration(MAX_TIMER_MS), DEFAULTS.plaintextCheckIntervalMs);
  const tlsVersionCheckIntervalMs = root.withDefault(
    'tls_version_check_interval',
    duration(MAX_TIMER_MS),
    DEFAULTS.tlsVersionCheckIntervalMs,
  );
  const expiryWarningMs = root.withDefault('expiry_warning', duration(), DEFAULTS.expiryWarningMs);
  const concurrency = root.withDefault('concurrency', integer(1, 1024), DEFAULTS.concurrency);
  const allowUnlistedTargets = root.withDefault('allow_unlisted_targets', bool, DEFAULTS.allowUnlistedTargets);
  const maxMetricsPageBytes = root.withDefault('max_metrics_page_bytes', byteSize, DEFAULTS.maxMetricsPageBytes);
  const maxPrometheusResponseBytes = root.withDefault('max_prometheus_response_bytes', byteSize, DEFAULTS.maxPrometheusResponseBytes);
  const caFile = readPath(root, 'ca_file', 'file-or-dir', ctx);
  const stateFile = readStateFile(root, ctx);
  const timeouts = readTimeouts(root, collectionIntervalMs);
  const prometheus = readPrometheus(root, ctx);
  const discovery = readDiscovery(root, ctx, prometheus);
  const drafts = readNodes(root, ctx, root.has('discovery'));
  const local = readLocal(root, ctx, drafts, discovery);
  const clients = readClients(root, ctx);

  if (soakWindowMs !== null && collectionIntervalMs !== null && collectionIntervalMs > soakWindowMs) {
    const [soak, interval] = [formatDuration(soakWindowMs), formatDuration(collectionIntervalMs)];
    if (root.has('collection_interval')) {
      reader.report('collection_interval', root.at('collection_interval'), `${interval} is longer than soak_window (${soak})`);
    } else {
      reader.report('soak_window', root.at('soak_window'), `${soak} is shorter than collection_interval (${interval})`);
    }
  }

  if (prometheus && soakWindowMs !== null && plaintextCheckIntervalMs !== null) {
    checkDialSpacing(root, ctx, {
      soakWindowMs,
      plaintextCheckIntervalMs,
      scrapeIntervalMs: prometheus.scrapeIntervalMs ?? DEFAULTS.scrapeIntervalMs,
    });
  }

  // Readers return null only after reporting a problem, and nothing is returned once a problem
  // was reported, so the casts here and in the section readers never let a null through.
  const config = {
    source,
    nodes: drafts?.map(({ complete: _, ...node }) => present(node)),
    discovery,
    prometheus,
    soakWindowMs,
    collectionIntervalMs,
    plaintextCheckIntervalMs,
    tlsVersionCheckIntervalMs,
    expiryWarningMs,
    concurrency,
    timeouts,
    maxMetricsPageBytes,
    maxPrometheusResponseBytes,
    stateFile,
    caFile,
    local,
    clients,
    allowUnlistedTargets,
  };
  return reader.problems.length > 0 ? null : (present(config) as Config);
}

/**
 * The exporter keeps its own plaintext dials a slack away from the edges of the Prometheus window
 * (see querySlackMs): dials closer together than two slacks, or a window shorter than four, leave
 * dials it cannot subtract, and the verdict would see plaintext that is only its own.
 */
function checkDialSpacing(
  root: MapView,
  ctx: Context,
  v: { soakWindowMs: number; plaintextCheckIntervalMs: number; scrapeIntervalMs: number },
): void {
  const slack = querySlackMs(v.scrapeIntervalMs);
  const scrape = formatDuration(v.scrapeIntervalMs);
  if (v.plaintextCheckIntervalMs < MIN_DIAL_SPACING_SLACKS * slack) {
    ctx.reader.report(
      'plaintext_check_interval',
      root.at('plaintext_check_interval'),
      `${formatDuration(v.plaintextCheckIntervalMs)} is too short for prometheus.scrape_interval ${scrape}: it must be at least ${formatDuration(MIN_DIAL_SPACING_SLACKS * slack)} (6 scrape intervals + 15s) so the exporter's own dials can be told apart in Prometheus's data`,
    );
  }
  if (v.soakWindowMs < MIN_SOAK_SLACKS * slack) {
    ctx.reader.report(
      'soak_window',
      root.at('soak_window'),
      `${formatDuration(v.soakWindowMs)} is too short for prometheus.scrape_interval ${scrape}: it must be at least ${formatDuration(MIN_SOAK_SLACKS * slack)} (12 scrape intervals + 30s)`,
    );
  }
}

/** Defaults are capped at collection_interval (a collection must end before the next); explicit values must fit. */
function readTimeouts(root: MapView, collectionIntervalMs: number | null): Timeouts | null {
  const view = root.section('timeouts', KEYS.timeouts, 'metrics:, tls:, plaintext:, prometheus:');
  if (view === null) return null;
  const cap = collectionIntervalMs ?? Number.MAX_SAFE_INTEGER;
  const read = (key: string, fallback: number): number | null => {
    if (!view?.has(key)) return Math.min(fallback, cap);
    const ms = view.withDefault(key, duration(MAX_TIMER_MS), fallback);
    if (ms !== null && ms > cap) {
      view.reader.report(
        view.fieldOf(key),
        view.at(key),
        `${formatDuration(ms)} is longer than collection_interval (${formatDuration(cap)})`,
      );
    }
    return ms;
  };
  const d = DEFAULTS.timeouts;
  const timeouts = {
    metricsMs: read('metrics', d.metricsMs),
    tlsMs: read('tls', d.tlsMs),
    plaintextMs: read('plaintext', d.plaintextMs),
    prometheusMs: read('prometheus', d.prometheusMs),
  };
  return timeouts as Timeouts;
}

function readPrometheus(root: MapView, ctx: Context): PrometheusConfig | undefined | null {
  const view = root.section('prometheus', KEYS.prometheus, 'url:, selector:, instance_label:, ...');
  if (!view) return view;
  const url = view.required(
    'url',
    httpUrl('http://prometheus:9090', 'put credentials in basic_auth (with password_file) or bearer_token_file'),
  );
  const selector = view.optional('selector', labelMatchers);
  const instanceLabel = view.withDefault('instance_label', labelName, DEFAULTS.instanceLabel);
  const scrapeIntervalMs = view.withDefault('scrape_interval', duration(), DEFAULTS.scrapeIntervalMs);
  // Left out when not written, like the other optional keys (absent = DEFAULTS.directScrape).
  const directScrape = view.optional('direct_scrape', bool);
  const bearerTokenFile = readPath(view, 'bearer_token_file', 'file', ctx);
  const auth = view.section('basic_auth', KEYS.basicAuth, 'username:, password_file:');
  const username = auth ? auth.required('username', text) : undefined;
  const passwordFile = auth ? readPath(auth, 'password_file', 'file', ctx, { required: true }) : undefined;
  if (view.has('bearer_token_file') && view.has('basic_auth')) {
    ctx.reader.report(
      view.fieldOf('bearer_token_file'),
      view.at('bearer_token_file'),
      'cannot be used together with basic_auth: choose one',
    );
  }
  return present({
    url: url?.replace(/\/+$/, ''), // so API paths can be appended
    selector,
    instanceLabel,
    scrapeIntervalMs,
    directScrape,
    bearerTokenFile,
    basicAuth: auth ? { username, passwordFile } : undefined,
  }) as PrometheusConfig;
}

function byPosition(problems: ConfigProblem[]): ConfigProblem[] {
  const line = (p: ConfigProblem) => p.line ?? Number.MAX_SAFE_INTEGER;
  return [...problems].sort((a, b) => line(a) - line(b) || (a.column ?? 0) - (b.column ?? 0));
}
