// The fleet's node list, refreshed every collection from every configured source. A discovered
// node never silently leaves: once its sources stop listing it, it stays (unknown and blocking)
// for a whole soak window; a node whose source failed this cycle is kept as it was.
import type { Config, NodeConfig } from '../config/types.ts';
import type { SourceError } from '../evidence/evidence.ts';
import { applyOverrides, mergeNodes } from './merge.ts';
import { buildSources, type SourceDeps } from './sources.ts';
import type { InventorySource, InventoryView, MissingNode, SourceResult, SourceStatus } from './types.ts';

interface Known {
  node: NodeConfig;
  sources: string[];
  lastListedMs: number;
  /** Only the static list: removing a node there is the operator's explicit act. */
  staticOnly: boolean;
}

export interface InventoryDeps extends SourceDeps {
  now?: () => number;
  /** Replaces the sources built from the config (tests, the benchmark). */
  sources?: (config: Config) => InventorySource[];
  /**
   * Nodes the state file holds history for: with discovery configured, one no source lists at the
   * first refresh after a restart is kept as missing, so a restart does not make it leave silently.
   */
  remembered?: ReadonlyArray<{ name: string; lastListedMs: number }>;
}

/** How a node known only from the state file is shown as its source. */
export const REMEMBERED_SOURCE = 'the state file (listed before the exporter restarted)';

async function run(source: InventorySource, now: () => number): Promise<{ status: SourceStatus; result: SourceResult }> {
  const started = now();
  let result: SourceResult;
  try {
    result = await source.discover();
  } catch (err) {
    // discover() never throws; this keeps one broken source from taking the collection down.
    result = { ok: false, error: { code: 'INTERNAL', message: `${source.id}: ${err instanceof Error ? err.message : String(err)}` } };
  }
  const error: SourceError | null = result.ok ? null : result.error;
  return {
    result,
    status: {
      id: source.id,
      kind: source.kind,
      ok: result.ok,
      nodes: result.ok ? result.nodes.length : 0,
      error,
      durationMs: now() - started,
    },
  };
}

export class Inventory {
  private config: Config;
  private readonly deps: InventoryDeps;
  private readonly now: () => number;
  private readonly known = new Map<string, Known>();
  private latestView: InventoryView | null = null;
  private remembered: InventoryDeps['remembered'];

  constructor(config: Config, deps: InventoryDeps = {}) {
    this.config = config;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.remembered = deps.remembered;
  }

  setConfig(config: Config): void {
    this.config = config;
  }

  get latest(): InventoryView | null {
    return this.latestView;
  }

  /** Every node the fleet holds now (listed or missing): /probe's allow-list. Before the first refresh: the static list. */
  nodes(): NodeConfig[] {
    if (!this.latestView) return this.config.nodes;
    return [...this.latestView.nodes, ...this.latestView.missing.map((m) => m.node)];
  }

  /** How many sources besides the static list the configuration names (for the start-up log). */
  sourceCount(): number {
    const d = this.config.discovery;
    return d ? d.fileSd.length + d.toml.length + (d.prometheus ? 1 : 0) : 0;
  }

  /** What `config`'s sources list now, leaving this inventory's memory alone (for a reload's log line). */
  preview(config: Config): Promise<InventoryView> {
    return new Inventory(config, { ...this.deps, remembered: undefined }).refresh();
  }

  async refresh(): Promise<InventoryView> {
    const config = this.config;
    const sources = this.deps.sources ? this.deps.sources(config) : buildSources(config, this.deps);
    const runs = await Promise.all(sources.map((s) => run(s, this.now)));
    const atMs = this.now();
    const overrides = config.discovery?.overrides ?? [];
    const listed = mergeNodes(runs.flatMap((r, i) => (r.result.ok ? [{ source: sources[i]!.id, nodes: r.result.nodes }] : []))).map(
      (m) => ({ ...m, node: applyOverrides(m.node, overrides) }),
    );
    const failed = new Set(runs.flatMap((r, i) => (r.result.ok ? [] : [sources[i]!.id])));
    const configured = new Set(sources.map((s) => s.id));

    if (this.remembered && config.discovery) {
      for (const r of this.remembered) {
        if (this.known.has(r.name)) continue;
        this.known.set(r.name, {
          node: { name: r.name, role: 'gitaly' },
          sources: [REMEMBERED_SOURCE],
          lastListedMs: r.lastListedMs,
          staticOnly: false,
        });
      }
    }
    this.remembered = undefined;
    const listedNames = new Set<string>();
    const kindOf = (id: string) => sources.find((s) => s.id === id)?.kind;
    for (const m of listed) {
      listedNames.add(m.node.name);
      const before = this.known.get(m.node.name);
      // listen_addr gone from Gitaly's config.toml: the listener it had is still checked (a Gitaly
      // not restarted since serves it), so "closed" rests on a dial, not on the file alone.
      if (m.node.plaintextListenerRemoved && before?.node.plaintextAddress && !m.sources.some((id) => kindOf(id) === 'static')) {
        const { plaintextListenerRemoved: _, ...rest } = m.node;
        m.node = { ...rest, plaintextAddress: before.node.plaintextAddress };
      }
      this.known.set(m.node.name, {
        node: m.node,
        sources: m.sources,
        lastListedMs: atMs,
        staticOnly: m.sources.every((id) => kindOf(id) === 'static'),
      });
    }
    const nodes: NodeConfig[] = listed.map((m) => m.node);
    const conflicts = new Map(listed.flatMap((m) => (m.conflicts.length > 0 ? [[m.node.name, m.conflicts] as const] : [])));
    const missing: MissingNode[] = [];
    for (const [name, k] of this.known) {
      if (listedNames.has(name)) continue;
      if (k.staticOnly) {
        this.known.delete(name);
        continue;
      }
      // Its source failed: no news is not news of its departure. Observe it as it was.
      if (k.sources.some((id) => failed.has(id) && configured.has(id))) {
        nodes.push(k.node);
        continue;
      }
      const untilMs = k.lastListedMs + config.soakWindowMs;
      if (atMs >= untilMs) {
        this.known.delete(name);
        continue;
      }
      missing.push({ node: k.node, sources: k.sources, lastListedMs: k.lastListedMs, untilMs });
    }
    const localNode =
      config.local?.node ?? runs.map((r) => (r.result.ok ? r.result.localNode : undefined)).find((n) => n !== undefined) ?? null;
    this.latestView = { atMs, nodes, missing, conflicts, sources: runs.map((r) => r.status), localNode };
    return this.latestView;
  }
}
