// Collections in slots every replica can compute: each starts at a multiple of
// collection_interval since the Unix epoch, so every exporter watching a fleet dials its nodes in
// the same part of each slot.
//
// Why: a node's TLS count is Gitaly's TLS counter over the window minus every exporter's published
// count of its own TLS connections (gitaly_tls_exporter_tls_connections_total). Prometheus shows a
// dial in Gitaly's counter at Gitaly's next scrape, and in the exporter's counter only after that
// collection has published and the exporter has been scraped. A window edge between those two
// moments counts the dial on one side only: a connection too many or too few. With replicas at
// unrelated phases (one restarted, say), one replica's window edges fell inside another's dials
// and an idle node read 1 or 2 TLS connections. In slots, every replica's dials come after the
// slot's start and are published well before the next one, and windows end at a slot's start.

import { slotStartMs } from '../base/slot.ts';

/** The first slot start at or after `fromMs`. */
export function firstSlotStartFrom(fromMs: number, intervalMs: number): number {
  const start = slotStartMs(fromMs, intervalMs);
  return start === fromMs ? start : start + intervalMs;
}

/**
 * A window end that no replica's dials straddle: in the first half of a slot (the dials of that
 * slot may be in Gitaly's counter and not yet in their exporter's), the slot's start; later in the
 * slot, the time itself, the slot's dials being published by then.
 */
export function windowEndOutsideDials(endMs: number, intervalMs: number): number {
  const start = slotStartMs(endMs, intervalMs);
  return endMs - start < intervalMs / 2 ? start : endMs;
}
