// What the inventory's sources return and what one refresh of the inventory gives the collector.
import type { NodeConfig } from '../config/types.ts';
import type { SourceError } from '../evidence/evidence.ts';

export type SourceKind = 'static' | 'prometheus' | 'file_sd' | 'gitaly_config' | 'praefect_config';

export type SourceResult = { ok: true; nodes: NodeConfig[]; localNode?: string } | { ok: false; error: SourceError };

/** One place nodes come from. discover() never throws, and has its own deadline and size cap. */
export interface InventorySource {
  /** Stable and unique, shown to people: e.g. `file_sd /etc/prometheus/gitaly.json`. */
  id: string;
  kind: SourceKind;
  discover(): Promise<SourceResult>;
}

export interface SourceStatus {
  id: string;
  kind: SourceKind;
  ok: boolean;
  /** Nodes it listed this cycle (0 when it failed). */
  nodes: number;
  error: SourceError | null;
  durationMs: number;
}

/** A discovered node its sources no longer list: kept, unknown and blocking, for a soak window. */
export interface MissingNode {
  node: NodeConfig;
  sources: string[];
  /** The last refresh that listed it. */
  lastListedMs: number;
  /** When it leaves the fleet unless listed again. */
  untilMs: number;
}

export interface InventoryView {
  atMs: number;
  /** Nodes to observe this cycle: listed now, or listed by a source that failed this cycle. */
  nodes: NodeConfig[];
  missing: MissingNode[];
  /** Nodes whose identity collides with another entry (see merge.ts): name → sentences naming both. */
  conflicts: ReadonlyMap<string, readonly string[]>;
  sources: SourceStatus[];
  /** Local mode: the node a gitaly/praefect config.toml source describes (when local.node is not set). */
  localNode: string | null;
}
