// Observing one node: what is asked, in which order, and when the periodic checks run. The
// observation is all it returns: the history is the verdict's to update (advance-node.ts).
import { expect } from 'chai';
import pino from 'pino';
import { emptyCarry, observeNode, type ObserveContext, type ObserveMemory } from '../../src/collect/observe-node.ts';
import type { ProbeFunctions } from '../../src/collect/probes.ts';
import { tlsFailed } from '../helpers/evidence.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const T0 = Date.UTC(2026, 11, 1, 8);
const CHECK = 60 * 60_000;

describe('observing one node', () => {
  let clock: FakeClock;
  let fleet: FakeFleet;
  let calls: string[];
  let ctx: ObserveContext;
  const node = fakeNodeConfig('gitaly-1', { certificateFile: '/etc/gitlab/ssl/gitaly.crt' });
  const never: ObserveMemory = { lastPlaintextProbe: null, tlsEverUp: false };

  beforeEach(() => {
    clock = new FakeClock(T0);
    fleet = new FakeFleet(clock);
    fleet.add('gitaly-1');
    calls = [];
    const fake = fleet.probes();
    const probes: ProbeFunctions = {
      ...fake,
      scrapeGitalyMetrics: (...a) => (calls.push('scrape'), fake.scrapeGitalyMetrics(...a)),
      probeTls: (...a) => (calls.push('tls'), fake.probeTls(...a)),
      probePlaintext: (...a) => (calls.push('plaintext'), fake.probePlaintext(...a)),
      checkCertFile: async (path, servedLeaf) => (
        calls.push('cert_file'),
        { ok: true, path, chain: [], matchesServed: servedLeaf !== null }
      ),
    };
    ctx = {
      config: fakeConfig([node], '/nonexistent/state.json', { plaintextCheckIntervalMs: CHECK }),
      probes,
      caPems: undefined,
      now: clock.now,
      logger: pino({ level: 'silent' }),
    };
  });

  it('scrapes before it probes, so every connection the probes open lands in the next scrape', async () => {
    const { observation } = await observeNode(node, never, emptyCarry(), ctx);
    expect(calls).to.deep.equal(['scrape', 'tls', 'cert_file', 'plaintext']);
    expect(observation.scrapeAtMs).to.equal(T0);
    expect(observation.plaintextFresh).to.equal(true);
    expect(observation.plaintext?.connectionsMade).to.deep.equal({ tcp: 1, tls: 1 });
  });

  it('reads the certificate file only once the TLS listener has completed a handshake (now or before)', async () => {
    const refused = tlsFailed({ code: 'CONNECT', message: 'connection refused' }, { address: node.tlsAddress!, atMs: T0 });
    const failing = { ...ctx, probes: { ...ctx.probes, probeTls: async () => refused } };
    expect((await observeNode(node, never, emptyCarry(), failing)).observation.certFile).to.equal(null);
    expect((await observeNode(node, { ...never, tlsEverUp: true }, emptyCarry(), failing)).observation.certFile).to.not.equal(null);
  });

  it('keeps the latest listen_addr check for plaintext_check_interval, then checks again', async () => {
    const first = (await observeNode(node, never, emptyCarry(), ctx)).observation.plaintext!;
    const memory = { lastPlaintextProbe: first, tlsEverUp: true };
    const due = first.atMs + CHECK;
    clock.ms = due - 1;
    calls = [];
    const before = (await observeNode(node, memory, emptyCarry(), ctx)).observation;
    expect(calls, 'one millisecond before the interval').to.not.include('plaintext');
    expect(before.plaintextFresh).to.equal(false);
    expect(before.plaintext, 'the latest check, reported as it was').to.equal(first);
    clock.ms = due;
    calls = [];
    expect((await observeNode(node, memory, emptyCarry(), ctx)).observation.plaintextFresh).to.equal(true);
    expect(calls).to.include('plaintext');
  });

  it('checks listen_addr again at once when Gitaly restarted since the last check and serves TLS', async () => {
    const first = (await observeNode(node, never, emptyCarry(), ctx)).observation.plaintext!;
    clock.advance(60_000);
    fleet.nodes.get('gitaly-1')!.processStartSeconds = clock.now() / 1000 - 5;
    calls = [];
    const o = (await observeNode(node, { lastPlaintextProbe: first, tlsEverUp: true }, emptyCarry(), ctx)).observation;
    expect(o.plaintextFresh).to.equal(true);
  });

  it('records each observer that ran, in order, with its failure; one not due leaves no run', async () => {
    fleet.nodes.get('gitaly-1')!.metricsUp = false;
    const first = (await observeNode(node, never, emptyCarry(), ctx)).observation;
    expect(first.runs.map((r) => r.source)).to.deep.equal(['gitaly_metrics', 'tls', 'cert_file', 'plaintext']);
    expect(first.runs[0]!.error?.code).to.equal('CONNECT');
    expect(first.runs.slice(1).map((r) => r.error)).to.deep.equal([null, null, null]);
    const next = (await observeNode(node, { lastPlaintextProbe: first.plaintext, tlsEverUp: true }, emptyCarry(), ctx)).observation;
    expect(
      next.runs.map((r) => r.source),
      'listen_addr is not due again yet',
    ).to.deep.equal(['gitaly_metrics', 'tls', 'cert_file']);
  });
});
