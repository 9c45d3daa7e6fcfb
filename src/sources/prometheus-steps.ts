// Two fleet-wide range queries beside the window totals (src/sources/prometheus.ts):
//   - every change of each node's plaintext (tcp) counter in the range: how much it grew at each
//     step, and the timestamp of the sample that first showed it;
//   - every plaintext dial that any gitaly-tls-exporter published (its own-dial gauge), keyed by
//     the Prometheus instance of the node it dialled.
// From these the exporter tells real plaintext clients from exporters' dials change by change
// (src/migration/last-seen.ts). Both answers hold only the steps where something changed, so
// their size follows the number of changes, not the length of the window.
import type { Result, ScrapeGap, TcpChange } from '../evidence/evidence.ts';
import { GITALY_FAMILY, PRAEFECT_FAMILY } from './metrics-parser.ts';
import type { PrometheusSeries } from './prometheus-client.ts';

/** The gauge every exporter publishes per node: when it last dialled the node's listen_addr. */
export const DIAL_GAUGE = 'gitaly_tls_exporter_plaintext_dial_timestamp_seconds';
/** The gauge every exporter publishes per node: when it will next dial listen_addr (announced ahead). */
export const PLANNED_DIAL_GAUGE = 'gitaly_tls_exporter_plaintext_next_dial_timestamp_seconds';
/** The counter every exporter publishes per node: its own TLS connections to tls_listen_addr. */
export const TLS_CONNECTIONS_COUNTER = 'gitaly_tls_exporter_tls_connections_total';
/** The label of these that names the node by its Prometheus instance (how peers match it). */
export const DIAL_INSTANCE_LABEL = 'prometheus_instance';
/** Subqueries never ask Prometheus for more points than this per series. */
const MAX_STEPS = 2000;
const PART = 'gte_part';
/** Tells dials done from dials announced in the dials answer. */
const DIAL_KIND = 'gte_dial';

export interface StepQueries {
  rangeSeconds: number;
  stepSeconds: number;
  /** Evaluation time (ms): a multiple of the step, at or after `now` (so the last step sees every sample), or before what the engine hides. */
  evalMs: number;
  changes: string;
  dials: string;
}

/** The per-change step for a range of `rangeSeconds`, in seconds: at most MAX_STEPS points per series. */
export function stepSeconds(rangeSeconds: number): number {
  return Math.max(1, Math.ceil(Math.max(1, Math.ceil(rangeSeconds)) / MAX_STEPS));
}

/**
 * `matchers` is the checked selector (see checkSelector), `L` the instance label. The range ends
 * at the first step at or after `nowMs` (so the last step sees every sample) and reaches back
 * `rangeSeconds`; with `hiddenMs` (what the engine rewrites at a range answer's newest end, see
 * rangeLagMs) at the last step at least that long before `nowMs` instead.
 */
