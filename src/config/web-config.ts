// The web config file of Prometheus exporters (exporter-toolkit's --web.config.file): TLS for the
// exporter's own endpoint, client certificates, and basic auth users. Read as strictly as the main
// config file; src/http/web-config.ts puts it to work.
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { FileReadError, readFileBoundedSync } from '../files/bounded-file.ts';
import { ConfigError } from './load.ts';
import { oneOf, text } from './schema.ts';
import { MapView, Reader, type Convert, type ConfigProblem } from './yaml-reader.ts';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

export interface WebTlsConfig {
  /** Absolute paths (relative ones in the file resolve against its directory). */
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
  clientAuthType: ClientAuthType;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

export interface WebConfig {
  /** Absolute path of the web config file. */
  source: string;
  tls?: WebTlsConfig;
  /** User name -> bcrypt hash; empty = no basic auth. */
  basicAuthUsers: ReadonlyMap<string, string>;
  /** Our extension: paths served without basic auth (exact match, query ignored), e.g. /-/healthy for load balancers. */
  unauthenticatedPaths: readonly string[];
}

/** A ConfigError, so whatever reports bad config files reports this one the same way. */
export class WebConfigError extends ConfigError {
  constructor(problems: ConfigProblem[]) {
    super(problems);
    this.name = 'WebConfigError';
  }
}

const KEYS = ['tls_server_config', 'basic_auth_users', 'unauthenticated_paths', 'http_server_config', 'rate_limit'];
const TLS_KEYS = ['cert_file', 'key_file', 'client_ca_file', 'client_auth_type', 'min_version'];
// exporter-toolkit options we do not implement: named as such rather than as unknown keys.
const UNSUPPORTED_TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cipher_suites',
  'curve_preferences',
  'max_version',
  'prefer_server_cipher_suites',
  'client_allowed_sans',
];
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const TLS_VERSIONS = { TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;

// Never echoes the value: it may be a password pasted where its hash belongs.
const bcryptHash: Convert<string> = (value) => {
  if (typeof value !== 'string' || !BCRYPT.test(value)) {
    throw new Error('must be a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from `htpasswd -nBC 10 USER`); the value is not shown');
  }
  return value;
};

/** A web config is a few lines; a PEM file (a chain, a key, client CAs) a few KB. */
const MAX_WEB_CONFIG_BYTES = 1024 * 1024;
export const MAX_PEM_BYTES = 8 * 1024 * 1024;

export function loadWebConfig(file: string, deps: { cwd?: string } = {}): WebConfig {
  let content: string;
  try {
    content = readFileBoundedSync(path.resolve(deps.cwd ?? process.cwd(), file), MAX_WEB_CONFIG_BYTES).toString('utf8');
  } catch (error) {
    throw new WebConfigError([
      { file, line: null, column: null, field: '', message: `cannot read the web config file: ${readError(error)}` },
    ]);
  }
  return parseWebConfig(content, file, deps);
}

export function parseWebConfig(content: string, file: string, deps: { cwd?: string } = {}): WebConfig {
  const source = path.resolve(deps.cwd ?? process.cwd(), file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(content, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const reader = new Reader(file, lineCounter, doc);
  for (const issue of [...doc.errors, ...doc.warnings]) reader.report('', issue.pos[0], `invalid YAML: ${issue.message}`);
  const root = doc.contents;
  let config: WebConfig | null = null;
  if (reader.problems.length > 0) {
    // The tree of a file with syntax errors is a guess; checking it would add noise.
  } else if (root === null || (isScalar(root) && root.value === null)) {
    reader.report('', null, 'the file is empty: it needs tls_server_config or basic_auth_users');
  } else if (!isMap(root)) {
    reader.report('', root, 'the top level must be a mapping (tls_server_config:, basic_auth_users:, ...), not a single value or a list');
  } else {
    config = readWebConfig(new MapView(reader, '', root, KEYS), path.dirname(source), source);
  }
  if (reader.problems.length > 0 || !config) {
    const line = (p: ConfigProblem) => p.line ?? Number.MAX_SAFE_INTEGER;
    throw new WebConfigError([...reader.problems].sort((a, b) => line(a) - line(b) || (a.column ?? 0) - (b.column ?? 0)));
  }
  return config;
}

function readWebConfig(root: MapView, baseDir: string, source: string): WebConfig {
  for (const key of ['http_server_config', 'rate_limit']) unsupported(root, key);
  const tlsConfig = readTls(root, baseDir);
  const users = new Map<string, string>();
  const names = userKeys(root);
  const usersView = root.section('basic_auth_users', names, 'user name: bcrypt hash');
  if (usersView && usersView.node.items.length === 0)
    root.reader.report(usersView.field, usersView.node, 'lists no users: add one or remove the key');
  for (const user of new Set(usersView ? names : [])) {
    const hash = usersView?.optional(user, bcryptHash);
    if (user.includes(':'))
      root.reader.report(
        root.fieldOf('basic_auth_users') + `.${user}`,
        usersView?.at(user),
        "user names cannot contain ':' (basic auth splits user and password at the first colon)",
      );
    if (hash) users.set(user, hash);
  }
  const paths: string[] = [];
  for (const item of root.list('unauthenticated_paths', 'paths like /-/healthy') ?? []) {
    const value = item.node && isScalar(item.node) ? item.node.value : null;
    if (typeof value !== 'string' || !/^\/[^\s?#]*$/.test(value)) {
      root.reader.report(item.field, item.node, 'must be a path like /-/healthy (starting with /, without ? or #)');
    } else paths.push(value);
  }
  if (root.has('unauthenticated_paths') && !root.has('basic_auth_users')) {
    root.reader.report(
      root.fieldOf('unauthenticated_paths'),
      root.at('unauthenticated_paths'),
      'has no effect without basic_auth_users: remove it',
    );
  }
  return { source, ...(tlsConfig ? { tls: tlsConfig } : {}), basicAuthUsers: users, unauthenticatedPaths: paths };
}

/** The user names, so MapView accepts exactly those keys while still reporting duplicates and odd keys. */
function userKeys(root: MapView): string[] {
  const node = root.node.items.find((pair) => isScalar(pair.key) && pair.key.value === 'basic_auth_users')?.value;
  return isMap(node) ? node.items.flatMap((pair) => (isScalar(pair.key) && pair.key.value !== '<<' ? [String(pair.key.value)] : [])) : [];
}

function unsupported(view: MapView, key: string): void {
  if (view.has(key))
    view.reader.report(
      view.fieldOf(key),
      view.at(key),
      'is an exporter-toolkit option that gitaly-tls-exporter does not support: remove it',
    );
}

function readTls(root: MapView, baseDir: string): WebTlsConfig | null {
  const view = root.section('tls_server_config', [...TLS_KEYS, ...UNSUPPORTED_TLS_KEYS], 'cert_file:, key_file:, ...');
  if (!view) return null;
  for (const key of UNSUPPORTED_TLS_KEYS) unsupported(view, key);
  const problemsBefore = view.reader.problems.length;
  const cert = readPem(view, 'cert_file', baseDir, true);
  const key = readPem(view, 'key_file', baseDir, true);
  const ca = readPem(view, 'client_ca_file', baseDir, false);
  const clientAuthType = view.withDefault('client_auth_type', oneOf(CLIENT_AUTH_TYPES), 'NoClientCert');
  const minVersion = view.withDefault('min_version', oneOf(['TLS12', 'TLS13'] as const), 'TLS12');
  if (ca && clientAuthType === 'NoClientCert') {
    view.reader.report(
      view.fieldOf('client_ca_file'),
      view.at('client_ca_file'),
      'is set but client_auth_type is NoClientCert, so no client certificate is asked for: set client_auth_type or remove client_ca_file',
    );
  }
  if (clientAuthType?.includes('Verify') && !view.has('client_ca_file')) {
    view.reader.report(
      view.fieldOf('client_auth_type'),
      view.at('client_auth_type'),
      `${clientAuthType} needs client_ca_file (the CA that issues client certificates)`,
    );
  }
  if (cert && key && view.reader.problems.length === problemsBefore) {
    try {
      tls.createSecureContext({ cert: cert.pem, key: key.pem });
    } catch (error) {
      view.reader.report(view.fieldOf('key_file'), view.at('key_file'), `cannot be used with cert_file: ${opensslReason(error)}`);
    }
  }
  if (!cert || !key || !clientAuthType || !minVersion || view.reader.problems.length > problemsBefore) return null;
  return {
    certFile: cert.path,
    keyFile: key.path,
    ...(ca ? { clientCaFile: ca.path } : {}),
    clientAuthType,
    minVersion: TLS_VERSIONS[minVersion],
  };
}

/** Reads a PEM file named by `key` and checks it holds what the key is for; null when absent or reported. */
function readPem(view: MapView, key: string, baseDir: string, required: boolean): { path: string; pem: string } | null {
  const value = required ? view.required(key, text) : view.optional(key, text);
  if (!value) return null;
  const resolved = path.resolve(baseDir, value);
  const report = (message: string) => view.reader.report(view.fieldOf(key), view.at(key), message);
  let pem: string;
  try {
    pem = readFileBoundedSync(resolved, MAX_PEM_BYTES).toString('utf8');
  } catch (error) {
    report(`${resolved}: ${readError(error)}`);
    return null;
  }
  const isKey = key === 'key_file';
  const marker = isKey ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
  if (!marker.test(pem)) report(`${resolved} holds no PEM ${isKey ? 'private key' : 'certificate'}`);
  else if (!isKey) {
    try {
      new X509Certificate(pem);
    } catch {
      report(`${resolved} holds a PEM block that is not a readable certificate`);
    }
  }
  return { path: resolved, pem };
}

function readError(error: unknown): string {
  if (error instanceof FileReadError) return error.message;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return (
    (
      {
        ENOENT: 'no such file',
        EACCES: 'permission denied',
        EPERM: 'permission denied',
        EISDIR: 'it is a directory, not a file',
      } as Record<string, string>
    )[code] ?? `error ${code || String(error)}`
  );
}

/** OpenSSL's reason without its error-number prefix. */
export function opensslReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/key values mismatch/i.test(message)) return 'the private key does not belong to the certificate';
  return message.replace(/^error:[0-9A-F]+:/, '');
}
