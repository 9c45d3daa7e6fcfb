// Which growths of a node's plaintext counter were real clients, and when the last one was.
//
// Prometheus gives every step at which Gitaly's tcp counter grew (how much, and the timestamp of
// the sample that first showed it). Every exporter's dials are known too: this exporter's own
// (its history) and all exporters' published ones (the dial gauge in the same Prometheus). A dial
// at d lands in the first sample scraped after it, so it explains one count of a change stamped in
// (d - skew, d + tolerance], or of a later change whose previous sample was scraped before d (no
// sample in between could have shown it). What no dial explains is a real client. Matching is greedy in time
// order, which explains as many counts as the dials can (dials are never counted twice, a change
// never explains more than it grew), so the unexplained counts are exact whenever each dial did
// land in Gitaly's counter; a dial lost to a restart could hide one real count next to it, as the
// window totals already accept.
import type { TcpChange } from '../evidence/evidence.ts';

export interface ExplainOptions {
  /** How long after a dial its count can first show up in a sample (scrape interval + slow scrape). */
  toleranceMs: number;
  /** How long before a dial a sample may be stamped and still hold it (the scrape rendered after the accept; clock skew). */
  skewMs: number;
}

/** Merges dial lists: the same dial published and remembered locally is one dial. */
export function mergeDials(...lists: ReadonlyArray<readonly number[]>): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** The changes, less the counts the dials explain; changes fully explained are left out. */
export function unexplainedChanges(changes: readonly TcpChange[], dialsMs: readonly number[], o: ExplainOptions): TcpChange[] {
  const left = [...changes].sort((a, b) => a.atMs - b.atMs).map((c) => ({ ...c }));
  let from = 0;
  for (const d of [...dialsMs].sort((a, b) => a - b)) {
    // Changes before this dial's reach are before every later dial's reach too.
    while (from < left.length && left[from]!.atMs <= d - o.skewMs) from += 1;
    // The dial's count is in the first sample stamped after it; one stamped just before it (a
    // scrape that began before the accept and rendered after) only when there is none.
    let pick = -1;
    for (let i = from; i < left.length && left[i]!.atMs <= d + o.toleranceMs; i += 1) {
      if (left[i]!.n < 0.5) continue;
      if (left[i]!.atMs > d) {
        pick = i;
        break;
      }
      if (pick < 0) pick = i;
    }
    // None within reach: Prometheus may have taken no sample for a while (a busy or restarted
    // Prometheus, failed scrapes). The first change after the dial holds it if the sample before
    // that change was scraped before the dial: no sample came between them to show it.
    if (pick < 0) {
      let next = from;
      while (next < left.length && left[next]!.atMs <= d) next += 1;
      const c = left[next];
      if (c && c.n >= 0.5 && c.prevSampleMs !== undefined && c.prevSampleMs <= d) pick = next;
    }
    // Prometheus' counts are whole numbers; a dial explains at most one.
    if (pick >= 0) left[pick]!.n = Math.max(0, left[pick]!.n - 1);
  }
  return left.filter((c) => c.n >= 0.5);
}

export interface PlaintextSince {
  /** Real plaintext connections stamped after `fromMs`. */
  count: number;
  /** Time of the latest real plaintext change (any time in the range), or null. */
  lastSeenMs: number | null;
}

export function plaintextSince(unexplained: readonly TcpChange[], fromMs: number): PlaintextSince {
  let count = 0;
  let lastSeenMs: number | null = null;
  for (const c of unexplained) {
    if (c.atMs > fromMs) count += Math.round(c.n);
    if (lastSeenMs === null || c.atMs > lastSeenMs) lastSeenMs = c.atMs;
  }
  return { count, lastSeenMs };
}

/**
 * The latest real change that may be kept for good (the state file): one old enough that every
 * exporter's dial behind it has reached Prometheus. A younger one still counts in the verdict
 * now, but is not remembered: if a peer's dial record arrives later and explains it, it vanishes.
 */
export function settledLastSeen(unexplained: readonly TcpChange[], nowMs: number, settleMs: number): number | null {
  let latest: number | null = null;
  for (const c of unexplained) if (c.atMs <= nowMs - settleMs && (latest === null || c.atMs > latest)) latest = c.atMs;
  return latest;
}

export interface SeenOptions extends ExplainOptions {
  soakWindowMs: number;
  settleMs: number;
  /** How long after its announced time a dial may still be made (the check falls due at the next collection). */
  lateMs: number;
  /** How long after the dial its record may take to reach Prometheus before the change counts as a client. */
  recordDelayMs: number;
}

/**
 * Counts an announced dial may stand for: each plan (a peer's, or this exporter's) that no dial done
 * has answered yet, and whose record may still be on its way, holds back one count of the first
 * unexplained change within its reach. Once the dial's record arrives it explains that count for
 * good; if none arrives in time the count is a client after all. The changes are left unchanged.
 */
