// The arithmetic that decides which timings a configuration may have: the exporter keeps its own
// plaintext dials a slack away from the Prometheus window's edges (src/migration/query-window.ts),
// which only works when dials and the soak window are long enough. The loader checks it; the
// runtime policy (src/migration/timing.ts) builds on it.

/**
 * How far own dials must stay from the Prometheus window's edges: two scrape intervals, plus time
 * for a slow scrape (a sample is stamped when the scrape starts, but Gitaly counts until it renders).
 */
export function querySlackMs(scrapeIntervalMs: number): number {
  return 2 * scrapeIntervalMs + 5_000;
}

/**
 * A dial just before now moves the window's end back up to two slacks, plus the spread of one
 * cycle's dials across nodes (allowed: up to one slack); the previous cycle's dials must then still
 * be a slack before that end. Hence dials at least three slacks apart, and a soak window of at
 * least six, so that moving the end never takes more than half of it. The configuration enforces both.
 */
export const MIN_DIAL_SPACING_SLACKS = 3;
export const MIN_SOAK_SLACKS = 6;
