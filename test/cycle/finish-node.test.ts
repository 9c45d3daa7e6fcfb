// The last step of a migration: removing listen_addr means restarting Gitaly. Once the new process
// is seen refusing listen_addr while its TLS port accepts, with its plaintext counter at 0, no
// plaintext client can connect: the node is complete at once, not a whole soak window later.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig, type FakeNode } from '../helpers/fake-gitaly.ts';

const T0 = Date.UTC(2026, 11, 1, 8);
const SOAK = 10 * 60_000;
const INTERVAL = 30_000;
const CHECK = 60 * 60_000;

describe('finishing a node: the restart that removes listen_addr', () => {
  let clock: FakeClock;
  let fleet: FakeFleet;
  let node: FakeNode;
  let dir: string;
  let collector: Collector;
  const phases: string[] = [];

  beforeEach(async () => {
    clock = new FakeClock(T0);
    fleet = new FakeFleet(clock);
    node = fleet.add('gitaly-1');
    dir = mkdtempSync(join(tmpdir(), 'gte-finish-'));
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
      soakWindowMs: SOAK,
      collectionIntervalMs: INTERVAL,
      plaintextCheckIntervalMs: CHECK,
    });
    collector = new Collector({ config, logger: pino({ level: 'silent' }), probes: fleet.probes(), now: clock.now });
    phases.length = 0;
    // Through a whole soak window with no client: safe to remove listen_addr.
    for (let t = 0; t <= SOAK + 2 * INTERVAL; t += INTERVAL) {
      const s = await collector.collect();
      expect(s.nodes[0]!.verdict.phase).to.be.oneOf(['dual_listen', 'tls_only_traffic']);
      clock.advance(INTERVAL);
    }
    expect((await collector.collect()).nodes[0]!.verdict.phase).to.equal('tls_only_traffic');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Gitaly restarts; its counters start again from 0 (and its process start time moves). */
  function restart(withListenAddr: boolean): void {
    node.counts = { tcp: 0, tls: 0, unix: 0 };
    node.processStartSeconds = clock.now() / 1000;
    node.listenerOpen = withListenAddr;
  }

  async function collectAfter(ms: number) {
    clock.advance(ms);
    const s = await collector.collect();
    const v = s.nodes[0]!.verdict;
    phases.push(v.phase);
    const down = s.view.nodes[0]!.sources.filter((x) => !x.up).map((x) => x.source);
    return Object.assign(v, { checkedNow: s.nodes[0]!.observation.plaintextFresh, down });
  }

  it('is complete at the first collection after the restart, long before the next periodic check, and never dual_listen', async () => {
    clock.advance(5_000);
    restart(false);
    const v = await collectAfter(INTERVAL);
    expect(v.phase, JSON.stringify([v.reasons, v.details])).to.equal('complete');
    expect(v.reasons).to.deep.equal([]);
    expect(v.details.join(' ')).to.contain('no plaintext client can connect, so the soak window no longer matters');
    for (let i = 0; i < 5; i += 1) await collectAfter(INTERVAL);
    expect(phases).to.deep.equal(Array(6).fill('complete'));
  });

  it('a restart that keeps listen_addr is checked at once too, and stays short of complete', async () => {
    restart(true);
    const v = await collectAfter(INTERVAL);
    expect(v.checkedNow, 'listen_addr dialled in the first collection after the restart').to.equal(true);
    expect(v.facts.checks.plaintextListenerOpen.value).to.equal(true);
    // Once per restart: the next collection waits for plaintext_check_interval again.
    expect((await collectAfter(INTERVAL)).checkedNow).to.equal(false);
    expect(v.phase).not.to.equal('complete');
  });

  it('a listen_addr check that could not tell is asked again within two collections, so its error clears once it answers', async () => {
    node.plaintextUnreachable = true;
    clock.advance(CHECK);
    let v = await collectAfter(INTERVAL);
    expect(v.checkedNow).to.equal(true);
    expect(v.down, 'the page shows the plaintext source down').to.deep.equal(['plaintext']);
    expect(v.facts.checks.plaintextListenerOpen.value).to.equal(null);
    node.plaintextUnreachable = false;
    v = await collectAfter(INTERVAL);
    if (!v.checkedNow) v = await collectAfter(INTERVAL);
    expect(v.checkedNow, 'checked again within two collections').to.equal(true);
    expect(v.facts.checks.plaintextListenerOpen.value).to.equal(true);
    expect(v.down, 'and up again').to.deep.equal([]);
  });

  it('a node without a plaintext_address is not asked again sooner: only its TLS port is checked, at the interval', async () => {
    collector.setConfig(
      fakeConfig([fakeNodeConfig('gitaly-1', { plaintextAddress: undefined, plaintextListenerRemoved: true })], join(dir, 'state.json'), {
        soakWindowMs: SOAK,
        collectionIntervalMs: INTERVAL,
        plaintextCheckIntervalMs: CHECK,
      }),
    );
    clock.advance(CHECK);
    expect((await collectAfter(INTERVAL)).checkedNow).to.equal(true);
    for (let i = 0; i < 4; i += 1) expect((await collectAfter(INTERVAL)).checkedNow, `collection ${i + 2}`).to.equal(false);
  });

  it('is not complete while the new process counts plaintext connections (listen_addr refused to the exporter only: a firewall)', async () => {
    restart(false);
    node.counts.tcp = 2;
    const v = await collectAfter(INTERVAL);
    expect(v.facts.checks.plaintextListenerOpen.value).to.equal(false);
    expect(v.phase).not.to.equal('complete');
  });
});
