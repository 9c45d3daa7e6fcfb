// What the HTTP layer reads of the exporter; the exporter keeps it current.
import type { Snapshot } from '../cycle/collector.ts';
import type { OnDemandResult } from '../probes/on-demand.ts';

export interface ExporterView {
  snapshot(): Snapshot | null;
  metricsText(): string;
  configSource(): string;
  refreshSeconds(): number;
  /** Live one-target TLS probe; never rejects (see probes/on-demand.ts). */
  probe(target: string | undefined): Promise<OnDemandResult>;
  /** Re-reads the configuration; resolves to whether the new one was accepted and why not. */
  reload(): Promise<{ ok: boolean; message: string }>;
}
