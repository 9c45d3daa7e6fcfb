// The timing and coverage policy of the migration verdict, in one place: how long own dials are
// remembered, how far the Prometheus window may move, how much of it must be covered, how peer
// exporters' dials are told from clients. Every number derives from the configuration and its
// defaults; the collector asks here and holds none of its own.
import { DEFAULTS } from '../config/schema.ts';
import { querySlackMs } from '../config/timing-limits.ts';
import type { Config } from '../config/types.ts';
import type { HistoryOptions } from './history.ts';
import type { SeenOptions } from './last-seen.ts';
import type { QueryWindowOptions } from './query-window.ts';
import type { VerdictOptions } from './verdict.ts';

export interface TimingPolicy {
  /** How far own dials stay from the Prometheus window's edges. */
  slackMs: number;
  history: HistoryOptions;
  verdict: VerdictOptions;
  queryWindow: QueryWindowOptions;
  seen: SeenOptions;
  canary: { slackMs: number; bucketMs: number; minCoverage: number };
}

export function timingPolicy(config: Config): TimingPolicy {
  const scrapeMs = config.prometheus?.scrapeIntervalMs ?? DEFAULTS.scrapeIntervalMs;
  const slackMs = querySlackMs(scrapeMs);
  // A dial just before now needs the window's end moved back up to two slacks; allow a margin beyond.
  const maxShiftMs = Math.max(4 * slackMs, config.soakWindowMs / 20);
  const bucketMs = Math.max(config.collectionIntervalMs, Math.floor(config.soakWindowMs / 168));
  const minCoverage = DEFAULTS.minCoverage;
  return {
    slackMs,
    history: {
      soakWindowMs: config.soakWindowMs,
      maxGapMs: 3 * config.collectionIntervalMs + config.timeouts.metricsMs,
      bucketMs,
      // Own dials must outlive the furthest the query window's start may move back.
      retentionMarginMs: maxShiftMs + slackMs,
    },
    verdict: { soakWindowMs: config.soakWindowMs, expiryWarningMs: config.expiryWarningMs, bucketMs, minCoverage },
    queryWindow: { soakWindowMs: config.soakWindowMs, slackMs, maxShiftMs },
    seen: {
      soakWindowMs: config.soakWindowMs,
      toleranceMs: slackMs,
      skewMs: 1_000,
      // A peer publishes a dial when its cycle ends; Prometheus scrapes it within an interval.
      settleMs: config.collectionIntervalMs + 2 * scrapeMs + 5_000,
      // A check falls due at its announced time and runs in the next collection (up to an interval
      // later, then up to its timeouts into it); its record is published when that collection ends
      // and scraped within a scrape interval. Generous: a slow record only delays a real client's count.
      lateMs: 2 * config.collectionIntervalMs + config.timeouts.metricsMs + config.timeouts.tlsMs + config.timeouts.plaintextMs,
      recordDelayMs: 2 * config.collectionIntervalMs + 3 * scrapeMs + config.timeouts.prometheusMs,
    },
    canary: { slackMs, bucketMs, minCoverage },
  };
}
