// The whole fleet's connection evidence from Prometheus: seven queries, however many nodes.
// Any failed or partial answer fails the whole result: a missing answer must never read as
// "no plaintext connections".
import { setMaxListeners } from 'node:events';
import type { PrometheusConfig } from '../config/types.ts';
import type { PrometheusFleetEvidence, PrometheusNodeEvidence, Result, ScrapeGap } from '../evidence/evidence.ts';
import { GITALY_FAMILY, PRAEFECT_FAMILY } from './metrics-parser.ts';
import {
  instantQuery,
  matrixQuery,
  type InstantQueryResult,
  type MatrixQueryResult,
  type PrometheusDeps,
  type PrometheusQueryOptions,
} from './prometheus-client.ts';
import { hiddenRangeMs, PROMETHEUS_ENGINE, rewrittenMs, type EngineCheck, type QueryEngineInfo } from './prometheus-engine.ts';
import {
  buildStepQueries,
  DIAL_INSTANCE_LABEL,
  latestSampleBefore,
  parseChanges,
  parseDials,
  parseGaps,
  prevSamplesQuery,
  stepSeconds,
  TLS_CONNECTIONS_COUNTER,
} from './prometheus-steps.ts';
import type { ErrorCode } from '../base/error-codes.ts';
import { parseLabelMatchers } from '../base/label-matchers.ts';

export { instantQuery };
export type { InstantQueryResult, PrometheusDeps, PrometheusQueryOptions, PrometheusSample } from './prometheus-client.ts';

/**
 * The most queries of a collection, however many nodes: increase, coverage, last change, the step
 * count's pieces (up to three per family) and the two per-change range queries; then the look-ups.
 */
export const MAX_FLEET_QUERIES = 11;
/** At most this many follow-up queries per collection for the sample before a change (prometheus-steps.ts). */
export const MAX_PREV_SAMPLE_QUERIES = 20;
/** Subqueries never ask Prometheus for more points than this per series. */
const MAX_STEPS = 2000;
/** The window count evaluates several selectors per step: fewer, longer steps. */
const MAX_COUNT_STEPS = 500;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** The `type` of the exporters' own TLS connections in the increase answer. */
const EXPORTERS_TLS = 'exporters_tls';
/** Tells the restart signal's share from the scrape coverage in the coverage answer. */
const SIGNAL_LABEL = 'gitaly_tls_exporter_signal';

/**
 * Checks that `selector` is only a list of label matchers (see label-matchers.ts), since it is
 * pasted inside `{…}`: nothing in it may close the braces. Returns the normalised matchers, or why not.
 */
export function checkSelector(selector: string): { ok: true; matchers: string } | { ok: false; message: string } {
  const parsed = parseLabelMatchers(selector);
  return parsed.ok ? { ok: true, matchers: parsed.matchers.join(', ') } : { ok: false, message: `prometheus selector ${parsed.message}` };
}

export interface FleetQueries {
  /** The checked selector's matchers, for the per-change queries built beside these. */
  matchers: string;
  windowSeconds: number;
  stepSeconds: number;
  /** increase() per instance and type (extrapolated to the window's edges on Prometheus). */
  increase: string;
  /**
   * The step count of the plaintext and TLS counters (windowCountParts), each family's pieces a
   * query of their own; an instance's plaintext count is the sum of its pieces, or its increase when
   * larger; its TLS count the sum of its pieces.
   */
  counts: string[];
  coverage: string;
  tcpLastChange: string;
}

