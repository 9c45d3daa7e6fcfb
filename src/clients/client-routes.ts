// Client → storage → node → scheme: which client dials which inventory node, and how. A tcp://
// address to a node that has a TLS listener is the cause of plaintext traffic before it shows up
// in any counter. Information only: nothing here changes a node's verdict.
import { formatHostPort, parseAddress } from '../base/address.ts';
import type { ClientFileConfig, NodeConfig } from '../config/types.ts';
import type { ClientFileResult, StorageEntry } from './types.ts';

export type Scheme = 'tcp' | 'tls' | 'unix' | 'dns' | 'dns+tls';

export const ROUTE_FLAGS = [
  'plaintext_to_tls_node',
  'no_tls_listener',
  'not_in_inventory',
  'scheme_listener_mismatch',
  'unknown_virtual_storage',
  'no_address',
  'bad_address',
] as const;
export type RouteFlag = (typeof ROUTE_FLAGS)[number];

export interface ClientRoute {
  client: string;
  kind: ClientFileConfig['kind'];
  file: string;
  line: number | null;
  storage: string;
  virtualStorage: string | null;
  /** As written in the file. */
  address: string | null;
  scheme: Scheme | null;
  /** Whether this client speaks TLS to the address. */
  tls: boolean;
  /** The inventory node the address belongs to, and which of its listeners. */
  node: string | null;
  listener: 'tcp' | 'tls' | null;
  flags: RouteFlag[];
  /** One sentence per flag, saying what to change. */
  messages: string[];
}

export interface ClientFileError {
  client: string;
  kind: ClientFileConfig['kind'];
  file: string;
  error: { code: string; message: string };
}

export interface ClientReport {
  routes: ClientRoute[];
  errors: ClientFileError[];
}

/** Scheme and host:port of a client address. Rails accepts tcp://, tls://, unix: and dns:; Go clients (Praefect) also dns+tls://. */
export function parseClientAddress(
  address: string,
  kind: ClientFileConfig['kind'],
): { ok: true; scheme: Scheme; hostPort: string | null } | { ok: false; message: string } {
  const lower = address.toLowerCase();
  if (lower.startsWith('unix:')) return { ok: true, scheme: 'unix', hostPort: null };
  const scheme = (['tcp', 'tls', 'dns+tls', 'dns'] as const).find((s) => lower.startsWith(`${s}:`));
  if (!scheme) return { ok: false, message: 'has no tcp://, tls://, unix: or dns: scheme' };
  if (scheme === 'dns+tls' && kind === 'gitlab_yml')
    return { ok: false, message: 'dns+tls:// is for Go clients; GitLab Rails does not accept it' };
  let rest = address.slice(scheme.length + 1);
  if (scheme === 'tcp' || scheme === 'tls') {
    if (!rest.startsWith('//')) return { ok: false, message: `must be ${scheme}://host:port` };
    rest = rest.slice(2);
  } else if (rest.startsWith('//')) {
    // dns://[authority]/host:port: the authority is the DNS server, not the target; dns://host:port has none.
    const slash = rest.indexOf('/', 2);
    rest = slash < 0 ? rest.slice(2) : rest.slice(slash + 1);
  }
  const parsed = parseAddress(rest);
  if (!parsed.ok) return { ok: false, message: 'is not host:port after the scheme' };
  return { ok: true, scheme, hostPort: formatHostPort(parsed.value).toLowerCase() };
}

function plainHostPort(address: string | undefined): string | null {
  if (!address) return null;
  const parsed = parseAddress(address, ['tls://', 'tcp://']);
  return parsed.ok ? formatHostPort(parsed.value).toLowerCase() : null;
}

