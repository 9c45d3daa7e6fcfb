// When a node's pinned TLS version handshakes (full handshakes, three per node: the costly check)
// fall due. Each node has its own place in the interval, from its name: at 10,000 nodes they spread
// over every collection of the interval instead of all falling due in one. (The listen_addr dial
// stays bunched: see collect/observers/listen-addr.ts.)

import { slotStartMs } from '../base/slot.ts';

/** FNV-1a of the name: stable across restarts and exporters, so peers can compute it too. */
function hash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The node's place in the interval: its checks fall due at multiples of the interval plus this. */
export function slotOffsetMs(name: string, intervalMs: number): number {
  return intervalMs > 0 ? hash(name) % intervalMs : 0;
}

/**
 * The node's first slot after the last check: never later than one interval after it, so no check
 * is ever older than the interval; the first gap after a start may be shorter, every later one is
 * the interval itself. No check yet: due now.
 */
export function nextDueMs(lastMs: number | null | undefined, intervalMs: number, name: string): number {
  if (lastMs === null || lastMs === undefined) return Number.NEGATIVE_INFINITY;
  if (intervalMs <= 0) return lastMs;
  const offset = slotOffsetMs(name, intervalMs);
  return slotStartMs(lastMs - offset, intervalMs) + offset + intervalMs;
}

export function isDue(lastMs: number | null | undefined, intervalMs: number, name: string, nowMs: number): boolean {
  return nowMs >= nextDueMs(lastMs, intervalMs, name);
}
