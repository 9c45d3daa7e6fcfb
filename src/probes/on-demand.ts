// The on-demand /probe?target=…: parse the target, check it against the allow-list, probe it with
// the shared CA bundle. Returns a tagged result, never throws; src/http/probe-response.ts maps it to
// an HTTP status and body (as blackbox_exporter's prober/handler.go does).
import type { Logger } from 'pino';
import { formatHostPort, parseAddress } from '../base/address.ts';
import type { Config, NodeConfig } from '../config/types.ts';
import type { TlsProbeResult } from '../evidence/evidence.ts';
import type { CaBundleCache } from './ca-bundle.ts';
import type { probeTls } from './tls.ts';

const MAX_TARGET_LENGTH = 300;
/**
 * /probe is unauthenticated in a default setup and each call opens up to three TLS connections:
 * this many run at once, further callers are turned away at once rather than queue behind them.
 */
export const MAX_CONCURRENT_PROBES = 4;

export type OnDemandResult =
  | { kind: 'probed'; node: string; result: TlsProbeResult }
  /** The target is missing or does not parse. */
  | { kind: 'bad_target'; message: string }
  /** Not the tls_address of a configured node, and unlisted targets are not allowed. */
  | { kind: 'not_allowed'; message: string }
  /** MAX_CONCURRENT_PROBES are running already. */
  | { kind: 'busy'; message: string }
  /** The CA bundle cannot be read, so trust cannot be judged. */
  | { kind: 'ca_bundle'; message: string };

export interface OnDemandDeps {
  probeTls: typeof probeTls;
  caBundles: CaBundleCache;
  logger: Logger;
}

function normalizeTlsAddress(address: string): string | null {
  const parsed = parseAddress(address, ['tls://']);
  return parsed.ok ? formatHostPort(parsed.value).toLowerCase() : null;
}

export class OnDemandProber {
  private inFlight = 0;

  constructor(private readonly deps: OnDemandDeps) {}

  /** `nodes`: the allow-list (the current inventory). */
  async probe(target: string | undefined, config: Config, nodes: readonly NodeConfig[]): Promise<OnDemandResult> {
    if (!target) return { kind: 'bad_target', message: 'Missing parameter: target (e.g. /probe?target=tls://gitaly-1.internal:9999).' };
    if (target.length > MAX_TARGET_LENGTH)
      return { kind: 'bad_target', message: `Bad target: longer than ${MAX_TARGET_LENGTH} characters.` };
    const parsed = parseAddress(target, ['tls://']);
    if (!parsed.ok) return { kind: 'bad_target', message: `Bad target: ${parsed.message}.` };
    const address = formatHostPort(parsed.value);
    const node = nodes.find((n) => n.tlsAddress && normalizeTlsAddress(n.tlsAddress) === address.toLowerCase());
    if (!node && !config.allowUnlistedTargets) {
      return {
        kind: 'not_allowed',
        message: `Target ${address} is not the tls_address of a configured node (set allow_unlisted_targets: true to probe any address).`,
      };
    }
    if (this.inFlight >= MAX_CONCURRENT_PROBES) {
      return {
        kind: 'busy',
        message: `Too many /probe requests: ${MAX_CONCURRENT_PROBES} are already in progress. Try again in a second (Prometheus will at its next scrape).`,
      };
    }
    this.inFlight += 1;
    try {
      const ca = await this.deps.caBundles.get(config.caFile);
      if (!ca.ok) return { kind: 'ca_bundle', message: `CA bundle: ${ca.error.message}` };
      const name = node?.name ?? address;
      const result = await this.deps.probeTls(
        { node: name, address, serverName: node?.serverName },
        { timeoutMs: config.timeouts.tlsMs, ca: ca.pems, checkVersions: true },
        { logger: this.deps.logger.child({ probe: address }) },
      );
      return { kind: 'probed', node: name, result };
    } finally {
      this.inFlight -= 1;
    }
  }
}
