// Session resumption between probes of one listener: cheaper, and never hiding a certificate that
// changed. Real servers on loopback: a simulated Gitaly restarted with a new certificate, and a TCP
// load balancer alternating between two backends that serve different certificates.
import { expect } from 'chai';
import * as net from 'node:net';
import { chainPem, createCa, createLeaf, type Issued } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import type { TlsProbeResult } from '../../src/evidence/evidence.ts';
import { probeTls, type TlsProbeOptions } from '../../src/probes/tls.ts';
import { TlsSessionCache } from '../../src/probes/tls-sessions.ts';
import { parsePemChain } from '../../src/probes/x509-facts.ts';
import { createHash } from 'node:crypto';
import { startTlsServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

const sha256 = (issued: Issued): string => createHash('sha256').update(parsePemChain(issued.certPem)[0]!).digest('hex');
const leafOf = (result: TlsProbeResult): string | undefined => result.chain.find((c) => c.position === 'leaf')?.sha256;

/** Hands each accepted connection to the next backend in turn, as a round-robin TCP load balancer. */
function roundRobin(backends: LoopbackServer[]): Promise<LoopbackServer & { picks: number[] }> {
  const picks: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const index = picks.length % backends.length;
    picks.push(index);
    const upstream = net.connect(backends[index]!.port, backends[index]!.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        host: '127.0.0.1',
        port,
        address: `127.0.0.1:${port}`,
        get connections() {
          return picks.length;
        },
        picks,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

describe('probeTls with session resumption', function () {
  this.timeout(scaled(30_000));
  let ca: Issued;
  let first: Issued;
  let second: Issued;
  let options: TlsProbeOptions;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    ca = await createCa();
    first = await createLeaf(ca, 'gitaly.example.com', { dnsNames: ['gitaly.example.com'] });
    second = await createLeaf(ca, 'gitaly.example.com', { dnsNames: ['gitaly.example.com'] });
    options = { timeoutMs: scaled(5000), ca: [ca.certPem], checkVersions: false };
  });
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((fn) => fn()));
  });

  async function gitaly(leaf: Issued): Promise<SimulatedNode> {
    const node = await startSimulatedNode({
      name: 'gitaly-1',
      role: 'gitaly',
      host: '127.0.0.1',
      tls: { certChainPem: chainPem(leaf), keyPem: leaf.keyPem },
      metricsBulk: 'small',
    });
    cleanups.push(() => node.stop());
    return node;
  }

  const target = (address: string) => ({ node: 'gitaly-1', address, serverName: 'gitaly.example.com' });

  it('resumes the next probe with the verified facts, and every probe is still one connection Gitaly counts', async () => {
    const node = await gitaly(first);
    const sessions = new TlsSessionCache();
    const full = await probeTls(target(node.tlsAddress!), options, { sessions });
    const resumed = await probeTls(target(node.tlsAddress!), options, { sessions });
    expect(full).to.include({ handshakeOk: true, sessionResumed: false, trusted: true, hostnameMatch: true, grpcHealthOk: true });
    expect(resumed).to.include({ handshakeOk: true, sessionResumed: true, trusted: true, hostnameMatch: true, grpcHealthOk: true });
    expect(resumed).to.include({ alpnProtocol: 'h2', tlsVersion: full.tlsVersion, connectionsMade: 1 });
    expect(resumed.chain).to.deep.equal(full.chain);
    expect(node.counts.tls).to.equal(2);
  });

  it('resumes a TLS 1.2 listener too, though the kept ticket no longer holds the certificate', async () => {
    const server = await startTlsServer({ cert: chainPem(first), key: first.keyPem, maxVersion: 'TLSv1.2' });
    cleanups.push(() => server.close());
    const sessions = new TlsSessionCache();
    const full = await probeTls(target(server.address), options, { sessions });
    const resumed = await probeTls(target(server.address), options, { sessions });
    expect(full).to.include({ tlsVersion: 'TLSv1.2', sessionResumed: false, trusted: true, grpcHealthOk: true });
    expect(resumed).to.include({ tlsVersion: 'TLSv1.2', sessionResumed: true, trusted: true, hostnameMatch: true, grpcHealthOk: true });
    expect(resumed.chain).to.deep.equal(full.chain);
  });

  it('sees a Gitaly restarted with a new certificate at the very next probe', async () => {
    const node = await gitaly(first);
    const sessions = new TlsSessionCache();
    await probeTls(target(node.tlsAddress!), options, { sessions });
    const before = await probeTls(target(node.tlsAddress!), options, { sessions });
    expect(before.sessionResumed).to.equal(true);
    expect(leafOf(before)).to.equal(sha256(first));

    await node.restart({ certChainPem: chainPem(second), keyPem: second.keyPem });
    const after = await probeTls(target(node.tlsAddress!), options, { sessions });
    expect(after.sessionResumed).to.equal(false);
    expect(leafOf(after)).to.equal(sha256(second));
    expect(after.trusted).to.equal(true);
  });

  it('sees each backend behind a load balancer with its own certificate', async () => {
    const backends = await Promise.all([first, second].map((leaf) => startTlsServer({ cert: chainPem(leaf), key: leaf.keyPem })));
    const balancer = await roundRobin(backends);
    cleanups.push(async () => {
      await balancer.close();
      await Promise.all(backends.map((b) => b.close()));
    });
    const sessions = new TlsSessionCache();
    const results: TlsProbeResult[] = [];
    for (let i = 0; i < 4; i++) results.push(await probeTls(target(balancer.address), options, { sessions }));
    expect(balancer.picks).to.deep.equal([0, 1, 0, 1]);
    // The other backend cannot decrypt the ticket: every probe is a full handshake showing what it served.
    expect(results.map(leafOf)).to.deep.equal([sha256(first), sha256(second), sha256(first), sha256(second)]);
    expect(results.map((r) => r.sessionResumed)).to.deep.equal([false, false, false, false]);
  });

  it('does a full handshake when asked (the hourly re-verification) and when the CA bundle changes', async () => {
    const node = await gitaly(first);
    const sessions = new TlsSessionCache();
    await probeTls(target(node.tlsAddress!), options, { sessions });
    const forced = await probeTls(target(node.tlsAddress!), { ...options, fullHandshake: true }, { sessions });
    expect(forced.sessionResumed).to.equal(false);
    expect((await probeTls(target(node.tlsAddress!), options, { sessions })).sessionResumed).to.equal(true);

    // A bundle that no longer holds the CA: verified afresh, so the chain is untrusted at once.
    const otherCa = await createCa('another CA');
    const untrusted = await probeTls(target(node.tlsAddress!), { ...options, ca: [otherCa.certPem] }, { sessions });
    expect(untrusted).to.include({ sessionResumed: false, trusted: false });
  });

  it('does a full handshake once a certificate of the chain has expired since the last one', async () => {
    const node = await gitaly(first);
    const sessions = new TlsSessionCache();
    await probeTls(target(node.tlsAddress!), options, { sessions });
    const later = first.cert.notAfter.getTime() + 1;
    const result = await probeTls(target(node.tlsAddress!), options, { sessions, now: () => later });
    expect(result.sessionResumed).to.equal(false);
  });

  it('never resumes without a session cache (a /probe request is always a full handshake)', async () => {
    const node = await gitaly(first);
    await probeTls(target(node.tlsAddress!), options);
    const result = await probeTls(target(node.tlsAddress!), options);
    expect(result.handshakeOk).to.equal(true);
    expect(result.sessionResumed).to.not.equal(true);
  });
});
