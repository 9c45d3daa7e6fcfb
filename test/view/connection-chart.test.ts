// The chart's numbers: what is known (from continuous observation to the latest scrape), which
// buckets saw connections, and where the last plaintext client falls; the rest is a gap, not zero.
import { expect } from 'chai';
import { emptyHistory } from '../../src/migration/types.ts';
import { connectionChart } from '../../src/view/connection-chart.ts';
import { coveredHistory, DAY, NOW, WINDOW } from '../helpers/evidence.ts';

const HOUR = 3_600_000;
const O = { nowMs: NOW, soakWindowMs: WINDOW, bucketMs: HOUR };
const bucket = (startMs: number, tcp: number, tls: number) =>
  [startMs, { tcp, tls, lastTcpMs: tcp ? startMs + 1 : 0, lastTlsMs: tls ? startMs + 1 : 0 }] as [
    number,
    { tcp: number; tls: number; lastTcpMs: number; lastTlsMs: number },
  ];

describe('connection chart', () => {
  it('knows the span from the start of observation to the latest scrape, and lists buckets inside the chart only', () => {
    const h = coveredHistory({
      firstObservedMs: NOW - 3 * DAY,
      lastScrapeMs: NOW - 2 * HOUR,
      directBuckets: [bucket(NOW - 9 * DAY, 5, 5), bucket(NOW - 2 * DAY, 1, 0), bucket(NOW - DAY, 0, 7)],
    });
    const c = connectionChart(h, NOW - 2 * DAY + 1, O);
    expect(c.known).to.deep.equal({ fromMs: NOW - 3 * DAY, toMs: NOW - 2 * HOUR });
    expect(c.why).to.equal(null);
    expect(c.buckets).to.deep.equal([
      { startMs: NOW - 2 * DAY, tcp: 1, tls: 0 },
      { startMs: NOW - DAY, tcp: 0, tls: 7 },
    ]);
    expect(c.plaintextLastSeenMs).to.equal(NOW - 2 * DAY + 1);
    expect(c.windowStartMs).to.equal(NOW - WINDOW);
  });

  it('knows nothing, and says why, before the first scrape or when the last one is older than the chart', () => {
    const never = connectionChart(emptyHistory(), null, O);
    expect(never.known).to.equal(null);
    expect(never.why).to.contain('has not been scraped successfully yet');
    const stale = connectionChart(coveredHistory({ firstObservedMs: NOW - 30 * DAY, lastScrapeMs: NOW - 20 * DAY }), null, O);
    expect(stale.known).to.equal(null);
    expect(stale.why).to.contain('no successful scrape');
    const off = connectionChart(emptyHistory(), null, { ...O, notScrapedWhy: 'direct_scrape: false' });
    expect([off.known, off.why]).to.deep.equal([null, 'direct_scrape: false']);
  });

  it('leaves out a last plaintext client older than the chart', () => {
    const c = connectionChart(coveredHistory(), NOW - 9 * DAY, O);
    expect(c.plaintextLastSeenMs).to.equal(null);
  });
});
