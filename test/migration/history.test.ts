import { expect } from 'chai';
import {
  directWindowCounts,
  ownInWindow,
  recordListenerCheck,
  recordOwnConnections,
  recordPlaintextSeen,
  recordScrape,
  type HistoryOptions,
} from '../../src/migration/history.ts';
import { emptyHistory, type NodeHistory } from '../../src/migration/types.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 1);
const OPTS: HistoryOptions = { soakWindowMs: 60 * MIN, maxGapMs: 2 * MIN, bucketMs: MIN, retentionMarginMs: 5 * MIN };

function scrape(h: NodeHistory, atMs: number, tcp: number, tls: number, processStartSeconds?: number) {
  return recordScrape(h, { atMs, counts: { tcp, tls, unix: 7 }, processStartSeconds }, OPTS);
}

describe('node history from direct scrapes', () => {
  it('takes the first scrape as a baseline: connections before it are unknown, not zero', () => {
    const u = scrape(emptyHistory(), T0, 50, 10);
    expect(u.real).to.equal(null);
    expect(u.history.firstObservedMs).to.equal(T0);
    expect(u.history.plaintextLastSeenMs).to.equal(null);
    expect(directWindowCounts(u.history, T0 + 30 * MIN, OPTS.soakWindowMs, OPTS.bucketMs)).to.equal(null);
  });

  it('counts a first scrape’s counters when the process started inside the soak window, own dials since then excluded', () => {
    // Gitaly started 10 minutes ago (a restart, or the exporter started after it): everything it
    // counted was counted inside the window, e.g. three clients that connected at once and stayed.
    let h = recordOwnConnections(emptyHistory(), { tcp: 1, tls: 2, atMs: T0 - 5 * MIN }, OPTS);
    h = recordOwnConnections(h, { tcp: 1, tls: 0, atMs: T0 - 20 * MIN }, OPTS); // before the start: lost with the old process
    const u = scrape(h, T0, 4, 2, (T0 - 10 * MIN) / 1000);
    expect(u.real).to.deep.equal({ tcp: 3, tls: 0 });
    expect(u.history.plaintextLastSeenMs).to.equal(T0);
    expect(directWindowCounts(u.history, T0 + OPTS.soakWindowMs - MIN, OPTS.soakWindowMs, OPTS.bucketMs)).to.equal(null);
  });

  it('leaves a first scrape of a process that started before the window to the observation rule', () => {
    const u = scrape(emptyHistory(), T0, 3, 0, (T0 - 2 * OPTS.soakWindowMs) / 1000);
    expect(u.real).to.equal(null);
    expect(u.history.plaintextLastSeenMs).to.equal(null);
    // Not observed for a whole window yet: no window count at all (insufficient history), never zero.
    expect(directWindowCounts(u.history, T0 + OPTS.soakWindowMs - 1, OPTS.soakWindowMs, OPTS.bucketMs)).to.equal(null);
    // Once it is, the three connections from before the first observation are outside the window.
    expect(directWindowCounts(u.history, T0 + OPTS.soakWindowMs, OPTS.soakWindowMs, OPTS.bucketMs)).to.deep.equal({ tcp: 0, tls: 0 });
  });

  it('sees a real plaintext connection between two scrapes', () => {
    let h = scrape(emptyHistory(), T0, 50, 10).history;
    const u = scrape(h, T0 + MIN / 2, 51, 12);
    expect(u.real).to.deep.equal({ tcp: 1, tls: 2 });
    h = u.history;
    expect(h.plaintextLastSeenMs).to.equal(T0 + MIN / 2);
  });

  it('subtracts exactly the exporter’s own dials made since the previous scrape', () => {
    let h = scrape(emptyHistory(), T0, 50, 10).history;
    h = recordOwnConnections(h, { tcp: 1, tls: 3, atMs: T0 + 1000 }, OPTS);
    const u = scrape(h, T0 + MIN / 2, 51, 13);
    expect(u.real).to.deep.equal({ tcp: 0, tls: 0 });
    expect(u.history.plaintextLastSeenMs).to.equal(null);
    expect(u.history.pendingOwn).to.deep.equal({ tcp: 0, tls: 0 });
    expect(u.history.ownTotals).to.deep.equal({ tcp: 1, tls: 3 });
  });

  it('keeps own dials pending across a failed scrape and subtracts them at the next good one', () => {
    let h = scrape(emptyHistory(), T0, 50, 10).history;
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 + 1000 }, OPTS);
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 + 31_000 }, OPTS);
    const u = scrape(h, T0 + MIN, 52, 12);
    expect(u.real).to.deep.equal({ tcp: 0, tls: 0 });
  });

  it('never reads a counter reset (Gitaly restart) as negative traffic', () => {
    const h = scrape(scrape(emptyHistory(), T0, 50, 10).history, T0 + 30_000, 60, 20).history;
    const u = scrape(h, T0 + 60_000, 2, 5);
    expect(u.reset).to.be.true;
    expect(u.real).to.deep.equal({ tcp: 2, tls: 5 });
    expect(u.history.plaintextLastSeenMs).to.equal(T0 + 60_000);
    expect(u.continuityBroken).to.be.false;
  });

  it('sees a restart that the counters hide, through process_start_time_seconds', () => {
    const h = scrape(emptyHistory(), T0, 3, 10, 1000).history;
    // Restarted, and exactly three plaintext connections since: counters look unchanged.
    const u = scrape(h, T0 + 30_000, 3, 10, 2000);
    expect(u.reset).to.be.true;
    expect(u.real?.tcp).to.equal(3);
    expect(u.history.plaintextLastSeenMs).to.equal(T0 + 30_000);
  });

  it('does not subtract own dials across a restart: they may have been lost with the old counter', () => {
    let h = scrape(emptyHistory(), T0, 50, 10).history;
    h = recordOwnConnections(h, { tcp: 1, tls: 0, atMs: T0 + 1000 }, OPTS);
    const u = scrape(h, T0 + 30_000, 1, 0);
    expect(u.real?.tcp).to.equal(1);
  });

  it('restarts observation after a reset hidden in a long silence', () => {
    const h = scrape(emptyHistory(), T0, 50, 10).history;
    const u = scrape(h, T0 + 10 * MIN, 1, 1);
    expect(u.continuityBroken).to.be.true;
    expect(u.history.firstObservedMs).to.equal(T0 + 10 * MIN);
  });

  it('keeps observation continuous across a silence without a reset (counters are cumulative)', () => {
    const h = scrape(emptyHistory(), T0, 50, 10).history;
    const u = scrape(h, T0 + 10 * MIN, 50, 30);
    expect(u.history.firstObservedMs).to.equal(T0);
    expect(u.real).to.deep.equal({ tcp: 0, tls: 20 });
  });

  it('sums real connections in the window once observation covers it', () => {
    let h = scrape(emptyHistory(), T0, 0, 0).history;
    for (let i = 1; i <= 70; i++) h = scrape(h, T0 + i * MIN, 0, i * 2).history;
    // 70 minutes observed, window 60 minutes: 2 TLS connections a minute, bucket-aligned.
    const counts = directWindowCounts(h, T0 + 70 * MIN, OPTS.soakWindowMs, OPTS.bucketMs);
    expect(counts?.tcp).to.equal(0);
    expect(counts?.tls).to.be.within(120, 122);
  });

  it('counts a bucket straddling the window start exactly when plaintextLastSeenMs says so', () => {
    let h = scrape(emptyHistory(), T0, 0, 0).history;
    h = scrape(h, T0 + 5_000, 1, 0).history; // one plaintext connection, seen at T0+5s
    for (let i = 1; i <= 62; i++) h = scrape(h, T0 + i * MIN, 1, 0).history;
    const windowCounts = (now: number) => directWindowCounts(h, now, OPTS.soakWindowMs, OPTS.bucketMs)!;
    // The window starts at T0+4s: the connection is inside it; at T0+6s it is not.
    expect(windowCounts(T0 + 60 * MIN + 4_000).tcp).to.equal(1);
    expect(windowCounts(T0 + 60 * MIN + 6_000).tcp).to.equal(0);
    expect(h.plaintextLastSeenMs).to.equal(T0 + 5_000);
  });

  it('forgets own-dial records older than the window and its margin', () => {
    let h = scrape(emptyHistory(), T0, 0, 0).history;
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 }, OPTS);
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 + 120 * MIN }, OPTS);
    expect(h.ownTcpTimesMs).to.deep.equal([T0 + 120 * MIN]);
    expect(h.ownTotals.tcp).to.equal(2);
  });

  it('counts own dials inside a Prometheus window, leaving out the unsafe ones', () => {
    let h = emptyHistory();
    for (const t of [T0 + 1000, T0 + 10 * MIN, T0 + 20 * MIN]) h = recordOwnConnections(h, { tcp: 1, tls: 2, atMs: t }, OPTS);
    expect(ownInWindow(h, T0, T0 + 30 * MIN, new Set())).to.deep.equal({ tcp: 3, tls: 4 });
    expect(ownInWindow(h, T0, T0 + 30 * MIN, new Set([T0 + 1000])).tcp).to.equal(2);
    expect(ownInWindow(h, T0 + 5 * MIN, T0 + 15 * MIN, new Set()).tcp).to.equal(1);
  });

  it('records plaintext seen elsewhere only if it is newer', () => {
    const h = { ...emptyHistory(), plaintextLastSeenMs: T0 + MIN };
    expect(recordPlaintextSeen(h, T0).plaintextLastSeenMs).to.equal(T0 + MIN);
    expect(recordPlaintextSeen(h, T0 + 2 * MIN).plaintextLastSeenMs).to.equal(T0 + 2 * MIN);
  });

  it('remembers since when listen_addr has been seen closed, check after check; open or unknown forgets it', () => {
    let h = recordListenerCheck(emptyHistory(), { open: false, atMs: T0 });
    h = recordListenerCheck(h, { open: false, atMs: T0 + MIN });
    expect(h.listenerClosedSinceMs).to.equal(T0);
    expect(recordListenerCheck(h, { open: true, atMs: T0 + 2 * MIN }).listenerClosedSinceMs).to.equal(null);
    expect(recordListenerCheck(h, { open: null, atMs: T0 + 2 * MIN }).listenerClosedSinceMs).to.equal(null);
  });
});