export function buildStepQueries(L: string, matchers: string, rangeSeconds: number, nowMs: number, hiddenMs = 0): StepQueries {
  const W = Math.max(1, Math.ceil(rangeSeconds));
  const S = stepSeconds(W);
  const stepMs = S * 1000;
  const evalMs = hiddenMs > 0 ? Math.floor((nowMs - hiddenMs) / stepMs) * stepMs : Math.ceil(nowMs / stepMs) * stepMs;
  const sel = (name: string, ...extra: string[]): string => {
    const all = [...extra, matchers].filter((m) => m !== '');
    return all.length === 0 ? name : `${name}{${all.join(', ')}}`;
  };
  // Growth at a step: the difference from the last value before it; after a reset (Gitaly
  // restarted) or when the series appears (created lazily by the first accept, or back after a
  // restart) the whole value, since every count in it is new. "The last value before" looks back
  // up to an hour, so a gap in Prometheus' own samples (an outage) is not read as new counts.
  const lookback = Math.min(W, 3600);
  const grew = (family: string): string => {
    const t = sel(family, 'type="tcp"');
    const prev = `last_over_time(${t}[${lookback}s] offset ${S}s)`;
    return `(sum by (${L}) ((${t} - ${prev}) > 0) or sum by (${L}) (${t} < ${prev}) or sum by (${L}) (${t} unless ${prev}))`;
  };
  const sampledAt = (family: string): string => `max by (${L}) (timestamp(${sel(family, 'type="tcp"')}))`;
  // The sample before the step (its real time: timestamp() keeps it under offset). A dial after
  // it can only be counted in this change, however long Prometheus went without a sample.
  const sampledBefore = (family: string): string => `max by (${L}) (timestamp(${sel(family, 'type="tcp"')} offset ${S}s))`;
  // An instance exporting the Praefect family is read from it alone (as the window totals do).
  const praefect = `group by (${L}) (${sel(PRAEFECT_FAMILY)})`;
  const prefer = (perFamily: (family: string) => string): string =>
    `(${perFamily(PRAEFECT_FAMILY)} or (${perFamily(GITALY_FAMILY)} unless on (${L}) ${praefect}))`;
  // Whether the counter had a sample before the step at all: only then can a missing `before`
  // be a staleness marker's doing (see prevSamplesQuery), rather than a series just created.
  const hadBefore = (family: string): string => `max by (${L}) (last_over_time(${sel(family, 'type="tcp"')}[${lookback}s] offset ${S}s))`;
  const delta = `(${prefer(grew)} > 0)`;
  const at = `(${prefer(sampledAt)} and on (${L}) ${delta})`;
  const before = `(${prefer(sampledBefore)} and on (${L}) ${delta})`;
  const part = (q: string, name: string): string => `label_replace(${q}, "${PART}", "${name}", "", "")`;
  const had = `(${prefer(hadBefore)} and on (${L}) ${delta})`;
  // Gaps in Prometheus' samples of the node (failed scrapes: up == 0), and restarts (a new
  // process_start_time_seconds, its value the restart time): a gap across which the process is the
  // same loses no count, since the counter continues; one that holds a restart may hide some.
  const up = (offset = ''): string => `max by (${L}) (${sel('up')}${offset})`;
  const gapStart = `((${up()} == 0) unless on (${L}) (${up(` offset ${S}s`)} == 0))`;
  const gapEnd = `((${up()} == 1) and on (${L}) (${up(` offset ${S}s`)} == 0))`;
  const start = `max by (${L}) (${sel('process_start_time_seconds')})`;
  const restart = `(${start} != on (${L}) max by (${L}) (last_over_time(${sel('process_start_time_seconds')}[${lookback}s] offset ${S}s)))`;
  const gaps = `${part(gapStart, 'gap_start')} or ${part(gapEnd, 'gap_end')} or ${part(restart, 'restart')}`;
  const changes = `(${part(delta, 'delta')} or ${part(at, 'at')} or ${part(before, 'before')} or ${part(had, 'had')} or ${gaps})[${W}s:${S}s]`;
  // A dial (done or announced) is a new value of its gauge (or its first appearance).
  const moved = (g: string): string => `((${g} != ${g} offset ${S}s) or (${g} unless ${g} offset ${S}s))`;
  const kind = (g: string, name: string): string => `label_replace(${moved(g)}, "${DIAL_KIND}", "${name}", "", "")`;
  const dials = `(${kind(DIAL_GAUGE, 'done')} or ${kind(PLANNED_DIAL_GAUGE, 'planned')})[${W}s:${S}s]`;
  return { rangeSeconds: W, stepSeconds: S, evalMs, changes, dials };
}

/**
 * The raw tcp samples of one instance before a change, for the time of the last one: the changes
 * query reads it with `timestamp(… offset)`, which a staleness marker blinds. Prometheus writes
 * those for a failed scrape, and for the scrape in flight when it shuts down: after a Prometheus
 * restart the change that holds every dial of the outage then had no sample before it, and those
 * dials read as plaintext clients. A range selector skips staleness markers and keeps each
 * sample's own time. Both families are asked: the later sample of the two only narrows what a dial
 * may explain.
 */
export function prevSamplesQuery(L: string, matchers: string, instance: string, rangeSeconds: number): string {
  const lookback = Math.min(Math.max(1, Math.ceil(rangeSeconds)), 3600);
  const all = [`__name__=~"${GITALY_FAMILY}|${PRAEFECT_FAMILY}"`, 'type="tcp"', `${L}=${JSON.stringify(instance)}`, matchers].filter(
    (m) => m !== '',
  );
  return `{${all.join(', ')}}[${lookback}s]`;
}

/**
 * The time of the latest sample strictly before `beforeMs` in a range-vector answer, or undefined.
 * A NaN point is a staleness marker (VictoriaMetrics returns them in range selectors, Prometheus
 * drops them), not a sample.
 */
export function latestSampleBefore(series: readonly PrometheusSeries[], beforeMs: number): number | undefined {
  let latest: number | undefined;
  for (const s of series)
    for (const [t, v] of s.points) if (!Number.isNaN(v) && t < beforeMs && (latest === undefined || t > latest)) latest = t;
  return latest;
}

