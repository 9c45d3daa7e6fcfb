// The exporter's own plaintext dials against an exact Prometheus (one that sees every accept at the
// moment it happened), over hours of simulated collections. A fleet with no client at all must never
// show a plaintext connection, and the query window must never collapse into a Prometheus error.
// Settings under which the exporter cannot keep its dials off the window's edges may be refused by
// the configuration loader instead, with a message naming them; accepting them and then reporting
// the exporter's own dials as plaintext is the failure.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { Collector, type Snapshot } from '../../src/cycle/collector.ts';
import type { ProbeFunctions } from '../../src/collect/probes.ts';
import { ConfigError, parseConfig } from '../../src/config/load.ts';
import type { PrometheusFleetEvidence, PrometheusNodeEvidence } from '../../src/evidence/evidence.ts';
import { FakeClock, FakeFleet, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const logger = pino({ level: 'silent' });
const NAMES = ['gitaly-1', 'gitaly-2', 'gitaly-3'];

/**
 * Fake nodes whose plaintext accepts are remembered, and a Prometheus that counts them exactly.
 * Each scrape and probe takes `probeMs` on the exporter's clock (slow nodes spread a cycle's dials).
 */
function exactFleet(
  clock: FakeClock,
  probeMs: number,
  countsUs = true,
): { probes: ProbeFunctions; accepts: Map<string, number[]>; scrapes: () => number } {
  let scrapes = 0;
  const fleet = new FakeFleet(clock);
  for (const name of NAMES) fleet.add(name);
  const accepts = new Map(NAMES.map((name) => [name, [] as number[]]));
  // TLS accepts too: the exporter checks that its own TLS probes show in the counter it reads.
  const tlsAccepts = new Map(NAMES.map((name) => [name, [] as number[]]));
  const base = fleet.probes();
  const probes: ProbeFunctions = {
    ...base,
    scrapeGitalyMetrics: async (...args) => {
      scrapes += 1;
      clock.advance(probeMs);
      return base.scrapeGitalyMetrics(...args);
    },
    probeTls: async (...args) => {
      clock.advance(probeMs);
      const result = await base.probeTls(...args);
      for (let i = 0; i < result.connectionsMade; i++) tlsAccepts.get(args[0].node)!.push(clock.ms);
      return result;
    },
    probePlaintext: async (target, options, deps) => {
      const result = await base.probePlaintext(target, options, deps);
      if (result.connectionsMade.tcp > 0) accepts.get(target.node)!.push(clock.ms);
      clock.advance(probeMs);
      return result;
    },
    queryFleetEvidence: async (_cfg, window): Promise<PrometheusFleetEvidence> => {
      // The real client refuses such a window the same way (src/sources/prometheus.ts).
      if (!(window.endMs > window.startMs))
        return { ok: false, error: { code: 'CONFIG', message: 'the Prometheus query window must end after it starts' }, durationMs: 1 };
      const byInstance = new Map<string, PrometheusNodeEvidence>();
      for (const name of NAMES) {
        // countsUs false: an instance whose counter is not this node's (it never sees our connections).
        const inWindow = countsUs ? accepts.get(name)!.filter((t) => t > window.startMs && t <= window.endMs) : [];
        const tlsInWindow = countsUs ? tlsAccepts.get(name)!.filter((t) => t > window.startMs && t <= window.endMs) : [];
        const instance = `${name}:9236`;
        byInstance.set(instance, {
          instance,
          windowIncrease: { tcp: inWindow.length, tls: tlsInWindow.length },
          coverage: 1,
          processStartCoverage: 1,
          exportersTls: 0,
          tcpLastChangeMs: inWindow.at(-1) ?? null,
        });
      }
      return {
        ok: true,
        windowStartMs: window.startMs,
        windowEndMs: window.endMs,
        byInstance,
        instancesSeen: [...byInstance.keys()].sort(),
        queries: 3,
        durationMs: 1,
      };
    },
  };
  return { probes, accepts, scrapes: () => scrapes };
}

interface Settings {
  soak_window: string;
  collection_interval: string;
  plaintext_check_interval: string;
  scrape_interval: string;
  concurrency?: number;
  /** prometheus.direct_scrape; absent = the default (true). */
  direct_scrape?: boolean;
}

/** The defaults' proportions with prometheus.direct_scrape: false. */
const NO_DIRECT_SCRAPE: Settings = {
  soak_window: '1d',
  collection_interval: '5m',
  plaintext_check_interval: '1h',
  scrape_interval: '1m',
  direct_scrape: false,
};

/** What the last soak() saw, for the tests that look beyond "no phantom plaintext". */
let last: { snapshot: Snapshot | null; scrapes: number } = { snapshot: null, scrapes: 0 };

describe('faults: own plaintext dials against an exact Prometheus', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-own-dials-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Loads the settings as a config file would be; if accepted, runs collections for `spanMs` of
   * simulated time and checks every verdict. Returns the number of collections checked, or the
   * loader's message when it refused the settings.
   */
  async function soak(
    settings: Settings,
    spanMs: number,
    probeMs = 0,
    countsUs = true,
    /** A plaintext client connects to gitaly-1 this far in (its verdicts are not checked for phantoms). */
    clientAtMs: number | null = null,
  ): Promise<number | { refused: string }> {
    const { scrape_interval, direct_scrape, ...top } = settings;
    const yaml = stringify({
      ...top,
      prometheus: { url: 'http://prometheus:9090', scrape_interval, ...(direct_scrape === undefined ? {} : { direct_scrape }) },
      nodes: NAMES.map((name) => {
        const n = fakeNodeConfig(name);
        return { name, metrics_url: n.metricsUrl, tls_address: n.tlsAddress, plaintext_address: n.plaintextAddress };
      }),
    });
    let config;
    try {
      config = parseConfig(yaml, join(dir, 'config.yml'), {
        fileExists: (p) => (p.endsWith('.json') ? 'missing' : 'dir'),
        dirWritable: () => true,
      });
    } catch (err) {
      if (err instanceof ConfigError) return { refused: err.message };
      throw err;
    }
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 8));
    const { probes, accepts, scrapes } = exactFleet(clock, probeMs, countsUs);
    const collector = new Collector({ config, logger, probes, now: clock.now });
    const started = clock.ms;
    let checked = 0;
    let clientConnected = false;
    while (clock.ms - started < spanMs) {
      const began = clock.ms;
      if (clientAtMs !== null && clock.ms - started >= clientAtMs && !clientConnected) {
        accepts.get('gitaly-1')!.push(clock.ms);
        clientConnected = true;
      }
      const s = await collector.collect();
      last = { snapshot: s, scrapes: scrapes() };
      // As Collector.start() schedules: the next cycle an interval after this one began.
      clock.advance(Math.max(0, config.collectionIntervalMs - (clock.ms - began)));
      checked += 1;
      const at = `${(s.atMs - started) / 1000} s in`;
      const w = s.queryWindow!;
      const window = `window ${(w.startMs - s.atMs) / 1000}..${(w.endMs - s.atMs) / 1000} s`;
      expect(s.prometheus?.ok, `${at}, ${window}: ${JSON.stringify(s.prometheus)}`).to.equal(true);
      for (const n of s.nodes) {
        if (clientConnected && n.verdict.node === 'gitaly-1') continue;
        const dials = accepts
          .get(n.verdict.node)!
          .filter((t) => t > w.startMs - 60_000)
          .map((t) => (t - s.atMs) / 1000);
        expect(
          n.verdict.reasons,
          `${n.verdict.node} ${at}, ${window}, own dials at ${dials.join(', ')} s: ${n.verdict.details.join('; ')}`,
        ).to.not.include('plaintext_connections_in_window');
        const seen = n.verdict.plaintextLastSeenMs;
        expect(seen, `${n.verdict.node} ${at}: plaintext recorded as seen ${seen === null ? '' : (seen - started) / 1000} s in`).to.equal(
          null,
        );
      }
    }
    return checked;
  }

  const expectSound = (result: number | { refused: string }): void => {
    if (typeof result === 'number') expect(result, 'collections checked').to.be.greaterThan(100);
    else
      expect(result.refused, 'a refusal names the settings that conflict').to.match(/plaintext_check_interval|scrape_interval|soak_window/);
  };

  it('the defaults’ proportions (1d soak, 1m scrapes, hourly checks): accepted, and no phantom plaintext', async () => {
    const result = await soak(
      { soak_window: '1d', collection_interval: '5m', plaintext_check_interval: '1h', scrape_interval: '1m' },
      3 * 86_400_000,
    );
    expect(result, JSON.stringify(result)).to.be.a('number');
    expectSound(result);
  });

  it('without direct scrapes (direct_scrape: false), the defaults’ proportions: no page downloaded, no phantom plaintext, and every node safe once the window is covered', async () => {
    const result = await soak(NO_DIRECT_SCRAPE, 3 * 86_400_000);
    expect(result, JSON.stringify(result)).to.be.a('number');
    expectSound(result);
    expect(last.scrapes, 'metrics pages downloaded').to.equal(0);
    // Own TLS probes and plaintext dials are subtracted, and they show in Prometheus's counts (the canary).
    for (const n of last.snapshot!.nodes) {
      expect(n.observation.scrape).to.equal(null);
      expect(n.verdict.phase, `${n.verdict.node}: ${n.verdict.details.join('; ')}`).to.equal('tls_only_traffic');
    }
  });

  it('without direct scrapes, a Prometheus counter that never counts our own connections is no evidence: never safe', async () => {
    const result = await soak(NO_DIRECT_SCRAPE, 2 * 86_400_000, 0, false);
    expect(result, JSON.stringify(result)).to.be.a('number');
    for (const n of last.snapshot!.nodes) {
      expect(n.verdict.reasons).to.include('counter_not_counting_us');
      expect(n.verdict.phase).to.not.be.oneOf(['tls_only_traffic', 'complete']);
    }
  });

  it('without direct scrapes, a plaintext client after the node was safe takes it back out of safe at once', async () => {
    const result = await soak(NO_DIRECT_SCRAPE, 2 * 86_400_000 + 3_600_000, 0, true, 2 * 86_400_000);
    expect(result, JSON.stringify(result)).to.be.a('number');
    const client = last.snapshot!.nodes.find((n) => n.verdict.node === 'gitaly-1')!;
    expect(client.verdict.reasons).to.include('plaintext_connections_in_window');
    expect(client.verdict.plaintextLastSeenMs).to.not.equal(null);
    for (const n of last.snapshot!.nodes.filter((n) => n.verdict.node !== 'gitaly-1')) expect(n.verdict.phase).to.equal('tls_only_traffic');
  });

  it('the real-Prometheus fault suite’s settings (45s soak, 1s scrapes, checks every 25s): accepted, and no phantom plaintext', async () => {
    const result = await soak(
      { soak_window: '45s', collection_interval: '2s', plaintext_check_interval: '25s', scrape_interval: '1s' },
      30 * 60_000,
    );
    expect(result, JSON.stringify(result)).to.be.a('number');
    expectSound(result);
  });

  it('the docker-compose settings (60s soak, 2s scrapes, checks every 30s): accepted, and no phantom plaintext', async () => {
    const result = await soak(
      { soak_window: '60s', collection_interval: '5s', plaintext_check_interval: '30s', scrape_interval: '2s' },
      30 * 60_000,
    );
    expect(result, JSON.stringify(result)).to.be.a('number');
    expectSound(result);
  });

  it('the docker-compose settings with slow nodes probed two at a time (a cycle’s dials spread over seconds): no phantom plaintext', async () => {
    expectSound(
      await soak(
        { soak_window: '60s', collection_interval: '5s', plaintext_check_interval: '30s', scrape_interval: '2s', concurrency: 2 },
        30 * 60_000,
        300,
      ),
    );
  });

  it('the tightest spacing allowed with 1m scrapes (1h soak, checks every 6m15s): no phantom plaintext, no collapsed window', async () => {
    expectSound(
      await soak(
        { soak_window: '1h', collection_interval: '30s', plaintext_check_interval: '6m15s', scrape_interval: '1m' },
        6 * 3_600_000,
      ),
    );
  });

  it('the tightest spacing allowed with 1m scrapes, slow nodes probed one at a time: no phantom plaintext', async () => {
    expectSound(
      await soak(
        { soak_window: '1h', collection_interval: '30s', plaintext_check_interval: '6m15s', scrape_interval: '1m', concurrency: 1 },
        6 * 3_600_000,
        3_000,
      ),
    );
  });

  it('the defaults’ proportions with slow nodes probed one at a time: no phantom plaintext', async () => {
    expectSound(
      await soak(
        { soak_window: '1d', collection_interval: '5m', plaintext_check_interval: '1h', scrape_interval: '1m', concurrency: 1 },
        3 * 86_400_000,
        5_000,
      ),
    );
  });

  it('checks every minute with 1m scrapes (1h soak): refused by name, or no phantom plaintext', async () => {
    expectSound(
      await soak({ soak_window: '1h', collection_interval: '30s', plaintext_check_interval: '1m', scrape_interval: '1m' }, 4 * 3_600_000),
    );
  });

  it('a 20s soak window with 1s scrapes and checks every 6s: refused by name, or no phantom plaintext', async () => {
    expectSound(
      await soak({ soak_window: '20s', collection_interval: '2s', plaintext_check_interval: '6s', scrape_interval: '1s' }, 10 * 60_000),
    );
  });
});
