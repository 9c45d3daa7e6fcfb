import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector, type Snapshot } from '../../src/cycle/collector.ts';
import type { Config } from '../../src/config/types.ts';
import { loadState } from '../../src/migration/state.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';
import { waitFor } from '../helpers/wait-for.ts';

const logger = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 10, 25, 8);

describe('collector', () => {
  let dir: string;
  let clock: FakeClock;
  let fleet: FakeFleet;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-collector-'));
    clock = new FakeClock(T0);
    fleet = new FakeFleet(clock);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function runCycles(collector: Collector, count: number, stepMs = 30_000, between?: (i: number) => void): Promise<Snapshot> {
    let last: Snapshot | undefined;
    for (let i = 0; i < count; i++) {
      between?.(i);
      last = await collector.collect();
      clock.advance(stepMs);
    }
    return last!;
  }

  function make(config: Config): Collector {
    return new Collector({ config, logger, probes: fleet.probes(), now: clock.now });
  }

  it('logs a steady source failure over 20 cycles once, again when its error changes, a reminder after 15 min, and its recovery once', async () => {
    const node = fleet.add('gitaly-1');
    const lines: Array<{ level: number; msg: string; node?: string; source?: string; code?: string; previous_code?: string }> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'));
    const base = fleet.probes();
    let timingOut = false;
    const probes = {
      ...base,
      scrapeGitalyMetrics: (...args: Parameters<typeof base.scrapeGitalyMetrics>) =>
        timingOut
          ? Promise.resolve({
              ok: false as const,
              error: { code: 'TIMEOUT' as const, message: `no answer within 10000 ms (${args[0]})` },
              durationMs: 1,
            })
          : base.scrapeGitalyMetrics(...args),
    };
    const collector = new Collector({ config, logger: capture, probes, now: clock.now });
    const about = (): Array<[number, string]> => lines.filter((l) => l.source === 'gitaly_metrics').map((l) => [l.level, l.msg]);
    await runCycles(collector, 2);
    expect(about()).to.deep.equal([]);
    node.metricsUp = false;
    const s = await runCycles(collector, 20);
    const refused: [number, string] = [40, 'gitaly-1: gitaly_metrics failed: connection refused (http://gitaly-1:9236/metrics)'];
    expect(about(), '20 cycles (10 min) of the same failure').to.deep.equal([refused]);
    expect(lines.find((l) => l.source === 'gitaly_metrics')).to.include({ node: 'gitaly-1', code: 'CONNECT' });
    expect(s.sourceErrors.get('gitaly_metrics\u0000CONNECT'), 'each cycle is still counted').to.equal(20);
    timingOut = true;
    await runCycles(collector, 30);
    const timedOut: [number, string] = [40, 'gitaly-1: gitaly_metrics failed: no answer within 10000 ms (http://gitaly-1:9236/metrics)'];
    expect(about(), 'a new error code is logged at once, then quiet for 15 min').to.deep.equal([refused, timedOut]);
    await runCycles(collector, 1);
    const reminder: [number, string] = [
      40,
      'gitaly-1: gitaly_metrics still failing after 25 min: no answer within 10000 ms (http://gitaly-1:9236/metrics)',
    ];
    expect(about()).to.deep.equal([refused, timedOut, reminder]);
    timingOut = false;
    node.metricsUp = true;
    await runCycles(collector, 5);
    expect(about()).to.deep.equal([refused, timedOut, reminder, [30, 'gitaly-1: gitaly_metrics recovered after 25 min']]);
    expect(lines.filter((l) => l.source === 'gitaly_metrics').at(-1)).to.include({ node: 'gitaly-1', previous_code: 'TIMEOUT' });
  });

  it('logs a failing inventory source (file_sd) once, not every cycle, and its recovery once', async () => {
    fleet.add('gitaly-1');
    const lines: Array<{ level: number; msg: string; source?: string; inventory_source?: string; code?: string }> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    let readable = false;
    const sd = {
      id: 'file_sd /etc/prometheus/gitaly.json',
      kind: 'file_sd' as const,
      discover: () =>
        Promise.resolve(
          readable
            ? { ok: true as const, nodes: [fakeNodeConfig('gitaly-1')] }
            : { ok: false as const, error: { code: 'READ' as const, message: 'cannot read /etc/prometheus/gitaly.json: EACCES' } },
        ),
    };
    const config = fakeConfig([], join(dir, 'state.json'));
    const collector = new Collector({ config, logger: capture, probes: fleet.probes(), now: clock.now, inventorySources: () => [sd] });
    await runCycles(collector, 20);
    readable = true;
    await runCycles(collector, 2);
    const about = lines.filter((l) => l.source === 'inventory_file_sd');
    expect(about.map((l) => [l.level, l.msg])).to.deep.equal([
      [40, 'file_sd /etc/prometheus/gitaly.json failed: cannot read /etc/prometheus/gitaly.json: EACCES'],
      [30, 'file_sd /etc/prometheus/gitaly.json recovered after 10 min'],
    ]);
    expect(about[0]).to.include({ code: 'READ', inventory_source: 'file_sd /etc/prometheus/gitaly.json' });
  });

  it('logs a node’s phase change once through a 20-cycle outage, and once when it recovers', async () => {
    const node = fleet.add('gitaly-1');
    const lines: Array<{ level: number; msg: string; node?: string; from?: string; to?: string }> = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'));
    const collector = new Collector({ config, logger: capture, probes: fleet.probes(), now: clock.now });
    const phaseLines = (): Array<[string | undefined, string | undefined]> =>
      lines.filter((l) => l.to !== undefined).map((l) => [l.from, l.to]);
    const before = (await runCycles(collector, 2)).view.nodes[0]!.phase;
    expect(before).to.not.equal('unknown');
    node.metricsUp = false;
    await runCycles(collector, 20);
    expect(phaseLines()).to.deep.equal([[before, 'unknown']]);
    node.metricsUp = true;
    const after = (await runCycles(collector, 1)).view.nodes[0]!.phase;
    expect(after).to.not.equal('unknown');
    expect(phaseLines()).to.deep.equal([
      [before, 'unknown'],
      ['unknown', after],
    ]);
  });

  it('local mode reads listen_addr from /proc (LISTEN) instead of dialling it, and dials when /proc cannot vouch for it', async () => {
    fleet.add('gitaly-1', { counts: { tcp: 40, tls: 100, unix: 5 } });
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
      local: { node: 'gitaly-1', procRoot: '/proc' },
    });
    const base = fleet.probes();
    let dials = 0;
    let table = { tcp: false, tls: true };
    const probes = {
      ...base,
      probePlaintext: (...args: Parameters<typeof base.probePlaintext>) => {
        dials += 1;
        return base.probePlaintext(...args);
      },
      readListening: () => Promise.resolve({ ok: true as const, listening: table }),
      readEstablished: () => Promise.resolve({ ok: true as const, established: { tcp: 0, tls: 0 } }),
    };
    const collector = new Collector({ config, logger, probes, now: clock.now });
    let s = await collector.collect();
    expect(dials).to.equal(0);
    expect(s.nodes[0]!.observation.plaintext).to.deep.include({ open: false, connectionsMade: { tcp: 0, tls: 0 } });
    expect(s.nodes[0]!.history.ownTotals.tcp).to.equal(0);
    // The TLS port not listening in that table: not Gitaly's namespace, so nothing is concluded; dial.
    table = { tcp: false, tls: false };
    clock.advance(config.plaintextCheckIntervalMs);
    s = await collector.collect();
    expect(dials).to.equal(1);
  });

  it('the exporter’s own dials never change a node’s verdict', async () => {
    fleet.add('gitaly-1', { counts: { tcp: 40, tls: 100, unix: 5 } });
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), { plaintextCheckIntervalMs: 60_000 });
    const collector = make(config);
    const phases = new Set<string>();
    // 30 cycles of 30 s = 15 min > the 10 min window, with a plaintext dial every minute.
    let s: Snapshot | undefined;
    for (let i = 0; i < 30; i++) {
      s = await collector.collect();
      const v = s.nodes[0]!.verdict;
      expect(v.reasons).to.not.include('plaintext_connections_in_window');
      phases.add(v.phase);
      clock.advance(30_000);
    }
    expect(fleet.nodes.get('gitaly-1')!.counts.tcp).to.be.greaterThan(50);
    expect(s!.nodes[0]!.verdict.phase).to.equal('tls_only_traffic');
    expect(s!.nodes[0]!.verdict.reasons).to.deep.equal(['plaintext_listener_open']);
    expect(s!.nodes[0]!.history.ownTotals.tcp).to.be.greaterThan(10);
  });

  it('a real plaintext client between own dials blocks the node for a whole window', async () => {
    const node = fleet.add('gitaly-1');
    const collector = make(fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), { plaintextCheckIntervalMs: 60_000 }));
    await runCycles(collector, 25);
    expect(collector.latest!.nodes[0]!.verdict.phase).to.equal('tls_only_traffic');
    node.counts.tcp += 1; // one legacy client reconnects over plaintext
    const s = await runCycles(collector, 1);
    expect(s.nodes[0]!.verdict.phase).to.equal('dual_listen');
    expect(s.nodes[0]!.verdict.plaintextLastSeenMs).to.equal(s.atMs);
    // Still blocked nine minutes later, free again once the 10 minute window has passed.
    const later = await runCycles(collector, 18);
    expect(later.nodes[0]!.verdict.reasons).to.include('plaintext_connections_in_window');
    const free = await runCycles(collector, 4);
    expect(free.nodes[0]!.verdict.phase).to.equal('tls_only_traffic');
  });

  it('reaches complete once listen_addr is removed, and says insufficient_history before the window is covered', async () => {
    const node = fleet.add('gitaly-1');
    const collector = make(fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), { plaintextCheckIntervalMs: 60_000 }));
    const early = await runCycles(collector, 3);
    expect(early.nodes[0]!.verdict.reasons).to.include('insufficient_history');
    expect(early.nodes[0]!.verdict.phase).to.equal('dual_listen');
    node.listenerOpen = false;
    const s = await runCycles(collector, 25);
    expect(s.nodes[0]!.verdict.phase).to.equal('complete');
    expect(s.fleet.complete).to.be.true;
  });

  it('keeps history across an exporter restart through the state file', async () => {
    const node = fleet.add('gitaly-1');
    const stateFile = join(dir, 'state.json');
    const first = make(fakeConfig([fakeNodeConfig('gitaly-1')], stateFile));
    await runCycles(first, 2);
    node.counts.tcp += 3;
    const seen = (await runCycles(first, 1)).nodes[0]!.verdict.plaintextLastSeenMs;
    expect(seen).to.be.a('number');

    const loaded = await loadState(stateFile);
    expect(loaded.ok).to.be.true;
    const second = new Collector({
      config: fakeConfig([fakeNodeConfig('gitaly-1')], stateFile),
      logger,
      probes: fleet.probes(),
      now: clock.now,
      histories: loaded.ok ? loaded.nodes : undefined,
    });
    const s = await runCycles(second, 1);
    expect(s.nodes[0]!.verdict.plaintextLastSeenMs).to.equal(seen);
    expect(s.nodes[0]!.verdict.observedSinceMs).to.equal(T0);
  });

  it('does not dial listen_addr again after a restart while the last check is fresh', async () => {
    const node = fleet.add('gitaly-1');
    const stateFile = join(dir, 'state.json');
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], stateFile, { plaintextCheckIntervalMs: 10 * 60_000 });
    await runCycles(make(config), 1);
    expect(node.counts.tcp).to.equal(1);
    const loaded = await loadState(stateFile);
    const restarted = new Collector({
      config,
      logger,
      probes: fleet.probes(),
      now: clock.now,
      histories: loaded.ok ? loaded.nodes : undefined,
    });
    const s = await runCycles(restarted, 3);
    expect(node.counts.tcp).to.equal(1);
    expect(s.nodes[0]!.observation.plaintext?.open).to.equal(true);
    expect(s.nodes[0]!.verdict.reasons).to.include('plaintext_listener_open');
  });

  it('with Prometheus down, says source_down, keeps collecting the other evidence, and the fleet is not complete', async () => {
    // listen_addr open: closed, with Gitaly's plaintext counter at 0, the node would be complete
    // whatever Prometheus says (finish-node.test.ts).
    fleet.add('gitaly-1');
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
      prometheus: { url: 'http://prom:9090', instanceLabel: 'instance', scrapeIntervalMs: 15_000 },
    });
    const collector = make(config);
    const s = await runCycles(collector, 25);
    const v = s.nodes[0]!.verdict;
    expect(v.reasons).to.include('source_down');
    expect(v.facts.sources.filter((s) => !s.up).map((s) => s.source)).to.deep.equal(['prometheus']);
    expect(v.phase).to.equal('dual_listen');
    expect(s.fleet.complete).to.be.false;
    expect(s.nodes[0]!.observation.tls?.handshakeOk).to.be.true;
    expect(s.sourceErrors.get('prometheus\u0000CONNECT')).to.equal(25);
  });

  it('asks the engine first: VictoriaMetrics gets a window that ends before the newest range points it rewrites, and the queries know the engine', async () => {
    fleet.add('gitaly-1');
    const asked: Array<{ endMs: number; nowMs: number; engine: unknown }> = [];
    const probes = fleet.probes();
    const vm = { engine: 'victoriametrics' as const, latencyOffsetMs: 1_000 };
    const collector = new Collector({
      config: fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
        prometheus: { url: 'http://prom:9090', instanceLabel: 'instance', scrapeIntervalMs: 15_000 },
      }),
      logger,
      probes: {
        ...probes,
        checkQueryEngine: async () => ({ ok: true, ...vm }),
        queryFleetEvidence: async (cfg, window, options, deps, engine) => {
          asked.push({ endMs: window.endMs, nowMs: clock.ms, engine });
          return probes.queryFleetEvidence(cfg, window, options, deps, engine);
        },
      },
      now: clock.now,
    });
    await runCycles(collector, 1);
    expect(asked).to.have.length(1);
    expect(asked[0]!.engine).to.deep.include(vm);
    // Its 1 s latency offset, a second for clock skew, and a step of the per-change range.
    expect(asked[0]!.nowMs - asked[0]!.endMs).to.be.at.least(3_000);
  });

  it('ends every replica’s Prometheus window at the start of its collection slot, before any replica’s dials of that slot', async () => {
    fleet.add('gitaly-1');
    const probes = fleet.probes();
    /** The window end a replica asks for when its collection runs `intoSlotMs` into a 5 s slot. */
    async function endAt(intoSlotMs: number): Promise<number> {
      clock.ms = T0 + intoSlotMs;
      let endMs = Number.NaN;
      const collector = new Collector({
        config: fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, `state-${intoSlotMs}.json`), {
          prometheus: { url: 'http://prom:9090', instanceLabel: 'instance', scrapeIntervalMs: 1_000 },
          collectionIntervalMs: 5_000,
        }),
        logger,
        probes: {
          ...probes,
          queryFleetEvidence: async (cfg, window, options, deps, engine) => {
            endMs = window.endMs;
            return probes.queryFleetEvidence(cfg, window, options, deps, engine);
          },
        },
        now: clock.now,
      });
      await collector.collect();
      return endMs - T0;
    }
    // 1.2 s in (started late, or a peer's dials of this slot may be in Gitaly's counter and not yet
    // in its exporter's): the slot's start, which every replica computes alike. 3.1 s in, when the
    // slot's dials are published: the time itself.
    expect([await endAt(0), await endAt(1_200), await endAt(3_100)]).to.deep.equal([0, 0, 3_100]);
  });

  it('runs each collection after the first at the start of a slot: a multiple of collection_interval', async function () {
    this.timeout(10_000);
    fleet.add('gitaly-1');
    const startsMs: number[] = [];
    const probes = fleet.probes();
    const collector = new Collector({
      config: fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), { collectionIntervalMs: 1_000 }),
      logger,
      probes: {
        ...probes,
        scrapeGitalyMetrics: (...args) => {
          startsMs.push(Date.now());
          return probes.scrapeGitalyMetrics(...args);
        },
      },
      now: Date.now,
    });
    // Started 300 ms into a slot.
    await waitFor(() => Date.now() % 1_000 >= 300 && Date.now() % 1_000 < 400, {
      timeoutMs: 2_000,
      intervalMs: 1,
      what: '300 ms into a slot',
    });
    collector.start();
    await waitFor(() => startsMs.length >= 3, { timeoutMs: 5_000, intervalMs: 10, what: 'three collections' });
    await collector.stop();
    // The first at once; the next ones at a slot's start (a timer may fire a little late, never early).
    expect(startsMs[0]! % 1_000).to.be.at.least(300);
    for (const ms of startsMs.slice(1)) expect(ms % 1_000, `${JSON.stringify(startsMs)}`).to.be.below(250);
    expect(startsMs[2]! - startsMs[1]!).to.be.closeTo(1_000, 250);
  });

  it('refuses evidence from an engine the check names as unverified, whatever its queries answer', async () => {
    fleet.add('gitaly-1');
    const probes = fleet.probes();
    fleet.prometheus = { ok: true, windowStartMs: 0, windowEndMs: 0, byInstance: new Map(), instancesSeen: [], queries: 7, durationMs: 1 };
    const message = 'prometheus.url answers as Grafana Mimir 2.10.0: not verified';
    const collector = new Collector({
      config: fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
        prometheus: { url: 'http://prom:9090', instanceLabel: 'instance', scrapeIntervalMs: 15_000 },
      }),
      logger,
      probes: { ...probes, checkQueryEngine: async () => ({ ok: false, answered: true, error: { code: 'UNVERIFIED_ENGINE', message } }) },
      now: clock.now,
    });
    const s = await runCycles(collector, 2);
    expect(s.prometheus && !s.prometheus.ok && s.prometheus.error.code).to.equal('UNVERIFIED_ENGINE');
    const v = s.nodes[0]!.verdict;
    expect(v.reasons).to.include('source_down');
    expect(v.details.join('\n')).to.include(message);
    expect(fleet.prometheusCalls, 'its queries are not even asked').to.equal(0);
  });

  it('asks Prometheus one query set per cycle whatever the fleet size, and flags undeclared instances', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `gitaly-${i + 1}`);
    for (const n of names) fleet.add(n, { listenerOpen: false });
    const byInstance = new Map(
      [...names, 'gitaly-99'].map((n) => [
        `${n}:9236`,
        {
          instance: `${n}:9236`,
          windowIncrease: { tcp: 0, tls: 10 },
          coverage: 1,
          processStartCoverage: 1,
          exportersTls: 0,
          tcpLastChangeMs: null,
        },
      ]),
    );
    fleet.prometheus = {
      ok: true,
      windowStartMs: 0,
      windowEndMs: 0,
      byInstance,
      instancesSeen: [...byInstance.keys()],
      queries: 3,
      durationMs: 1,
    };
    const collector = make(
      fakeConfig(
        names.map((n) => fakeNodeConfig(n)),
        join(dir, 'state.json'),
        { prometheus: { url: 'http://prom:9090', instanceLabel: 'instance', scrapeIntervalMs: 15_000 } },
      ),
    );
    const s = await runCycles(collector, 3);
    expect(fleet.prometheusCalls).to.equal(3);
    expect(s.fleet.undeclaredInstances).to.deep.equal(['gitaly-99:9236']);
    expect(s.fleet.complete).to.be.false;
    expect(s.nodes.every((n) => n.verdict.phase === 'complete')).to.be.true;
  });

  it('one hung node holds one slot: every other node’s observation finishes first', async () => {
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    const names = Array.from({ length: 40 }, (_, i) => `gitaly-${i + 1}`);
    for (const n of names) fleet.add(n, n === 'gitaly-3' ? { hang } : {});
    const finished: string[] = [];
    const probes = fleet.probes();
    const probeTls = probes.probeTls;
    probes.probeTls = async (target, options, deps) => {
      const r = await probeTls(target, options, deps);
      finished.push(target.node);
      if (finished.length === names.length - 1) release();
      return r;
    };
    const collector = new Collector({
      config: fakeConfig(
        names.map((n) => fakeNodeConfig(n)),
        join(dir, 'state.json'),
        { concurrency: 4 },
      ),
      logger,
      probes,
      now: clock.now,
    });
    const s = await collector.collect();
    expect(finished.indexOf('gitaly-3')).to.equal(names.length - 1);
    expect(s.nodes.map((n) => n.verdict.node)).to.deep.equal(names);
  });

  it('a stop that cannot wait for a hung collection saves the history observed so far, and never a torn file', async () => {
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    fleet.add('gitaly-1');
    fleet.add('gitaly-2', { hang });
    const stateFile = join(dir, 'state.json');
    const collector = make(fakeConfig([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')], stateFile, { concurrency: 1 }));
    const cycle = collector.collect();
    // gitaly-1 is observed, gitaly-2 hangs: the cycle cannot reach its own save.
    await collector.stop(50);
    const saved = await loadState(stateFile);
    if (!saved.ok) throw new Error(saved.error.message);
    expect([...saved.nodes.keys()], 'the node observed before the stop').to.deep.equal(['gitaly-1']);
    expect(saved.nodes.get('gitaly-1')!.firstObservedMs).to.equal(T0);
    // The hung cycle ends after all and saves everything, one save after the other.
    release();
    await cycle;
    const after = await loadState(stateFile);
    expect(after.ok && [...after.nodes.keys()].sort()).to.deep.equal(['gitaly-1', 'gitaly-2']);
  });

  it('a stop waits for a collection in progress to finish and save', async () => {
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    fleet.add('gitaly-1', { hang });
    const stateFile = join(dir, 'state.json');
    const collector = make(fakeConfig([fakeNodeConfig('gitaly-1')], stateFile));
    collector.start();
    let stopped = false;
    const stop = collector.stop(60_000).then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped, 'stop returned while the collection still ran').to.equal(false);
    release();
    await stop;
    const saved = await loadState(stateFile);
    expect(saved.ok && [...saved.nodes.keys()]).to.deep.equal(['gitaly-1']);
  });

  it('removing a node from the configuration drops its history', async () => {
    fleet.add('gitaly-1');
    fleet.add('gitaly-2');
    const stateFile = join(dir, 'state.json');
    const collector = make(fakeConfig([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')], stateFile));
    await runCycles(collector, 1);
    collector.setConfig(fakeConfig([fakeNodeConfig('gitaly-1')], stateFile));
    const s = await runCycles(collector, 1);
    expect(s.nodes.map((n) => n.verdict.node)).to.deep.equal(['gitaly-1']);
    const loaded = await loadState(stateFile);
    expect(loaded.ok && [...loaded.nodes.keys()]).to.deep.equal(['gitaly-1']);
  });
});
