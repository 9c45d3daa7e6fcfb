// The TLS probe of a listener whose host name resolves to several addresses (A and AAAA): each
// address is a socket of its own, and may serve another certificate, or none. Each is probed, the
// host name still sent as SNI and checked against the SANs, and the node's result is the worst of
// them, so a broken address is never hidden behind a healthy one.
import { formatHostPort, parseAddress } from '../base/address.ts';
import type { TlsProbeResult } from '../evidence/evidence.ts';
import { MAX_ADDRESSES, systemResolveAll, type ResolveAll } from './resolve-all.ts';
import { probeTls, type TlsProbeDeps, type TlsProbeOptions, type TlsProbeTarget } from './tls.ts';

export interface TlsEveryAddressDeps extends TlsProbeDeps {
  resolveAll?: ResolveAll;
}

/** Lower is worse: the first check a Gitaly client would trip over decides. */
function health(r: TlsProbeResult): number {
  if (!r.handshakeOk) return 0;
  if (r.trusted === false) return 1;
  if (r.hostnameMatch === false) return 2;
  if (r.alpnProtocol !== 'h2') return 3;
  if (r.grpcHealthOk === false) return 4;
  return 5;
}

const soonestNotAfter = (r: TlsProbeResult): number => Math.min(...r.chain.map((c) => c.notAfterMs), Infinity);

function pinnedEverywhere(results: readonly TlsProbeResult[], version: 'TLSv1.2' | 'TLSv1.3'): boolean | null {
  const answers = results.map((r) => r.accepts[version]);
  if (answers.includes(false)) return false;
  return answers.includes(null) ? null : true;
}

/** The node's result from its addresses' results: the worst one, with every connection counted. */
export function worstOf(address: string, results: readonly TlsProbeResult[]): TlsProbeResult {
  const worst = [...results].sort((a, b) => health(a) - health(b) || soonestNotAfter(a) - soonestNotAfter(b))[0]!;
  const leaves = new Set(results.flatMap((r) => (r.chain[0] ? [r.chain[0].sha256] : [])));
  return {
    ...worst,
    address,
    durationMs: Math.max(...results.map((r) => r.durationMs)),
    connectionsMade: results.reduce((sum, r) => sum + r.connectionsMade, 0),
    accepts: { 'TLSv1.2': pinnedEverywhere(results, 'TLSv1.2'), 'TLSv1.3': pinnedEverywhere(results, 'TLSv1.3') },
    atMs: Math.min(...results.map((r) => r.atMs)),
    perAddress: results.map((r) => ({
      address: r.address,
      handshakeOk: r.handshakeOk,
      leafSha256: r.chain[0]?.sha256 ?? null,
      error: r.error ?? r.grpcHealthError,
    })),
    ...(leaves.size > 1 ? { differentLeaves: true } : {}),
  };
}

export async function probeTlsEveryAddress(
  target: TlsProbeTarget,
  options: TlsProbeOptions,
  deps: TlsEveryAddressDeps = {},
): Promise<TlsProbeResult> {
  const parsed = parseAddress(target.address, ['tls://']);
  if (!parsed.ok || parsed.value.isIp) return probeTls(target, options, deps);
  const now = deps.now ?? Date.now;
  const started = now();
  const { host, port } = parsed.value;
  const resolved = await (deps.resolveAll ?? systemResolveAll)(host, options.timeoutMs);
  // The probe reports the resolver's failure as its own (same code and sentence).
  if (!resolved.ok || resolved.addresses.length === 0) return probeTls(target, options, deps);
  const left = { ...options, timeoutMs: Math.max(0, started + options.timeoutMs - now()) };
  // The name stays the SNI and the name checked against the SANs, as the client that dials it sends it.
  const serverName = target.serverName ?? host;
  const results = await Promise.all(
    resolved.addresses
      .slice(0, MAX_ADDRESSES)
      .map((ip) => probeTls({ node: target.node, address: formatHostPort({ host: ip, port }), serverName }, left, deps)),
  );
  if (results.length === 1) return { ...results[0]!, address: target.address };
  return worstOf(target.address, results);
}
