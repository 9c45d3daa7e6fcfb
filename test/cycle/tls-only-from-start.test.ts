// A node that never had listen_addr (TLS only from its first start): it is not "dual listen" at any
// point. Its counter cannot be seen counting a plaintext dial of ours (nothing accepts one), so its
// zero is no evidence until the soak window is covered: unknown, saying so, then complete.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const T0 = Date.UTC(2026, 11, 1, 8);
const SOAK = 7 * 86_400_000;
const INTERVAL = 30_000;

describe('a node TLS-only from the start', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'gte-tls-only-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function collectorFor(fleet: FakeFleet, clock: FakeClock): Collector {
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
      soakWindowMs: SOAK,
      collectionIntervalMs: INTERVAL,
    });
    return new Collector({ config, logger: pino({ level: 'silent' }), probes: fleet.probes(), now: clock.now });
  }

  it('is never dual_listen: unknown while the window is not covered, and says to wait', async () => {
    const clock = new FakeClock(T0);
    const fleet = new FakeFleet(clock);
    fleet.add('gitaly-1', { listenerOpen: false, processStartSeconds: T0 / 1000 - 3600 });
    const collector = collectorFor(fleet, clock);
    for (let i = 0; i < 3; i++) {
      const s = await collector.collect();
      const v = s.view.nodes[0]!;
      expect(v.phase, `collection ${i + 1}`).to.equal('unknown');
      expect(v.checks.plaintextListenerOpen.value).to.equal(false);
      expect(v.reasons.map((r) => r.reason)).to.include('insufficient_history');
      expect(v.nextStep).to.match(/^Wait: /);
      clock.advance(INTERVAL);
    }
  });

  it('is not complete while its process counts plaintext connections (listen_addr refused to the exporter only)', async () => {
    const clock = new FakeClock(T0);
    const fleet = new FakeFleet(clock);
    const node = fleet.add('gitaly-1', { listenerOpen: false, processStartSeconds: T0 / 1000 - 3600 });
    node.counts.tcp = 1;
    const collector = collectorFor(fleet, clock);
    for (let i = 0; i < 3; i++) {
      const v = (await collector.collect()).nodes[0]!.verdict;
      expect(v.phase).to.not.equal('complete');
      clock.advance(INTERVAL);
    }
  });
});
