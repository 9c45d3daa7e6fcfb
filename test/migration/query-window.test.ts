import { expect } from 'chai';
import { chooseQueryWindow } from '../../src/migration/query-window.ts';

const MIN = 60_000;
const NOW = Date.UTC(2026, 10, 25, 12);
const W = 7 * 24 * 60 * MIN;
const OPTS = { soakWindowMs: W, slackMs: 2 * MIN, maxShiftMs: 60 * MIN };

describe('choosing the Prometheus query window around own dials', () => {
  it('is exactly the soak window ending now when no own dial is near an edge', () => {
    const w = chooseQueryWindow(NOW, [NOW - 3 * 24 * 60 * MIN], OPTS);
    expect(w).to.deep.equal({ startMs: NOW - W, endMs: NOW, unsafe: new Set() });
  });

  it('ends before a dial made just now, which Prometheus has not scraped yet', () => {
    const dial = NOW - 30_000;
    const w = chooseQueryWindow(NOW, [dial], OPTS);
    expect(w.endMs).to.equal(dial - 2 * MIN);
    expect(w.startMs).to.equal(NOW - W);
    expect(w.unsafe.size).to.equal(0);
  });

  it('moves the end past a lone recent dial even when the configured shift limit is smaller', () => {
    const dial = NOW - 3_350;
    const w = chooseQueryWindow(NOW, [dial], { soakWindowMs: W, slackMs: 7_000, maxShiftMs: 10_000 });
    expect(w.endMs).to.equal(dial - 7_000);
    expect(w.unsafe.size).to.equal(0);
  });

  it('starts earlier than the soak window when a dial sits just after its start', () => {
    const dial = NOW - W + 20_000;
    const w = chooseQueryWindow(NOW, [dial], OPTS);
    expect(w.startMs).to.equal(dial - 2 * MIN);
    expect(w.startMs).to.be.below(NOW - W);
    expect(w.unsafe.size).to.equal(0);
  });

  it('keeps moving past a run of dials near an edge', () => {
    const dials = [NOW - 10_000, NOW - 100_000, NOW - 200_000];
    const w = chooseQueryWindow(NOW, dials, OPTS);
    for (const d of dials) expect(Math.abs(d - w.endMs)).to.be.at.least(2 * MIN);
  });

  it('marks dials it cannot move away from as unsafe rather than shifting without bound', () => {
    const dense = Array.from({ length: 200 }, (_, i) => NOW - i * 30_000);
    const w = chooseQueryWindow(NOW, dense, OPTS);
    expect(NOW - w.endMs).to.be.at.most(60 * MIN + 2 * MIN);
    expect(w.unsafe.size).to.be.greaterThan(0);
    for (const d of w.unsafe) expect(Math.abs(d - w.endMs) < 2 * MIN || Math.abs(d - w.startMs) < 2 * MIN).to.be.true;
  });
});
