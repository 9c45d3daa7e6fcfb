// The simulated node's gRPC listeners close and open again (a restart, listen_addr removed), so
// they take ports outside the kernel's ephemeral range. A port that listen(0) gave comes from that
// range, and once closed it may go to the very next listen(0) or outgoing connection of any process
// on the machine: a probe of the "removed" listen_addr would then reach a stranger, and a restart
// could find its port taken (test files running in parallel, a benchmark beside the demo).
import { readFileSync } from 'node:fs';

export interface PortRange {
  low: number;
  high: number;
}

const LOWEST = 10_000;

/** Ports below the ephemeral range, or null when that range leaves too few (then listen(0) it is). */
export function stablePortRange(procFile = '/proc/sys/net/ipv4/ip_local_port_range'): PortRange | null {
  try {
    const low = Number(readFileSync(procFile, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 2_000 ? { low: LOWEST, high: low - 1 } : null;
  } catch {
    return null;
  }
}

export function randomPort(range: PortRange, random: () => number = Math.random): number {
  return range.low + Math.floor(random() * (range.high - range.low + 1));
}

/** Runs `open` on random ports of the range until one is free (a few tries), else on an ephemeral port. */
export async function openOnStablePort<T>(open: (port: number) => Promise<T>, range = stablePortRange(), tries = 20): Promise<T> {
  for (let i = 0; range && i < tries; i += 1) {
    try {
      return await open(randomPort(range));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return open(0);
}
