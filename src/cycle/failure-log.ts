// A failure that lasts is logged when it starts, when its error code changes, again every repeatMs
// while it lasts (a reminder that it is still going on), and once when it ends ("recovered after
// 12 min"): never once per collection. Its message may change from cycle to cycle (a count, an
// address) without a new line: the code is what alerts and scripts match on.
import type { Logger } from 'pino';
import { duration } from '../view/next-step.ts';

/** Often enough that a failure still going on shows in a short window of logs, rare enough to read. */
export const DEFAULT_REPEAT_MS = 15 * 60_000;

export interface Failure {
  code: string;
  message: string;
}

export interface FailureSubject {
  /** What is failing: unique among subjects. */
  key: string;
  /** Named in the message ("gitaly-1: tls failed: …"); null when the error sentence names it already. */
  name: string | null;
  /** Said in the recovery line; by default the name. */
  recoveryName?: string;
  fields: Record<string, string>;
  level: 'warn' | 'error';
}

interface Ongoing {
  code: string;
  sinceMs: number;
  loggedMs: number;
}

export class FailureLog {
  private readonly ongoing = new Map<string, Ongoing>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly repeatMs = DEFAULT_REPEAT_MS,
  ) {}

  update(subject: FailureSubject, failure: Failure | null, nowMs: number): void {
    this.seen.add(subject.key);
    const before = this.ongoing.get(subject.key);
    const since = before ? new Date(before.sinceMs).toISOString() : undefined;
    if (!failure) {
      if (!before) return;
      this.ongoing.delete(subject.key);
      this.logger.info(
        { ...subject.fields, previous_code: before.code, since },
        `${subject.recoveryName ?? subject.name ?? subject.key} recovered after ${duration(nowMs - before.sinceMs)}`,
      );
      return;
    }
    const fields = { ...subject.fields, code: failure.code };
    const said = (text: string): string => (subject.name ? `${subject.name} ${text}: ${failure.message}` : `${text}: ${failure.message}`);
    if (!before) {
      this.ongoing.set(subject.key, { code: failure.code, sinceMs: nowMs, loggedMs: nowMs });
      this.logger[subject.level](fields, subject.name ? said('failed') : failure.message);
    } else if (before.code !== failure.code) {
      this.ongoing.set(subject.key, { ...before, code: failure.code, loggedMs: nowMs });
      this.logger[subject.level]({ ...fields, previous_code: before.code, since }, subject.name ? said('failed') : failure.message);
    } else if (nowMs - before.loggedMs >= this.repeatMs) {
      this.ongoing.set(subject.key, { ...before, loggedMs: nowMs });
      this.logger[subject.level]({ ...fields, since }, said(`still failing after ${duration(nowMs - before.sinceMs)}`));
    }
  }

  /** Ends a collection's updates: a subject not updated in it (a node that left) is forgotten silently. */
  sweep(): void {
    for (const key of [...this.ongoing.keys()]) if (!this.seen.has(key)) this.ongoing.delete(key);
    this.seen.clear();
  }
}
