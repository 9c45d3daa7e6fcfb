import { expect } from 'chai';
import { Counter, Gauge, Registry } from 'prom-client';
import { ContractMetric, PageWriter } from '../../src/metrics/definitions.ts';

// The contract registry writes the page itself (prom-client's registry is too costly at fleet
// scale); these tests hold it to prom-client's own output for the same calls, byte for byte.
type Call = ['set', Record<string, string | number> | number, number?] | ['inc', (Record<string, string | number> | number)?, number?];

function oursText(name: string, help: string, labelNames: string[], type: 'gauge' | 'counter', calls: Call[]): string {
  const metric = new ContractMetric(name, help, labelNames, type);
  for (const [op, a, b] of calls) {
    if (op === 'set') metric.set(a, b);
    else metric.inc(a, b);
  }
  const out = new PageWriter();
  metric.writeTo(out);
  return out.text();
}

async function promClientText(name: string, help: string, labelNames: string[], type: 'gauge' | 'counter', calls: Call[]): Promise<string> {
  const registry = new Registry();
  const metric =
    type === 'gauge'
      ? new Gauge({ name, help, labelNames, registers: [registry] })
      : new Counter({ name, help, labelNames, registers: [registry] });
  for (const [op, a, b] of calls) {
    if (op === 'set') (metric as Gauge).set(a as Record<string, string>, b as number);
    else if (a === undefined) (metric as Counter).inc();
    else (metric as Counter).inc(a as Record<string, string>, b);
  }
  return (await registry.metrics()).replace(/\n$/, '');
}

describe('contract metrics written as prom-client writes them', () => {
  const cases: Array<[string, string[], 'gauge' | 'counter', Call[]]> = [
    [
      'a gauge set, overwritten (the later labels object kept in the first place), and set again',
      ['node', 'address'],
      'gauge',
      [
        ['set', { node: 'g1', address: 'g1:9999' }, 1],
        ['set', { node: 'g2', address: 'g2:9999' }, 0.25],
        ['set', { address: 'g1:9999', node: 'g1' }, 0],
      ],
    ],
    [
      'label values that need escaping, numbers as label values, odd values',
      ['node', 'position'],
      'gauge',
      [
        ['set', { node: 'back\\slash "quoted"\nnewline', position: 0 }, 1e21],
        ['set', { node: 'x', position: 1 }, Number.NaN],
        ['set', { node: 'y', position: 2 }, Number.POSITIVE_INFINITY],
        ['set', { node: 'z', position: 3 }, Number.NEGATIVE_INFINITY],
        ['set', { node: 'w', position: 4 }, -0.000001],
      ],
    ],
    [
      'non-ASCII label values, and more series than the writer first holds (past 64 KiB)',
      ['node', 'subject'],
      'gauge',
      Array.from({ length: 2000 }, (_, i): Call => ['set', { node: `gitaly-${i}`, subject: `CN=dépôt-${i} ✓ 🔒 ${'é'.repeat(100)}` }, i]),
    ],
    ['a gauge without labels: 0 until set', [], 'gauge', []],
    ['a gauge without labels, set', [], 'gauge', [['set', 1700000000.123]]],
    ['a labelled metric never set: HELP and TYPE only', ['node'], 'gauge', []],
    [
      'a counter: increments add up, 0 and the default 1',
      ['node', 'type'],
      'counter',
      [
        ['inc', { node: 'g1', type: 'tcp' }, 3],
        ['inc', { node: 'g1', type: 'tls' }, 0],
        ['inc', { type: 'tcp', node: 'g1' }, 2],
        ['inc', { node: 'g2', type: 'tls' }],
      ],
    ],
    [
      'a counter without labels',
      [],
      'counter',
      [
        ['inc', undefined],
        ['inc', 4],
      ],
    ],
  ];
  for (const [what, labelNames, type, calls] of cases) {
    it(what, async () => {
      const help = 'Help with a back\\slash and a\nnewline, and “quotes”.';
      const ours = oursText('gitaly_tls_test_metric', help, labelNames, type, calls);
      expect(ours).to.equal(await promClientText('gitaly_tls_test_metric', help, labelNames, type, calls));
    });
  }

  it('refuses what prom-client refuses: an unknown label, a missing value, a counter going down', () => {
    const gauge = new ContractMetric('m', 'h.', ['node'], 'gauge');
    expect(() => gauge.set({ nod: 'x' }, 1)).to.throw(/"nod" is not included/);
    expect(() => gauge.set({ node: 'x' })).to.throw(TypeError);
    const counter = new ContractMetric('c_total', 'h.', ['node'], 'counter');
    expect(() => counter.inc({ node: 'x' }, -1)).to.throw(/decrease/);
    expect(() => counter.set({ node: 'x' }, 1)).to.throw(/counter/);
  });
});
