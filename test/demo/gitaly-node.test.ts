import { expect } from 'chai';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { createCa, createIntermediate, createLeaf, chainPem, type Issued } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode, type NodeTls } from '../../src/demo/gitaly-node.ts';
import { grpcHealthCheck } from '../../src/demo/grpc-health.ts';
import { parseAddress } from '../../src/base/address.ts';
import { scaled } from '../helpers/time-factor.ts';

function hostPort(address: string | undefined): { host: string; port: number } {
  const parsed = parseAddress(address ?? '');
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

async function until(what: string, check: () => boolean, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + scaled(deadlineMs);
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

function tcpConnect(address: string | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(hostPort(address));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The served leaf's SHA-256 fingerprint, or the handshake error. */
function servedLeaf(address: string | undefined, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...hostPort(address), ca, ALPNProtocols: ['h2'] }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

async function withSession<T>(
  authority: string,
  options: http2.SecureClientSessionOptions,
  use: (s: http2.ClientHttp2Session) => Promise<T>,
): Promise<T> {
  const session = http2.connect(authority, options);
  session.on('error', () => undefined);
  try {
    return await use(session);
  } finally {
    session.destroy();
  }
}

const fingerprintOf = (issued: Issued): string => new X509Certificate(issued.certPem).fingerprint256;

describe('demo/gitaly-node', function () {
  let ca: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let nodeTls: NodeTls;
  let dir: string;
  let node: SimulatedNode;

  before(async function () {
    ca = await createCa();
    intermediate = await createIntermediate(ca);
    leaf = await createLeaf(intermediate, 'localhost', { ipAddresses: ['127.0.0.1'] });
    nodeTls = { certChainPem: chainPem(leaf, intermediate), keyPem: leaf.keyPem };
    dir = await mkdtemp(join(tmpdir(), 'gitaly-node-'));
  });

  beforeEach(async function () {
    node = await startSimulatedNode({
      name: 'gitaly-t',
      role: 'gitaly',
      host: '127.0.0.1',
      tls: nodeTls,
      metricsBulk: 'small',
      unixSocketPath: join(dir, 'gitaly.socket'),
    });
  });

  afterEach(async function () {
    await node.stop();
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('has no connection series before the first accept', async function () {
    const page = (await get(node.metricsUrl)).body.toString();
    expect(page).to.contain('gitlab_build_info{');
    expect(page).not.to.match(/^gitaly_connections_total/m);
    expect(node.counts).to.deep.equal({ tcp: 0, tls: 0, unix: 0 });
  });

  it('counts a TCP connect to the TLS port that never handshakes as tls', async function () {
    const socket = await tcpConnect(node.tlsAddress);
    await until('the accept to be counted', () => node.counts.tls === 1);
    expect(node.established()).to.deep.equal({ tcp: 0, tls: 1, unix: 0 });
    socket.destroy();
    await until('the connection to close', () => node.established().tls === 0);
    const page = (await get(node.metricsUrl)).body.toString();
    expect(page).to.match(/^gitaly_connections_total\{type="tls"\} 1$/m);
    expect(page).not.to.match(/^gitaly_connections_total\{type="tcp"\}/m);
    expect(node.counts).to.deep.equal({ tcp: 0, tls: 1, unix: 0 });
  });

  it('counts a failed TLS handshake', async function () {
    const other = await createCa('some other CA');
    const error = await servedLeaf(node.tlsAddress, other.certPem).then(
      () => null,
      (err: Error) => err,
    );
    expect(error?.message).to.match(/certificate/);
    await until('the accept to be counted', () => node.counts.tls === 1);
    expect(node.counts.tcp).to.equal(0);
  });

  it('answers Health/Check SERVING over h2c and counts it as tcp', async function () {
    const status = await withSession(`http://${node.plaintextAddress}`, {}, (s) => grpcHealthCheck(s, { timeoutMs: 5000 }));
    expect(status).to.equal('SERVING');
    expect(node.counts).to.deep.equal({ tcp: 1, tls: 0, unix: 0 });
  });

  it('answers Health/Check SERVING over TLS with ALPN h2', async function () {
    const { host, port } = hostPort(node.tlsAddress);
    const result = await withSession(`https://${host}:${port}`, { ca: ca.certPem }, async (s) => ({
      status: await grpcHealthCheck(s, { timeoutMs: 5000 }),
      alpn: s.alpnProtocol,
    }));
    expect(result).to.deep.equal({ status: 'SERVING', alpn: 'h2' });
    expect(node.counts).to.deep.equal({ tcp: 0, tls: 1, unix: 0 });
  });

  it('counts connections to the unix socket as unix', async function () {
    const status = await withSession('http://localhost', { createConnection: () => net.connect(join(dir, 'gitaly.socket')) }, (s) =>
      grpcHealthCheck(s, { timeoutMs: 5000 }),
    );
    expect(status).to.equal('SERVING');
    expect(node.counts).to.deep.equal({ tcp: 0, tls: 0, unix: 1 });
  });

  it('serves /metrics gzipped as one gzip member when asked', async function () {
    node.counts.tls = 7;
    const plain = await get(node.metricsUrl);
    const zipped = await get(node.metricsUrl, { 'accept-encoding': 'gzip, deflate' });
    expect(plain.headers['content-encoding']).to.equal(undefined);
    expect(zipped.headers['content-encoding']).to.equal('gzip');
    expect(zipped.body.length).to.be.lessThan(plain.body.length);
    // A single deflate stream between the 10-byte header and the 8-byte trailer: curl reads it all.
    expect(inflateRawSync(zipped.body.subarray(10, zipped.body.length - 8)).toString()).to.equal(plain.body.toString());
    expect(plain.body.toString()).to.match(/^gitaly_connections_total\{type="tls"\} 7$/m);
    expect((await get(node.metricsUrl.replace('/metrics', '/other'))).status).to.equal(404);
  });

  it('restart resets counters and serves the new certificate on the same port', async function () {
    expect(await servedLeaf(node.tlsAddress, ca.certPem)).to.equal(fingerprintOf(leaf));
    await withSession(`http://${node.plaintextAddress}`, {}, (s) => grpcHealthCheck(s, { timeoutMs: 5000 }));
    expect(node.counts).to.deep.equal({ tcp: 1, tls: 1, unix: 0 });
    const renewed = await createLeaf(intermediate, 'localhost', { ipAddresses: ['127.0.0.1'] });
    const addresses = [node.tlsAddress, node.plaintextAddress, node.metricsUrl];
    await node.restart({ certChainPem: chainPem(renewed, intermediate), keyPem: renewed.keyPem });
    expect(node.counts).to.deep.equal({ tcp: 0, tls: 0, unix: 0 });
    expect([node.tlsAddress, node.plaintextAddress, node.metricsUrl]).to.deep.equal(addresses);
    expect(await servedLeaf(node.tlsAddress, ca.certPem)).to.equal(fingerprintOf(renewed));
    expect(node.counts.tls).to.equal(1);
  });

  it('closePlaintextListener makes connects fail with ECONNREFUSED and survives a restart', async function () {
    await node.closePlaintextListener();
    const refused = await tcpConnect(node.plaintextAddress).then(
      (s) => {
        s.destroy();
        return null;
      },
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(refused).to.equal('ECONNREFUSED');
    await node.restart();
    const again = await tcpConnect(node.plaintextAddress).then(
      (s) => {
        s.destroy();
        return null;
      },
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(again).to.equal('ECONNREFUSED');
    expect(await servedLeaf(node.tlsAddress, ca.certPem)).to.equal(fingerprintOf(leaf));
  });

  it('serves a praefect page without a TLS listener', async function () {
    const praefect = await startSimulatedNode({ name: 'praefect-t', role: 'praefect', host: '127.0.0.1', metricsBulk: 'small' });
    try {
      expect(praefect.tlsAddress).to.equal(undefined);
      await withSession(`http://${praefect.plaintextAddress}`, {}, (s) => grpcHealthCheck(s, { timeoutMs: 5000 }));
      const page = (await get(praefect.metricsUrl)).body.toString();
      expect(page).to.match(/^gitaly_praefect_connections_total\{type="tcp"\} 1$/m);
      expect(page).not.to.match(/^gitaly_connections_total/m);
    } finally {
      await praefect.stop();
    }
  });
});
