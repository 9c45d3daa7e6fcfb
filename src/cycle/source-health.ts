// Source failures, in one place: counted for gitaly_tls_exporter_source_errors_total, and logged
// with their error sentence when a source starts failing (or fails with another code), as a reminder
// every so often while it lasts, and once when it answers again, never every cycle.
import type { Logger } from 'pino';
import type { ErrorCode } from '../base/error-codes.ts';
import type { SourceError } from '../evidence/evidence.ts';
import { errorKey, type CollectionView } from '../view/collection-view.ts';
import { FailureLog, type FailureSubject } from './failure-log.ts';
import type { NodeObservation } from '../collect/observe-node.ts';

export class SourceHealth {
  /** Lifetime failures by source and code. */
  private readonly errors = new Map<string, number>();
  private readonly failures: FailureLog;

  constructor(logger: Logger, options: { repeatMs?: number } = {}) {
    this.failures = new FailureLog(logger, options.repeatMs);
  }

  count(source: string, code: ErrorCode): void {
    const key = errorKey(source, code);
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Each observer that ran this cycle and failed counts once (a plaintext check carried over did not run). */
  countObservation(o: NodeObservation): void {
    for (const run of o.runs) if (run.error) this.count(run.source, run.error.code);
  }

  counts(): Map<string, number> {
    return new Map(this.errors);
  }

  /**
   * Each source's error sentence when it starts failing or its error code changes, a reminder every
   * repeatMs while it lasts, and one line when it recovers (see failure-log.ts). The time is the
   * collection's, so an injected clock drives it.
   */
  logChanges(view: CollectionView): void {
    const now = view.atMs;
    const track = (subject: FailureSubject, error: SourceError | null): void => this.failures.update(subject, error, now);
    // Prometheus, the CA bundle and the state file serve the whole fleet: one line each, not one per node.
    if (view.prometheus)
      track(
        { key: '\u0000prometheus', name: 'prometheus', fields: { source: 'prometheus' }, level: 'warn' },
        view.prometheus.ok ? null : view.prometheus.error,
      );
    // The exporter's own files say what failed in their sentence.
    track(
      { key: '\u0000ca_bundle', name: null, recoveryName: 'ca_bundle', fields: { source: 'ca_bundle' }, level: 'error' },
      view.caBundle.ok ? null : view.caBundle.error,
    );
    track(
      { key: '\u0000state_file', name: null, recoveryName: 'state_file', fields: { source: 'state_file' }, level: 'error' },
      view.stateError,
    );
    // Where the node list comes from (file_sd, Prometheus targets, config.toml): named by its id.
    for (const s of view.inventory?.sources ?? [])
      track(
        {
          key: `\u0000inventory\u0000${s.id}`,
          name: s.id,
          fields: { source: `inventory_${s.kind}`, inventory_source: s.id },
          level: 'warn',
        },
        s.error,
      );
    for (const n of view.nodes)
      for (const s of n.sources)
        if (s.source !== 'prometheus')
          track(
            {
              key: `${n.node}\u0000${s.source}`,
              name: `${n.node}: ${s.source}`,
              fields: { node: n.node, source: s.source },
              level: 'warn',
            },
            s.error,
          );
    this.failures.sweep();
  }
}
