// Wires a configuration to a collector, keeps the rendered metrics, and answers the HTTP layer.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Collector, type CollectorDeps, type Snapshot } from './cycle/collector.ts';
import type { ProbeFunctions } from './collect/probes.ts';
import type { Config } from './config/types.ts';
import type { ExporterView } from './http/app.ts';
import type { NodeHistory } from './migration/types.ts';
import { renderMetrics, renderStartupMetrics, type ExporterInfo } from './metrics/render.ts';
import { OnDemandProber, type OnDemandResult } from './probes/on-demand.ts';

// The single-file bundle has no package.json beside it: scripts/bundle.ts defines this at build time.
declare const BUNDLED_VERSION: string | undefined;
// Otherwise package.json is one level above both src/ and dist/: one place for the version.
export const EXPORTER_VERSION =
  typeof BUNDLED_VERSION === 'string'
    ? BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export { MAX_CONCURRENT_PROBES } from './probes/on-demand.ts';

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
  failureRepeatMs?: CollectorDeps['failureRepeatMs'];
}

export class Exporter implements ExporterView {
  readonly collector: Collector;
  private config: Config;
  private text = '';
  private renders = 0;
  private reloadOk = true;
  private readonly onDemand: OnDemandProber;
  private readonly logger: Logger;
  private readonly loadConfig: (() => Config) | undefined;

  constructor(deps: ExporterDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.loadConfig = deps.loadConfig;
    this.collector = new Collector({
      config: deps.config,
      logger: deps.logger,
      probes: deps.probes,
      histories: deps.histories,
      now: deps.now,
      inventorySources: deps.inventorySources,
      failureRepeatMs: deps.failureRepeatMs,
    });
    // Shares the collector's CA bundle cache, so /probe neither re-reads nor re-parses it per call.
    this.onDemand = new OnDemandProber({ probeTls: deps.probes.probeTls, caBundles: this.collector.caBundles, logger: deps.logger });
    this.collector.onSnapshot((s) => this.publish(renderMetrics(s.view, this.info())));
  }

  /** The reload gauge answers at once, not at the next collection. */
  private setReloadOk(ok: boolean): void {
    this.reloadOk = ok;
    const latest = this.collector.latest;
    void this.publish(latest ? renderMetrics(latest.view, this.info()) : renderStartupMetrics(this.info()));
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

  probe(target: string | undefined): Promise<OnDemandResult> {
    // The allow-list is the current inventory: listed nodes and discovered ones kept after they left.
    return this.onDemand.probe(target, this.config, this.collector.inventory.nodes());
  }

  async reload(): Promise<{ ok: boolean; message: string }> {
    if (!this.loadConfig)
      return { ok: false, message: 'This exporter runs the built-in demo fleet; there is no configuration file to reload.' };
    let next: Config;
    try {
      next = this.loadConfig();
    } catch (err) {
      this.setReloadOk(false);
      const message = (err as Error).message;
      this.logger.error(`configuration reload rejected, the previous one keeps running:\n${message}`);
      return { ok: false, message: `Configuration rejected, the previous one keeps running:\n${message}` };
    }
    this.config = next;
    this.collector.setConfig(next);
    this.setReloadOk(true);
    // The nodes: list alone says 0 for a discovered fleet: count what every source lists now.
    const view = await this.collector.inventory.preview(next);
    const listed = new Set(next.nodes.map((n) => n.name));
    const discovered = view.nodes.filter((n) => !listed.has(n.name)).length;
    const failed = view.sources.filter((s) => !s.ok).map((s) => s.id);
    this.logger.info(
      { nodes: view.nodes.length, listed: next.nodes.length, discovered, sourcesDown: failed },
      `configuration reloaded from ${next.source}`,
    );
    const split = view.sources.some((s) => s.kind !== 'static') ? ` (${next.nodes.length} listed, ${discovered} discovered)` : '';
    const down = failed.length
      ? `; ${failed.length} source${failed.length === 1 ? '' : 's'} of the node list failed: ${failed.join(', ')}`
      : '';
    return { ok: true, message: `Configuration reloaded: ${view.nodes.length} node(s)${split}${down}.` };
  }

  start(): void {
    this.collector.start();
  }

  /** See Collector.stop: waits up to `waitMs` for a collection in progress, then saves what it has. */
  stop(waitMs?: number): Promise<void> {
    return this.collector.stop(waitMs);
  }
}
