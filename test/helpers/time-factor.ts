// How patient tests are. Every deadline a test waits on (waitFor, pollUntil, mocha timeouts, stop
// grace periods) is multiplied by this factor, so a busy machine (a shared CI runner, CPU hogs
// beside the suite) makes tests slower, not red. A passing test never waits longer for it: waits
// end at the event they wait for. Only a failing test takes longer to report.
//
// TEST_TIME_FACTOR overrides; otherwise 2 locally and 4 when CI=true.
// (The .mocharc.cjs default timeout uses the same rule; keep them in step.)

function readFactor(): number {
  const raw = process.env.TEST_TIME_FACTOR;
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`TEST_TIME_FACTOR must be a positive number, not "${raw}"`);
    return value;
  }
  return process.env.CI === 'true' ? 4 : 2;
}

export const TIME_FACTOR = readFactor();

/** A deadline of `ms` on a quiet machine, scaled for this one. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_FACTOR);
}
