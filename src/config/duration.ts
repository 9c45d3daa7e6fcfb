// Durations (Prometheus style: 30s, 1h30m, 7d) and byte sizes (16MiB, 512kB, 1048576).
// Both throw a plain Error whose message quotes the input and says how to write it;
// the config loader turns that into a problem naming the file, line and field.

const DURATION_UNITS = [
  ['y', 365 * 24 * 3_600_000],
  ['w', 7 * 24 * 3_600_000],
  ['d', 24 * 3_600_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

const DURATION_HINT = 'use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m';

/** Milliseconds. "0" is accepted (it is up to the caller whether zero means anything). */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '') throw new Error(`empty duration: ${DURATION_HINT}`);
  if (input.startsWith('-')) throw new Error(`"${input}" is negative: durations must be positive`);
  if (input === '0') return 0;
  if (/^\d+$/.test(input)) throw new Error(`"${input}" has no unit: write e.g. ${input}s or ${input}m`);
  if (/\d[.,]\d/.test(input)) {
    throw new Error(`"${input}" is not a valid duration: fractions are not allowed, combine units instead (e.g. 1h30m, 1500ms)`);
  }

  let total = 0;
  let lastRank = -1;
  let rest = input;
  while (rest !== '') {
    const match = /^(\d+)(ms|[smhdwy])/.exec(rest);
    if (!match) throw new Error(`"${input}" is not a valid duration: ${DURATION_HINT}`);
    const [token, digits, unit] = match as unknown as [string, string, string];
    const rank = DURATION_UNITS.findIndex(([name]) => name === unit);
    if (rank <= lastRank) {
      throw new Error(`"${input}" is not a valid duration: units must go from largest to smallest, each once (e.g. 1h30m)`);
    }
    lastRank = rank;
    total += Number(digits) * DURATION_UNITS[rank]![1];
    rest = rest.slice(token.length);
  }
  if (!Number.isSafeInteger(total)) throw new Error(`"${input}" is too long`);
  return total;
}

/** The shortest exact rendering with d, h, m, s and ms (7d, 1h30m, 1500ms → 1s500ms). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of DURATION_UNITS) {
    if (unit === 'y' || unit === 'w') continue;
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}

const BYTE_UNITS = new Map<string, number>([
  ['', 1],
  ['B', 1],
  ['kB', 1_000],
  ['MB', 1_000_000],
  ['GB', 1_000_000_000],
  ['KiB', 1_024],
  ['MiB', 1_024 ** 2],
  ['GiB', 1_024 ** 3],
]);

/** Bytes, from a whole number or a string like 512KiB, 16MiB, 1GiB, 500kB, 64MB. */
export function parseByteSize(value: string | number): number {
  if (typeof value === 'number') {
    if (value < 0) throw new Error(`${value} is negative: sizes must be positive`);
    if (!Number.isSafeInteger(value)) throw new Error(`${value} is not a whole number of bytes`);
    return value;
  }
  const input = value.trim();
  if (input === '') throw new Error('empty size: write bytes or a size like 512KiB or 16MiB');
  if (input.startsWith('-')) throw new Error(`"${input}" is negative: sizes must be positive`);
  if (/\d[.,]\d/.test(input)) {
    throw new Error(`"${input}" is not a valid size: fractions are not allowed, use a smaller unit (e.g. 1536KiB)`);
  }
  const match = /^(\d+) ?([A-Za-z]*)$/.exec(input);
  if (!match) throw new Error(`"${input}" is not a valid size: write bytes or a size like 512KiB or 16MiB`);
  const [, digits, unit] = match as unknown as [string, string, string];
  const multiplier = BYTE_UNITS.get(unit);
  if (multiplier === undefined) {
    throw new Error(`"${input}" has an unknown unit "${unit}": use B, kB, MB, GB, KiB, MiB or GiB`);
  }
  const bytes = Number(digits) * multiplier;
  if (!Number.isSafeInteger(bytes)) throw new Error(`"${input}" is too large`);
  return bytes;
}
