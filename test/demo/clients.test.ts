import { expect } from 'chai';
import { createCa, createIntermediate, createLeaf, chainPem, type Issued } from '../../src/demo/certs.ts';
import { startSimulatedNode, type NodeTls, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { startTrafficDriver, type TrafficDriver, type TrafficClientPlan } from '../../src/demo/clients.ts';
import { scaled } from '../helpers/time-factor.ts';

async function until(what: string, check: () => boolean, deadlineMs = 10000): Promise<void> {
  const end = Date.now() + scaled(deadlineMs);
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('demo/clients', function () {
  let ca: Issued;
  let nodeTls: NodeTls;
  let node: SimulatedNode;
  let driver: TrafficDriver | undefined;

  before(async function () {
    ca = await createCa();
    const intermediate = await createIntermediate(ca);
    const leaf = await createLeaf(intermediate, 'localhost', { ipAddresses: ['127.0.0.1'] });
    nodeTls = { certChainPem: chainPem(leaf, intermediate), keyPem: leaf.keyPem };
  });

  beforeEach(async function () {
    node = await startSimulatedNode({ name: 'gitaly-c', role: 'gitaly', host: '127.0.0.1', tls: nodeTls, metricsBulk: 'small' });
  });

  afterEach(async function () {
    await driver?.stop();
    driver = undefined;
    await node.stop();
  });

  const drive = (clients: TrafficClientPlan[]): TrafficDriver =>
    startTrafficDriver({
      caPem: ca.certPem,
      intervalMs: 20,
      targets: [{ name: node.name, tlsAddress: node.tlsAddress, plaintextAddress: node.plaintextAddress, clients }],
    });
  const stats = (): NonNullable<ReturnType<TrafficDriver['stats']>> => driver!.stats(node.name)!;

  it('keeps one long-lived channel per client while many checks succeed', async function () {
    driver = drive([{ switchToTlsAtMs: null }, { switchToTlsAtMs: null }, { switchToTlsAtMs: null }]);
    await until('60 successful checks', () => stats().checksOk >= 60);
    expect(node.counts).to.deep.equal({ tcp: 3, tls: 0, unix: 0 });
    expect(stats()).to.include({ checksFailed: 0, clientsOnPlaintext: 3, clientsOnTls: 0 });
  });

  it('moves clients to TLS at their time and lets go of the plaintext channel; a legacy client stays', async function () {
    driver = drive([{ switchToTlsAtMs: 300 }, { switchToTlsAtMs: 500 }, { switchToTlsAtMs: null }]);
    await until('two clients on TLS', () => stats().clientsOnTls === 2);
    expect(stats().clientsOnPlaintext).to.equal(1);
    // Every accept is a channel a client opened; a client that started late may have gone straight to TLS.
    const opened = stats().channelsOpened;
    expect(opened.tls).to.equal(2);
    expect(opened.tcp).to.be.within(1, 3);
    expect(node.counts).to.deep.equal({ tcp: opened.tcp, tls: 2, unix: 0 });
    const okBefore = stats().checksOk;
    await until('20 more checks', () => stats().checksOk >= okBefore + 20);
    expect(node.counts).to.deep.equal({ tcp: opened.tcp, tls: 2, unix: 0 });
    expect(stats().checksFailed).to.equal(0);
    await until('the switched clients to close their plaintext channels', () => node.established().tcp === 1);
    expect(node.established()).to.deep.equal({ tcp: 1, tls: 2, unix: 0 });
  });

  it('clients that moved to TLS do not notice the plaintext listener closing', async function () {
    driver = drive([{ switchToTlsAtMs: 0 }, { switchToTlsAtMs: 0 }]);
    await until('both clients on TLS', () => stats().clientsOnTls === 2);
    await node.closePlaintextListener();
    const okBefore = stats().checksOk;
    await until('20 more checks', () => stats().checksOk >= okBefore + 20);
    expect(stats().checksFailed).to.equal(0);
  });

  it('re-dials after a restart, and periodically when asked to', async function () {
    driver = drive([{ switchToTlsAtMs: null }, { switchToTlsAtMs: null, reconnectEveryMs: 50 }]);
    await until('the recycled client to re-dial twice', () => node.counts.tcp >= 4);
    await node.restart();
    await until('both clients to reconnect after the restart', () => node.counts.tcp >= 2 && stats().clientsOnPlaintext === 2);
    const okBefore = stats().checksOk;
    await until('more checks', () => stats().checksOk >= okBefore + 10);
  });

  it('stops: no more checks and no more connections afterwards', async function () {
    driver = drive([{ switchToTlsAtMs: null, reconnectEveryMs: 30 }, { switchToTlsAtMs: 0 }]);
    await until('some checks', () => stats().checksOk >= 10);
    await driver.stop();
    const after = { ...stats(), counts: { ...node.counts } };
    await new Promise((r) => setTimeout(r, 200));
    expect({ ...stats(), counts: { ...node.counts } }).to.deep.equal(after);
    expect(stats()).to.include({ clientsOnTls: 0, clientsOnPlaintext: 0 });
  });
});