/** Per instance: the counter's changes, oldest first. */
export function parseChanges(
  series: readonly PrometheusSeries[],
  L: string,
): Result<{ byInstance: Map<string, TcpChange[]>; prevHidden: Array<{ instance: string; change: TcpChange }> }> {
  const deltas = new Map<string, Map<number, number>>();
  const ats = new Map<string, Map<number, number>>();
  const befores = new Map<string, Map<number, number>>();
  const hads = new Map<string, Map<number, number>>();
  for (const s of series) {
    const instance = s.labels[L];
    if (!instance) continue;
    const label = s.labels[PART];
    if (label !== undefined && GAP_PARTS.has(label)) continue;
    const target = label === 'at' ? ats : label === 'before' ? befores : label === 'had' ? hads : deltas;
    const points = target.get(instance) ?? new Map<number, number>();
    for (const [t, v] of s.points) {
      if (!Number.isFinite(v) || v < 0)
        return { ok: false, error: { code: 'BAD_RESPONSE', message: `Prometheus returned an invalid tcp change for ${instance}` } };
      points.set(t, (points.get(t) ?? 0) + v);
    }
    target.set(instance, points);
  }
  const byInstance = new Map<string, TcpChange[]>();
  const prevHidden: Array<{ instance: string; change: TcpChange }> = [];
  for (const [instance, points] of deltas) {
    const sampled = ats.get(instance);
    const sampledBefore = befores.get(instance);
    const had = hads.get(instance);
    const list = [...points]
      .sort(([a], [b]) => a - b)
      .map(([stepMs, n]): TcpChange => {
        // The sample's own time when known (it is never after the step), else the step: never earlier than the change.
        const atMs = Math.min(stepMs, Math.round((sampled?.get(stepMs) ?? stepMs / 1000) * 1000));
        const before = sampledBefore?.get(stepMs);
        const prevSampleMs = before === undefined ? undefined : Math.round(before * 1000);
        if (prevSampleMs !== undefined && prevSampleMs < atMs) return { atMs, n, prevSampleMs };
        const change = { atMs, n };
        if (before === undefined && had?.has(stepMs)) prevHidden.push({ instance, change });
        return change;
      });
    byInstance.set(instance, list);
  }
  return { ok: true, byInstance, prevHidden };
}

const GAP_PARTS = new Set(['gap_start', 'gap_end', 'restart']);

/**
 * Per instance: every run of failed scrapes in the range (from its first failed step to the step
 * that scraped again, or to `endMs` while it lasts), and the restart inside it if one shows (its
 * process_start_time_seconds), oldest first. `stepMs` is the answer's step: a gap that starts at
 * the range's first step may have started earlier.
 */
export function parseGaps(
  series: readonly PrometheusSeries[],
  L: string,
  range: { startMs: number; endMs: number },
): Map<string, ScrapeGap[]> {
  const { startMs: rangeStartMs, endMs } = range;
  const events = new Map<string, Array<{ atMs: number; kind: string; value: number }>>();
  for (const s of series) {
    const instance = s.labels[L];
    const kind = s.labels[PART];
    if (!instance || kind === undefined || !GAP_PARTS.has(kind)) continue;
    const list = events.get(instance) ?? [];
    for (const [t, v] of s.points) if (Number.isFinite(v)) list.push({ atMs: t, kind, value: v });
    events.set(instance, list);
  }
  const out = new Map<string, ScrapeGap[]>();
  for (const [instance, list] of events) {
    list.sort((a, b) => a.atMs - b.atMs || (a.kind === 'gap_start' ? -1 : 1));
    const gaps: ScrapeGap[] = [];
    let open: ScrapeGap | null = null;
    for (const e of list) {
      if (e.kind === 'gap_start') {
        open ??= { startMs: e.atMs, endMs, restartMs: null };
      } else if (e.kind === 'gap_end') {
        // A gap already running when the range began: from the range's start, as far as anyone knows.
        const gap: ScrapeGap = open ?? { startMs: rangeStartMs, endMs: e.atMs, restartMs: null };
        gap.endMs = e.atMs;
        gaps.push(gap);
        open = null;
      } else {
        // A restart shows at the first step the process is scraped again: where its gap ends.
        const holder: ScrapeGap | undefined = open ?? gaps.findLast((g) => g.endMs === e.atMs);
        if (holder) holder.restartMs = Math.round(e.value * 1000);
      }
    }
    if (open) gaps.push({ ...open, ongoing: true });
    out.set(instance, gaps);
  }
  return out;
}

/** Per instance (the gauge's prometheus_instance label): every published dial time, ms, sorted, distinct. */
export function parseDials(
  series: readonly PrometheusSeries[],
): Result<{ byInstance: Map<string, number[]>; plannedByInstance: Map<string, number[]> }> {
  const done = new Map<string, Set<number>>();
  const planned = new Map<string, Set<number>>();
  for (const s of series) {
    const instance = s.labels[DIAL_INSTANCE_LABEL];
    if (!instance) continue;
    const into = s.labels[DIAL_KIND] === 'planned' ? planned : done;
    const set = into.get(instance) ?? new Set<number>();
    for (const [, v] of s.points) {
      if (!Number.isFinite(v) || v <= 0)
        return { ok: false, error: { code: 'BAD_RESPONSE', message: `Prometheus returned an invalid dial time for ${instance}` } };
      set.add(Math.round(v * 1000));
    }
    into.set(instance, set);
  }
  const sorted = (m: Map<string, Set<number>>): Map<string, number[]> => new Map([...m].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
  return { ok: true, byInstance: sorted(done), plannedByInstance: sorted(planned) };
}
