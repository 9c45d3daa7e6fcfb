// A deterministic collection over a small fake fleet in several states, for renderer and page tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector, type Snapshot } from '../../src/cycle/collector.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from './fake-gitaly.ts';

export const SNAPSHOT_T0 = Date.UTC(2026, 10, 25, 8);

export async function sampleSnapshot(): Promise<Snapshot> {
  const clock = new FakeClock(SNAPSHOT_T0);
  const fleet = new FakeFleet(clock);
  fleet.add('gitaly-1', { listenerOpen: false });
  fleet.add('gitaly-2');
  const legacy = fleet.add('gitaly-3');
  fleet.add('gitaly-4', { metricsUp: false });
  const config = fakeConfig(
    ['gitaly-1', 'gitaly-2', 'gitaly-3', 'gitaly-4']
      .map((n) => fakeNodeConfig(n))
      .concat([fakeNodeConfig('praefect-1', { role: 'praefect', tlsAddress: undefined })]),
    join(mkdtempSync(join(tmpdir(), 'gte-snap-')), 'state.json'),
    { plaintextCheckIntervalMs: 60_000 },
  );
  fleet.add('praefect-1');
  const collector = new Collector({ config, logger: pino({ level: 'silent' }), probes: fleet.probes(), now: clock.now });
  let s: Snapshot | undefined;
  for (let i = 0; i < 24; i++) {
    legacy.counts.tcp += 1;
    s = await collector.collect();
    clock.advance(30_000);
  }
  return s!;
}
