// The per-change helpers that read raw samples.
import { expect } from 'chai';
import { latestSampleBefore } from '../../src/sources/prometheus-steps.ts';

describe('prometheus steps: latestSampleBefore', function () {
  it('takes the latest sample before the change, never a staleness marker (NaN, as VictoriaMetrics returns them)', function () {
    const series = [
      {
        labels: { instance: 'g1:9236' },
        points: [
          [1_000, 3],
          [2_000, 3],
          [3_000, Number.NaN],
          [9_000, 4],
        ] as Array<[number, number]>,
      },
    ];
    expect(latestSampleBefore(series, 9_000)).to.equal(2_000);
    expect(latestSampleBefore(series, 1_000)).to.equal(undefined);
  });
});
