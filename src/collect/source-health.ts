// Source failures, in one place: counted for gitaly_tls_exporter_source_errors_total, and logged
// with their error sentence once when a source starts failing (or fails differently) and once when
// it answers again, never every cycle.
import type { Logger } from 'pino';
import type { ErrorCode } from '../error-codes.ts';
import type { SourceError } from '../evidence.ts';
import { errorKey, type CollectionView } from '../view/collection-view.ts';
import type { NodeObservation } from './observe-node.ts';

export class SourceHealth {
  /** Lifetime failures by source and code. */
  private readonly errors = new Map<string, number>();
  /** The error each failing source last reported. */
  private readonly logged = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  count(source: string, code: ErrorCode): void {
    const key = errorKey(source, code);
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Each check that ran this cycle and failed counts once (a plaintext check carried over does not). */
  countObservation(o: NodeObservation): void {
    if (o.scrape && !o.scrape.ok) this.count('gitaly_metrics', o.scrape.error.code);
    if (o.tls?.error) this.count('tls', o.tls.error.code);
    if (o.certFile && !o.certFile.ok) this.count('cert_file', o.certFile.error.code);
    if (o.plaintextFresh && o.plaintext?.error) this.count('plaintext', o.plaintext.error.code);
    if (o.sockets && !o.sockets.ok) this.count('sockets', o.sockets.error.code);
  }

  counts(): Map<string, number> {
    return new Map(this.errors);
  }

  /** Each source's error sentence, logged when it starts or changes, and its recovery once. */
  logChanges(view: CollectionView): void {
    const seen = new Set<string>();
    const track = (key: string, fields: Record<string, string>, error: SourceError | null, level: 'warn' | 'error' = 'warn'): void => {
      seen.add(key);
      const before = this.logged.get(key);
      const now = error ? `${error.code}: ${error.message}` : undefined;
      if (now === before) return;
      if (error) {
        this.logged.set(key, now!);
        // The exporter's own files say what failed in their sentence; a source is named first.
        const message = level === 'error' ? error.message : `${fields.source} failed: ${error.message}`;
        this.logger[level]({ ...fields, code: error.code }, message);
      } else {
        this.logged.delete(key);
        if (before !== undefined) this.logger.info(fields, `${fields.source} answers again`);
      }
    };
    // Prometheus, the CA bundle and the state file serve the whole fleet: one line each, not one per node.
    if (view.prometheus) track('\u0000prometheus', { source: 'prometheus' }, view.prometheus.ok ? null : view.prometheus.error);
    track('\u0000ca_bundle', { source: 'ca_bundle' }, view.caBundle.ok ? null : view.caBundle.error, 'error');
    track('\u0000state_file', { source: 'state_file' }, view.stateError, 'error');
    for (const n of view.nodes)
      for (const s of n.sources)
        if (s.source !== 'prometheus') track(`${n.node}\u0000${s.source}`, { node: n.node, source: s.source }, s.error);
    for (const key of [...this.logged.keys()]) if (!seen.has(key)) this.logged.delete(key);
  }
}
