// Gitaly's and Praefect's own config.toml as an inventory source: on a Gitaly host, the exporter
// needs no list at all. listen_addr, tls_listen_addr, prometheus_listen_addr and [tls]
// certificate_path give the node; a bind address (0.0.0.0:9999) needs the host clients dial, from
// `host:` or the certificate's first SAN. Praefect's [[virtual_storage.node]] addresses name the
// Gitaly nodes behind it. Errors name the file and line.
import { parse, TomlError } from 'smol-toml';
import { formatHostPort, parseAddress, type HostPort } from '../base/address.ts';
import { parsePraefectConfig } from '../clients/praefect-config.ts';
import type { NodeConfig, TomlSourceConfig } from '../config/types.ts';
import { parsePemChain, certificateFacts } from '../probes/x509-facts.ts';
import { readBounded, type FileLimits } from './read-bounded.ts';
import type { InventorySource, SourceResult } from './types.ts';
import type { ErrorCode } from '../base/error-codes.ts';

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function fail(message: string, code: ErrorCode = 'PARSE'): SourceResult & { ok: false } {
  return { ok: false, error: { code, message } };
}

/** `file:line` of the first `key = ` line (top-level keys and [tls] keys are written once). */
function lineOf(text: string, key: string, file: string): string {
  const index = text.split('\n').findIndex((line) => new RegExp(`^\\s*${key}\\s*=`).test(line));
  return index < 0 ? file : `${file}:${index + 1}`;
}

export function parseToml(text: string, file: string): { ok: true; doc: Record<string, unknown> } | (SourceResult & { ok: false }) {
  try {
    return { ok: true, doc: parse(text) };
  } catch (err) {
    if (err instanceof TomlError) {
      // The first line says what; the rest is a code excerpt that may show a secret (a token).
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      return fail(`${file}:${err.line}:${err.column}: invalid TOML: ${what}`);
    }
    return fail(`${file}: invalid TOML`);
  }
}

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';
const isLoopback = (host: string): boolean => host === 'localhost' || host.startsWith('127.') || host === '::1';

type Listen = { ok: true; value: HostPort | null } | { ok: false; message: string };

function listenAddr(doc: Record<string, unknown>, key: string, text: string, file: string): Listen {
  const raw = doc[key];
  if (raw === undefined || raw === '') return { ok: true, value: null };
  if (typeof raw !== 'string') return { ok: false, message: `${lineOf(text, key, file)}: ${key} must be a string like "0.0.0.0:9999"` };
  // Gitaly accepts ":9999" for every interface.
  const parsed = parseAddress(raw.startsWith(':') ? `0.0.0.0${raw}` : raw);
  return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, message: `${lineOf(text, key, file)}: ${key}: ${parsed.message}` };
}

/** The first DNS (else IP) SAN of the certificate at `path`, or why not. */
async function sanHost(path: string, limits: FileLimits): Promise<{ ok: true; host: string } | { ok: false; message: string }> {
  const read = await readBounded(path, limits);
  if (!read.ok) return { ok: false, message: read.error.message };
  try {
    const ders = parsePemChain(read.text);
    const leaf = ders[0] && certificateFacts(ders[0], 'leaf');
    const host = leaf?.dnsNames.find((n) => !n.startsWith('*')) ?? leaf?.ipAddresses[0];
    return host ? { ok: true, host } : { ok: false, message: `${path}: the certificate names no host in a Subject Alternative Name` };
  } catch (err) {
    return { ok: false, message: `${path}: not a PEM certificate (${(err as Error).message})` };
  }
}

