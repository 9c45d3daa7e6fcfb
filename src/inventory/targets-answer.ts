// Prometheus' /api/v1/targets answer, read as it streams in. Of each active target only the labels
// discovery needs (those the templates and the selector name, the instance and job) and its scrape
// URL are kept, and only while the target matches the selector: a 60 MB answer of a Prometheus that
// scrapes a whole Kubernetes cluster costs the Gitaly targets it holds, not its size. No string is
// held longer than MAX_STRING_BYTES: a longer label nothing needs is left out, a longer label
// that is needed fails the source, naming the label and the target.
import type { ParsedElementInfo } from '@streamparser/json';
import type { Result, SourceError } from '../evidence/evidence.ts';
import { badAnswer, fail, release, StreamedAnswer, TOO_LONG } from '../sources/prometheus-answer.ts';

/** Longer than any label value or URL a node is made of; a Kubernetes annotation may be longer, and is cut. */
export const MAX_STRING_BYTES = 64 * 1024;

export type Matcher = { name: string; test: (value: string) => boolean };

export interface ActiveTarget {
  /** The labels discovery needs, of those the target has. */
  labels: Record<string, string>;
  scrapeUrl: string;
}

/** A target as errors name it. */
export function describeTarget(labels: Record<string, string>, instanceLabel: string): string {
  const instance = labels[instanceLabel] ?? labels.instance ?? '';
  return `Prometheus target ${instance}${labels.job ? ` (job ${labels.job})` : ''}`;
}

interface Reading {
  labels: Record<string, string>;
  /** Needed labels whose value was longer than MAX_STRING_BYTES. */
  cut: string[];
  scrapeUrl: unknown;
  hasLabels: boolean;
  badLabel: boolean;
}

const fresh = (): Reading => ({ labels: {}, cut: [], scrapeUrl: undefined, hasLabels: false, badLabel: false });

export class TargetsAnswer extends StreamedAnswer<{ targets: ActiveTarget[] }> {
  private readonly targets: ActiveTarget[] = [];
  private reading = fresh();
  private list: 'list' | 'other' | undefined = undefined;
  private stop: { code: 'TOO_LARGE' | 'TOO_MANY_SAMPLES'; why: string } | null = null;

  /**
   * `needed`: the label names kept; `matchers`: the selector, on those labels; `maxTargets`: how
   * many matching targets the answer may hold; `secrets`: the request's (see StreamedAnswer).
   */
  constructor(
    private readonly needed: ReadonlySet<string>,
    private readonly matchers: readonly Matcher[],
    private readonly instanceLabel: string,
    private readonly maxTargets: number,
    secrets: readonly string[],
  ) {
    // Down to each label (and each field of a target), so each is let go of as soon as it is read.
    const paths = ['$.data.activeTargets', '$.data.activeTargets.*', '$.data.activeTargets.*.*', '$.data.activeTargets.*.*.*'];
    super(paths, secrets, MAX_STRING_BYTES);
  }

  protected onData({ value, key, parent, stack }: ParsedElementInfo): void {
    release(parent, key);
    if (this.problem !== null || this.stopped) return;
    const depth = stack.length;
    if (depth === 5) {
      // A label (or discovered label, or a part of another field) of the target being read.
      if (stack[4]?.key === 'labels' && typeof key === 'string') this.label(key, value);
    } else if (depth === 4) {
      if (key === 'labels') this.reading.hasLabels = typeof value === 'object' && value !== null && !Array.isArray(value);
      else if (key === 'scrapeUrl') this.reading.scrapeUrl = value;
    } else if (depth === 3) {
      this.list = Array.isArray(parent) ? 'list' : 'other';
      if (this.list === 'list') this.endTarget();
    } else if (depth === 2) {
      this.list = Array.isArray(value) ? 'list' : 'other';
    }
  }

  private label(name: string, value: unknown): void {
    if (value === TOO_LONG) {
      if (this.needed.has(name)) this.reading.cut.push(name);
    } else if (typeof value !== 'string') {
      this.reading.badLabel = true;
    } else if (this.needed.has(name)) {
      this.reading.labels[name] = value;
    }
  }

  private endTarget(): void {
    const { labels, cut, scrapeUrl, hasLabels, badLabel } = this.reading;
    this.reading = fresh();
    if (!hasLabels || badLabel || (typeof scrapeUrl !== 'string' && scrapeUrl !== TOO_LONG)) {
      this.problem = 'an active target has no labels, a label that is not a string, or no scrapeUrl';
      return;
    }
    // A label that was cut cannot be matched: the others decide, and a target they leave out is no
    // concern of this exporter's whatever its labels hold.
    if (!this.matchers.every((m) => cut.includes(m.name) || m.test(labels[m.name] ?? ''))) return;
    const what = describeTarget(labels, this.instanceLabel);
    if (cut.length > 0 || scrapeUrl === TOO_LONG) {
      const field = cut.length > 0 ? `label ${cut[0]!}` : 'the scrapeUrl';
      this.halt('TOO_LARGE', `${field} of ${what} is longer than ${MAX_STRING_BYTES} bytes, more than this exporter reads`);
      return;
    }
    if (this.targets.length >= this.maxTargets) {
      this.halt('TOO_MANY_SAMPLES', `more than ${this.maxTargets} active targets match the selector; narrow discovery.prometheus.selector`);
      return;
    }
    this.targets.push({ labels, scrapeUrl: scrapeUrl as string });
  }

  private halt(code: 'TOO_LARGE' | 'TOO_MANY_SAMPLES', why: string): void {
    this.stop = { code, why };
    this.stopped = true;
  }

  protected stopReason(safeUrl: string): { ok: false; error: SourceError } | null {
    return this.stop && fail(this.stop.code, `Prometheus at ${safeUrl}: ${this.stop.why}`);
  }

  protected finishData(safeUrl: string): Result<{ targets: ActiveTarget[] }> {
    if (this.list === undefined) return badAnswer(safeUrl, 'no data.activeTargets');
    if (this.list !== 'list') return badAnswer(safeUrl, 'data.activeTargets is not a list');
    return { ok: true, targets: this.targets };
  }
}
