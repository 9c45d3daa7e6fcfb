import { expect } from 'chai';
import { canaryMiss, directCanary, mergeCanary, prometheusCanary } from '../../src/migration/canary.ts';
import { recordOwnConnections, recordScrape, type HistoryOptions } from '../../src/migration/history.ts';
import { emptyHistory, type NodeHistory } from '../../src/migration/types.ts';
import { judgeNode } from '../../src/migration/verdict.ts';
import { completeEvidence, coveredHistory, NOW, OPTIONS, plaintextClosed, WINDOW } from '../helpers/evidence.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 1);
const OPTS: HistoryOptions = { soakWindowMs: 60 * MIN, maxGapMs: 2 * MIN, bucketMs: MIN, retentionMarginMs: 5 * MIN };
const counts = (tcp: number, tls: number) => ({ tcp, tls, unix: 0 });

/** A history after one scrape at T0 showing `tcp`/`tls`, then `own` connections of ours. */
function scrapedThenDialled(tcp: number, tls: number, own: { tcp: number; tls: number }): NodeHistory {
  const h = recordScrape(emptyHistory(), { atMs: T0, counts: counts(tcp, tls) }, OPTS).history;
  return recordOwnConnections(h, { ...own, atMs: T0 + 1000 }, OPTS);
}

