import { expect } from 'chai';
import { checkDue, checkPhaseMs } from '../../src/collect/check-schedule.ts';

const HOUR = 3_600_000;
const CYCLE = 30_000;

/** Runs cycles every 30 s for `hours` and returns, per node, the times it was checked. */
function simulate(names: string[], hours: number): Map<string, number[]> {
  const checks = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let now = 0; now <= hours * HOUR; now += CYCLE) {
    for (const name of names) {
      const times = checks.get(name)!;
      if (checkDue(times.at(-1), HOUR, now, checkPhaseMs(name, HOUR))) times.push(now);
    }
  }
  return checks;
}

describe('periodic check schedule', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `gitaly-${i + 1}.example.com`);

  it('checks a node at once the first time', () => {
    expect(checkDue(null, HOUR, 5, checkPhaseMs('gitaly-1', HOUR))).to.equal(true);
    expect(checkDue(undefined, HOUR, 5, checkPhaseMs('gitaly-1', HOUR))).to.equal(true);
  });

  it('gives each node a fixed moment within the interval, spread evenly over a fleet', () => {
    expect(checkPhaseMs('gitaly-7', HOUR)).to.equal(checkPhaseMs('gitaly-7', HOUR));
    const tenths = new Array<number>(10).fill(0);
    for (const name of names) {
      const phase = checkPhaseMs(name, HOUR);
      expect(phase).to.be.within(0, HOUR - 1);
      tenths[Math.floor((phase / HOUR) * 10)]! += 1;
    }
    // 100 per tenth if perfectly even.
    for (const n of tenths) expect(n).to.be.within(60, 140);
  });

  it('spreads a fleet’s checks over the interval instead of one cycle every hour', () => {
    const checks = simulate(names, 3);
    const perCycle = new Map<number, number>();
    for (const times of checks.values()) for (const t of times) perCycle.set(t, (perCycle.get(t) ?? 0) + 1);
    expect(perCycle.get(0), 'every node at the first cycle').to.equal(1000);
    // 1000 nodes over 120 cycles an hour: about 8 a cycle.
    const later = [...perCycle].filter(([t]) => t > 0).map(([, n]) => n);
    expect(Math.max(...later)).to.be.at.most(40);
  });

  it('checks each node once per interval, never more than an interval and a cycle apart', () => {
    for (const [name, times] of simulate(names.slice(0, 200), 3)) {
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect(Math.max(...gaps), name).to.be.at.most(HOUR + CYCLE);
      // After the first two checks, once per interval.
      for (const gap of gaps.slice(1)) expect(gap, name).to.be.within(HOUR - CYCLE, HOUR + CYCLE);
      expect(times.filter((t) => t < HOUR).length, name).to.be.within(1, 2);
    }
  });

  it('is not due again before the node’s moment comes round, and is due when the clock went back', () => {
    const phase = checkPhaseMs('gitaly-1', HOUR);
    const last = 10 * HOUR + phase + 1_000; // just after this hour's moment
    expect(checkDue(last, HOUR, last + HOUR - 2_000, phase)).to.equal(false);
    expect(checkDue(last, HOUR, last + HOUR - 1_000, phase)).to.equal(true);
    expect(checkDue(last, HOUR, last - 1, phase)).to.equal(true);
  });
});
