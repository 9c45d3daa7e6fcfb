// The view of one collection: the fleet verdict, one NodeView per node, and the exporter's own
// health. Built once when a collection finishes; every output renders this and nothing else.
import type { ClientReport } from '../clients/client-routes.ts';
import type { PrometheusFleetEvidence, SourceError } from '../evidence/evidence.ts';
import type { FleetVerdict } from '../migration/verdict.ts';
import type { InventoryView } from '../inventory/types.ts';
import { nodeView, type NodeView, type NodeViewInput } from './node-view.ts';

export interface CollectionView {
  atMs: number;
  durationMs: number;
  nodes: NodeView[];
  fleet: FleetVerdict;
  /** null: no Prometheus configured. */
  prometheus: { ok: true; windowStartMs: number; windowEndMs: number } | { ok: false; error: SourceError } | null;
  caBundle: { ok: true; source: string; count: number } | { ok: false; error: SourceError };
  stateError: SourceError | null;
  /** Lifetime failures by source and error code, for gitaly_tls_exporter_source_errors_total. */
  sourceErrors: Array<{ source: string; code: string; count: number }>;
  /** Which client dials which node how; null when no client file is configured. */
  clients: ClientReport | null;
  /** Where the node list came from this cycle, and the discovered nodes kept though no longer listed. */
  inventory: InventoryView | null;
}

export interface CollectionViewInput {
  atMs: number;
  durationMs: number;
  nodes: NodeViewInput[];
  fleet: FleetVerdict;
  prometheus: PrometheusFleetEvidence | null;
  caBundle: CollectionView['caBundle'];
  stateError: SourceError | null;
  sourceErrors: ReadonlyMap<string, number>;
  clients: ClientReport | null;
  inventory?: InventoryView | null;
  soakWindowMs: number;
  expiryWarningMs: number;
  /** The history's bucket width (timing policy). */
  bucketMs: number;
  /** plaintext_check_interval: when each node's next own dial is due (published ahead for peer exporters). */
  plaintextCheckIntervalMs?: number;
}

/** The key of a source_errors_total series in the collector's running tally. */
export const errorKey = (source: string, code: string): string => `${source}\u0000${code}`;

export function collectionView(c: CollectionViewInput): CollectionView {
  const p = c.prometheus;
  return {
    atMs: c.atMs,
    durationMs: c.durationMs,
    nodes: c.nodes.map((n) =>
      nodeView(n, {
        nowMs: c.atMs,
        soakWindowMs: c.soakWindowMs,
        expiryWarningMs: c.expiryWarningMs,
        bucketMs: c.bucketMs,
        plaintextCheckIntervalMs: c.plaintextCheckIntervalMs,
      }),
    ),
    fleet: c.fleet,
    prometheus: p
      ? p.ok
        ? { ok: true, windowStartMs: p.windowStartMs, windowEndMs: p.windowEndMs }
        : { ok: false, error: p.error }
      : null,
    caBundle: c.caBundle,
    stateError: c.stateError,
    sourceErrors: [...c.sourceErrors].map(([key, count]) => {
      const [source = '', code = ''] = key.split('\u0000');
      return { source, code, count };
    }),
    clients: c.clients,
    inventory: c.inventory ?? null,
  };
}
