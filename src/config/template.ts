// Turns a discovered target (its labels) into a node through the configured templates, checking
// every field as the config loader checks a hand-written node.
import path from 'node:path';
import { formatHostPort, parseAddress } from '../base/address.ts';
import { hostPortOf } from './schema.ts';
import type { NodeConfig, NodeTemplates, Role } from './types.ts';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Labels a template may not name as placeholders: `{` `}` not part of one are an error. */
export function checkTemplate(template: string): string | null {
  const rest = template.replace(PLACEHOLDER, '');
  if (/[{}]/.test(rest)) return `"${template}" has a brace that is not part of a {label} placeholder`;
  return null;
}

/** The variables the templates name, e.g. gitaly_node for "{gitaly_node}.example.com". */
export function templateVariables(templates: NodeTemplates): Set<string> {
  const names = new Set<string>();
  for (const template of Object.values(templates))
    if (typeof template === 'string') for (const m of template.matchAll(PLACEHOLDER)) names.add(m[1]!);
  return names;
}

/** The rendered text, or undefined when it names a variable the target lacks (or that is empty). */
export function renderTemplate(template: string, vars: Record<string, string>): string | undefined {
  let missing = false;
  const out = template.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name];
    if (value === undefined || value === '') missing = true;
    return value ?? '';
  });
  return missing ? undefined : out;
}

/** host and port of a host:port (instance, target), for `{host}` and `{port}`. */
export function hostVars(hostPort: string): Record<string, string> {
  const parsed = parseAddress(hostPort);
  return parsed.ok ? { host: parsed.value.host, port: String(parsed.value.port) } : {};
}

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export type NodeFromTarget = { ok: true; node: NodeConfig } | { ok: false; message: string };

/**
 * `defaults` fill fields whose template is absent (e.g. the metrics URL Prometheus scrapes);
 * `what` names the target in errors, e.g. `target 10.0.0.1:9236 (line 4)`.
 */
export function nodeFromTarget(
  templates: NodeTemplates,
  vars: Record<string, string>,
  defaults: { metricsUrl?: string; role?: Role; prometheusInstance?: string },
  what: string,
): NodeFromTarget {
  const get = (key: keyof NodeTemplates): string | undefined => {
    const template = templates[key];
    return template === undefined ? undefined : renderTemplate(template, vars)?.trim();
  };
  const name = get('name');
  if (name === undefined) return { ok: false, message: `${what}: the name template "${templates.name}" names a label it does not have` };
  if (!NAME.test(name)) {
    return {
      ok: false,
      message: `${what}: node name "${name}" must be 1 to 128 characters from A-Z a-z 0-9 _ . : - (set a name template)`,
    };
  }
  const roleText = get('role');
  let role: Role = defaults.role ?? 'gitaly';
  if (roleText !== undefined) {
    if (roleText !== 'gitaly' && roleText !== 'praefect')
      return { ok: false, message: `${what}: role "${roleText}" must be gitaly or praefect` };
    role = roleText;
  }
  const address = (key: 'tlsAddress' | 'plaintextAddress', scheme: string): string | undefined | { error: string } => {
    const value = get(key);
    if (value === undefined) return undefined;
    const parsed = parseAddress(value, [scheme]);
    return parsed.ok
      ? formatHostPort(parsed.value)
      : { error: `${what}: ${key === 'tlsAddress' ? 'tls' : 'plaintext'} address: ${parsed.message}` };
  };
  const tlsAddress = address('tlsAddress', 'tls://');
  if (typeof tlsAddress === 'object') return { ok: false, message: tlsAddress.error };
  const plaintextAddress = address('plaintextAddress', 'tcp://');
  if (typeof plaintextAddress === 'object') return { ok: false, message: plaintextAddress.error };
  const metricsUrl = get('metricsUrl') ?? defaults.metricsUrl;
  if (metricsUrl !== undefined) {
    try {
      const url = new URL(metricsUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
      if (url.username || url.password) return { ok: false, message: `${what}: the metrics URL must not contain credentials` };
    } catch {
      return { ok: false, message: `${what}: metrics URL is not an http:// or https:// URL` };
    }
  }
  if (!metricsUrl && !tlsAddress && !plaintextAddress) {
    return { ok: false, message: `${what}: no metrics URL, TLS address or plaintext address (set tls_address or tls_port)` };
  }
  const serverName = get('serverName');
  const certificateFile = get('certificateFile');
  const node: NodeConfig = { name, role };
  if (metricsUrl) node.metricsUrl = metricsUrl;
  if (tlsAddress) node.tlsAddress = tlsAddress;
  if (plaintextAddress) node.plaintextAddress = plaintextAddress;
  if (certificateFile) node.certificateFile = templates.baseDir ? path.resolve(templates.baseDir, certificateFile) : certificateFile;
  if (serverName && tlsAddress) node.serverName = serverName;
  const instance = defaults.prometheusInstance ?? (metricsUrl ? hostPortOf(metricsUrl) : undefined);
  if (instance) node.prometheusInstance = instance;
  return { ok: true, node };
}
