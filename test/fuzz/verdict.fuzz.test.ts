// Property-based test of the verdict from direct scrapes: a simulated Gitaly process lives through
// generated histories (plaintext clients, restarts that drop its lazily created series, failed
// scrapes, an exporter that starts late, a counter that does not count this node's listeners), and
// the exporter's real code (recordScrape, the canary, recordOwnConnections, judgeNode) watches it
// cycle by cycle. No history may give tls_only_traffic or complete while a plaintext connection the
// counters could show lies inside the soak window.
// FUZZ_SEED=<n> replays a run (fast-check prints the seed of a failure); FUZZ_RUNS=<factor> scales the runs.
import { expect } from 'chai';
import fc from 'fast-check';
import type { ConnectionCounts, GitalyScrape } from '../../src/evidence/evidence.ts';
import { directCanary, mergeCanary } from '../../src/migration/canary.ts';
import { recordListenerCheck, recordOwnConnections, recordScrape, type HistoryOptions } from '../../src/migration/history.ts';
import { emptyHistory, type NodeHistory } from '../../src/migration/types.ts';
import { judgeNode, type VerdictOptions } from '../../src/migration/verdict.ts';
import { completeEvidence, NOW, plaintextClosed, tlsOk } from '../helpers/evidence.ts';
import { runs, withDeadline } from '../helpers/fuzz.ts';

const CYCLE_MS = 60_000;
const SOAK_CYCLES = 20;
const SOAK_MS = SOAK_CYCLES * CYCLE_MS;
const CYCLES = 90;
const T0 = NOW - (CYCLES + 5) * CYCLE_MS;
const HISTORY: HistoryOptions = {
  soakWindowMs: SOAK_MS,
  maxGapMs: 3 * CYCLE_MS + 5_000,
  bucketMs: CYCLE_MS,
  retentionMarginMs: 5 * CYCLE_MS,
};
const VERDICT: VerdictOptions = { soakWindowMs: SOAK_MS, expiryWarningMs: 30 * 86_400_000, bucketMs: CYCLE_MS, minCoverage: 0.998 };

/** What happens to the node in one cycle, before the exporter's scrape at its end. */
interface CycleEvents {
  /** Plaintext clients before a restart (lost with the old counter if it restarts), and after. */
  tcpBefore: number;
  restart: boolean;
  tcpAfter: number;
  tls: number;
  scrapeFails: boolean;
}

/** Which counter the exporter reads: the node's own, a page without the family, or one that never counts plaintext. */
type CounterMode = 'own' | 'no_family' | 'no_tcp';

interface Scenario {
  mode: CounterMode;
  withProcessStart: boolean;
  /** The process running at the start, started this many cycles before T0 (negative: before the history). */
  startedCycles: number;
  /** Connections the counters hold at T0 (from before the history). */
  initialTcp: number;
  exporterStartCycle: number;
  plaintextEveryCycles: number;
  /** The cycle at which listen_addr is removed (no plaintext client can connect after it), if ever. */
  closesAtCycle: number;
  cycles: CycleEvents[];
}

const events: fc.Arbitrary<CycleEvents> = fc.record({
  // Mostly quiet, so that tls_only_traffic is reached and the property has something to check.
  tcpBefore: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  restart: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  tcpAfter: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  tls: fc.integer({ min: 0, max: 5 }),
  scrapeFails: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  mode: fc.constantFrom<CounterMode>('own', 'own', 'own', 'no_family', 'no_tcp'),
  withProcessStart: fc.boolean(),
  startedCycles: fc.integer({ min: -3 * SOAK_CYCLES, max: 0 }),
  initialTcp: fc.integer({ min: 0, max: 3 }),
  exporterStartCycle: fc.integer({ min: 0, max: 2 * SOAK_CYCLES }),
  plaintextEveryCycles: fc.integer({ min: 3, max: 15 }),
  closesAtCycle: fc.integer({ min: 0, max: 2 * CYCLES }),
  cycles: fc.array(events, { minLength: CYCLES, maxLength: CYCLES }),
});

