/** The start of the slot of `intervalMs` that `atMs` is in, slots starting at multiples of the interval since the epoch. */
export function slotStartMs(atMs: number, intervalMs: number): number {
  return atMs - (((atMs % intervalMs) + intervalMs) % intervalMs);
}
