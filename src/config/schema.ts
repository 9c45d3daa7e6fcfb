// The config file's keys, defaults and value types, and a strict reader over the YAML tree that
// records every problem with its line, column and field path instead of stopping at the first.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { isIP } from 'node:net';
import { formatHostPort, parseAddress } from '../address.ts';
import { formatDuration, parseByteSize, parseDuration } from './duration.ts';

export interface ConfigProblem {
  file: string;
  line: number | null;
  column: number | null;
  /** Path like `nodes[1].tls_address`; empty for problems with the file as a whole. */
  field: string;
  message: string;
}

export const DEFAULTS = {
  soakWindowMs: 7 * 86_400_000,
  collectionIntervalMs: 30_000,
  plaintextCheckIntervalMs: 3_600_000,
  tlsVersionCheckIntervalMs: 3_600_000,
  expiryWarningMs: 30 * 86_400_000,
  concurrency: 16,
  stateFile: 'gitaly-tls-exporter.state.json',
  allowUnlistedTargets: false,
  maxMetricsPageBytes: 16 * 1024 ** 2,
  maxPrometheusResponseBytes: 64 * 1024 ** 2,
  timeouts: { metricsMs: 10_000, tlsMs: 5_000, plaintextMs: 5_000, prometheusMs: 30_000 },
  instanceLabel: 'instance',
  scrapeIntervalMs: 60_000,
  procRoot: '/proc',
  role: 'gitaly',
} as const;

export const KEYS = {
  top: [
    'soak_window', 'collection_interval', 'plaintext_check_interval', 'tls_version_check_interval',
    'expiry_warning', 'concurrency', 'state_file', 'ca_file', 'allow_unlisted_targets',
    'max_metrics_page_bytes', 'max_prometheus_response_bytes', 'timeouts', 'prometheus', 'local', 'nodes',
  ],
  timeouts: ['metrics', 'tls', 'plaintext', 'prometheus'],
  prometheus: ['url', 'selector', 'instance_label', 'scrape_interval', 'bearer_token_file', 'basic_auth'],
  basicAuth: ['username', 'password_file'],
  local: ['node', 'proc_root'],
  node: [
    'name', 'role', 'metrics_url', 'tls_address', 'plaintext_address', 'certificate_file',
    'server_name', 'prometheus_instance',
  ],
} as const;

/** Node.js timers cannot wait longer than 2^31-1 ms; a longer interval would fire at once, in a loop. */
export const MAX_TIMER_MS = 24 * 86_400_000;

export type Value = Scalar | YAMLMap | YAMLSeq;
type ScalarValue = string | number | boolean;
/** Turns a scalar into a typed value, or throws an Error whose message is shown to the user. */
export type Convert<T> = (value: ScalarValue) => T;

export const text: Convert<string> = (value) => {
  if (typeof value !== 'string') throw new Error('must be a string (put it in quotes)');
  const trimmed = value.trim();
  if (trimmed === '') throw new Error('must not be empty');
  return trimmed;
};

export const bool: Convert<boolean> = (value) => {
  if (typeof value !== 'boolean') throw new Error('must be true or false');
  return value;
};

export function integer(min: number, max: number): Convert<number> {
  return (value) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`must be an integer from ${min} to ${max}`);
    }
    return value;
  };
}

export function duration(maxMs = Number.MAX_SAFE_INTEGER): Convert<number> {
  return (value) => {
    if (typeof value !== 'string') throw new Error('must be a duration with a unit, e.g. 30s, 5m or 7d');
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error('must be longer than 0');
    if (ms > maxMs) throw new Error(`must be at most ${formatDuration(maxMs)}`);
    return ms;
  };
}

export const byteSize: Convert<number> = (value) => {
  if (typeof value === 'boolean') throw new Error('must be a size in bytes, e.g. 1048576 or 16MiB');
  const bytes = parseByteSize(value);
  if (bytes <= 0) throw new Error('must be larger than 0');
  return bytes;
};

export function oneOf<T extends string>(choices: readonly T[]): Convert<T> {
  return (value) => {
    const found = choices.find((choice) => choice === value);
    if (found === undefined) throw new Error(`must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`);
    return found;
  };
}

export function httpUrl(example: string, credentialsHint: string): Convert<string> {
  return (value) => {
    const raw = text(value);
    // The URL is never echoed: it may hold a password.
    if (!/^https?:\/\//i.test(raw)) throw new Error(`must be an http:// or https:// URL, e.g. ${example}`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`is not a valid URL (expected e.g. ${example})`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new Error(`must not contain a user name or password (URLs end up in logs): ${credentialsHint}`);
    }
    return raw;
  };
}

