// Wires a configuration to a collector, keeps the rendered metrics, and answers the HTTP layer.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { formatHostPort, parseAddress } from './address.ts';
import { Collector, type CollectorDeps, type Snapshot } from './collect/collector.ts';
import type { ProbeFunctions } from './collect/probes.ts';
import type { Config } from './config/types.ts';
import type { ExporterView } from './http/app.ts';
import type { NodeHistory } from './migration/types.ts';
import { ContractRegistry } from './metrics/definitions.ts';
import { renderMetrics, renderStartupMetrics, setTlsMetrics, type ExporterInfo } from './metrics/render.ts';

// The single-file bundle has no package.json beside it: scripts/bundle.ts defines this at build time.
declare const BUNDLED_VERSION: string | undefined;
// Otherwise package.json is one level above both src/ and dist/: one place for the version.
export const EXPORTER_VERSION =
  typeof BUNDLED_VERSION === 'string'
    ? BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const MAX_TARGET_LENGTH = 300;
/**
 * /probe is unauthenticated in a default setup and each call opens up to three TLS connections:
 * this many run at once, further callers get 429 at once rather than queue behind them.
 */
export const MAX_CONCURRENT_PROBES = 4;

export interface ExporterDeps {
  config: Config;
  logger: Logger;
  probes: ProbeFunctions;
  histories?: Map<string, NodeHistory>;
  now?: () => number;
  /** Re-reads the configuration (throws with a user-facing message when it is invalid). */
  loadConfig?: () => Config;
  /** Replaces the inventory's sources (tests, the benchmark). */
  inventorySources?: CollectorDeps['inventorySources'];
}

function normalizeTlsAddress(address: string): string | null {
  const parsed = parseAddress(address, ['tls://']);
  return parsed.ok ? formatHostPort(parsed.value).toLowerCase() : null;
}

export class Exporter implements ExporterView {
  readonly collector: Collector;
  private config: Config;
  private text = '';
  private renders = 0;
  private reloadOk = true;
  private probesInFlight = 0;
  private readonly logger: Logger;
  private readonly probes: ProbeFunctions;
  private readonly loadConfig: (() => Config) | undefined;

  constructor(deps: ExporterDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.probes = deps.probes;
    this.loadConfig = deps.loadConfig;
    this.collector = new Collector({
      config: deps.config,
      logger: deps.logger,
      probes: deps.probes,
      histories: deps.histories,
      now: deps.now,
      inventorySources: deps.inventorySources,
    });
    this.collector.onSnapshot((s) => this.publish(renderMetrics(s, this.info())));
  }

  /** The reload gauge answers at once, not at the next collection. */
  private setReloadOk(ok: boolean): void {
    this.reloadOk = ok;
    const latest = this.collector.latest;
    void this.publish(latest ? renderMetrics(latest, this.info()) : renderStartupMetrics(this.info()));
  }

  /** Renders may finish out of order (a reload during a collection): the newest one started wins. */
  private async publish(render: Promise<string>): Promise<void> {
    const seq = ++this.renders;
    const text = await render;
    if (seq === this.renders) this.text = text;
  }

  private info(): ExporterInfo {
    return { version: EXPORTER_VERSION, configReloadSuccessful: this.reloadOk, soakWindowMs: this.config.soakWindowMs };
  }

  /** Renders the pre-collection metrics so /metrics answers from the first second. */
  async init(): Promise<void> {
    await this.publish(renderStartupMetrics(this.info()));
  }

  snapshot(): Snapshot | null {
    return this.collector.latest;
  }

  metricsText(): string {
    return this.text;
  }

  configSource(): string {
    return this.config.source;
  }

  refreshSeconds(): number {
    return Math.max(5, Math.round(this.config.collectionIntervalMs / 1000));
  }

  async probe(target: string | undefined): Promise<{ status: number; body: string }> {
    if (!target) return { status: 400, body: 'Missing parameter: target (e.g. /probe?target=tls://gitaly-1.internal:9999).\n' };
    if (target.length > MAX_TARGET_LENGTH) return { status: 400, body: `Bad target: longer than ${MAX_TARGET_LENGTH} characters.\n` };
    const parsed = parseAddress(target, ['tls://']);
    if (!parsed.ok) return { status: 400, body: `Bad target: ${parsed.message}.\n` };
    const address = formatHostPort(parsed.value);
    // The allow-list is the current inventory: listed nodes and discovered ones kept after they left.
    const node = this.collector.inventory.nodes().find((n) => n.tlsAddress && normalizeTlsAddress(n.tlsAddress) === address.toLowerCase());
    if (!node && !this.config.allowUnlistedTargets) {
      return {
        status: 403,
        body: `Target ${address} is not the tls_address of a configured node (set allow_unlisted_targets: true to probe any address).\n`,
      };
    }
    if (this.probesInFlight >= MAX_CONCURRENT_PROBES) {
      return {
        status: 429,
        body: `Too many /probe requests: ${MAX_CONCURRENT_PROBES} are already in progress. Try again in a second (Prometheus will at its next scrape).\n`,
      };
    }
    const ca = this.collector.caBundles.get(this.config.caFile);
    if (!ca.ok) return { status: 500, body: `CA bundle: ${ca.error.message}\n` };
    this.probesInFlight += 1;
    let result;
    try {
      result = await this.probes.probeTls(
        { node: node?.name ?? address, address, serverName: node?.serverName },
        { timeoutMs: this.config.timeouts.tlsMs, ca: ca.pems, checkVersions: true },
        { logger: this.logger.child({ probe: address }) },
      );
    } finally {
      this.probesInFlight -= 1;
    }
    const registry = new ContractRegistry();
    setTlsMetrics(registry, node?.name ?? address, result);
    return { status: 200, body: await registry.text() };
  }

  reload(): Promise<{ ok: boolean; message: string }> {
    return Promise.resolve(this.reloadNow());
  }

  private reloadNow(): { ok: boolean; message: string } {
    if (!this.loadConfig)
      return { ok: false, message: 'This exporter runs the built-in demo fleet; there is no configuration file to reload.' };
    try {
      const next = this.loadConfig();
      this.config = next;
      this.collector.setConfig(next);
      this.setReloadOk(true);
      this.logger.info({ nodes: next.nodes.length }, `configuration reloaded from ${next.source}`);
      return { ok: true, message: `Configuration reloaded: ${next.nodes.length} node(s).` };
    } catch (err) {
      this.setReloadOk(false);
      const message = (err as Error).message;
      this.logger.error(`configuration reload rejected, the previous one keeps running:\n${message}`);
      return { ok: false, message: `Configuration rejected, the previous one keeps running:\n${message}` };
    }
  }

  start(): void {
    this.collector.start();
  }

  /** See Collector.stop: waits up to `waitMs` for a collection in progress, then saves what it has. */
  stop(waitMs?: number): Promise<void> {
    return this.collector.stop(waitMs);
  }
}
