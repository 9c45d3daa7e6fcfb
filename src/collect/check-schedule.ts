// When a node's periodic checks (the listen_addr dial, the pinned TLS version handshakes with the
// full handshake) are due. Each node has a fixed moment within the interval, taken from its name,
// and a check is due once that moment has come round since the node's last check. A fleet's checks
// are then spread over the interval, instead of every node's falling into the cycle after a start
// and into one cycle every interval after it (at 10,000 nodes that cycle took six minutes, against
// 18 s for the others). The first check runs at once; the second at the node's first moment after
// it, so a node may be checked twice in its first interval; then once per interval, never more than
// an interval (plus the wait for the next cycle) apart, as before.

/** The node's moment within the interval, in [0, intervalMs): FNV-1a of the name, scaled. */
export function checkPhaseMs(node: string, intervalMs: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < node.length; i += 1) {
    hash ^= node.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return Math.floor((hash / 0x1_0000_0000) * intervalMs);
}

/** Whether a check last made at `lastMs` (null: never) is due at `nowMs`. */
export function checkDue(lastMs: number | null | undefined, intervalMs: number, nowMs: number, phaseMs: number): boolean {
  if (lastMs === null || lastMs === undefined) return true;
  // A clock that went back, or an interval that elapsed whatever the phase: due.
  if (nowMs < lastMs || nowMs - lastMs >= intervalMs) return true;
  const round = (t: number): number => Math.floor((t - phaseMs) / intervalMs);
  return round(nowMs) > round(lastMs);
}
