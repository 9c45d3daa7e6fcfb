// 200 real TLS listeners, one of which accepts TCP and never answers: the collection's bounded
// concurrency must let every other target's probe finish before the hung one gives up.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes, type ProbeFunctions } from '../../src/collect/probes.ts';
import { chainPem, createCa, createIntermediate, createLeaf } from '../../src/demo/certs.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { startSilentServer, startTlsServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

const TARGETS = 200;
const HUNG_INDEX = 7;

describe('integration: one hung TLS target among 200', function () {
  this.timeout(scaled(120_000));
  const servers: LoopbackServer[] = [];
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-hung-'));
    const ca = await createCa();
    const int = await createIntermediate(ca);
    const leaf = await createLeaf(int, '127.0.0.1');
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    for (let i = 0; i < TARGETS; i++) {
      servers.push(i === HUNG_INDEX ? await startSilentServer() : await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }));
    }
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('every other target’s result arrives before the hung one’s deadline ends its probe', async () => {
    const finished: string[] = [];
    const probes: ProbeFunctions = {
      ...realProbes,
      probeTls: async (target, options, deps) => {
        const result = await realProbes.probeTls(target, options, deps);
        finished.push(target.node);
        return result;
      },
    };
    const nodes = servers.map((s, i) => ({ name: `node-${i}`, role: 'gitaly' as const, tlsAddress: s.address }));
    const config = fakeConfig(nodes, join(dir, 'state.json'), {
      caFile: join(dir, 'ca.pem'),
      concurrency: 16,
      // The hung target's deadline must outlast 199 handshakes on a loaded machine too (beside two
      // CPU hogs they took over 6 s, and over 32 s with more work beside them): 12 s on a quiet one,
      // scaled with TEST_TIME_FACTOR.
      timeouts: { metricsMs: scaled(12_000), tlsMs: scaled(12_000), plaintextMs: scaled(12_000), prometheusMs: scaled(12_000) },
    });
    const snapshot = await new Collector({ config, logger: pino({ level: 'silent' }), probes }).collect();

    const hung = `node-${HUNG_INDEX}`;
    expect(finished).to.have.length(TARGETS);
    expect(finished.at(-1), 'the hung target finishes last, at its deadline').to.equal(hung);
    const byName = new Map(snapshot.nodes.map((n) => [n.verdict.node, n]));
    expect(byName.get(hung)!.observation.tls?.error?.code).to.equal('TIMEOUT');
    const others = snapshot.nodes.filter((n) => n.verdict.node !== hung);
    expect(others.every((n) => n.observation.tls?.handshakeOk === true && n.observation.tls.trusted === true)).to.equal(true);
  });
});
