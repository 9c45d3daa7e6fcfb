// The config file's keys, defaults, and value parsers that turn a YAML scalar into a typed value or a user-facing error.
import { isIP } from 'node:net';
import { formatHostPort, parseAddress } from '../base/address.ts';
import { formatDuration, parseByteSize, parseDuration } from './duration.ts';
import type { Convert } from './yaml-reader.ts';
import { parseLabelMatchers } from '../base/label-matchers.ts';

/**
 * Peers kept per listener from one read, most connections first: as many as the metric may name
 * (peer_metric_limit's maximum). The others are only counted, so that 150,000 client addresses cost
 * one Map during the parse and no more afterwards.
 */
export const MAX_PEERS_KEPT = 1000;

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
  directScrape: true,
  procRoot: '/proc',
  reverseDns: false,
  peerMetricLimit: 10,
  role: 'gitaly',
  /** Fraction of the soak window Prometheus must have scraped a node for its counts to count (not configurable). */
  minCoverage: 0.998,
  discoveryFileTimeoutMs: 5_000,
  discoveryMaxFileBytes: 4 * 1024 * 1024,
} as const;

export const KEYS = {
  top: [
    'soak_window',
    'collection_interval',
    'plaintext_check_interval',
    'tls_version_check_interval',
    'expiry_warning',
    'concurrency',
    'state_file',
    'ca_file',
    'allow_unlisted_targets',
    'max_metrics_page_bytes',
    'max_prometheus_response_bytes',
    'timeouts',
    'prometheus',
    'local',
    'clients',
    'discovery',
    'nodes',
  ],
  discovery: ['prometheus', 'file_sd', 'gitaly_config', 'praefect_config', 'overrides', 'file_timeout', 'max_file_bytes'],
  templates: [
    'name',
    'role',
    'metrics_url',
    'tls_address',
    'tls_port',
    'plaintext_address',
    'plaintext_port',
    'server_name',
    'certificate_file',
  ],
  discoveryPrometheus: ['selector'],
  fileSd: ['file'],
  toml: ['file', 'name', 'host'],
  praefectToml: ['file', 'name', 'host', 'virtual_storages'],
  override: ['name', 'role', 'certificate_file', 'server_name', 'tls_address'],
  timeouts: ['metrics', 'tls', 'plaintext', 'prometheus'],
  prometheus: ['url', 'selector', 'instance_label', 'scrape_interval', 'direct_scrape', 'bearer_token_file', 'basic_auth'],
  basicAuth: ['username', 'password_file'],
  local: ['node', 'proc_root', 'reverse_dns', 'peer_metric_limit'],
  client: ['name', 'gitlab_yml', 'praefect_config'],
  node: ['name', 'role', 'metrics_url', 'tls_address', 'plaintext_address', 'certificate_file', 'server_name', 'prometheus_instance'],
} as const;

/** Node.js timers cannot wait longer than 2^31-1 ms; a longer interval would fire at once, in a loop. */
export const MAX_TIMER_MS = 24 * 86_400_000;

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

/** What `plaintext_address: none` reads as: the operator declares the node has no listen_addr. */
export const NO_PLAINTEXT_LISTENER = 'none';

/** listen_addr, or the explicit `none` (removed, or never configured); near-misses get a pointed message. */
export function plaintextAddressOrNone(): Convert<string> {
  const address = listenAddress(['tcp://']);
  return (value) => {
    const raw = text(value);
    if (raw === NO_PLAINTEXT_LISTENER) return raw;
    if (/^(none|removed|closed|disabled|off|no|false|-)$/i.test(raw.trim()))
      throw new Error(`"${raw}" is not an address: write plaintext_address: none to declare that listen_addr is removed`);
    return address(value);
  };
}

/** An override's tls_address: another address, or `none` to take a discovered one (tls_port, say) away from a node not on TLS. */
export function tlsAddressOrNone(): Convert<string> {
  const address = listenAddress(['tls://']);
  return (value) => (text(value) === NO_TLS_LISTENER ? NO_TLS_LISTENER : address(value));
}

/** What an override's `tls_address: none` reads as. */
export const NO_TLS_LISTENER = 'none';

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

/** Label matchers as written inside {...}; returned normalised (no braces, ", " between matchers). */
export const labelMatchers: Convert<string> = (value) => {
  const raw = text(value);
  const parsed = parseLabelMatchers(raw);
  if (!parsed.ok) throw new Error(`"${raw}" ${parsed.message}`);
  if (parsed.matchers.length === 0) throw new Error('must hold at least one label matcher, e.g. job="gitaly"');
  return parsed.matchers.join(', ');
};

/** Prometheus's default `instance` for a scrape of this URL: host:port, the port defaulted from the scheme. */
export function hostPortOf(url: string): string {
  const parsed = new URL(url);
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return formatHostPort({ host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port });
}