describe('own-connection canary', () => {
  describe('direct scrapes', () => {
    it('passes when the counters grew by at least our own connections', () => {
      const h = scrapedThenDialled(5, 10, { tcp: 1, tls: 2 });
      const check = directCanary(h, { atMs: T0 + MIN, counts: counts(7, 12), family: 'gitaly_connections_total', reset: false });
      expect(check).to.deep.include({ expected: { tcp: 1, tls: 2 }, counted: { tcp: 2, tls: 2 } });
      expect(canaryMiss(check)).to.equal(null);
    });

    it('fails when the counter did not move although we connected (a Praefect read as a Gitaly: no family at all)', () => {
      const h = scrapedThenDialled(0, 0, { tcp: 0, tls: 2 });
      const check = directCanary(h, { atMs: T0 + MIN, counts: counts(0, 0), family: null, reset: false });
      const miss = canaryMiss(check);
      expect(miss).to.include('made 2 TLS and 0 plaintext connection(s)');
      expect(miss).to.include('no connection counter family on the metrics page');
      expect(miss).to.include('counted 0 TLS and 0 plaintext');
    });

    it('fails when our plaintext dial is missing though TLS moved', () => {
      const h = scrapedThenDialled(3, 3, { tcp: 1, tls: 1 });
      expect(
        canaryMiss(directCanary(h, { atMs: T0 + MIN, counts: counts(3, 4), family: 'gitaly_connections_total', reset: false })),
      ).to.include('gitaly_connections_total');
    });

    it('learns nothing from the first scrape, from a restart, or without own connections', () => {
      const fresh = recordOwnConnections(emptyHistory(), { tcp: 1, tls: 1, atMs: T0 }, OPTS);
      expect(directCanary(fresh, { atMs: T0 + MIN, counts: counts(0, 0), family: null, reset: false })).to.equal(null);
      const h = scrapedThenDialled(5, 5, { tcp: 1, tls: 1 });
      expect(directCanary(h, { atMs: T0 + MIN, counts: counts(0, 0), family: null, reset: true })).to.equal(null);
      const quiet = scrapedThenDialled(5, 5, { tcp: 0, tls: 0 });
      expect(directCanary(quiet, { atMs: T0 + MIN, counts: counts(5, 5), family: null, reset: false })).to.equal(null);
    });

    it('keeps a plaintext miss until a later plaintext dial is counted, whatever TLS probes do in between', () => {
      const tcpMiss = directCanary(scrapedThenDialled(3, 3, { tcp: 1, tls: 1 }), {
        atMs: T0 + MIN,
        counts: counts(3, 4),
        family: 'gitaly_connections_total',
        reset: false,
      });
      const tlsOnly = directCanary(scrapedThenDialled(3, 4, { tcp: 0, tls: 1 }), {
        atMs: T0 + 2 * MIN,
        counts: counts(3, 5),
        family: 'gitaly_connections_total',
        reset: false,
      });
      const kept = mergeCanary(mergeCanary(null, tcpMiss), tlsOnly);
      expect(kept).to.deep.include({ atMs: T0 + 2 * MIN, expected: { tcp: 1, tls: 1 }, counted: { tcp: 0, tls: 1 } });
      expect(canaryMiss(kept)).to.not.equal(null);
      const tcpCounted = directCanary(scrapedThenDialled(3, 5, { tcp: 1, tls: 1 }), {
        atMs: T0 + 3 * MIN,
        counts: counts(4, 6),
        family: 'gitaly_connections_total',
        reset: false,
      });
      expect(canaryMiss(mergeCanary(kept, tcpCounted))).to.equal(null);
      expect(mergeCanary(kept, null)).to.equal(kept);
    });

    it('a Gitaly with no series yet is fine while our own connections are not expected to show', () => {
      // No series at the first scrape; our TLS probe creates the tls series, seen at the next scrape.
      const h = scrapedThenDialled(0, 0, { tcp: 0, tls: 1 });
      expect(
        canaryMiss(directCanary(h, { atMs: T0 + MIN, counts: counts(0, 1), family: 'gitaly_connections_total', reset: false })),
      ).to.equal(null);
    });
  });

  describe('through Prometheus', () => {
    const window = { startMs: T0, endMs: T0 + 60 * MIN, unsafe: new Set<number>() };
    const options = { slackMs: 2 * MIN, bucketMs: MIN, minCoverage: 0.998 };
    const evidence = (tcp: number, tls: number, coverage = 1) => ({
      instance: 'gitaly-1:9236',
      windowIncrease: { tcp, tls },
      coverage,
      processStartCoverage: coverage,
      exportersTls: 0,
      tcpLastChangeMs: null,
    });
    let h = emptyHistory();
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 + 10 * MIN }, OPTS);
    h = recordOwnConnections(h, { tcp: 0, tls: 1, atMs: T0 + 30 * MIN }, OPTS);
    // Too close to the window's edges to be sure Prometheus scraped after them: not expected.
    h = recordOwnConnections(h, { tcp: 1, tls: 1, atMs: T0 + 59 * MIN }, OPTS);

    it('expects our connections made well inside the window', () => {
      const check = prometheusCanary(h, window, evidence(1, 2), options);
      expect(check).to.deep.include({ expected: { tcp: 1, tls: 2 }, counted: { tcp: 1, tls: 2 } });
      expect(canaryMiss(check)).to.equal(null);
    });

    it('fails when the instance counted none of a type we connected to', () => {
      expect(canaryMiss(prometheusCanary(h, window, evidence(0, 0), options))).to.include('Prometheus (instance gitaly-1:9236)');
      expect(canaryMiss(prometheusCanary(h, window, evidence(0, 40), options))).to.include('counted 40 TLS and 0 plaintext');
    });

    it('tolerates a few of ours lost to a restart just after them', () => {
      expect(canaryMiss(prometheusCanary(h, window, evidence(1, 1), options))).to.equal(null);
    });

    it('says nothing without full coverage, without data, or without own connections inside', () => {
      expect(prometheusCanary(h, window, evidence(0, 0, 0.5), options)).to.equal(null);
      expect(prometheusCanary(h, window, null, options)).to.equal(null);
      expect(prometheusCanary(emptyHistory(), window, evidence(0, 0), options)).to.equal(null);
    });
  });

  describe('in the verdict', () => {
    const miss = {
      source: 'gitaly_metrics' as const,
      counter: 'no connection counter family on the metrics page',
      atMs: NOW,
      expected: { tcp: 1, tls: 3 },
      counted: { tcp: 0, tls: 0 },
    };

    it('makes a node whose counter does not count us unknown, never zero plaintext', () => {
      const v = judgeNode(
        completeEvidence({ history: coveredHistory({ canary: miss }), plaintext: plaintextClosed({ open: true }) }),
        OPTIONS,
      );
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.include('counter_not_counting_us');
      expect(v.window).to.equal(null);
      expect(v.details.join(' ')).to.include('made 3 TLS and 1 plaintext connection(s)');
    });

    it('does the same for the counter Prometheus has', () => {
      const v = judgeNode(
        completeEvidence({
          scrape: null,
          prometheus: {
            ok: true,
            windowStartMs: NOW - WINDOW,
            windowEndMs: NOW,
            own: { tcp: 1, tls: 3 },
            node: {
              instance: 'praefect-1:9652',
              windowIncrease: { tcp: 0, tls: 0 },
              coverage: 1,
              processStartCoverage: 1,
              exportersTls: 0,
              tcpLastChangeMs: null,
            },
            canary: { ...miss, source: 'prometheus', counter: 'instance praefect-1:9652' },
          },
        }),
        OPTIONS,
      );
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.include('counter_not_counting_us');
    });

    it('leaves a node whose counter counted us as it was', () => {
      const passed = { ...miss, counted: { tcp: 1, tls: 3 } };
      expect(judgeNode(completeEvidence({ history: coveredHistory({ canary: passed }) }), OPTIONS).phase).to.equal('complete');
    });
  });
});