function route(
  client: ClientFileConfig,
  entry: StorageEntry,
  byAddress: Map<string, { node: NodeConfig; listener: 'tcp' | 'tls' }>,
  virtualStorages: Set<string> | null,
): ClientRoute {
  const r: ClientRoute = {
    client: client.name,
    kind: client.kind,
    file: client.path,
    line: entry.line,
    storage: entry.storage,
    virtualStorage: entry.virtualStorage ?? null,
    address: entry.address,
    scheme: null,
    tls: false,
    node: null,
    listener: null,
    flags: [],
    messages: [],
  };
  const where = `${client.path}${entry.line === null ? '' : `:${entry.line}`}`;
  const what =
    client.kind === 'gitlab_yml'
      ? { field: 'gitaly_address', of: `storage "${entry.storage}"` }
      : { field: 'address', of: `virtual storage "${entry.virtualStorage}" node "${entry.storage}"` };
  const flag = (f: RouteFlag, message: string): void => {
    r.flags.push(f);
    r.messages.push(`${message} (${where})`);
  };
  if (entry.address === null) {
    flag('no_address', `${client.name}: ${what.of} has no ${what.field}`);
    return r;
  }
  const parsed = parseClientAddress(entry.address, client.kind);
  if (!parsed.ok) {
    flag('bad_address', `${client.name}: ${what.field} of ${what.of} ${parsed.message}`);
    return r;
  }
  r.scheme = parsed.scheme;
  r.tls = parsed.scheme === 'tls' || parsed.scheme === 'dns+tls';
  if (parsed.hostPort === null) return r; // unix: a socket on the client's own host, outside the TCP migration
  const match = byAddress.get(parsed.hostPort);
  if (!match) {
    flag(
      'not_in_inventory',
      `${client.name} dials ${parsed.hostPort} for ${what.of}, which is no node's tls_address or plaintext_address in this exporter's inventory: add the node or fix the address`,
    );
    return r;
  }
  const { node, listener } = match;
  r.node = node.name;
  r.listener = listener;
  if (!r.tls && listener === 'tls') {
    flag(
      'scheme_listener_mismatch',
      `${client.name} dials ${node.name}'s TLS listener without TLS for ${what.of}: change ${what.field} to tls://${node.tlsAddress}`,
    );
  } else if (r.tls && listener === 'tcp') {
    const fix = node.tlsAddress ? `change ${what.field} to tls://${node.tlsAddress}` : `${node.name} has no tls_address in the inventory`;
    flag('scheme_listener_mismatch', `${client.name} dials ${node.name}'s plaintext listener with TLS for ${what.of}: ${fix}`);
  } else if (!r.tls && node.tlsAddress) {
    flag(
      'plaintext_to_tls_node',
      `${client.name} still dials ${node.name} in plaintext for ${what.of}: change ${what.field} to tls://${node.tlsAddress}`,
    );
  } else if (!r.tls) {
    flag(
      'no_tls_listener',
      `${client.name} dials ${node.name} in plaintext for ${what.of}; ${node.name} has no TLS listener in the inventory yet (no tls_address)`,
    );
  }
  if (client.kind === 'gitlab_yml' && node.role === 'praefect' && virtualStorages && !virtualStorages.has(entry.storage)) {
    flag(
      'unknown_virtual_storage',
      `${client.name} sends storage "${entry.storage}" to Praefect ${node.name}, but no Praefect config.toml read here has a virtual storage of that name`,
    );
  }
  return r;
}

/** Routes for every storage of every client file that could be read, in file order; errors for the others. */
export function clientRoutes(
  files: Array<{ client: ClientFileConfig; result: ClientFileResult }>,
  nodes: readonly NodeConfig[],
): ClientReport {
  const byAddress = new Map<string, { node: NodeConfig; listener: 'tcp' | 'tls' }>();
  for (const node of nodes) {
    const tls = plainHostPort(node.tlsAddress);
    const tcp = plainHostPort(node.plaintextAddress);
    if (tls) byAddress.set(tls, { node, listener: 'tls' });
    if (tcp) byAddress.set(tcp, { node, listener: 'tcp' });
  }
  const praefect = files.filter((f) => f.client.kind === 'praefect_config' && f.result.ok);
  const virtualStorages = praefect.length
    ? new Set(praefect.flatMap((f) => (f.result.ok ? f.result.storages.map((s) => s.virtualStorage ?? '') : [])))
    : null;
  const report: ClientReport = { routes: [], errors: [] };
  for (const { client, result } of files) {
    if (!result.ok) report.errors.push({ client: client.name, kind: client.kind, file: client.path, error: result.error });
    else for (const entry of result.storages) report.routes.push(route(client, entry, byAddress, virtualStorages));
  }
  return report;
}
