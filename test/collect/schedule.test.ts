import { expect } from 'chai';
import { isDue, nextDueMs, slotOffsetMs } from '../../src/collect/schedule.ts';

const HOUR = 3_600_000;
const COLLECTION = 30_000;

describe('periodic checks: when each node falls due', () => {
  it('is due at once when never checked', () => {
    expect(isDue(null, HOUR, 'gitaly-1', 0)).to.equal(true);
    expect(isDue(undefined, HOUR, 'gitaly-1', 0)).to.equal(true);
  });

  it('is never later than one interval after the last check, and every later gap is the interval itself', () => {
    for (const name of ['gitaly-1', 'gitaly-2', 'f3-gitaly-0042', 'praefect-1']) {
      const first = nextDueMs(1_000, HOUR, name);
      expect(first, name).to.be.greaterThan(1_000);
      expect(first - 1_000, name).to.be.at.most(HOUR);
      expect(nextDueMs(first, HOUR, name) - first, name).to.equal(HOUR);
    }
  });

  it('spreads 10,000 nodes checked in one collection over the collections of the next interval', () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `f${(i % 4) + 1}-gitaly-${String(i).padStart(4, '0')}`);
    const perCollection = new Map<number, number>();
    for (const name of names) {
      const at = Math.floor((nextDueMs(0, HOUR, name) - 1) / COLLECTION);
      perCollection.set(at, (perCollection.get(at) ?? 0) + 1);
    }
    const collections = HOUR / COLLECTION;
    expect(perCollection.size, 'collections that hold some checks').to.equal(collections);
    const most = Math.max(...perCollection.values());
    // Evenly spread is 83 a collection; all in one (the old behaviour) is 10,000.
    expect(most).to.be.below((1.5 * names.length) / collections);
  });

  it('places a node by its name alone, so every exporter computes the same slot', () => {
    // FNV-1a of the name, modulo the interval: a fixed number, whatever process computes it.
    expect(slotOffsetMs('gitaly-7', HOUR)).to.equal(1_364_229);
    expect(slotOffsetMs('gitaly-7', HOUR)).to.not.equal(slotOffsetMs('gitaly-8', HOUR));
  });
});
