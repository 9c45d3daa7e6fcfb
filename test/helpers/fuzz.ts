// Shared knobs for the property tests: FUZZ_SEED replays a run, FUZZ_RUNS scales the budget,
// FUZZ_RUN_DEADLINE_MS bounds one run.
import fc from 'fast-check';

const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const RUNS_FACTOR = Number(process.env.FUZZ_RUNS ?? 1);
// Synchronous code cannot be interrupted from the same thread: this catches a run that goes
// super-linear (runaway backtracking, a loop that crawls) with a hundredfold headroom, not a slow machine.
const RUN_DEADLINE_MS = Number(process.env.FUZZ_RUN_DEADLINE_MS ?? 5_000);

export function runs<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns: Math.max(1, Math.round(numRuns * RUNS_FACTOR)), ...(SEED === undefined ? {} : { seed: SEED }) };
}

export function withDeadline<A extends unknown[]>(check: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    const started = performance.now();
    check(...args);
    const took = performance.now() - started;
    if (took > RUN_DEADLINE_MS) throw new Error(`one run took ${Math.round(took)} ms, past the ${RUN_DEADLINE_MS} ms deadline`);
  };
}
