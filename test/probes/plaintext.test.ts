import { expect } from 'chai';
import * as net from 'node:net';
import { chainPem, createCa, createLeaf } from '../../src/demo/certs.ts';
import type { PlaintextProbeResult } from '../../src/evidence/evidence.ts';
import { probePlaintext, type PlaintextProbeOptions } from '../../src/probes/plaintext.ts';
import {
  closedPort,
  startH2cHealthServer,
  startResetServer,
  startSilentServer,
  startTlsServer,
  type LoopbackServer,
} from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

const NOW = 1_790_000_000_000;
const now = (): number => NOW;
const health: PlaintextProbeOptions = { timeoutMs: 5000, grpcHealth: true, checkTlsPortRejectsPlaintext: false };

describe('probePlaintext', function () {
  this.timeout(scaled(20_000));
  const servers: LoopbackServer[] = [];
  async function track<T extends LoopbackServer>(server: Promise<T>): Promise<T> {
    const started = await server;
    servers.push(started);
    return started;
  }
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('finds the listener open and gRPC health SERVING over h2c, with one dial in total', async () => {
    const gitaly = await track(startH2cHealthServer('SERVING'));
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: `tcp://${gitaly.address}` }, health, { now });
    expect(result).to.deep.equal({
      address: `tcp://${gitaly.address}`,
      open: true,
      grpcHealthServing: true,
      tlsPortRejectsPlaintext: null,
      error: null,
      durationMs: 0,
      connectionsMade: { tcp: 1, tls: 0 },
      atMs: NOW,
    } satisfies PlaintextProbeResult);
    expect(gitaly.connections).to.equal(1);
    expect(gitaly.requests).to.equal(1);
  });

  it('reports NOT_SERVING as not serving', async () => {
    const gitaly = await track(startH2cHealthServer('NOT_SERVING'));
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: gitaly.address }, health);
    expect(result).to.include({ open: true, grpcHealthServing: false, error: null });
  });

  it('reports a gRPC error status (an old Gitaly that wants a token) with its code and message', async () => {
    const gitaly = await track(startH2cHealthServer({ grpcStatus: 16, message: 'authentication required' }));
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: gitaly.address }, health);
    expect(result).to.include({ open: true, grpcHealthServing: false });
    expect(result.error).to.deep.equal({
      code: 'GRPC_HEALTH',
      message: `gRPC health check of ${gitaly.address}: grpc-status 16 (authentication required).`,
    });
  });

  it('only dials when the health check is not asked for', async () => {
    const gitaly = await track(startH2cHealthServer('SERVING'));
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: gitaly.address }, { ...health, grpcHealth: false });
    expect(result).to.include({ open: true, grpcHealthServing: null, error: null });
    expect(result.connectionsMade).to.deep.equal({ tcp: 1, tls: 0 });
    expect(gitaly.requests).to.equal(0);
  });

  it('reports a closed port as closed, counting nothing', async () => {
    const port = await closedPort();
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: `127.0.0.1:${port}` }, health, { now });
    expect(result).to.deep.equal({
      address: `127.0.0.1:${port}`,
      open: false,
      grpcHealthServing: null,
      tlsPortRejectsPlaintext: null,
      error: null,
      durationMs: 0,
      connectionsMade: { tcp: 0, tls: 0 },
      atMs: NOW,
    } satisfies PlaintextProbeResult);
  });

  it('reports an open listener that never answers gRPC as open but not serving, by the deadline', async () => {
    const silent = await track(startSilentServer());
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: silent.address }, { ...health, timeoutMs: 800 });
    expect(result).to.include({ open: true, grpcHealthServing: false });
    expect(result.error).to.deep.equal({ code: 'TIMEOUT', message: `gRPC health check of ${silent.address} got no answer within 800 ms.` });
    expect(result.connectionsMade).to.deep.equal({ tcp: 1, tls: 0 });
    expect(silent.connections).to.equal(1);
  });

  it('reports a listener that resets at once as open (it accepted and counted the connection)', async () => {
    const reset = await track(startResetServer());
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: reset.address }, health);
    expect(result).to.include({ open: true, grpcHealthServing: false });
    expect(result.error).to.deep.equal({ code: 'RESET', message: `${reset.address} accepted the connection and reset it at once.` });
    expect(result.connectionsMade).to.deep.equal({ tcp: 1, tls: 0 });
  });

  it('sees the TLS port turn a plaintext HTTP/2 client away, alongside the plaintext check', async () => {
    const ca = await createCa();
    const leaf = await createLeaf(ca, 'gitaly.example.com');
    const tlsServer = await track(startTlsServer({ cert: chainPem(leaf), key: leaf.keyPem }));
    const gitaly = await track(startH2cHealthServer('SERVING'));
    const result = await probePlaintext(
      { node: 'gitaly-1', plaintextAddress: gitaly.address, tlsAddress: `tls://${tlsServer.address}` },
      { ...health, checkTlsPortRejectsPlaintext: true },
      { now },
    );
    expect(result).to.deep.equal({
      address: gitaly.address,
      open: true,
      grpcHealthServing: true,
      tlsPortRejectsPlaintext: true,
      error: null,
      durationMs: 0,
      connectionsMade: { tcp: 1, tls: 1 },
      atMs: NOW,
    } satisfies PlaintextProbeResult);
    expect(tlsServer.connections).to.equal(1);
  });

  it('a TLS port that refuses is no failure of the plaintext check (a node not on TLS yet): the TLS probe says it', async () => {
    const gitaly = await track(startH2cHealthServer('SERVING'));
    const result = await probePlaintext(
      { node: 'gitaly-1', plaintextAddress: gitaly.address, tlsAddress: `127.0.0.1:${await closedPort()}` },
      { ...health, checkTlsPortRejectsPlaintext: true },
      { now },
    );
    expect([result.open, result.grpcHealthServing, result.tlsPortRejectsPlaintext, result.error]).to.deep.equal([true, true, null, null]);
  });

  it('notices a "TLS" port that actually speaks plaintext HTTP/2', async () => {
    const h2c = await track(startH2cHealthServer('SERVING'));
    const result = await probePlaintext({ node: 'gitaly-1', tlsAddress: h2c.address }, { ...health, checkTlsPortRejectsPlaintext: true });
    expect(result.tlsPortRejectsPlaintext).to.equal(false);
    expect(result.connectionsMade).to.deep.equal({ tcp: 0, tls: 1 });
    // No listen_addr configured: nothing is claimed about it.
    expect(result).to.include({ open: null, grpcHealthServing: null });
    expect(result.error).to.deep.equal({ code: 'ADDRESS', message: 'Plaintext address (listen_addr) of node gitaly-1 is not configured.' });
  });

  it('cannot tell whether a silent TLS port rejects plaintext', async () => {
    const silent = await track(startSilentServer());
    const port = await closedPort();
    const result = await probePlaintext(
      { node: 'gitaly-1', plaintextAddress: `127.0.0.1:${port}`, tlsAddress: silent.address },
      { timeoutMs: 800, grpcHealth: false, checkTlsPortRejectsPlaintext: true },
    );
    expect(result).to.include({ open: false, tlsPortRejectsPlaintext: null });
    expect(result.error).to.deep.equal({
      code: 'TIMEOUT',
      message: `TLS port ${silent.address} neither answered nor closed within 800 ms of a plaintext HTTP/2 preface.`,
    });
    expect(result.connectionsMade).to.deep.equal({ tcp: 0, tls: 1 });
  });

  it('reports a name that does not resolve as unknown, with a DNS error', async () => {
    const connect = ((opts: net.NetConnectOpts) =>
      net.connect({
        ...(opts as net.TcpNetConnectOpts),
        lookup: (hostname, _options, callback) =>
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4),
      })) as typeof net.connect;
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: 'gitaly.invalid:8075' }, health, { connect });
    expect(result).to.include({ open: null, grpcHealthServing: null });
    expect(result.error).to.deep.equal({ code: 'DNS', message: 'Could not resolve gitaly.invalid:8075 (ENOTFOUND).' });
    expect(result.connectionsMade).to.deep.equal({ tcp: 0, tls: 0 });
  });

  it('rejects a TLS address given as listen_addr without dialling', async () => {
    let dialled = false;
    const connect = ((opts: net.NetConnectOpts) => {
      dialled = true;
      return net.connect(opts);
    }) as typeof net.connect;
    const result = await probePlaintext({ node: 'gitaly-1', plaintextAddress: 'tls://gitaly.example.com:9999' }, health, { connect });
    expect(dialled).to.equal(false);
    expect(result).to.include({ open: null });
    expect(result.error).to.deep.equal({
      code: 'ADDRESS',
      message: 'Plaintext address (listen_addr) of node gitaly-1 is invalid: scheme tls:// is not allowed here (use tcp:// or host:port).',
    });
  });
});
