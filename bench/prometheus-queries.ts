// Section 6: Prometheus queries per collection must not grow with the fleet (one query set covers
// every node). Counted by the fake Prometheus during each measured cycle.
import type { ScaleRun } from './cycle.ts';
import { met, notMeasured, type Row } from './report.ts';

export function prometheusRows(runs: ScaleRun[], smallest: number, largest: number, skipped: string | null): Row[] {
  const what = `Prometheus queries per collection, ${smallest} vs ${largest} nodes`;
  const target = 'the same number';
  const small = runs.find((r) => r.scale === smallest && !r.certificateFiles);
  const big = runs.find((r) => r.scale === largest && !r.certificateFiles);
  if (!small || !big) return [notMeasured('6', what, target, skipped ?? 'a scale did not run')];
  return [
    {
      section: '6',
      what,
      ours: `${big.queries} at ${largest} nodes`,
      baseline: `${small.queries} at ${smallest} nodes`,
      target,
      met: met(big.queries === small.queries && small.queries > 0),
      data: Object.fromEntries(runs.map((r) => [`queriesAt${r.scale}${r.certificateFiles ? 'WithCertificateFiles' : ''}`, r.queries])),
    },
  ];
}
