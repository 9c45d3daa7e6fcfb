// A host name with an A and an AAAA record names two sockets. The probes dial each: a listen_addr
// still open on one of them is open, and a certificate served on one says nothing of the other.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { chainPem, createCa, createLeaf, type Issued } from '../../src/demo/certs.ts';
import { probePlaintext } from '../../src/probes/plaintext.ts';
import type { ResolveAll } from '../../src/probes/resolve-all.ts';
import { probeTlsEveryAddress } from '../../src/probes/tls-every-address.ts';
import { closedPort, startH2cHealthServer, startTlsServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { scaled } from '../helpers/time-factor.ts';

const NAME = 'gitaly-dual.test';
const options = { timeoutMs: 5000, grpcHealth: true, checkTlsPortRejectsPlaintext: false };

/** The resolver answers the test name with these addresses, in this order. */
const resolver =
  (...addresses: string[]): ResolveAll =>
  (host) =>
    Promise.resolve(
      host === NAME ? { ok: true, addresses } : { ok: false, error: { code: 'DNS', message: `Could not resolve ${host} (ENOTFOUND).` } },
    );

describe('probes dial every address a name resolves to', function () {
  this.timeout(scaled(20_000));
  const servers: LoopbackServer[] = [];
  let ca: Issued;
  before(async () => {
    ca = await createCa();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('listen_addr open on ::1 while 127.0.0.1 refuses is open, in either resolver order, and each address is listed', async () => {
    const port = await closedPort('127.0.0.1');
    const v6 = await startH2cHealthServer('SERVING', '::1', port);
    servers.push(v6);
    for (const order of [
      ['127.0.0.1', '::1'],
      ['::1', '127.0.0.1'],
    ]) {
      const result = await probePlaintext({ node: 'g', plaintextAddress: `${NAME}:${port}` }, options, { resolveAll: resolver(...order) });
      expect(result.open, order.join()).to.equal(true);
      expect(result.grpcHealthServing).to.equal(true);
      expect(result.connectionsMade.tcp).to.equal(1);
      expect(result.perAddress?.map((a) => [a.address, a.open])).to.have.deep.members([
        [`127.0.0.1:${port}`, false],
        [`[::1]:${port}`, true],
      ]);
    }
  });

  it('listen_addr refused on every address is closed', async () => {
    const port = await closedPort('127.0.0.1');
    const closed = await probePlaintext({ node: 'g', plaintextAddress: `${NAME}:${port}` }, options, {
      resolveAll: resolver('127.0.0.1', '::1'),
    });
    expect([closed.open, closed.error, closed.connectionsMade.tcp]).to.deep.equal([false, null, 0]);
  });

  it('a certificate with a wrong name served on ::1 fails the node although 127.0.0.1 serves a good one', async () => {
    const good = await createLeaf(ca, NAME);
    const wrong = await createLeaf(ca, 'someone-else.test');
    const v4 = await startTlsServer({ cert: chainPem(good), key: good.keyPem, host: '127.0.0.1' });
    servers.push(v4);
    const v6 = await startTlsServer({ cert: chainPem(wrong), key: wrong.keyPem, host: '::1', port: v4.port });
    servers.push(v6);
    const result = await probeTlsEveryAddress(
      { node: 'g', address: `tls://${NAME}:${v4.port}` },
      { timeoutMs: 5000, ca: [ca.certPem], checkVersions: false },
      { resolveAll: resolver('127.0.0.1', '::1') },
    );
    expect(result.address).to.equal(`tls://${NAME}:${v4.port}`);
    expect(result.handshakeOk).to.equal(true);
    expect(result.hostnameMatch).to.equal(false);
    expect(result.differentLeaves).to.equal(true);
    expect(result.connectionsMade).to.equal(2);
    expect(result.perAddress?.map((a) => [a.address, a.handshakeOk])).to.deep.equal([
      [`127.0.0.1:${v4.port}`, true],
      [`[::1]:${v4.port}`, true],
    ]);
    // Both were asked with the name the clients dial, as SNI.
    expect([...v4.serverNames, ...v6.serverNames]).to.deep.equal([NAME, NAME]);
  });

  it('a name with one address is probed once, as before, and reports the configured address', async () => {
    const good = await createLeaf(ca, NAME);
    const v4 = await startTlsServer({ cert: chainPem(good), key: good.keyPem, host: '127.0.0.1' });
    servers.push(v4);
    const result = await probeTlsEveryAddress(
      { node: 'g', address: `${NAME}:${v4.port}` },
      { timeoutMs: 5000, ca: [ca.certPem], checkVersions: false },
      { resolveAll: resolver('127.0.0.1') },
    );
    expect([result.address, result.handshakeOk, result.hostnameMatch, result.trusted, result.connectionsMade]).to.deep.equal([
      `${NAME}:${v4.port}`,
      true,
      true,
      true,
      1,
    ]);
    expect(result.perAddress).to.equal(undefined);
  });
});

describe('a collection with a dual-stack name (real probes, injected resolver)', function () {
  this.timeout(scaled(30_000));
  const servers: LoopbackServer[] = [];
  let dir: string;
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('judges listen_addr open when only ::1 still accepts, and says which address does', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-dual-stack-'));
    const ca = await createCa();
    const leaf = await createLeaf(ca, NAME);
    const tls4 = await startTlsServer({ cert: chainPem(leaf), key: leaf.keyPem, host: '127.0.0.1' });
    servers.push(tls4, await startTlsServer({ cert: chainPem(leaf), key: leaf.keyPem, host: '::1', port: tls4.port }));
    const plaintextPort = await closedPort('127.0.0.1');
    servers.push(await startH2cHealthServer('SERVING', '::1', plaintextPort));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    const node: NodeConfig = {
      name: 'gitaly-dual',
      role: 'gitaly',
      tlsAddress: `${NAME}:${tls4.port}`,
      plaintextAddress: `${NAME}:${plaintextPort}`,
    };
    const collector = new Collector({
      config: fakeConfig([node], join(dir, 'state.json'), { caFile }),
      logger: pino({ level: 'silent' }),
      probes: { ...realProbes, resolveAll: resolver('127.0.0.1', '::1') },
    });
    const snapshot = await collector.collect();
    const verdict = snapshot.nodes[0]!.verdict;
    expect(verdict.facts.checks.plaintextListenerOpen.value).to.equal(true);
    expect(verdict.reasons).to.include('plaintext_listener_open');
    expect(verdict.reasons).not.to.include('tls_handshake_failed');
    expect(verdict.details.join(' ')).to.contain(
      `its host name resolves to 2 addresses: 127.0.0.1:${plaintextPort} refuses, [::1]:${plaintextPort} accepts`,
    );
    await collector.stop();
  });
});