export function heldByPlans(
  unexplained: readonly TcpChange[],
  plannedMs: readonly number[],
  doneMs: readonly number[],
  nowMs: number,
  o: SeenOptions,
): Map<TcpChange, number> {
  const held = new Map<TcpChange, number>();
  const waiting = plannedMs.filter(
    (p) => nowMs <= p + o.lateMs + o.recordDelayMs && !doneMs.some((d) => d >= p - o.skewMs && d <= p + o.lateMs),
  );
  for (const p of [...waiting].sort((a, b) => a - b)) {
    const c = unexplained.find((x) => x.atMs > p - o.skewMs && x.atMs <= p + o.lateMs + o.toleranceMs && x.n - (held.get(x) ?? 0) >= 0.5);
    if (c) held.set(c, (held.get(c) ?? 0) + 1);
  }
  return held;
}

export interface NodePlaintextSeen {
  /** Real plaintext connections in the soak window (every exporter's dials excluded). */
  windowTcp: number;
  /** "Plaintext last seen" for the verdict now: the remembered value or a younger real change. */
  lastSeenMs: number | null;
  /** What to remember (the state file): the previous value or a settled real change, whichever is later. */
  rememberMs: number | null;
  /** Young unexplained counts held back because another exporter's dial record may still be on its way. */
  pendingTcp: number;
}

/**
 * Prometheus' changes of one node's tcp counter, less the dials of every exporter (this one's
 * remembered ones and all published ones), judged at `nowMs`. `rememberedMs` is the last seen
 * time kept from earlier cycles (never one of this cycle's direct scrapes: those cannot tell a
 * peer's dial from a client, and Prometheus sees the same accepts).
 *
 * Where other exporters dial the node too, a peer publishes a dial when its cycle ends and
 * Prometheus scrapes that a little later, possibly after it scraped Gitaly's counter: a single
 * unexplained count younger than `settleMs` is then held back (pendingTcp) instead of flapping the
 * verdict; it counts as soon as it is older, unless a dial record has explained it by then.
 * Without peers nothing is held back.
 */
export function plaintextSeenFromChanges(
  changes: readonly TcpChange[],
  dials: { ownMs: readonly number[]; publishedMs: readonly number[]; plannedMs?: readonly number[]; restartsMs?: readonly number[] },
  remembered: number | null,
  nowMs: number,
  o: SeenOptions,
  /** Where Prometheus covered the node throughout since this time, its changes replace a remembered
   *  value after it (one an older version, or a direct scrape during a Prometheus outage, took from a dial). */
  coveredFromMs: number | null = null,
): NodePlaintextSeen {
  const rememberedMs = remembered !== null && coveredFromMs !== null && remembered > coveredFromMs ? null : remembered;
  const done = mergeDials(dials.ownMs, dials.publishedMs);
  const explained = unexplainedChanges(changes, done, o);
  // A peer's dial announced ahead and not yet on record is no client until its record is late.
  const planned = heldByPlans(explained, dials.plannedMs ?? [], done, nowMs, o);
  const left = (list: readonly TcpChange[], held: Map<TcpChange, number>): TcpChange[] =>
    list.flatMap((c) => {
      const n = c.n - (held.get(c) ?? 0);
      return n >= 0.5 ? [{ ...c, n }] : [];
    });
  const own = new Set(dials.ownMs);
  const peers = dials.publishedMs.some((d) => !own.has(d));
  // A Gitaly restart announces a dial of every exporter: each checks listen_addr again right after
  // it. With peers, a count there waits for a peer's record the same way (this exporter's own
  // re-check is no answer for the peer's).
  const peerDone = dials.publishedMs.filter((d) => !own.has(d));
  const afterPlans = left(explained, planned);
  const restarted = peers ? heldByPlans(afterPlans, dials.restartsMs ?? [], peerDone, nowMs, o) : new Map<TcpChange, number>();
  const real = left(afterPlans, restarted);
  const young = real.filter((c) => c.atMs > nowMs - o.settleMs);
  const hold = peers && young.length === 1 && Math.round(young[0]!.n) === 1;
  const judged = hold ? real.filter((c) => c !== young[0]) : real;
  const since = plaintextSince(judged, nowMs - o.soakWindowMs);
  const settled = settledLastSeen(real, nowMs, o.settleMs);
  const later = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));
  return {
    windowTcp: since.count,
    lastSeenMs: later(rememberedMs, since.lastSeenMs),
    rememberMs: later(rememberedMs, settled),
    pendingTcp: (hold ? 1 : 0) + [...planned.values(), ...restarted.values()].reduce((a, b) => a + b, 0),
  };
}