/**
 * New connections per instance and type (the caller passes the tcp series) in the window
 * (endMs - W s, endMs], counted from the raw
 * samples without increase()'s blind spot: increase() ignores a series' first sample, so a counter
 * that appears inside the window (Gitaly creates it lazily at the first accept, and again after a
 * restart) would add nothing although every connection it counts was made inside the window.
 *
 * The window is cut into steps; each step adds how far the counter moved since the step before:
 * - the same process (process_start_time_seconds unchanged, no reset among the raw samples) and
 *   the series already there: the difference;
 * - the series not there at the step before (lazily created): its whole value;
 * - the process restarted within the step: the whole value now, plus the old process's growth
 *   when its highest value in the step exceeds the value now;
 * - the series gone by the end of the step (dropped by a restart, or the target down): its growth.
 * "The step before" is the value scraped then; when the target was down then (a failed scrape
 * makes every series stale) it is the last value before, so an outage is not a new series.
 * The steps sit on multiples of the step size (as Prometheus aligns subqueries), so the first and
 * last pieces of the window are added separately, from the exact window edges.
 * Returns the pieces (head, steps, tail; those the window has), each its own expression whose sum
 * is the count: one expression for all would pass VictoriaMetrics' default -search.maxQueryLen
 * (16 KiB) with a selector of a few dozen characters, each piece alone stays well under it.
 */
export function windowCountParts(o: {
  counter: string;
  processStart: string;
  up: string;
  L: string;
  W: number;
  S: number;
  endMs: number;
}): string[] {
  const { counter: X, processStart: P, up, L, endMs } = o;
  const stepMs = o.S * 1000;
  // Outages up to this long are bridged: the count measures growth across them from the last value
  // before. A longer one costs coverage (bridgedGaps leaves it uncovered).
  const lookbackMs = countLookbackMs(o.W, o.S);
  const off = (ms: number): string => (ms > 0 ? ` offset ${ms}ms` : '');
  // The counter's movement over (t - prevMs, t], t being `atMs` before the evaluation time.
  const moved = (atMs: number, prevMs: number): string => {
    const at = off(atMs);
    const before = off(atMs + prevMs);
    const by = `sum by (${L}, type)`;
    // Not scraped successfully at the step before (the target down, Prometheus itself down, or not
    // yet scraping it): nothing is known of that time, so nothing counts as new; the last value
    // before the gap, if any, still measures growth. A gap this long already costs coverage.
    const unscraped = `unless on (${L}) (max by (${L}) (${up}${before}) == 1)`;
    const cur = `${by} (${X}${at})`;
    const prev = `(${by} (${X}${before}) or ((${by} (last_over_time(${X}[${lookbackMs}ms]${before})) or ${cur}) ${unscraped}))`;
    const startBefore = `(max by (${L}) (${P}${before}) or ((max by (${L}) (last_over_time(${P}[${lookbackMs}ms]${before})) or max by (${L}) (${P}${at})) ${unscraped}))`;
    const restarted = `(max by (${L}) (${P}${at}) != ${startBefore})`;
    // No sample within the step (a step no longer than the scrape interval): the latest value.
    const highest = `(${by} (max_over_time(${X}[${prevMs}ms]${at})) or ${cur})`;
    // A reset among the step's samples, or all of them below the value a step before (without
    // process_start_time_seconds, that is how a restart shows).
    const reset = `((${by} (resets(${X}[${prevMs}ms]${at})) > 0) or (${highest} < ${prev}))`;
    // Growth since the step before, up to the highest value in the step (a new series: all of it).
    const grown = `clamp_min(${highest} - (${prev} or ${highest} * 0), 0)`;
    const steady = `((${grown} unless on (${L}) ${restarted}) unless ${reset})`;
    // Restarted: the value now, plus the old process's growth when it peaked above the value now.
    const restart = `(${cur} + ((${grown} and (${highest} > ${cur})) or ${cur} * 0))`;
    // Otherwise (gone by t: dropped by a restart, or the target down) the growth it had.
    return `(${steady} or ${restart} or ${grown})`;
  };
  const startMs = endMs - o.W * 1000;
  const lastStepMs = endMs - (endMs % stepMs); // the last step at or before the end
  const firstStepMs = Math.ceil(startMs / stepMs) * stepMs; // the first step at or after the start
  const parts: string[] = [];
  const part = (expr: string): void => {
    parts.push(`sum by (${L}, type) (${expr})`);
  };
  // No step inside (a window shorter than a step, which buildFleetQueries never asks for): one piece.
  if (lastStepMs < firstStepMs) return [`sum by (${L}, type) (${moved(0, endMs - startMs)})`];
  if (firstStepMs > startMs) part(moved(endMs - firstStepMs, firstStepMs - startMs));
  if (lastStepMs > firstStepMs) {
    // The steps after the first one up to the last, each adding its movement since the step before.
    // The range ends half a step past the first step, so it is left out whether the subquery's
    // range includes its start (Prometheus 2) or not (Prometheus 3).
    const rangeMs = lastStepMs - firstStepMs - stepMs / 2;
    part(`sum_over_time(${moved(0, stepMs)}[${rangeMs}ms:${o.S}s]${off(endMs - lastStepMs)})`);
  }
  if (endMs > lastStepMs) part(moved(0, endMs - lastStepMs));
  return parts;
}

