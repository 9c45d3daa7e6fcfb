import { expect } from 'chai';
import { slotStartMs } from '../../src/base/slot.ts';
import { firstSlotStartFrom, windowEndOutsideDials } from '../../src/cycle/slots.ts';

const T0 = Date.UTC(2026, 10, 25, 8);

describe('collection slots', () => {
  it('puts every time in the slot that starts at the multiple of the interval at or before it', () => {
    expect(slotStartMs(T0, 30_000)).to.equal(T0);
    expect(slotStartMs(T0 + 29_999, 30_000)).to.equal(T0);
    expect(slotStartMs(T0 + 30_000, 30_000)).to.equal(T0 + 30_000);
  });

  it('finds the first slot start at or after a time', () => {
    expect(firstSlotStartFrom(T0, 5_000)).to.equal(T0);
    expect(firstSlotStartFrom(T0 + 1, 5_000)).to.equal(T0 + 5_000);
    expect(firstSlotStartFrom(T0 + 4_999, 5_000)).to.equal(T0 + 5_000);
  });

  it('ends a window at the slot’s start in the first half of a slot, where its dials are not all published yet, else where asked', () => {
    expect(windowEndOutsideDials(T0, 5_000)).to.equal(T0);
    expect(windowEndOutsideDials(T0 + 2_499, 5_000)).to.equal(T0);
    expect(windowEndOutsideDials(T0 + 2_500, 5_000)).to.equal(T0 + 2_500);
    expect(windowEndOutsideDials(T0 + 4_999, 5_000)).to.equal(T0 + 4_999);
  });
});
