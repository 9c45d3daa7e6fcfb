// New plaintext and TLS connections per bucket over the soak window, from the history the exporter
// already keeps (direct scrapes, own connections excluded): what the status page and the node page
// draw, and what /migration lists, so the picture and the numbers cannot disagree. Sparse: only
// buckets that saw a connection are listed; inside the known span a missing bucket is a real zero,
// outside it nothing was observed and the chart must say so (a gap), never draw zero.
import type { NodeHistory } from '../migration/types.ts';

export interface ConnectionChart {
  /** The span drawn: a little before the soak window starts (so its start can be marked) up to now. */
  fromMs: number;
  toMs: number;
  windowStartMs: number;
  bucketMs: number;
  /** Where the counts are known: from the start of continuous observation to the latest scrape. */
  known: { fromMs: number; toMs: number } | null;
  /** Why nothing is known; null when `known` is set. */
  why: string | null;
  /** Buckets with at least one new connection, oldest first; own connections excluded. */
  buckets: Array<{ startMs: number; tcp: number; tls: number }>;
  /** The last plaintext connection that was not the exporter's own (any source), when inside the span. */
  plaintextLastSeenMs: number | null;
}

export interface ChartOptions {
  nowMs: number;
  soakWindowMs: number;
  bucketMs: number;
  /** Why nothing can be drawn when the exporter does not scrape the node itself (null: it does). */
  notScrapedWhy?: string | null;
}

/** The history keeps a margin before the window (history.ts prune): a twentieth of it is always there. */
const LEAD_FRACTION = 1 / 20;

export function connectionChart(history: NodeHistory, plaintextLastSeenMs: number | null, o: ChartOptions): ConnectionChart {
  const windowStartMs = o.nowMs - o.soakWindowMs;
  const fromMs = windowStartMs - Math.round(o.soakWindowMs * LEAD_FRACTION);
  const toMs = o.nowMs;
  const first = history.firstObservedMs;
  const last = history.lastScrapeMs;
  const observed = first !== null && last !== null && last > fromMs && first < toMs;
  const known = observed ? { fromMs: Math.max(fromMs, first), toMs: Math.min(toMs, last) } : null;
  const why = observed
    ? null
    : o.notScrapedWhy
      ? o.notScrapedWhy
      : first === null || last === null
        ? 'the node’s metrics page has not been scraped successfully yet'
        : 'no successful scrape of the node’s metrics page inside the soak window';
  const buckets = history.directBuckets
    .filter(([start, n]) => start + o.bucketMs > fromMs && start <= toMs && (n.tcp > 0 || n.tls > 0))
    .map(([startMs, n]) => ({ startMs, tcp: n.tcp, tls: n.tls }));
  const lastSeen =
    plaintextLastSeenMs !== null && plaintextLastSeenMs >= fromMs && plaintextLastSeenMs <= toMs ? plaintextLastSeenMs : null;
  return { fromMs, toMs, windowStartMs, bucketMs: o.bucketMs, known, why, buckets, plaintextLastSeenMs: lastSeen };
}