/** windowCountParts as one expression: the sum of its parts. */
export function windowCountExpr(o: Parameters<typeof windowCountParts>[0]): string {
  const parts = windowCountParts(o).map((p, i) => `label_replace(${p}, "part", "${i}", "", "")`);
  return `sum by (${o.L}, type) (${parts.join(' or ')})`;
}

/** How far back the window count looks for the value before a gap: gaps up to this long lose no count. */
export function countLookbackMs(windowSeconds: number, stepSeconds: number): number {
  return Math.max(3 * stepSeconds * 1000, Math.min(windowSeconds * 1000, 3_600_000));
}

/**
 * The share of the window that gaps in Prometheus' samples took but lost nothing: the same process
 * on both sides (no restart shows) and no longer than the count bridges. Such a gap counts as
 * covered; one that holds a restart, or is longer, does not.
 */
export function bridgedShare(gaps: ScrapeGap[], startMs: number, endMs: number, lookbackMs: number): number {
  let ms = 0;
  for (const g of gaps) {
    // A gap still running cannot be shown to end in the same process.
    g.bridged = g.restartMs === null && g.ongoing !== true && g.endMs - g.startMs <= lookbackMs;
    if (g.bridged) ms += Math.max(0, Math.min(g.endMs, endMs) - Math.max(g.startMs, startMs));
  }
  return ms / (endMs - startMs);
}

/** The window count's step for a window of `windowSeconds`, in seconds: at most MAX_COUNT_STEPS steps. */
export function windowCountStepSeconds(windowSeconds: number): number {
  return Math.max(1, Math.ceil(windowSeconds / MAX_COUNT_STEPS));
}

