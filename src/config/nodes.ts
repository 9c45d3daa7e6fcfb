// Reads the nodes: list (each node, and names and addresses unique across nodes) and the local: section that names one.
import { readPath, type Context } from './paths.ts';
import {
  bool,
  DEFAULTS,
  MAX_PEERS_KEPT,
  hostName,
  hostPortOf,
  httpUrl,
  integer,
  KEYS,
  listenAddress,
  NO_PLAINTEXT_LISTENER,
  nodeName,
  oneOf,
  plaintextAddressOrNone,
  text,
} from './schema.ts';
import type { DiscoveryConfig, LocalModeConfig, NodeConfig, Role } from './types.ts';
import { present, suggest, type MapView } from './yaml-reader.ts';

/** What could be read of a node; `complete` when it had no problems. */
export type NodeDraft = Partial<NodeConfig> & { complete: boolean };

/**
 * Null when there is no usable list; otherwise one draft per item, for cross-checks even when some
 * are invalid. With discovery sources the list is optional (empty when absent).
 */
export function readNodes(root: MapView, ctx: Context, discovery = false): NodeDraft[] | null {
  if (discovery && !root.has('nodes')) return [];
  const items = root.list('nodes', 'at least one node, each starting with "- name:"', true);
  if (!items) return null;
  if (items.length === 0 && !discovery) {
    ctx.reader.report('nodes', root.at('nodes'), 'must list at least one node');
    return null;
  }
  type First = { field: string; name: string | undefined; line: number | null };
  const seen = {
    name: new Map<string, First>(),
    tls_address: new Map<string, First>(),
    plaintext_address: new Map<string, First>(),
    metrics_url: new Map<string, First>(),
  };
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
      const about = [key !== 'name' && first.name ? `"${first.name}"` : '', first.line === null ? '' : `line ${first.line}`]
        .filter(Boolean)
        .join(', ');
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
  const plaintextSetting = view.optional('plaintext_address', plaintextAddressOrNone());
  const plaintextListenerRemoved = plaintextSetting === NO_PLAINTEXT_LISTENER;
  const plaintextAddress = plaintextListenerRemoved ? undefined : plaintextSetting;
  const certificateFile = readPath(view, 'certificate_file', 'file', ctx);
  const serverName = view.optional('server_name', hostName);
  const prometheusInstance = view.optional('prometheus_instance', text);
  if (!view.has('metrics_url') && !view.has('tls_address') && !view.has('plaintext_address')) {
    ctx.reader.report(view.field, view.node, 'needs at least one of metrics_url, tls_address or plaintext_address');
  } else if (plaintextListenerRemoved && !view.has('metrics_url') && !view.has('tls_address')) {
    ctx.reader.report(
      view.fieldOf('plaintext_address'),
      view.at('plaintext_address'),
      'is none, so the node needs metrics_url or tls_address: there is nothing else to watch',
    );
  }
  if (view.has('server_name') && !view.has('tls_address')) {
    ctx.reader.report(
      view.fieldOf('server_name'),
      view.at('server_name'),
      'is only used for the TLS probe: add tls_address or remove server_name',
    );
  }
  return present({
    name,
    role,
    metricsUrl,
    tlsAddress,
    plaintextAddress,
    plaintextListenerRemoved: plaintextListenerRemoved || undefined,
    certificateFile,
    serverName,
    prometheusInstance:
      prometheusInstanceOf({ prometheusInstance: prometheusInstance ?? undefined, metricsUrl: metricsUrl ?? undefined }) ?? undefined,
  });
}

/** The instance label Prometheus gives a node: configured, or host:port of its metrics URL. */
export function prometheusInstanceOf(node: Pick<NodeConfig, 'prometheusInstance' | 'metricsUrl'>): string | null {
  if (node.prometheusInstance) return node.prometheusInstance;
  if (!node.metricsUrl) return null;
  try {
    return hostPortOf(node.metricsUrl);
  } catch {
    return null;
  }
}

export function readLocal(
  root: MapView,
  ctx: Context,
  drafts: NodeDraft[] | null,
  discovery?: DiscoveryConfig | null,
): LocalModeConfig | undefined | null {
  const view = root.section('local', KEYS.local, 'node:, proc_root:, reverse_dns:, peer_metric_limit:');
  if (!view) return view;
  // On a Gitaly host whose config.toml is a source, that file names the node.
  const tomlSources = discovery?.toml.length ?? 0;
  if (!view.has('node') && tomlSources !== 1) {
    ctx.reader.report(
      view.fieldOf('node'),
      view.node,
      tomlSources === 0
        ? 'is required (or list this host’s config.toml under discovery.gitaly_config)'
        : 'is required when discovery reads more than one config.toml: name the node on this host',
    );
  }
  const node = view.optional('node', text);
  const procRoot = readPath(view, 'proc_root', 'dir', ctx, { fallback: DEFAULTS.procRoot });
  const reverseDns = view.withDefault('reverse_dns', bool, DEFAULTS.reverseDns);
  const peerMetricLimit = view.withDefault('peer_metric_limit', integer(1, MAX_PEERS_KEPT), DEFAULTS.peerMetricLimit);
  if (node !== null && node !== undefined && drafts !== null) {
    const target = drafts.find((draft) => draft.name === node);
    // A discovered node's name is known only when its source is read: not checked here.
    if (!target && !discovery && drafts.every((draft) => draft.name !== undefined)) {
      const close = suggest(
        node,
        drafts.flatMap((draft) => (draft.name === undefined ? [] : [draft.name])),
      );
      ctx.reader.report(
        view.fieldOf('node'),
        view.at('node'),
        `"${node}" is not the name of any node in nodes${close ? ` (did you mean ${close}?)` : ''}`,
      );
    } else if (target?.complete && !target.tlsAddress && !target.plaintextAddress) {
      ctx.reader.report(
        view.fieldOf('node'),
        view.at('node'),
        `node "${node}" has neither tls_address nor plaintext_address, so there is no listener to watch`,
      );
    }
  }
  return present({ node, procRoot, reverseDns, peerMetricLimit }) as LocalModeConfig;
}
