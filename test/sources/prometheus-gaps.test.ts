// Gaps in Prometheus' samples of a node: which lose nothing (the same process on both sides, the
// counter followed across), and which may hide connections (a restart inside).
import { expect } from 'chai';
import type { ScrapeGap } from '../../src/evidence/evidence.ts';
import { bridgedShare, countLookbackMs } from '../../src/sources/prometheus.ts';
import { parseGaps } from '../../src/sources/prometheus-steps.ts';
import type { PrometheusSeries } from '../../src/sources/prometheus-client.ts';

const s = (seconds: number): number => seconds * 1000;
const series = (part: string, points: Array<[number, number]>, instance = 'g1:9236'): PrometheusSeries => ({
  labels: { instance, gte_part: part },
  points: points.map(([t, v]) => [s(t), v]),
});

describe('prometheus: gaps in the node’s samples', () => {
  it('reads each run of failed scrapes, and the restart that shows where it ends', () => {
    const gaps = parseGaps(
      [
        series('gap_start', [
          [100, 0],
          [300, 0],
        ]),
        series('gap_end', [
          [110, 1],
          [320, 1],
        ]),
        series('restart', [[320, 315.5]]),
        series('delta', [[120, 2]]),
      ],
      'instance',
      { startMs: 0, endMs: s(400) },
    ).get('g1:9236');
    expect(gaps).to.deep.equal([
      { startMs: s(100), endMs: s(110), restartMs: null },
      { startMs: s(300), endMs: s(320), restartMs: 315_500 },
    ]);
  });

  it('a gap still running ends now; one that ran when the range began starts at the range’s start', () => {
    const range = { startMs: s(5), endMs: s(400) };
    const running = parseGaps([series('gap_start', [[390, 0]])], 'instance', range).get('g1:9236');
    expect(running).to.deep.equal([{ startMs: s(390), endMs: s(400), restartMs: null, ongoing: true }]);
    const before = parseGaps([series('gap_end', [[20, 1]])], 'instance', range).get('g1:9236');
    expect(before).to.deep.equal([{ startMs: s(5), endMs: s(20), restartMs: null }]);
  });

  it('counts as covered only the gaps the counters bridge: no restart, and no longer than the count looks back', () => {
    const gaps: ScrapeGap[] = [
      { startMs: s(10), endMs: s(28), restartMs: null },
      { startMs: s(40), endMs: s(50), restartMs: s(45) },
      { startMs: s(60), endMs: s(200), restartMs: null },
      { startMs: s(80), endMs: s(90), restartMs: null, ongoing: true },
    ];
    const lookback = countLookbackMs(90, 1);
    expect(lookback).to.equal(s(90));
    expect(bridgedShare(gaps, 0, s(90), lookback)).to.be.closeTo(18 / 90, 1e-9);
    expect(gaps.map((g) => g.bridged)).to.deep.equal([true, false, false, false]);
    // A 7-day window still looks back an hour, as before (3 steps of 20 min).
    expect(countLookbackMs(7 * 86_400, 1210)).to.equal(3 * 1210 * 1000);
  });
});