/** The three PromQL expressions, for a window of `windowSeconds` ending at `endMs`, the evaluation time. */
export function buildFleetQueries(
  cfg: Pick<PrometheusConfig, 'selector' | 'instanceLabel'>,
  windowSeconds: number,
  endMsRaw: number,
): Result<{ queries: FleetQueries }> {
  const L = cfg.instanceLabel;
  if (!LABEL_NAME.test(L))
    return { ok: false, error: { code: 'CONFIG', message: `prometheus instance label "${L}" is not a valid label name` } };
  const checked = checkSelector(cfg.selector ?? '');
  if (!checked.ok) return { ok: false, error: { code: 'CONFIG', message: checked.message } };
  const W = Math.max(1, Math.ceil(windowSeconds));
  const S = Math.max(1, Math.ceil(W / MAX_STEPS));
  const sel = (name: string, ...extra: string[]): string => {
    const matchers = [...extra, checked.matchers].filter((m) => m !== '');
    return matchers.length === 0 ? name : `${name}{${matchers.join(', ')}}`;
  };
  const endMs = Math.round(endMsRaw);
  const stepMs = S * 1000;
  const windowCount = (family: string): string[] =>
    windowCountParts({
      // Plaintext, which decides safety, and TLS, whose count must end at the same edges as the
      // exporters' own TLS connections subtracted from it (below): increase() on Prometheus starts
      // at each series' first sample in the window, a different moment for each scrape target.
      counter: sel(family, 'type=~"tcp|tls"'),
      processStart: sel('process_start_time_seconds'),
      up: sel('up'),
      L,
      W,
      S: windowCountStepSeconds(W),
      endMs,
    });
  // An instance exporting the Praefect family is read from it alone, so a Praefect that also
  // exports the Gitaly family is never counted twice; the others fall back to the Gitaly family.
  const notPraefect = `unless on (${L}) group by (${L}) (count_over_time(${sel(PRAEFECT_FAMILY)}[${W}s]))`;
  const preferPraefect = (perFamily: (family: string) => string): string =>
    `(${perFamily(PRAEFECT_FAMILY)}) or ((${perFamily(GITALY_FAMILY)}) ${notPraefect})`;

  // The step count sees plaintext series that appear inside the window; increase() keeps its own
  // answer wherever it is the larger (Prometheus' extrapolation to the edges).
  const gitalyIncrease = preferPraefect((family) => `sum by (${L}, type) (increase(${sel(family)}[${W}s]))`);
  const counts = [...windowCount(PRAEFECT_FAMILY), ...windowCount(GITALY_FAMILY).map((part) => `(${part}) ${notPraefect}`)];
  // With the share of the window for which process_start_time_seconds was kept (the restart signal),
  // in the same answer: many setups drop process_* series, and the count cannot see a restart without it.
  // Every exporter's own TLS connections to the node (peers' probes are not clients either), under
  // the node's instance. Counted from the value at the window's start to the value at its end, as the step count does
  // Gitaly's: the same edges for both, on every engine (src/cycle/slots.ts keeps the dials away
  // from them). A series with no value at the start (a new exporter), or lower at the end (one
  // restarted without its state file), counts its value at the end.
  const ownTls = (offset: string): string => `last_over_time(${TLS_CONNECTIONS_COUNTER}[${W}s]${offset})`;
  const exportersGrowth = `((${ownTls('')} - ${ownTls(` offset ${W}s`)}) >= 0 or ${ownTls('')})`;
  const exportersTls = `label_replace(label_replace(sum by (${DIAL_INSTANCE_LABEL}) (${exportersGrowth}), "${L}", "$1", "${DIAL_INSTANCE_LABEL}", "(.+)"), "type", "${EXPORTERS_TLS}", "", "")`;
  const increase = `${gitalyIncrease} or ${exportersTls}`;
  const coverage =
    `count_over_time((max by (${L}) (${sel('up')}) == 1)[${W}s:${S}s]) or ` +
    `label_replace(count_over_time((max by (${L}) (${sel('process_start_time_seconds')}))[${W}s:${S}s]), "${SIGNAL_LABEL}", "process_start", "", "")`;
  // At each step: did the tcp counter's latest value differ from the one a step earlier, or did the
  // series just appear (lazily created by the first accept, or back after a restart)? Comparing
  // instant values rather than changes() over [step] also catches a change that falls between two
  // steps, and works when the step is no longer than the scrape interval.
  // Subquery steps sit on multiples of the step, so the last one can be up to a step before the
  // evaluation time; the tail after it is checked at the evaluation time itself (listed first: `or`
  // keeps the left side, and the tail is always the later time).
  const tailMs = endMs % stepMs;
  const tcpLastChange = preferPraefect((family) => {
    const tcp = sel(family, 'type="tcp"');
    const moved = (offset: string): string => `(${tcp} != ${tcp} offset ${offset}) or (${tcp} unless ${tcp} offset ${offset})`;
    const tail = tailMs > 0 ? `timestamp(${moved(`${tailMs}ms`)}) or ` : '';
    return `max by (${L}) (${tail}max_over_time(timestamp(${moved(`${S}s`)})[${W}s:${S}s]))`;
  });
  return { ok: true, queries: { matchers: checked.matchers, windowSeconds: W, stepSeconds: S, increase, counts, coverage, tcpLastChange } };
}

