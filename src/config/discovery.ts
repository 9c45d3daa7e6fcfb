// Reads the discovery: section: the inventory's sources besides the static nodes: list (Prometheus
// targets, file_sd files, Gitaly's and Praefect's config.toml) and per-node overrides by name.
import { checkTemplate } from './template.ts';
import { readPath, type Context } from './paths.ts';
import {
  byteSize,
  DEFAULTS,
  duration,
  hostName,
  integer,
  KEYS,
  labelMatchers,
  MAX_TIMER_MS,
  nodeName,
  oneOf,
  text,
  tlsAddressOrNone,
  bool,
} from './schema.ts';
import type { DiscoveryConfig, FileSdConfig, NodeOverride, NodeTemplates, PrometheusConfig, Role, TomlSourceConfig } from './types.ts';
import { present, type MapView } from './yaml-reader.ts';

const template = (value: string | number | boolean): string => {
  const t = text(value);
  const problem = checkTemplate(t);
  if (problem) throw new Error(problem);
  return t;
};

const TEMPLATE_FIELDS: Array<[string, keyof NodeTemplates]> = [
  ['name', 'name'],
  ['role', 'role'],
  ['metrics_url', 'metricsUrl'],
  ['tls_address', 'tlsAddress'],
  ['plaintext_address', 'plaintextAddress'],
  ['server_name', 'serverName'],
  ['certificate_file', 'certificateFile'],
];

/**
 * The templates of one discovery source. Unset fields default to the target's own labels
 * (`instance` for the name, `tls_address`, `plaintext_address`, `role`), so a file_sd file whose
 * targets carry those labels needs no templates at all.
 */
function readTemplates(view: MapView, ctx: Context, roleDefault: string | undefined): NodeTemplates {
  const t: NodeTemplates = {};
  for (const [key, field] of TEMPLATE_FIELDS) {
    const value = view.optional(key, template);
    if (value) t[field] = value;
  }
  const port = integer(1, 65535);
  for (const [portKey, addressKey, field] of [
    ['tls_port', 'tls_address', 'tlsAddress'],
    ['plaintext_port', 'plaintext_address', 'plaintextAddress'],
  ] as const) {
    const value = view.optional(portKey, port);
    if (value && view.has(addressKey)) {
      ctx.reader.report(view.fieldOf(portKey), view.at(portKey), `give either ${portKey} or ${addressKey}, not both`);
    } else if (value) t[field] = `{host}:${value}`;
  }
  t.name ??= '{instance}';
  t.tlsAddress ??= '{tls_address}';
  t.plaintextAddress ??= '{plaintext_address}';
  if (roleDefault) t.role ??= roleDefault;
  // Only the rendered path can be resolved: a label may hold an absolute path.
  if (t.certificateFile) t.baseDir = ctx.baseDir;
  return t;
}

function readToml(view: MapView, ctx: Context, kind: 'gitaly' | 'praefect'): TomlSourceConfig | null {
  const file = readPath(view, 'file', 'file', ctx, { required: true });
  const name = view.optional('name', nodeName);
  const host = view.optional('host', hostName);
  const virtualStorages = kind === 'praefect' ? view.withDefault('virtual_storages', bool, true) : undefined;
  if (!file) return null;
  return present({ kind, file, name, host, virtualStorages }) as TomlSourceConfig;
}

export function readDiscovery(
  root: MapView,
  ctx: Context,
  prometheus: PrometheusConfig | undefined | null,
): DiscoveryConfig | undefined | null {
  const view = root.section('discovery', KEYS.discovery, 'prometheus:, file_sd:, gitaly_config:, praefect_config:, overrides:');
  if (!view) return view;
  const before = ctx.reader.problems.length;
  const out: DiscoveryConfig = {
    fileSd: [],
    toml: [],
    overrides: [],
    fileTimeoutMs: view.withDefault('file_timeout', duration(MAX_TIMER_MS), DEFAULTS.discoveryFileTimeoutMs) ?? 0,
    maxFileBytes: view.withDefault('max_file_bytes', byteSize, DEFAULTS.discoveryMaxFileBytes) ?? 0,
  };
  const prom = view.section('prometheus', [...KEYS.discoveryPrometheus, ...KEYS.templates], 'selector:, tls_port:, plaintext_port:, ...');
  if (prom) {
    const selector = prom.optional('selector', labelMatchers) ?? prometheus?.selector;
    if (!root.has('prometheus')) {
      ctx.reader.report(view.fieldOf('prometheus'), view.at('prometheus'), 'needs the top-level prometheus: section (url and credentials)');
    } else if (!selector) {
      ctx.reader.report(
        view.fieldOf('prometheus'),
        view.at('prometheus'),
        'needs a selector (here or in prometheus.selector), e.g. selector: job=~"gitaly|praefect": without one every target Prometheus scrapes would become a node',
      );
    }
    // The counter family a target exports decides its role; a role template overrides it.
    out.prometheus = { ...(selector ? { selector } : {}), templates: readTemplates(prom, ctx, undefined) };
  }
  for (const item of view.list('file_sd', 'each starting with "- file:"') ?? []) {
    const v = item.node && ctx.reader.mapping(item.field, item.node, [...KEYS.fileSd, ...KEYS.templates], 'file:, tls_port:, ...');
    if (!v) continue;
    const file = readPath(v, 'file', 'file', ctx, { required: true });
    const templates = readTemplates(v, ctx, '{role}');
    if (file) out.fileSd.push({ file, templates } satisfies FileSdConfig);
  }
  for (const [key, kind] of [
    ['gitaly_config', 'gitaly'],
    ['praefect_config', 'praefect'],
  ] as const) {
    for (const item of view.list(key, 'each starting with "- file:"') ?? []) {
      const keys = kind === 'gitaly' ? KEYS.toml : KEYS.praefectToml;
      const v = item.node && ctx.reader.mapping(item.field, item.node, keys, 'file:, name:, host:');
      const toml = v && readToml(v, ctx, kind);
      if (toml) out.toml.push(toml);
    }
  }
  const names = new Set<string>();
  for (const item of view.list('overrides', 'each starting with "- name:"') ?? []) {
    const v =
      item.node && ctx.reader.mapping(item.field, item.node, KEYS.override, 'name:, certificate_file:, server_name:, role:, tls_address:');
    if (!v) continue;
    const name = v.required('name', nodeName);
    if (name && names.has(name)) ctx.reader.report(v.fieldOf('name'), v.at('name'), `"${name}" already has an override`);
    if (name) names.add(name);
    const role = v.optional<Role>('role', oneOf(['gitaly', 'praefect']));
    const certificateFile = readPath(v, 'certificate_file', 'file', ctx);
    const serverName = v.optional('server_name', hostName);
    const tlsAddress = v.optional('tls_address', tlsAddressOrNone());
    if (name) out.overrides.push(present({ name, role, certificateFile, serverName, tlsAddress }) as NodeOverride);
  }
  if (!out.prometheus && out.fileSd.length === 0 && out.toml.length === 0 && ctx.reader.problems.length === before) {
    ctx.reader.report('discovery', view.node, 'names no source: add prometheus:, file_sd:, gitaly_config: or praefect_config:');
  }
  return ctx.reader.problems.length === before ? out : null;
}
