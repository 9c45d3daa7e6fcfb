import { expect } from 'chai';
import { ReverseDnsCache, type ReverseLookup } from '../../src/peers/reverse-dns.ts';

/** A fake resolver: answers from a table, fails with ENOTFOUND, or never answers; counts calls. */
function fakeLookup(table: Record<string, string[] | 'hang' | 'fail'>): { lookup: ReverseLookup; calls: string[]; release: () => void } {
  const calls: string[] = [];
  const hung: Array<() => void> = [];
  const lookup: ReverseLookup = (ip) => {
    calls.push(ip);
    const answer = table[ip];
    if (answer === 'hang') return new Promise((resolve) => hung.push(() => resolve([`late-${ip.replaceAll('.', '-')}.internal`])));
    if (answer === undefined || answer === 'fail')
      return Promise.reject(Object.assign(new Error('queryPtr ENOTFOUND'), { code: 'ENOTFOUND' }));
    return Promise.resolve(answer);
  };
  return { lookup, calls, release: () => hung.splice(0).forEach((f) => f()) };
}

describe('ReverseDnsCache', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('names what has a PTR record (trailing dot dropped), null for the rest, and asks once per TTL', async () => {
    const fake = fakeLookup({ '10.0.0.16': ['web-1.internal.'], '10.0.0.17': [] });
    const cache = new ReverseDnsCache({ lookup: fake.lookup, now });
    const names = await cache.names(['10.0.0.16', '10.0.0.17', '10.0.0.18']);
    expect(Object.fromEntries(names)).to.deep.equal({ '10.0.0.16': 'web-1.internal', '10.0.0.17': null, '10.0.0.18': null });
    await cache.names(['10.0.0.16', '10.0.0.17', '10.0.0.18']);
    expect(fake.calls).to.deep.equal(['10.0.0.16', '10.0.0.17', '10.0.0.18']);
    clock += 301_000; // failures are kept 5 minutes, answers an hour
    await cache.names(['10.0.0.16', '10.0.0.18']);
    expect(fake.calls).to.deep.equal(['10.0.0.16', '10.0.0.17', '10.0.0.18', '10.0.0.18']);
  });

  it('does not hold a collection past its wait: a slow answer shows up the next time', async () => {
    const fake = fakeLookup({ '10.0.0.16': 'hang', '10.0.0.17': ['web-2.internal'] });
    const cache = new ReverseDnsCache({ lookup: fake.lookup, now, waitMs: 50, timeoutMs: 60_000 });
    const first = await cache.names(['10.0.0.16', '10.0.0.17']);
    expect(Object.fromEntries(first)).to.deep.equal({ '10.0.0.16': null, '10.0.0.17': 'web-2.internal' });
    fake.release();
    const second = await cache.names(['10.0.0.16', '10.0.0.17']);
    expect(second.get('10.0.0.16')).to.equal('late-10-0-0-16.internal');
    expect(fake.calls.filter((ip) => ip === '10.0.0.16')).to.have.length(1);
  });

  it('gives up on a lookup at its deadline and keeps the failure', async () => {
    const fake = fakeLookup({ '10.0.0.16': 'hang' });
    const cache = new ReverseDnsCache({ lookup: fake.lookup, now, waitMs: 5_000, timeoutMs: 30 });
    const names = await cache.names(['10.0.0.16']);
    expect(names.get('10.0.0.16')).to.equal(null);
    await cache.names(['10.0.0.16']);
    expect(fake.calls).to.deep.equal(['10.0.0.16']);
  });

  it('starts at most maxInFlight lookups and keeps at most maxEntries answers', async () => {
    const table = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`10.0.1.${i}`, [`h${i}.internal`]]));
    const fake = fakeLookup(table);
    const cache = new ReverseDnsCache({ lookup: fake.lookup, now, maxInFlight: 4, maxEntries: 6 });
    const names = await cache.names(Object.keys(table));
    expect([...names.values()].filter((n) => n !== null)).to.have.length(4);
    expect(fake.calls).to.have.length(4);
    await cache.names(Object.keys(table));
    await cache.names(Object.keys(table));
    const last = await cache.names(Object.keys(table));
    // Only 6 answers fit: every round asks again for what fell out, never more than 4 at once.
    expect([...last.values()].filter((n) => n !== null).length).to.be.at.most(6);
  });
});