function instanceOf(labels: Record<string, string>, label: string): string | null {
  const value = labels[label];
  return value === undefined || value === '' ? null : value;
}

export async function queryFleetEvidence(
  cfg: PrometheusConfig,
  window: { startMs: number; endMs: number; marginMs?: number },
  options: PrometheusQueryOptions,
  deps: PrometheusDeps = {},
  engine: QueryEngineInfo = PROMETHEUS_ENGINE,
): Promise<PrometheusFleetEvidence> {
  const now = deps.now ?? Date.now;
  const started = now();
  const failed = (code: ErrorCode, message: string): PrometheusFleetEvidence => ({
    ok: false,
    error: { code, message },
    durationMs: now() - started,
  });
  if (!Number.isFinite(window.startMs) || !Number.isFinite(window.endMs) || window.endMs <= window.startMs) {
    return failed('CONFIG', 'the Prometheus query window must end after it starts');
  }
  const built = buildFleetQueries(cfg, (window.endMs - window.startMs) / 1000, window.endMs);
  if (!built.ok) return failed(built.error.code, built.error.message);
  const q = built.queries;

  // The first failure cancels the other two: their answers could not be used anyway.
  const cancel = new AbortController();
  // Every query listens for it (up to MAX_FLEET_QUERIES at once), past Node's default of 10.
  setMaxListeners(MAX_FLEET_QUERIES + MAX_PREV_SAMPLE_QUERIES, cancel.signal);
  const onOuterAbort = (): void => cancel.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) cancel.abort();
  const cancelOthersOnFailure = async <R extends { ok: boolean }>(answer: Promise<R>): Promise<R> => {
    const result = await answer;
    if (!result.ok) cancel.abort();
    return result;
  };
  const ask = (expr: string): Promise<InstantQueryResult> =>
    cancelOthersOnFailure(instantQuery(cfg, expr, window.endMs, { ...options, signal: cancel.signal }, deps));
  // Per-change evidence (src/sources/prometheus-steps.ts): from before the window's start (so a
  // dial just before it still explains its change) up to now.
  const nowMs = now();
  // The per-change range ends before what the engine rewrites (changes after it come a collection
  // later; the collector ends the window before it too: rangeLagMs).
  const rangeSeconds = (nowMs - window.startMs + (window.marginMs ?? 0)) / 1000;
  const hiddenMs = hiddenRangeMs(engine, stepSeconds(rangeSeconds) * 1000);
  const perStep = buildStepQueries(cfg.instanceLabel, q.matchers, rangeSeconds, nowMs, hiddenMs);
  const askMatrix = (expr: string): Promise<MatrixQueryResult> =>
    cancelOthersOnFailure(matrixQuery(cfg, expr, perStep.evalMs, { ...options, signal: cancel.signal }, deps));
  let answers: InstantQueryResult[];
  let matrices: MatrixQueryResult[];
  try {
    [answers, matrices] = await Promise.all([
      Promise.all([ask(q.increase), ask(q.coverage), ask(q.tcpLastChange), ...q.counts.map(ask)]),
      Promise.all([askMatrix(perStep.changes), askMatrix(perStep.dials)]),
    ]);
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
  const failures = [...answers, ...matrices].flatMap((a) => (a.ok ? [] : [a.error]));
  if (failures.length > 0) {
    // A query cancelled because a sibling failed is not the story; the sibling's error is.
    const cause = failures.find((e) => e.code !== 'ABORTED' || options.signal?.aborted) ?? failures[0]!;
    return failed(cause.code, cause.message);
  }
  type Answer = InstantQueryResult & { ok: true };
  const [increase, coverage, lastChange, ...counts] = answers as [Answer, Answer, Answer, ...Answer[]];
  const [changesAnswer, dialsAnswer] = matrices as [MatrixQueryResult & { ok: true }, MatrixQueryResult & { ok: true }];

  const L = cfg.instanceLabel;
  const byInstance = new Map<string, PrometheusNodeEvidence>();
  const entry = (instance: string): PrometheusNodeEvidence => {
    let node = byInstance.get(instance);
    if (!node) {
      node = {
        instance,
        windowIncrease: { tcp: 0, tls: 0 },
        coverage: 0,
        processStartCoverage: 0,
        exportersTls: 0,
        tcpLastChangeMs: null,
        tcpChanges: [],
        dialsMs: [],
      };
      byInstance.set(instance, node);
    }
    return node;
  };
  const invalid = (what: string): PrometheusFleetEvidence => failed('BAD_RESPONSE', `Prometheus returned an invalid ${what}`);

  // Per instance and type, the larger of increase() and the step count (the sum of its pieces).
  const seen = new Set<string>();
  const exportersTls = new Map<string, number>();
  const perType = (answer: InstantQueryResult & { ok: true }, into: Map<string, { tcp: number; tls: number }>): string | null => {
    for (const { labels, value } of answer.samples) {
      const instance = instanceOf(labels, L);
      if (instance === null) continue;
      if (!Number.isFinite(value) || value < 0) return instance;
      // Exporters' counters are no Gitaly counters: they neither make an instance seen nor add to it.
      if (labels.type === EXPORTERS_TLS) {
        exportersTls.set(instance, value);
        continue;
      }
      seen.add(instance);
      const type = labels.type;
      if (type !== 'tcp' && type !== 'tls') continue;
      const sum = into.get(instance) ?? { tcp: 0, tls: 0 };
      sum[type] += value;
      into.set(instance, sum);
    }
    return null;
  };
  const increased = new Map<string, { tcp: number; tls: number }>();
  const counted = new Map<string, { tcp: number; tls: number }>();
  for (const [answer, into] of [[increase, increased], ...counts.map((c) => [c, counted] as const)] as const) {
    const bad = perType(answer, into);
    if (bad !== null) return invalid(`connection increase for ${bad}`);
  }
  for (const instance of seen) entry(instance);
  const largest = new Map(
    [...seen].map((instance) => {
      const a = increased.get(instance) ?? { tcp: 0, tls: 0 };
      const b = counted.get(instance) ?? { tcp: 0, tls: 0 };
      // TLS from the step count alone: its edges are those of the exporters' count subtracted from it.
      return [instance, { tcp: Math.max(a.tcp, b.tcp), tls: counted.has(instance) ? b.tls : a.tls }];
    }),
  );
  for (const [instance, best] of largest) entry(instance).windowIncrease = best;
  const steps = Math.floor(q.windowSeconds / q.stepSeconds);
  for (const { labels, value } of coverage.samples) {
    const instance = instanceOf(labels, L);
    if (instance === null) continue;
    if (!Number.isFinite(value) || value < 0) return invalid(`coverage for ${instance}`);
    // The subquery can hold one point more than `steps` when the window edges fall on steps.
    const share = Math.min(1, value / steps);
    if (labels[SIGNAL_LABEL] === 'process_start') entry(instance).processStartCoverage = share;
    else entry(instance).coverage = share;
  }
  for (const { labels, value } of lastChange.samples) {
    const instance = instanceOf(labels, L);
    if (instance === null) continue;
    if (!Number.isFinite(value)) return invalid(`tcp change time for ${instance}`);
    entry(instance).tcpLastChangeMs = Math.round(value * 1000);
  }

  const changes = parseChanges(changesAnswer.series, L);
  if (!changes.ok) return failed(changes.error.code, changes.error.message);
  // A change with no sample before it although the counter had one (a staleness marker hid it):
  // that sample's time, from the raw samples. Rare (after failed scrapes or a Prometheus restart),
  // so asked change by change; beyond the cap they stay unknown, which only keeps dials from
  // explaining them (a false "not yet", never a false "done").
  const unknownPrev = changes.prevHidden.slice(0, MAX_PREV_SAMPLE_QUERIES);
  const lookups = await Promise.all(
    unknownPrev.map(({ instance, change }) =>
      matrixQuery(cfg, prevSamplesQuery(L, q.matchers, instance, perStep.rangeSeconds), change.atMs - 1, options, deps),
    ),
  );
  for (const [i, answer] of lookups.entries()) {
    // A failed lookup fails the whole answer, as any other query does: next cycle asks again.
    if (!answer.ok) return failed(answer.error.code, answer.error.message);
    const { change } = unknownPrev[i]!;
    const prev = latestSampleBefore(answer.series, change.atMs);
    if (prev !== undefined) change.prevSampleMs = prev;
  }
  for (const [instance, list] of changes.byInstance) entry(instance).tcpChanges = list;
  const lookbackMs = countLookbackMs(q.windowSeconds, windowCountStepSeconds(q.windowSeconds));
  const windowStartMs = window.endMs - q.windowSeconds * 1000;
  const range = { startMs: perStep.evalMs - perStep.rangeSeconds * 1000, endMs: perStep.evalMs };
  for (const [instance, gaps] of parseGaps(changesAnswer.series, L, range)) {
    const node = byInstance.get(instance);
    if (!node) continue;
    node.gaps = gaps;
    // Without process_start_time_seconds beside every sample, no gap can be shown to hold no restart.
    if (node.processStartCoverage < node.coverage - 0.001) {
      for (const g of gaps) g.bridged = false;
      continue;
    }
    // Gaps the counters bridge lose nothing: they count as covered, for the restart signal too
    // (the same process_start_time_seconds on both sides is what makes a gap bridged).
    const bridged = bridgedShare(gaps, windowStartMs, window.endMs, lookbackMs);
    node.coverage = Math.min(1, node.coverage + bridged);
    node.processStartCoverage = Math.min(1, node.processStartCoverage + bridged);
  }
  const dials = parseDials(dialsAnswer.series);
  if (!dials.ok) return failed(dials.error.code, dials.error.message);
  // Dials of instances with no counters are kept aside: entry() would make them look scraped.
  for (const [instance, list] of dials.byInstance) if (byInstance.has(instance)) byInstance.get(instance)!.dialsMs = list;
  for (const [instance, list] of dials.plannedByInstance) if (byInstance.has(instance)) byInstance.get(instance)!.plannedDialsMs = list;
  for (const [instance, n] of exportersTls) if (byInstance.has(instance)) byInstance.get(instance)!.exportersTls = n;

  return {
    ok: true,
    windowStartMs: window.endMs - q.windowSeconds * 1000,
    windowEndMs: window.endMs,
    byInstance,
    instancesSeen: [...seen].sort(),
    perChange: true,
    queries: 5 + q.counts.length + unknownPrev.length,
    durationMs: now() - started,
  };
}

