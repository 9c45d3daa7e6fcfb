// Per-node history from direct scrapes: pure functions from (history, observation) to history.
// Exact own-connection accounting is possible here because the exporter orders, per node, its
// scrape before its probes: every own connection made since the last successful scrape is in
// the next scrape's counters, so it is subtracted there and nowhere else.
import type { ConnectionCounts } from '../evidence/evidence.ts';
import type { NodeHistory } from './types.ts';

export interface HistoryOptions {
  soakWindowMs: number;
  /** A reset seen after a silence longer than this breaks continuous observation. */
  maxGapMs: number;
  /** Width of the coarse buckets (own TLS, direct window counts). */
  bucketMs: number;
  /** Extra time own-connection records are kept beyond the soak window (query window slack). */
  retentionMarginMs: number;
}

export interface ScrapeObservation {
  atMs: number;
  counts: ConnectionCounts;
  /** Gitaly's process_start_time_seconds, when the page had it: a change means a restart. */
  processStartSeconds?: number | null;
}

export interface ScrapeUpdate {
  history: NodeHistory;
  /** New connections since the previous scrape that were not ours; null on the first scrape, unless
   *  the process started inside the soak window (then: all it counted that was not ours). */
  real: { tcp: number; tls: number } | null;
  reset: boolean;
  continuityBroken: boolean;
}

function bucketStart(atMs: number, bucketMs: number): number {
  return Math.floor(atMs / bucketMs) * bucketMs;
}

function addToBuckets<T>(buckets: Array<[number, T]>, start: number, add: (prev: T | undefined) => T): Array<[number, T]> {
  const last = buckets[buckets.length - 1];
  if (last && last[0] === start) return [...buckets.slice(0, -1), [start, add(last[1])]];
  return [...buckets, [start, add(undefined)]];
}

function isReset(prev: ConnectionCounts, next: ConnectionCounts): boolean {
  return next.tcp < prev.tcp || next.tls < prev.tls || next.unix < prev.unix;
}

export function recordScrape(history: NodeHistory, observation: ScrapeObservation, options: HistoryOptions): ScrapeUpdate {
  const { atMs, counts } = observation;
  const startChanged =
    observation.processStartSeconds != null &&
    history.processStartSeconds != null &&
    observation.processStartSeconds !== history.processStartSeconds;
  const base: NodeHistory = {
    ...history,
    lastScrapeMs: atMs,
    lastCounts: { ...counts },
    processStartSeconds: observation.processStartSeconds ?? history.processStartSeconds,
    pendingOwn: { tcp: 0, tls: 0 },
  };
  if (!history.lastCounts || history.lastScrapeMs === null) {
    const first: NodeHistory = { ...base, firstObservedMs: history.firstObservedMs ?? atMs };
    const real = firstScrapeReal(history, observation, options);
    if (!real) return { history: first, real: null, reset: false, continuityBroken: false };
    return { history: prune(addReal(first, real, atMs, options), atMs, options), real, reset: false, continuityBroken: false };
  }
  const reset = startChanged || isReset(history.lastCounts, counts);
  const gap = atMs - history.lastScrapeMs;
  const continuityBroken = reset && gap > options.maxGapMs;
  const delta = reset
    ? { tcp: counts.tcp, tls: counts.tls }
    : { tcp: counts.tcp - history.lastCounts.tcp, tls: counts.tls - history.lastCounts.tls };
  // After a restart we cannot tell whether our own connections landed before it (and were lost)
  // or after it: subtracting them could hide a real plaintext client, so plaintext is not reduced.
  const real = {
    tcp: reset ? delta.tcp : Math.max(0, delta.tcp - history.pendingOwn.tcp),
    tls: Math.max(0, delta.tls - history.pendingOwn.tls),
  };
  const next = addReal({ ...base, firstObservedMs: continuityBroken ? atMs : (history.firstObservedMs ?? atMs) }, real, atMs, options);
  return { history: prune(next, atMs, options), real, reset, continuityBroken };
}

/** Adds real (own-excluded) connections seen by the scrape at `atMs`. */
function addReal(history: NodeHistory, real: { tcp: number; tls: number }, atMs: number, options: HistoryOptions): NodeHistory {
  if (real.tcp === 0 && real.tls === 0) return history;
  return {
    ...history,
    plaintextLastSeenMs: real.tcp > 0 ? atMs : history.plaintextLastSeenMs,
    directBuckets: addToBuckets(history.directBuckets, bucketStart(atMs, options.bucketMs), (p) => ({
      tcp: (p?.tcp ?? 0) + real.tcp,
      tls: (p?.tls ?? 0) + real.tls,
      lastTcpMs: real.tcp > 0 ? atMs : (p?.lastTcpMs ?? 0),
      lastTlsMs: real.tls > 0 ? atMs : (p?.lastTlsMs ?? 0),
    })),
  };
}

/**
 * The first scrape knows nothing of before, except when the process started inside the soak
 * window (process_start_time_seconds): then everything its counters hold was counted inside the
 * window, and whatever is not our own dial since that start is a real connection. (A process that
 * started before the window is covered by the rule that the window must be observed throughout.)
 */