export function listenAddress(schemes: readonly string[]): Convert<string> {
  return (value) => {
    const raw = text(value);
    if (raw.includes('@')) throw new Error('must be host:port, without credentials');
    const parsed = parseAddress(raw, schemes);
    if (!parsed.ok) throw new Error(parsed.message);
    return formatHostPort(parsed.value);
  };
}

export const nodeName: Convert<string> = (value) => {
  const name = text(value);
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) throw new Error('must be 1 to 128 characters from A-Z a-z 0-9 _ . : -');
  return name;
};

export const hostName: Convert<string> = (value) => {
  const host = text(value);
  if (/[\s/@[\]]/.test(host) || (host.includes(':') && isIP(host) !== 6)) {
    throw new Error('must be a host name or IP address, without scheme or port');
  }
  return host;
};

export const labelName: Convert<string> = (value) => {
  const name = text(value);
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error('must be a Prometheus label name, e.g. instance');
  return name;
};

const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*/y;

/** Label matchers as written inside {...}; returned normalised (no braces, ", " between matchers). */
export const labelMatchers: Convert<string> = (value) => {
  const raw = text(value);
  const inner = raw.startsWith('{') && raw.endsWith('}') ? raw.slice(1, -1) : raw;
  const matchers: string[] = [];
  let pos = 0;
  while (pos < inner.length && inner.slice(pos).trim() !== '') {
    MATCHER.lastIndex = pos;
    const match = MATCHER.exec(inner);
    if (!match || (MATCHER.lastIndex < inner.length && inner[MATCHER.lastIndex] !== ',')) {
      throw new Error(`"${raw}" is not a list of label matchers like job="gitaly" or job="gitaly", env=~"prod.*"`);
    }
    matchers.push(`${match[1]}${match[2]}${match[3]}`);
    pos = MATCHER.lastIndex + 1;
  }
  if (matchers.length === 0) throw new Error('must hold at least one label matcher, e.g. job="gitaly"');
  return matchers.join(', ');
};

/** Prometheus's default `instance` for a scrape of this URL: host:port, the port defaulted from the scheme. */
export function hostPortOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return formatHostPort({ host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port });
}

export function joinField(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** The closest candidate to a misspelt key, if one is close enough to be a likely intent. */
export function suggest(key: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => squash(c) === squash(key));
  if (exact) return exact;
  const lower = key.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  const tolerance = Math.max(1, Math.min(3, Math.floor(key.length / 4)));
  if (best && best.distance <= tolerance) return best.candidate;
  if (lower.length >= 3) return candidates.find((c) => c.startsWith(lower) || lower.startsWith(c));
  return undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

export class Reader {
  readonly problems: ConfigProblem[] = [];

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document,
  ) {}

  /** `at` is the YAML node (or source offset) the problem is about; null when it has no place in the file. */
  report(field: string, at: { range?: readonly number[] | null } | number | null | undefined, message: string): void {
    const offset = typeof at === 'number' ? at : at?.range?.[0];
    const pos = offset === undefined ? null : this.lines.linePos(offset);
    this.problems.push({ file: this.file, line: pos?.line ?? null, column: pos?.col ?? null, field, message });
  }

  lineOf(at: { range?: readonly number[] | null } | null | undefined): number | null {
    const offset = at?.range?.[0];
    return offset === undefined ? null : this.lines.linePos(offset).line;
  }

  /** Follows aliases; null (reported) for an alias to an unknown anchor. */
  resolve(field: string, node: unknown): Value | null {
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) this.report(field, node, `refers to an unknown anchor *${node.source}`);
      return target ?? null;
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) return node;
    return null;
  }

  mapping(field: string, node: Value, keys: readonly string[], what: string): MapView | null {
    if (isMap(node)) return new MapView(this, field, node, keys);
    this.report(field, node, `must be a mapping (${what}), not ${describe(node)}`);
    return null;
  }

  /** List items, each resolved; null (reported) when the value is not a list. */
  list(field: string, node: Value, what: string): Array<{ field: string; node: Value | null }> | null {
    if (!isSeq(node)) {
      this.report(field, node, `must be a list (${what}), not ${describe(node)}`);
      return null;
    }
    return node.items.map((item, index) => {
      const itemField = `${field}[${index}]`;
      return { field: itemField, node: this.resolve(itemField, item) };
    });
  }
}

