// A node's history moves once per cycle: the observation in the order it was made, then
// Prometheus' answer. These are the rules of that one update.
import { expect } from 'chai';
import type { NodeObservation } from '../../src/collect/observe-node.ts';
import type { GitalyScrape, PrometheusFleetEvidence, PrometheusNodeEvidence } from '../../src/evidence/evidence.ts';
import { advanceNode, recordObservation } from '../../src/migration/advance-node.ts';
import { timingPolicy } from '../../src/migration/timing.ts';
import { emptyHistory, type NodeHistory } from '../../src/migration/types.ts';
import { plaintextClosed, scrapeOk, tlsOk } from '../helpers/evidence.ts';
import { fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const T0 = Date.UTC(2026, 11, 1, 8);
const node = fakeNodeConfig('gitaly-1');
const config = fakeConfig([node], '/nonexistent/state.json', { soakWindowMs: 600_000, collectionIntervalMs: 30_000 });
const policy = timingPolicy(config);

function observed(atMs: number, counts: { tcp: number; tls: number }, dial: boolean): NodeObservation {
  return {
    node,
    scrape: { ...(scrapeOk({ ...counts, unix: 0 }) as Extract<GitalyScrape, { ok: true }>), processStartSeconds: T0 / 1000 - 86_400 },
    scrapeAtMs: atMs,
    tls: tlsOk({ atMs: atMs + 10, connectionsMade: 1 }),
    certFile: null,
    plaintext: dial ? plaintextClosed({ open: true, atMs: atMs + 20, connectionsMade: { tcp: 1, tls: 1 } }) : null,
    plaintextFresh: dial,
    sockets: null,
    durationMs: 30,
    runs: [],
  };
}

describe('advancing a node’s history', () => {
  it('subtracts the probes’ own connections at the next scrape: no client is made of them', () => {
    let h: NodeHistory = recordObservation(emptyHistory(), observed(T0, { tcp: 0, tls: 0 }, true), policy.history).history;
    expect(h.pendingOwn).to.deep.equal({ tcp: 1, tls: 2 });
    expect(h.lastPlaintextProbe?.atMs).to.equal(T0 + 20);
    // The next scrape counts exactly those: nothing real.
    const next = recordObservation(h, observed(T0 + 30_000, { tcp: 1, tls: 2 }, false), policy.history);
    h = next.history;
    expect(next.scrape?.real).to.deep.equal({ tcp: 0, tls: 0 });
    expect(h.plaintextLastSeenMs).to.equal(null);
    expect(h.pendingOwn).to.deep.equal({ tcp: 0, tls: 1 }, 'only this cycle’s TLS probe is pending now');
  });

  it('takes growth beyond the own dials for a client, seen when the page arrived', () => {
    const h = recordObservation(emptyHistory(), observed(T0, { tcp: 0, tls: 0 }, true), policy.history).history;
    const next = recordObservation(h, observed(T0 + 30_000, { tcp: 3, tls: 2 }, false), policy.history);
    expect(next.scrape?.real?.tcp).to.equal(2);
    expect(next.history.plaintextLastSeenMs).to.equal(T0 + 30_000);
  });

  it('records a check of listen_addr only when it ran this cycle', () => {
    const before: NodeHistory = { ...emptyHistory(), listenerClosedSinceMs: null };
    const stale = { ...observed(T0, { tcp: 0, tls: 0 }, false), plaintext: plaintextClosed({ atMs: T0 - 3_600_000 }) };
    expect(recordObservation(before, stale, policy.history).history.listenerClosedSinceMs).to.equal(null);
    const fresh = { ...stale, plaintextFresh: true };
    expect(recordObservation(before, fresh, policy.history).history.listenerClosedSinceMs).to.equal(T0 - 3_600_000);
  });

  it('remembers plaintext Prometheus counted beyond our own dials (half a connection rounds up), when it lists no changes', () => {
    const window = { startMs: T0 - 600_000, endMs: T0 - 5_000, unsafe: new Set<number>() };
    const answer = (tcp: number): PrometheusFleetEvidence => {
      const evidence: PrometheusNodeEvidence = {
        instance: 'gitaly-1:9236',
        windowIncrease: { tcp, tls: 0 },
        coverage: 1,
        processStartCoverage: 1,
        tcpLastChangeMs: T0 - 60_000,
        exportersTls: 0,
      };
      return {
        ok: true,
        windowStartMs: window.startMs,
        windowEndMs: window.endMs,
        byInstance: new Map([['gitaly-1:9236', evidence]]),
        instancesSeen: ['gitaly-1:9236'],
        queries: 5,
        durationMs: 1,
      };
    };
    const o = { ...observed(T0, { tcp: 0, tls: 0 }, false), scrape: null, scrapeAtMs: null };
    const ctx = (tcp: number) => ({ prometheus: answer(tcp), queryWindow: window, policy, nowMs: T0 });
    expect(advanceNode(node, 'gitaly-1:9236', o, emptyHistory(), ctx(0.4)).history.plaintextLastSeenMs).to.equal(null);
    const seen = advanceNode(node, 'gitaly-1:9236', o, emptyHistory(), ctx(0.5));
    expect(seen.history.plaintextLastSeenMs).to.equal(T0 - 60_000);
    expect(seen.evidence.prometheus).to.deep.include({ ok: true });
  });
});