/**
 * How far before now the window must end on this engine, so that the per-change range (which ends
 * before what the engine rewrites) covers all of it: otherwise a change in between would be in
 * the window totals but not in the list, and count as a client (missedByChanges).
 */
export function rangeLagMs(engine: QueryEngineInfo, rangeSeconds: number): number {
  const rewritten = rewrittenMs(engine);
  return rewritten > 0 ? rewritten + stepSeconds(rangeSeconds) * 1000 : 0;
}

/**
 * The evidence once the engine is checked (src/sources/prometheus-engine.ts): `query` runs the
 * queries for the engine that answered. An engine named as another one fails the evidence,
 * whatever the queries would answer; one that did not answer the check at all keeps the queries'
 * own failure when they fail too (it is the clearer story), or its network error.
 */
export async function verifiedFleetEvidence(
  engine: EngineCheck,
  query: (engine?: QueryEngineInfo) => Promise<PrometheusFleetEvidence>,
  durationMs: () => number,
): Promise<PrometheusFleetEvidence> {
  if (engine.ok) return query(engine);
  if (!engine.answered && engine.error.code === 'UNVERIFIED_ENGINE') {
    const evidence = await query();
    if (!evidence.ok) return evidence;
  }
  return { ok: false, error: engine.error, durationMs: durationMs() };
}