async function serverNode(
  cfg: TomlSourceConfig,
  doc: Record<string, unknown>,
  text: string,
  limits: FileLimits,
): Promise<{ ok: true; node: NodeConfig } | (SourceResult & { ok: false })> {
  const file = cfg.file;
  const listens: Record<string, HostPort | null> = {};
  for (const key of ['listen_addr', 'tls_listen_addr', 'prometheus_listen_addr']) {
    const l = listenAddr(doc, key, text, file);
    if (!l.ok) return fail(l.message);
    listens[key] = l.value;
  }
  const tls = doc.tls;
  const certPath =
    typeof tls === 'object' && tls !== null && typeof (tls as Record<string, unknown>).certificate_path === 'string'
      ? ((tls as Record<string, unknown>).certificate_path as string)
      : undefined;
  const plain = listens.listen_addr ?? null;
  const secure = listens.tls_listen_addr ?? null;
  const metrics = listens.prometheus_listen_addr ?? null;
  if (!plain && !secure && !metrics) {
    return fail(
      `${file}: has none of listen_addr, tls_listen_addr or prometheus_listen_addr: not a ${cfg.kind === 'gitaly' ? 'Gitaly' : 'Praefect'} config.toml`,
    );
  }
  // The host clients dial: given, else a specific bind address, else the certificate's SAN.
  let host = cfg.host ?? [secure, plain].map((a) => a?.host).find((h) => h !== undefined && !isWildcard(h) && !isLoopback(h));
  if (!host && certPath && (secure || plain)) {
    const san = await sanHost(certPath, limits);
    if (!san.ok) {
      return fail(
        `${lineOf(text, 'certificate_path', file)}: the listeners bind to every interface, so the host clients dial is needed: set host: for this file, or fix the certificate: ${san.message}`,
      );
    }
    host = san.host;
  }
  if (!host && (secure || plain)) {
    const key = secure ? 'tls_listen_addr' : 'listen_addr';
    return fail(
      `${lineOf(text, key, file)}: ${key} binds to ${formatHostPort((secure ?? plain)!)}, which is not the address clients dial: set host: for this file (or [tls] certificate_path with a SAN)`,
    );
  }
  const dialHost = host ?? 'localhost';
  const name = cfg.name ?? dialHost;
  if (!NAME.test(name))
    return fail(`${file}: node name "${name}" is not 1 to 128 characters from A-Z a-z 0-9 _ . : - (set name: for this file)`);
  const node: NodeConfig = { name, role: cfg.kind };
  if (secure) node.tlsAddress = formatHostPort({ host: dialHost, port: secure.port });
  if (plain) node.plaintextAddress = formatHostPort({ host: dialHost, port: plain.port });
  // Gitaly's own file no longer lists listen_addr: the operator removed it (checked against the
  // last address known, when there is one: see the inventory).
  else node.plaintextListenerRemoved = true;
  if (metrics) {
    // A loopback page is read from this host (local mode); a wildcard bind from the dialled host.
    const metricsHost = isWildcard(metrics.host) ? dialHost : metrics.host;
    node.metricsUrl = `http://${formatHostPort({ host: metricsHost, port: metrics.port })}/metrics`;
    node.prometheusInstance = formatHostPort({ host: metricsHost, port: metrics.port });
  }
  if (certPath) node.certificateFile = certPath;
  return { ok: true, node };
}

/** Praefect's [[virtual_storage.node]] entries as Gitaly nodes, one per address. */
function virtualStorageNodes(text: string, file: string): { ok: true; nodes: NodeConfig[] } | (SourceResult & { ok: false }) {
  const parsed = parsePraefectConfig(text, file);
  if (!parsed.ok) return fail(parsed.error.message);
  const byAddress = new Map<string, NodeConfig>();
  const names = new Set<string>();
  for (const s of parsed.storages) {
    const where = s.line === null ? file : `${file}:${s.line}`;
    if (!s.address) return fail(`${where}: virtual storage "${s.virtualStorage}" node "${s.storage}" has no address`);
    // A Unix socket on Praefect's host carries no plaintext-vs-TLS question: not a node to check.
    if (/^unix:/i.test(s.address)) continue;
    const scheme = /^(dns\+)?tls:\/\//i.test(s.address) ? 'tls' : 'tcp';
    const a = parseAddress(s.address, ['tcp://', 'tls://', 'dns+tls://']);
    if (!a.ok)
      return fail(
        `${where}: virtual storage "${s.virtualStorage}" node "${s.storage}": ${a.message} (only tcp://, tls:// and dns+tls:// addresses name a Gitaly node to check)`,
      );
    const address = formatHostPort(a.value);
    const key = address.toLowerCase();
    const existing = byAddress.get(key);
    if (existing) continue;
    let name = s.storage;
    if (names.has(name)) name = `${s.virtualStorage}.${s.storage}`;
    if (!NAME.test(name))
      return fail(`${where}: storage name "${name}" cannot be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -)`);
    names.add(name);
    const node: NodeConfig = { name, role: 'gitaly', ...(scheme === 'tls' ? { tlsAddress: address } : { plaintextAddress: address }) };
    byAddress.set(key, node);
  }
  return { ok: true, nodes: [...byAddress.values()] };
}

export async function readTomlSource(cfg: TomlSourceConfig, text: string, limits: FileLimits): Promise<SourceResult> {
  const parsed = parseToml(text, cfg.file);
  if (!parsed.ok) return parsed;
  const self = await serverNode(cfg, parsed.doc, text, limits);
  if (!self.ok) return self;
  const nodes = [self.node];
  if (cfg.kind === 'praefect' && cfg.virtualStorages !== false) {
    const behind = virtualStorageNodes(text, cfg.file);
    if (!behind.ok) return behind;
    nodes.push(...behind.nodes.filter((n) => n.name !== self.node.name));
  }
  return { ok: true, nodes, localNode: self.node.name };
}

export function tomlSource(cfg: TomlSourceConfig, limits: FileLimits): InventorySource {
  return {
    id: `${cfg.kind}_config ${cfg.file}`,
    kind: cfg.kind === 'gitaly' ? 'gitaly_config' : 'praefect_config',
    async discover() {
      const read = await readBounded(cfg.file, limits);
      if (!read.ok) return read;
      return readTomlSource(cfg, read.text, limits);
    },
  };
}
