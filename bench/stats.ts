// Small numeric helpers shared by the benchmark sections. Pure, so they are unit-tested.

/** Nearest-rank percentile (p in 0..100) of a non-empty list; NaN for an empty one. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Fixed-precision text for a measured figure: 3 significant digits, no exponent. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return value.toFixed(Math.min(decimals, 6));
}

export const MB = 1_000_000;
export const MIB = 1024 * 1024;

/** Milliseconds of CPU (user + system) between two process.cpuUsage() readings. */
export function cpuMsBetween(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
  return (after.user - before.user + after.system - before.system) / 1000;
}

/** utime + stime (clock ticks) from the text of /proc/<pid>/stat; the command name may hold spaces or parentheses. */
export function cpuTicksFromStat(stat: string): number {
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after "pid (comm) " start at field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(afterName[14 - 3]);
  const stime = Number(afterName[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc/<pid>/stat line');
  return utime + stime;
}

/** A "Vm…: N kB" field of /proc/<pid>/status, in bytes; null when absent. */
export function statusFieldBytes(status: string, field: string): number | null {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : null;
}

/** The soft "Max open files" limit from the text of /proc/<pid>/limits; null when unlimited or unreadable. */
export function openFileLimit(limits: string): number | null {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match || match[1] === 'unlimited') return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}