function firstScrapeReal(
  history: NodeHistory,
  observation: ScrapeObservation,
  options: HistoryOptions,
): { tcp: number; tls: number } | null {
  const startSeconds = observation.processStartSeconds;
  if (startSeconds == null || startSeconds * 1000 <= observation.atMs - options.soakWindowMs) return null;
  const startMs = startSeconds * 1000;
  // Own dials before the process started were lost with the old one: only later ones are in the counters.
  const ownTcp = Math.min(history.pendingOwn.tcp, history.ownTcpTimesMs.filter((t) => t >= startMs).length);
  return {
    tcp: Math.max(0, observation.counts.tcp - ownTcp),
    tls: Math.max(0, observation.counts.tls - history.pendingOwn.tls),
  };
}

/** Records connections the exporter itself opened to the node's listeners. */
export function recordOwnConnections(
  history: NodeHistory,
  made: { tcp: number; tls: number; atMs: number },
  options: HistoryOptions,
): NodeHistory {
  if (made.tcp === 0 && made.tls === 0) return history;
  return prune(
    {
      ...history,
      pendingOwn: { tcp: history.pendingOwn.tcp + made.tcp, tls: history.pendingOwn.tls + made.tls },
      ownTotals: { tcp: history.ownTotals.tcp + made.tcp, tls: history.ownTotals.tls + made.tls },
      ownTcpTimesMs: made.tcp > 0 ? [...history.ownTcpTimesMs, ...Array<number>(made.tcp).fill(made.atMs)] : history.ownTcpTimesMs,
      ownTlsBuckets:
        made.tls > 0
          ? addToBuckets(history.ownTlsBuckets, bucketStart(made.atMs, options.bucketMs), (p) => (p ?? 0) + made.tls)
          : history.ownTlsBuckets,
    },
    made.atMs,
    options,
  );
}

/** Records a plaintext connection seen by another source (Prometheus) at `atMs`. */
export function recordPlaintextSeen(history: NodeHistory, atMs: number): NodeHistory {
  if (history.plaintextLastSeenMs !== null && history.plaintextLastSeenMs >= atMs) return history;
  return { ...history, plaintextLastSeenMs: atMs };
}

function prune(history: NodeHistory, nowMs: number, options: HistoryOptions): NodeHistory {
  const keepFrom = nowMs - options.soakWindowMs - options.retentionMarginMs - options.bucketMs;
  return {
    ...history,
    ownTcpTimesMs: history.ownTcpTimesMs.filter((t) => t >= keepFrom),
    ownTlsBuckets: history.ownTlsBuckets.filter(([start]) => start >= keepFrom),
    directBuckets: history.directBuckets.filter(([start]) => start >= keepFrom),
  };
}

/**
 * Own connections the Prometheus window's increase() contains. `unsafe` probe times (too close to
 * a window edge to know whether Prometheus counted them) are not subtracted: a phantom plaintext
 * connection is a false "not yet", a wrongly subtracted one could be a false "done".
 */
export function ownInWindow(
  history: NodeHistory,
  startMs: number,
  endMs: number,
  unsafe: ReadonlySet<number>,
): { tcp: number; tls: number } {
  const tcp = history.ownTcpTimesMs.filter((t) => t > startMs && t <= endMs && !unsafe.has(t)).length;
  // TLS buckets wholly inside the window only: over-subtracting TLS would only hide TLS use.
  const tls = history.ownTlsBuckets.filter(([start]) => start > startMs && start <= endMs).reduce((sum, [, n]) => sum + n, 0);
  return { tcp, tls };
}

/**
 * Plaintext connections in Prometheus' increase() over the window that were not our own dials.
 * increase() extrapolates to the window's edges, so the count is fractional: half a connection
 * rounds up. The one rule for both the window count and "plaintext seen" (advance-node.ts).
 */
export function plaintextBeyondOwn(windowIncreaseTcp: number, own: { tcp: number }): number {
  return Math.max(0, Math.round(windowIncreaseTcp - own.tcp));
}

/** Real connections seen by direct scrapes within the window, or null if observation does not cover it. */
export function directWindowCounts(
  history: NodeHistory,
  nowMs: number,
  soakWindowMs: number,
  bucketMs: number,
): { tcp: number; tls: number } | null {
  if (history.firstObservedMs === null || history.firstObservedMs > nowMs - soakWindowMs) return null;
  const from = nowMs - soakWindowMs;
  // A bucket straddling the window start counts when its latest connection is inside the window:
  // the same rule as plaintextLastSeenMs, so the gauge and the blocking reason never disagree.
  return history.directBuckets.reduce(
    (sum, [start, n]) => ({
      tcp: sum.tcp + (start + bucketMs > from && n.lastTcpMs > from ? n.tcp : 0),
      tls: sum.tls + (start + bucketMs > from && n.lastTlsMs > from ? n.tls : 0),
    }),
    { tcp: 0, tls: 0 },
  );
}

/** A check of listen_addr: closed extends (or starts) the closed run; open or unknown ends it. */
export function recordListenerCheck(history: NodeHistory, check: { open: boolean | null; atMs: number }): NodeHistory {
  const listenerClosedSinceMs = check.open === false ? (history.listenerClosedSinceMs ?? check.atMs) : null;
  return listenerClosedSinceMs === history.listenerClosedSinceMs ? history : { ...history, listenerClosedSinceMs };
}