function describe(node: Value): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return node.value === null ? 'empty' : 'a single value';
}

interface Entry {
  field: string;
  keyNode: Scalar;
  /** Undefined when the key is there with no value (`key:` or `key: null`). */
  value: Value | undefined;
}

/** One YAML mapping: unknown, duplicate and odd keys are reported when it is created. */
export class MapView {
  private readonly entries = new Map<string, Entry | 'invalid'>();

  constructor(
    readonly reader: Reader,
    readonly field: string,
    readonly node: YAMLMap,
    keys: readonly string[],
  ) {
    for (const pair of node.items) {
      const keyNode = pair.key;
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        reader.report(field, isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? keyNode : node, 'keys must be plain names');
        continue;
      }
      const key = String(keyNode.value);
      const keyField = joinField(field, key);
      if (key === '<<') {
        reader.report(keyField, keyNode, 'merge keys (<<) are not supported: write the keys out');
        continue;
      }
      if (!keys.includes(key)) {
        const close = suggest(key, keys);
        reader.report(keyField, keyNode, `unknown key${close ? ` (did you mean ${close}?)` : ''}`);
        continue;
      }
      const first = this.entries.get(key);
      if (first !== undefined) {
        const firstLine = first === 'invalid' ? null : reader.lineOf(first.keyNode);
        reader.report(keyField, keyNode, `duplicate key${firstLine === null ? '' : ` (first set at line ${firstLine})`}`);
        continue;
      }
      if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) {
        this.entries.set(key, { field: keyField, keyNode, value: undefined });
        continue;
      }
      const value = reader.resolve(keyField, pair.value);
      this.entries.set(key, value ? { field: keyField, keyNode, value } : 'invalid');
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Where to point for a problem about `key`: its value, else its key, else this mapping. */
  at(key: string): { range?: readonly number[] | null } {
    const entry = this.entries.get(key);
    if (entry === undefined || entry === 'invalid') return this.node;
    return entry.value ?? entry.keyNode;
  }

  fieldOf(key: string): string {
    return joinField(this.field, key);
  }

  /** The key's value node; undefined when absent; null when invalid (reported). */
  private valueOf(key: string, required: boolean, emptyHint: string): Value | undefined | null {
    const entry = this.entries.get(key);
    if (entry === 'invalid') return null;
    if (entry === undefined) {
      if (!required) return undefined;
      this.reader.report(this.fieldOf(key), this.node, 'is required');
      return null;
    }
    if (entry.value === undefined) {
      this.reader.report(entry.field, entry.keyNode, `has no value (${emptyHint})`);
      return null;
    }
    return entry.value;
  }

  private convert<T>(key: string, node: Value, convert: Convert<T>): T | null {
    if (!isScalar(node)) {
      this.reader.report(this.fieldOf(key), node, `must be a single value, not ${describe(node)}`);
      return null;
    }
    try {
      return convert(node.value as ScalarValue);
    } catch (error) {
      this.reader.report(this.fieldOf(key), node, error instanceof Error ? error.message : String(error));
      return null;
    }
  }

  /** Undefined when absent; null when invalid (reported). */
  optional<T>(key: string, convert: Convert<T>): T | undefined | null {
    const node = this.valueOf(key, false, 'give one or remove the key');
    return node ? this.convert(key, node, convert) : node;
  }

  withDefault<T>(key: string, convert: Convert<T>, fallback: T): T | null {
    const node = this.valueOf(key, false, 'remove the key to use the default');
    if (node === undefined) return fallback;
    return node ? this.convert(key, node, convert) : null;
  }

  required<T>(key: string, convert: Convert<T>): T | null {
    const node = this.valueOf(key, true, 'it is required');
    return node ? this.convert(key, node, convert) : null;
  }

  /** A nested mapping; undefined when absent; null when invalid (reported). */
  section(key: string, keys: readonly string[], what: string, required = false): MapView | undefined | null {
    const node = this.valueOf(key, required, 'fill it in or remove the key');
    return node ? this.reader.mapping(this.fieldOf(key), node, keys, what) : node;
  }

  /** A list's items; undefined when absent; null when invalid (reported). */
  list(key: string, what: string, required = false): Array<{ field: string; node: Value | null }> | undefined | null {
    const node = this.valueOf(key, required, `list ${what}`);
    return node ? this.reader.list(this.fieldOf(key), node, what) : node;
  }
}