/** Runs the scenario; returns how many cycles ended tls_only_traffic or complete. */
function simulate(s: Scenario): number {
  let safe = 0;
  // The Gitaly process: counters created lazily (a missing series is 0), reset by a restart.
  let counts: ConnectionCounts = { tcp: s.initialTcp, tls: 0, unix: 0 };
  let processStartMs = T0 + s.startedCycles * CYCLE_MS;
  // Plaintext connections by time, and whether a successful scrape of the same process has read
  // them since (only those can be known to any reader of the counters).
  const plaintext: Array<{ atMs: number; readable: boolean }> = [];
  let unread: Array<{ atMs: number; readable: boolean }> = [];
  if (s.initialTcp > 0) {
    const at = Math.max(processStartMs, T0 - 1);
    for (let i = 0; i < s.initialTcp; i++) unread.push({ atMs: at, readable: false });
  }
  const connectTcp = (atMs: number, n: number): void => {
    counts = { ...counts, tcp: counts.tcp + n };
    for (let i = 0; i < n; i++) unread.push({ atMs, readable: false });
  };
  const restart = (atMs: number): void => {
    counts = { tcp: 0, tls: 0, unix: 0 };
    processStartMs = atMs;
    unread = []; // lost with the old counter: nobody can read them now
  };
  const page = (): ConnectionCounts => {
    if (s.mode === 'no_family') return { tcp: 0, tls: 0, unix: 0 };
    if (s.mode === 'no_tcp') return { ...counts, tcp: 0 };
    return { ...counts };
  };

  let history: NodeHistory = emptyHistory();
  let lastPlaintextCheck = -Infinity;
  for (let i = 0; i < CYCLES; i++) {
    const e = s.cycles[i]!;
    const t = T0 + i * CYCLE_MS;
    const listenerOpen = i < s.closesAtCycle;
    if (listenerOpen) connectTcp(t - 40_000, e.tcpBefore);
    if (e.restart) restart(t - 30_000);
    if (listenerOpen) connectTcp(t - 20_000, e.tcpAfter);
    counts = { ...counts, tls: counts.tls + e.tls };
    if (i < s.exporterStartCycle) continue;

    // The exporter's cycle: scrape first, then its own connections (which Gitaly counts too).
    let scrape: GitalyScrape;
    if (e.scrapeFails) {
      scrape = { ok: false, error: { code: 'CONNECT', message: 'connection refused' }, durationMs: 1 };
    } else {
      const shown = page();
      scrape = {
        ok: true,
        counts: shown,
        family: s.mode === 'no_family' ? null : 'gitaly_connections_total',
        version: '18.6.0',
        processStartSeconds: s.withProcessStart ? processStartMs / 1000 : null,
        bytes: 1000,
        durationMs: 1,
      };
      const update = recordScrape(history, { atMs: t, counts: shown, processStartSeconds: scrape.processStartSeconds }, HISTORY);
      const check = directCanary(history, { atMs: t, counts: shown, family: scrape.family, reset: update.reset });
      history = { ...update.history, canary: mergeCanary(history.canary, check) };
      for (const c of unread) c.readable = true;
      plaintext.push(...unread);
      unread = [];
    }
    counts = { ...counts, tls: counts.tls + 1 };
    history = recordOwnConnections(history, { tcp: 0, tls: 1, atMs: t + 1_000 }, HISTORY);
    if (t - lastPlaintextCheck >= s.plaintextEveryCycles * CYCLE_MS) {
      lastPlaintextCheck = t;
      // Dialling listen_addr adds to the tcp counter, unless the listener is closed.
      if (listenerOpen) {
        counts = { ...counts, tcp: counts.tcp + 1 };
        history = recordOwnConnections(history, { tcp: 1, tls: 0, atMs: t + 2_000 }, HISTORY);
      }
      history = recordListenerCheck(history, { open: listenerOpen, atMs: t + 2_000 });
    }

    const v = judgeNode(
      completeEvidence({
        nowMs: t,
        history,
        scrape,
        tls: tlsOk({ atMs: t }),
        plaintext: plaintextClosed({ open: listenerOpen, atMs: lastPlaintextCheck }),
      }),
      VERDICT,
    );
    if (v.phase === 'tls_only_traffic' || v.phase === 'complete') {
      safe++;
      // Complete may rest on the running process alone: listen_addr closed, and no plaintext
      // connection since it started (those before it lost their connection with the old process).
      const byRunningProcess = v.phase === 'complete' && v.details.some((d) => d.includes('the soak window no longer matters'));
      if (byRunningProcess) expect(listenerOpen, `cycle ${i}: complete by the running process with listen_addr open`).to.equal(false);
      const since = byRunningProcess ? Math.max(t - SOAK_MS, processStartMs) : t - SOAK_MS;
      const inWindow = plaintext.filter((c) => c.readable && c.atMs > since);
      expect(inWindow, `cycle ${i}: ${v.phase} (${JSON.stringify({ reasons: v.reasons, window: v.window })})`).to.deep.equal([]);
    }
  }
  return safe;
}

describe('fuzz: the verdict from direct scrapes never says safe with plaintext in the window', function () {
  this.timeout(120_000);

  it('holds for generated histories: series that appear, reset and reappear; late exporters; counters that do not count us', () => {
    let reachedSafe = 0;
    fc.assert(
      fc.property(
        scenario,
        withDeadline((s: Scenario) => {
          simulate(s);
          reachedSafe++;
        }),
      ),
      runs(300),
    );
    expect(reachedSafe).to.be.above(0);
  });

  it('is not vacuous: a quiet node with its own counter does reach tls_only_traffic or complete', () => {
    // The same simulation, but looking for the good outcome: histories without plaintext clients.
    const quiet = (n: number): CycleEvents[] =>
      Array.from({ length: n }, () => ({ tcpBefore: 0, restart: false, tcpAfter: 0, tls: 2, scrapeFails: false }));
    const phases: string[] = [];
    let history: NodeHistory = emptyHistory();
    let counts = { tcp: 5, tls: 0, unix: 0 };
    for (const [i] of quiet(CYCLES).entries()) {
      const t = T0 + i * CYCLE_MS;
      counts = { ...counts, tls: counts.tls + 2 };
      const update = recordScrape(history, { atMs: t, counts, processStartSeconds: (T0 - 10 * SOAK_MS) / 1000 }, HISTORY);
      history = {
        ...update.history,
        canary: mergeCanary(history.canary, directCanary(history, { atMs: t, counts, family: 'x', reset: false })),
      };
      counts = { ...counts, tls: counts.tls + 1 };
      history = recordOwnConnections(history, { tcp: 0, tls: 1, atMs: t + 1000 }, HISTORY);
      history = recordListenerCheck(history, { open: false, atMs: t + 2000 });
      phases.push(
        judgeNode(completeEvidence({ nowMs: t, history, tls: tlsOk({ atMs: t }), plaintext: plaintextClosed({ atMs: t }) }), VERDICT).phase,
      );
    }
    expect(phases.slice(0, SOAK_CYCLES)).to.not.include('complete');
    expect(phases[phases.length - 1]).to.equal('complete');
  });
});
