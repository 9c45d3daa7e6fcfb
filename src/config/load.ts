// Loads the YAML config file: strict keys, typed values, defaults, then cross-field and file checks.
// Every problem found is reported at once, each naming file:line:column and the field path.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { querySlackMs } from '../migration/query-window.ts';
import { formatDuration } from './duration.ts';
import {
  bool, byteSize, DEFAULTS, duration, hostName, hostPortOf, httpUrl, integer, KEYS, labelMatchers, labelName,
  listenAddress, MapView, MAX_TIMER_MS, nodeName, oneOf, Reader, suggest, text, type ConfigProblem,
} from './schema.ts';
import type { Config, LocalModeConfig, NodeConfig, PrometheusConfig, Role, Timeouts } from './types.ts';

export type { ConfigProblem } from './schema.ts';

export interface ConfigDeps {
  fileExists?(path: string): 'file' | 'dir' | 'missing';
  dirWritable?(path: string): boolean;
  /** Resolves a relative config file path (default: process.cwd()). */
  cwd?: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function formatProblem(p: ConfigProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  return p.field === '' ? `${where}: ${p.message}` : `${where}: ${p.field}: ${p.message}`;
}

export function loadConfigFile(file: string, deps: ConfigDeps = {}): Config {
  let content: string;
  try {
    content = readFileSync(path.resolve(deps.cwd ?? process.cwd(), file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = READ_ERRORS[code ?? ''] ?? (code ? `error ${code}` : String(error));
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

interface Context {
  reader: Reader;
  /** Relative paths in the file resolve against the config file's directory. */
  baseDir: string;
  fileExists(path: string): 'file' | 'dir' | 'missing';
  dirWritable(path: string): boolean;
}

export function parseConfig(text: string, file: string, deps: ConfigDeps = {}): Config {
  const source = path.resolve(deps.cwd ?? process.cwd(), file);
  const lineCounter = new LineCounter();
  // uniqueKeys off: MapView reports duplicates itself, with the field path and the first key's line.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false, keepSourceTokens: true });
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
  const tlsVersionCheckIntervalMs = root.withDefault('tls_version_check_interval', duration(MAX_TIMER_MS), DEFAULTS.tlsVersionCheckIntervalMs);
  const expiryWarningMs = root.withDefault('expiry_warning', duration(), DEFAULTS.expiryWarningMs);
  const concurrency = root.withDefault('concurrency', integer(1, 1024), DEFAULTS.concurrency);
  const allowUnlistedTargets = root.withDefault('allow_unlisted_targets', bool, DEFAULTS.allowUnlistedTargets);
  const maxMetricsPageBytes = root.withDefault('max_metrics_page_bytes', byteSize, DEFAULTS.maxMetricsPageBytes);
  const maxPrometheusResponseBytes = root.withDefault('max_prometheus_response_bytes', byteSize, DEFAULTS.maxPrometheusResponseBytes);
  const caFile = readPath(root, 'ca_file', 'file-or-dir', ctx);
  const stateFile = readStateFile(root, ctx);
  const timeouts = readTimeouts(root, collectionIntervalMs);
  const prometheus = readPrometheus(root, ctx);
  const drafts = readNodes(root, ctx);
  const local = readLocal(root, ctx, drafts);

  if (soakWindowMs !== null && collectionIntervalMs !== null && collectionIntervalMs > soakWindowMs) {
    const [soak, interval] = [formatDuration(soakWindowMs), formatDuration(collectionIntervalMs)];
    if (root.has('collection_interval')) {
      reader.report('collection_interval', root.at('collection_interval'), `${interval} is longer than soak_window (${soak})`);
    } else {
      reader.report('soak_window', root.at('soak_window'), `${soak} is shorter than collection_interval (${interval})`);
    }
  }

  if (prometheus && soakWindowMs !== null && plaintextCheckIntervalMs !== null) {
    checkDialSpacing(root, ctx, { soakWindowMs, plaintextCheckIntervalMs, scrapeIntervalMs: prometheus.scrapeIntervalMs ?? DEFAULTS.scrapeIntervalMs });
  }

  // Readers return null only after reporting a problem, and nothing is returned once a problem
  // was reported, so the casts here and in the readers below never let a null through.
  const config = {
    source,
    nodes: drafts?.map(({ complete: _, ...node }) => present(node)),
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
    allowUnlistedTargets,
  };
  return reader.problems.length > 0 ? null : (present(config) as Config);
}

/**
 * The exporter keeps its own plaintext dials a slack away from the edges of the Prometheus window
 * (see querySlackMs): dials closer together than two slacks, or a window shorter than four, leave
 * dials it cannot subtract, and the verdict would see plaintext that is only its own.
 */
function checkDialSpacing(root: MapView, ctx: Context, v: { soakWindowMs: number; plaintextCheckIntervalMs: number; scrapeIntervalMs: number }): void {
  const slack = querySlackMs(v.scrapeIntervalMs);
  const scrape = formatDuration(v.scrapeIntervalMs);
  if (v.plaintextCheckIntervalMs < 2 * slack) {
    ctx.reader.report(
      'plaintext_check_interval',
      root.at('plaintext_check_interval'),
      `${formatDuration(v.plaintextCheckIntervalMs)} is too short for prometheus.scrape_interval ${scrape}: it must be at least ${formatDuration(2 * slack)} (4 scrape intervals + 10s) so the exporter's own dials can be told apart in Prometheus's data`,
    );
  }
  if (v.soakWindowMs < 4 * slack) {
    ctx.reader.report(
      'soak_window',
      root.at('soak_window'),
      `${formatDuration(v.soakWindowMs)} is too short for prometheus.scrape_interval ${scrape}: it must be at least ${formatDuration(4 * slack)} (8 scrape intervals + 20s)`,
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
      view.reader.report(view.fieldOf(key), view.at(key), `${formatDuration(ms)} is longer than collection_interval (${formatDuration(cap)})`);
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
  const url = view.required('url', httpUrl('http://prometheus:9090', 'put credentials in basic_auth (with password_file) or bearer_token_file'));
  const selector = view.optional('selector', labelMatchers);
  const instanceLabel = view.withDefault('instance_label', labelName, DEFAULTS.instanceLabel);
  const scrapeIntervalMs = view.withDefault('scrape_interval', duration(), DEFAULTS.scrapeIntervalMs);
  const bearerTokenFile = readPath(view, 'bearer_token_file', 'file', ctx);
  const auth = view.section('basic_auth', KEYS.basicAuth, 'username:, password_file:');
  const username = auth ? auth.required('username', text) : undefined;
  const passwordFile = auth ? readPath(auth, 'password_file', 'file', ctx, { required: true }) : undefined;
  if (view.has('bearer_token_file') && view.has('basic_auth')) {
    ctx.reader.report(view.fieldOf('bearer_token_file'), view.at('bearer_token_file'), 'cannot be used together with basic_auth: choose one');
  }
  return present({
    url: url?.replace(/\/+$/, ''), // so API paths can be appended
    selector,
    instanceLabel,
    scrapeIntervalMs,
    bearerTokenFile,
    basicAuth: auth ? { username, passwordFile } : undefined,
  }) as PrometheusConfig;
}

/** What could be read of a node; `complete` when it had no problems. */
type NodeDraft = Partial<NodeConfig> & { complete: boolean };

/** Null when there is no usable list; otherwise one draft per item, for cross-checks even when some are invalid. */
function readNodes(root: MapView, ctx: Context): NodeDraft[] | null {
  const items = root.list('nodes', 'at least one node, each starting with "- name:"', true);
  if (!items) return null;
  if (items.length === 0) {
    ctx.reader.report('nodes', root.at('nodes'), 'must list at least one node');
    return null;
  }
  type First = { field: string; name: string | undefined; line: number | null };
  const seen = { name: new Map<string, First>(), tls_address: new Map<string, First>(), plaintext_address: new Map<string, First>(), metrics_url: new Map<string, First>() };
  const drafts: NodeDraft[] = [];
  for (const item of items) {
    const view = item.node && ctx.reader.mapping(item.field, item.node, KEYS.node, 'name:, metrics_url:, tls_address:, ...');
    if (!view) {
      drafts.push({ complete: false });
      continue;
    }
    const problemsBefore = ctx.reader.problems.length;
    const draft = readNode(view, ctx);
    const unique = (key: keyof typeof seen, identity: string | undefined, shown = '') => {
      if (identity === undefined) return;
      const first = seen[key].get(identity);
      if (!first) {
        seen[key].set(identity, { field: item.field, name: draft.name, line: ctx.reader.lineOf(view.at(key)) });
        return;
      }
      const about = [key !== 'name' && first.name ? `"${first.name}"` : '', first.line === null ? '' : `line ${first.line}`].filter(Boolean).join(', ');
      ctx.reader.report(view.fieldOf(key), view.at(key), `${shown}is already the ${key} of ${first.field}${about ? ` (${about})` : ''}`);
    };
    unique('name', draft.name, `"${draft.name}" `);
    unique('tls_address', draft.tlsAddress?.toLowerCase(), `${draft.tlsAddress} `);
    unique('plaintext_address', draft.plaintextAddress?.toLowerCase(), `${draft.plaintextAddress} `);
    // Not echoed: a URL may carry a token in its query.
    unique('metrics_url', draft.metricsUrl && new URL(draft.metricsUrl).href);
    drafts.push({ ...draft, complete: ctx.reader.problems.length === problemsBefore });
  }
  return drafts;
}

function readNode(view: MapView, ctx: Context): Partial<NodeConfig> {
  const name = view.required('name', nodeName);
  const role = view.withDefault<Role>('role', oneOf(['gitaly', 'praefect']), DEFAULTS.role);
  const metricsUrl = view.optional('metrics_url', httpUrl('http://gitaly-1.internal:9236/metrics', "Gitaly's metrics page needs none"));
  const tlsAddress = view.optional('tls_address', listenAddress(['tls://']));
  const plaintextAddress = view.optional('plaintext_address', listenAddress(['tcp://']));
  const certificateFile = readPath(view, 'certificate_file', 'file', ctx);
  const serverName = view.optional('server_name', hostName);
  const prometheusInstance = view.optional('prometheus_instance', text);
  if (!view.has('metrics_url') && !view.has('tls_address') && !view.has('plaintext_address')) {
    ctx.reader.report(view.field, view.node, 'needs at least one of metrics_url, tls_address or plaintext_address');
  }
  if (view.has('server_name') && !view.has('tls_address')) {
    ctx.reader.report(view.fieldOf('server_name'), view.at('server_name'), 'is only used for the TLS probe: add tls_address or remove server_name');
  }
  const fallbackInstance = metricsUrl ? hostPortOf(metricsUrl) : undefined;
  return present({ name, role, metricsUrl, tlsAddress, plaintextAddress, certificateFile, serverName, prometheusInstance: prometheusInstance ?? fallbackInstance });
}

function readLocal(root: MapView, ctx: Context, drafts: NodeDraft[] | null): LocalModeConfig | undefined | null {
  const view = root.section('local', KEYS.local, 'node:, proc_root:');
  if (!view) return view;
  const node = view.required('node', text);
  const procRoot = readPath(view, 'proc_root', 'dir', ctx, { fallback: DEFAULTS.procRoot });
  if (node !== null && drafts !== null) {
    const target = drafts.find((draft) => draft.name === node);
    if (!target && drafts.every((draft) => draft.name !== undefined)) {
      const close = suggest(node, drafts.flatMap((draft) => (draft.name === undefined ? [] : [draft.name])));
      ctx.reader.report(view.fieldOf('node'), view.at('node'), `"${node}" is not the name of any node in nodes${close ? ` (did you mean ${close}?)` : ''}`);
    } else if (target?.complete && !target.tlsAddress && !target.plaintextAddress) {
      ctx.reader.report(view.fieldOf('node'), view.at('node'), `node "${node}" has neither tls_address nor plaintext_address, so there is no listener to watch`);
    }
  }
  return { node, procRoot } as LocalModeConfig;
}

/** Absolute path of an existing file or directory; relative paths resolve against the config file's directory. */
function readPath(
  view: MapView,
  key: string,
  kind: 'file' | 'dir' | 'file-or-dir',
  ctx: Context,
  options: { required?: boolean; fallback?: string } = {},
): string | undefined | null {
  const value = options.required ? view.required(key, text) : view.withDefault(key, text, options.fallback);
  if (value === null || value === undefined) return value;
  const resolved = path.resolve(ctx.baseDir, value);
  const found = ctx.fileExists(resolved);
  const [where, suffix] = view.has(key) ? [view.at(key), ''] : [null, ' (the default)'];
  if (found === 'missing') ctx.reader.report(view.fieldOf(key), where, `${resolved} does not exist or cannot be read${suffix}`);
  else if (kind === 'file' && found === 'dir') ctx.reader.report(view.fieldOf(key), where, `${resolved} is a directory, not a file`);
  else if (kind === 'dir' && found === 'file') ctx.reader.report(view.fieldOf(key), where, `${resolved} is a file, not a directory${suffix}`);
  return resolved;
}

function readStateFile(root: MapView, ctx: Context): string | null {
  const value = root.withDefault('state_file', text, DEFAULTS.stateFile);
  if (value === null) return null;
  const resolved = path.resolve(ctx.baseDir, value);
  const dir = path.dirname(resolved);
  const [where, hint] = root.has('state_file') ? [root.at('state_file'), ''] : [null, ' (state_file defaults to a file next to the config file; set it to a writable path)'];
  const report = (message: string) => ctx.reader.report('state_file', where, message + hint);
  if (ctx.fileExists(resolved) === 'dir') report(`${resolved} is a directory, not a file`);
  else if (ctx.fileExists(dir) !== 'dir') report(`directory ${dir} does not exist`);
  else if (!ctx.dirWritable(dir)) report(`directory ${dir} is not writable by this user`);
  return resolved;
}

function fileKind(p: string): 'file' | 'dir' | 'missing' {
  try {
    const isDir = statSync(p).isDirectory();
    accessSync(p, isDir ? constants.R_OK | constants.X_OK : constants.R_OK);
    return isDir ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

function isWritableDir(p: string): boolean {
  try {
    accessSync(p, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function byPosition(problems: ConfigProblem[]): ConfigProblem[] {
  const line = (p: ConfigProblem) => p.line ?? Number.MAX_SAFE_INTEGER;
  return [...problems].sort((a, b) => line(a) - line(b) || (a.column ?? 0) - (b.column ?? 0));
}

/** Drops absent (undefined) and invalid (null) values. */
function present<T extends object>(value: T): { [K in keyof T]?: NonNullable<T[K]> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as { [K in keyof T]?: NonNullable<T[K]> };
}
