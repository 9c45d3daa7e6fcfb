import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as tls from 'node:tls';
import { chainPem, createCa, createIntermediate, createLeaf, DAY_MS, type Issued } from '../../src/demo/certs.ts';
import type { TlsProbeResult } from '../../src/evidence/evidence.ts';
import { probeTls, type TlsProbeOptions } from '../../src/probes/tls.ts';
import { chainFacts, parsePemChain } from '../../src/probes/x509-facts.ts';
import {
  closedPort,
  startGarbageServer,
  startResetServer,
  startSilentServer,
  startStallingServer,
  startTlsServer,
  type LoopbackServer,
  type TlsServer,
} from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

const NOW = 1_790_000_000_000;
const now = (): number => NOW;
const sha256 = (issued: Issued): string => createHash('sha256').update(parsePemChain(issued.certPem)[0]!).digest('hex');

describe('probeTls', function () {
  this.timeout(scaled(20_000));
  const servers: LoopbackServer[] = [];
  let ca: Issued;
  let intermediate: Issued;
  let leaf: Issued;
  let options: TlsProbeOptions;

  async function serve(
    leafCert: Issued,
    extra: Issued[] = [],
    more: Partial<Parameters<typeof startTlsServer>[0]> = {},
  ): Promise<TlsServer> {
    const server = await startTlsServer({ cert: chainPem(leafCert, ...extra), key: leafCert.keyPem, ...more });
    servers.push(server);
    return server;
  }

  before(async () => {
    ca = await createCa();
    intermediate = await createIntermediate(ca);
    leaf = await createLeaf(intermediate, 'gitaly.example.com', { dnsNames: ['gitaly.example.com', '*.gitaly.example.com'] });
    options = { timeoutMs: 5000, ca: [ca.certPem], checkVersions: false };
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('reports a valid chain through an intermediate: trust, SAN, ALPN, version and each certificate', async () => {
    const server = await serve(leaf, [intermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: `tls://${server.address}`, serverName: 'gitaly.example.com' }, options, {
      now,
    });
    const expected: TlsProbeResult = {
      address: `tls://${server.address}`,
      durationMs: 0,
      handshakeOk: true,
      error: null,
      // Node adds the root it verified against to what the server sent (leaf + intermediate).
      chain: chainFacts(parsePemChain(leaf.certPem + intermediate.certPem + ca.certPem), [true, true, false]),
      trusted: true,
      trustError: null,
      hostnameMatch: true,
      alpnProtocol: 'h2',
      tlsVersion: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      accepts: { 'TLSv1.2': null, 'TLSv1.3': null },
      grpcHealthOk: true,
      grpcHealthError: null,
      connectionsMade: 1,
      atMs: NOW,
    };
    expect(result).to.deep.equal(expected);
    expect(result.chain.map((c) => [c.position, c.serial, c.subject, c.issuer, c.sha256])).to.deep.equal([
      ['leaf', leaf.serial, 'CN=gitaly.example.com', 'CN=gitaly-tls-exporter test intermediate', sha256(leaf)],
      [
        'intermediate',
        intermediate.serial,
        'CN=gitaly-tls-exporter test intermediate',
        'CN=gitaly-tls-exporter test CA',
        sha256(intermediate),
      ],
      ['root', ca.serial, 'CN=gitaly-tls-exporter test CA', 'CN=gitaly-tls-exporter test CA', sha256(ca)],
    ]);
    expect(result.chain[0]).to.include({
      keyType: 'ec',
      keyBits: 256,
      signatureAlgorithm: 'ecdsa-with-SHA256',
      notAfterMs: leaf.cert.notAfter.getTime(),
      notBeforeMs: leaf.cert.notBefore.getTime(),
    });
    expect(result.chain[0]!.dnsNames).to.deep.equal(['gitaly.example.com', '*.gitaly.example.com']);
    expect(server.serverNames).to.deep.equal(['gitaly.example.com']);
    expect(server.connections).to.equal(1);
  });

  describe('which certificates the server sent, apart from those Node took from the CA bundle', () => {
    const sentOf = (result: TlsProbeResult): string[] =>
      result.chain.map((c) => `${c.position} ${c.sent === undefined ? 'unknown' : c.sent}`);
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      it(`marks a root left out by the server as not sent (${version})`, async () => {
        const server = await serve(leaf, [intermediate], { maxVersion: version });
        const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
        expect(result.trusted).to.equal(true);
        expect(sentOf(result)).to.deep.equal(['leaf true', 'intermediate true', 'root false']);
      });
    }

    it('marks an intermediate and a root from the CA bundle as not sent when the server sends only the leaf', async () => {
      const server = await serve(leaf);
      const result = await probeTls(
        { node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' },
        { ...options, ca: [ca.certPem, intermediate.certPem] },
      );
      expect(result.trusted).to.equal(true);
      expect(sentOf(result)).to.deep.equal(['leaf true', 'intermediate false', 'root false']);
    });

    it('marks a root the server sent as sent, though the CA bundle holds it too', async () => {
      const server = await serve(leaf, [intermediate, ca]);
      const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
      expect(sentOf(result)).to.deep.equal(['leaf true', 'intermediate true', 'root true']);
    });

    it('marks an untrusted chain as sent: nothing came from the CA bundle', async () => {
      const server = await serve(leaf);
      const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
      expect(result.trusted).to.equal(false);
      expect(sentOf(result)).to.deep.equal(['leaf true']);
    });
  });

  it('reports RSA keys and RSA signatures', async () => {
    const rsaCa = await createCa('RSA CA', { key: 'rsa' });
    const rsaLeaf = await createLeaf(rsaCa, 'gitaly.example.com', { key: 'rsa' });
    const server = await serve(rsaLeaf);
    const result = await probeTls(
      { node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' },
      { ...options, ca: [rsaCa.certPem] },
    );
    expect(result.trusted).to.equal(true);
    expect(result.chain.map((c) => [c.position, c.keyType, c.keyBits, c.signatureAlgorithm])).to.deep.equal([
      ['leaf', 'rsa', 2048, 'sha256WithRSAEncryption'],
      ['root', 'rsa', 2048, 'sha256WithRSAEncryption'],
    ]);
  });

  it('names a SHA-1 signature instead of leaving it unspecified (and OpenSSL, like Go, does not trust it)', async () => {
    const weak = await createLeaf(ca, 'gitaly.example.com', { signatureHash: 'SHA-1' });
    const server = await serve(weak, [], { allowWeakCertificates: true });
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result.chain[0]).to.include({ position: 'leaf', signatureAlgorithm: 'ecdsa-with-SHA1' });
    expect(result.trusted).to.equal(false);
  });

  describe('a gRPC health check over the handshake’s own connection, as gitlab:gitaly:check does', () => {
    it('passes against a listener that answers SERVING over h2', async () => {
      const server = await serve(leaf, [intermediate]);
      const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
      expect(result).to.include({ handshakeOk: true, grpcHealthOk: true, grpcHealthError: null, connectionsMade: 1 });
      expect(server.connections, 'the health check rides on the probe’s connection').to.equal(1);
    });

    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      it(`fails against a listener that demands a client certificate (${version})`, async () => {
        const clientCa = await createCa('client CA');
        const server = await serve(leaf, [intermediate], { requireClientCertFrom: clientCa.certPem, maxVersion: version });
        const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
        if (result.handshakeOk) {
          // TLS 1.3: the client's side of the handshake completes; the refusal comes after it.
          expect(result.grpcHealthOk).to.equal(false);
          expect(result.grpcHealthError?.message).to.match(
            /gRPC health check over TLS to .* failed: .*(CERTIFICATE_REQUIRED|certificate|closed|reset|ECONNRESET)/i,
          );
        } else {
          expect(result.error?.code).to.be.oneOf(['HANDSHAKE', 'RESET']);
        }
        expect(result.handshakeOk && result.grpcHealthOk).to.not.equal(true);
      });
    }

    it('fails against a listener that resets right after the handshake', async () => {
      const server = await serve(leaf, [intermediate], { afterHandshake: 'reset' });
      const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
      expect(result.handshakeOk, 'the handshake itself completed').to.equal(true);
      expect(result.grpcHealthOk).to.equal(false);
      expect(result.grpcHealthError?.code).to.equal('GRPC_HEALTH');
    });

    it('fails by the deadline against a listener that says nothing after the handshake', async () => {
      const server = await serve(leaf, [intermediate], { afterHandshake: 'silent' });
      const result = await probeTls(
        { node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' },
        { ...options, timeoutMs: 800 },
      );
      expect(result).to.include({ handshakeOk: true, grpcHealthOk: false });
      expect(result.grpcHealthError?.code).to.equal('TIMEOUT');
    });

    it('is not asked without ALPN h2 (alpn_not_h2 already says a gRPC client stops there)', async () => {
      const server = await serve(leaf, [intermediate], { alpn: null });
      const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
      expect(result).to.include({ handshakeOk: true, alpnProtocol: null, grpcHealthOk: null });
    });
  });

  it('does not match a SAN with a trailing dot (localhost.) to localhost, as Go refuses it', async () => {
    const dotted = await createLeaf(ca, 'localhost', { dnsNames: ['localhost.'] });
    const server = await serve(dotted);
    const result = await probeTls({ node: 'gitaly-1', address: `localhost:${server.port}` }, options);
    expect(result).to.include({ handshakeOk: true, trusted: true, hostnameMatch: false });
    const plain = await createLeaf(ca, 'localhost', { dnsNames: ['localhost'] });
    const plainServer = await serve(plain);
    const dialledWithDot = await probeTls(
      { node: 'gitaly-1', address: `127.0.0.1:${plainServer.port}`, serverName: 'localhost.' },
      options,
    );
    expect(dialledWithDot.hostnameMatch, 'a trailing dot on the dialled name is dropped, as Go does').to.equal(true);
  });

  it('still reports the dates of an expired leaf, which is untrusted', async () => {
    const expired = await createLeaf(intermediate, 'gitaly.example.com', { notBeforeOffsetMs: -30 * DAY_MS, notAfterOffsetMs: -DAY_MS });
    const server = await serve(expired, [intermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ handshakeOk: true, trusted: false, trustError: 'CERT_HAS_EXPIRED', hostnameMatch: true, error: null });
    expect(result.chain[0]).to.include({
      position: 'leaf',
      serial: expired.serial,
      notBeforeMs: expired.cert.notBefore.getTime(),
      notAfterMs: expired.cert.notAfter.getTime(),
    });
  });

  it('reports a leaf that is not yet valid as untrusted', async () => {
    const future = await createLeaf(intermediate, 'gitaly.example.com', { notBeforeOffsetMs: DAY_MS, notAfterOffsetMs: 90 * DAY_MS });
    const server = await serve(future, [intermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ handshakeOk: true, trusted: false, trustError: 'CERT_NOT_YET_VALID' });
    expect(result.chain[0]!.notBeforeMs).to.equal(future.cert.notBefore.getTime());
  });

  it('reports an intermediate that expires before the leaf in position intermediate', async () => {
    const shortIntermediate = await createIntermediate(ca, 'short-lived intermediate', { notAfterOffsetMs: 10 * DAY_MS });
    const longLeaf = await createLeaf(shortIntermediate, 'gitaly.example.com', { notAfterOffsetMs: 365 * DAY_MS });
    const server = await serve(longLeaf, [shortIntermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result.trusted).to.equal(true);
    expect(result.chain.map((c) => [c.position, c.subject, c.notAfterMs])).to.deep.equal([
      ['leaf', 'CN=gitaly.example.com', longLeaf.cert.notAfter.getTime()],
      ['intermediate', 'CN=short-lived intermediate', shortIntermediate.cert.notAfter.getTime()],
      ['root', 'CN=gitaly-tls-exporter test CA', ca.cert.notAfter.getTime()],
    ]);
  });

  it('judges the hostname apart from trust: a wrong SAN is trusted but does not match', async () => {
    const other = await createLeaf(intermediate, 'other.example.com');
    const server = await serve(other, [intermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ handshakeOk: true, trusted: true, trustError: null, hostnameMatch: false });
  });

  it('matches an IP SAN when dialled by that IP (no SNI), not when named', async () => {
    const ipLeaf = await createLeaf(intermediate, '127.0.0.1');
    const server = await serve(ipLeaf, [intermediate]);
    const byIp = await probeTls({ node: 'gitaly-1', address: server.address }, options);
    expect(byIp).to.include({ trusted: true, hostnameMatch: true });
    expect(byIp.chain[0]!.ipAddresses).to.deep.equal(['127.0.0.1']);
    expect(server.serverNames).to.deep.equal([]);
    const byName = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(byName).to.include({ trusted: true, hostnameMatch: false });
    expect(server.serverNames).to.deep.equal(['gitaly.example.com']);
  });

  it('matches an IPv6 SAN when dialled as [::1]:port', async () => {
    const v6Leaf = await createLeaf(intermediate, '::1');
    const server = await serve(v6Leaf, [intermediate], { host: '::1' });
    const result = await probeTls({ node: 'gitaly-1', address: server.address }, options);
    expect(server.address).to.match(/^\[::1\]:\d+$/);
    expect(result).to.include({ handshakeOk: true, trusted: true, hostnameMatch: true });
    expect(result.chain[0]!.ipAddresses).to.deep.equal(['::1']);
  });

  it('ignores the Common Name: a certificate without SANs does not match', async () => {
    const cnOnly = await createLeaf(intermediate, 'gitaly.example.com', { dnsNames: [], ipAddresses: [] });
    const server = await serve(cnOnly, [intermediate]);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ trusted: true, hostnameMatch: false });
    expect(result.chain[0]).to.include({ subject: 'CN=gitaly.example.com' });
  });

  it('reports a self-signed server certificate as an untrusted leaf', async () => {
    const selfSigned = await createLeaf(null, 'gitaly.example.com');
    const server = await serve(selfSigned);
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ handshakeOk: true, trusted: false, trustError: 'DEPTH_ZERO_SELF_SIGNED_CERT', hostnameMatch: true });
    expect(result.chain.map((c) => [c.position, c.serial])).to.deep.equal([['leaf', selfSigned.serial]]);
  });

  it('reports a certificate from an unknown CA as untrusted', async () => {
    const otherCa = await createCa('someone else');
    const stranger = await createLeaf(otherCa, 'gitaly.example.com');
    const leafOnly = await serve(stranger);
    expect(await probeTls({ node: 'gitaly-1', address: leafOnly.address, serverName: 'gitaly.example.com' }, options)).to.include({
      handshakeOk: true,
      trusted: false,
      trustError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const withRoot = await serve(stranger, [otherCa]);
    const result = await probeTls({ node: 'gitaly-1', address: withRoot.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ trusted: false, trustError: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(result.chain.map((c) => c.position)).to.deep.equal(['leaf', 'root']);
  });

  it('pins TLS 1.2 and 1.3 against a TLS 1.2-only server, counting all three connections', async () => {
    const server = await serve(leaf, [intermediate], { maxVersion: 'TLSv1.2' });
    const result = await probeTls(
      { node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' },
      { ...options, checkVersions: true },
    );
    expect(result).to.include({
      handshakeOk: true,
      tlsVersion: 'TLSv1.2',
      cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      alpnProtocol: 'h2',
      connectionsMade: 3,
    });
    expect(result.accepts).to.deep.equal({ 'TLSv1.2': true, 'TLSv1.3': false });
    expect(server.connections).to.equal(3);
  });

  it('pins TLS 1.2 and 1.3 against a TLS 1.3-only server', async () => {
    const server = await serve(leaf, [intermediate], { minVersion: 'TLSv1.3' });
    const result = await probeTls(
      { node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' },
      { ...options, checkVersions: true },
    );
    expect(result).to.include({ handshakeOk: true, tlsVersion: 'TLSv1.3', connectionsMade: 3 });
    expect(result.accepts).to.deep.equal({ 'TLSv1.2': false, 'TLSv1.3': true });
    expect(server.connections).to.equal(3);
  });

  it('leaves a pinned version unknown when that handshake cannot finish for another reason', async () => {
    const server = await serve(leaf, [intermediate]);
    const silent = await startSilentServer();
    servers.push(silent);
    // Pinned handshakes are sent to a listener that never answers: a timeout says nothing about versions.
    const connect = ((opts: tls.ConnectionOptions) =>
      tls.connect(opts.minVersion ? { ...opts, port: silent.port } : opts)) as typeof tls.connect;
    const result = await probeTls(
      { node: 'gitaly-1', address: server.address },
      { ...options, timeoutMs: 800, checkVersions: true },
      { connect },
    );
    expect(result).to.include({ handshakeOk: true, error: null, connectionsMade: 3 });
    expect(result.accepts).to.deep.equal({ 'TLSv1.2': null, 'TLSv1.3': null });
    expect(silent.connections).to.equal(2);
  });

  it('reports no ALPN protocol for a server without ALPN', async () => {
    const server = await serve(leaf, [intermediate], { alpn: null });
    const result = await probeTls({ node: 'gitaly-1', address: server.address, serverName: 'gitaly.example.com' }, options);
    expect(result).to.include({ handshakeOk: true, trusted: true, alpnProtocol: null });
  });

  it('ends at the deadline against a listener that never answers, while a healthy probe finishes first', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    const healthy = await serve(leaf, [intermediate]);
    const finished: string[] = [];
    const [stuck] = await Promise.all([
      probeTls({ node: 'silent', address: silent.address }, { ...options, timeoutMs: 1000, checkVersions: true }, { now }).then((r) => {
        finished.push('silent');
        return r;
      }),
      probeTls({ node: 'healthy', address: healthy.address }, { ...options, timeoutMs: 10_000 }).then((r) => {
        finished.push('healthy');
        return r;
      }),
    ]);
    expect(finished).to.deep.equal(['healthy', 'silent']);
    expect(stuck).to.deep.equal({
      address: silent.address,
      durationMs: 0,
      handshakeOk: false,
      error: { code: 'TIMEOUT', message: `${silent.address} accepted the TCP connection but completed no TLS handshake within 1000 ms.` },
      chain: [],
      trusted: null,
      trustError: null,
      hostnameMatch: null,
      alpnProtocol: null,
      tlsVersion: null,
      cipher: null,
      accepts: { 'TLSv1.2': null, 'TLSv1.3': null },
      grpcHealthOk: null,
      grpcHealthError: null,
      connectionsMade: 1,
      atMs: NOW,
    } satisfies TlsProbeResult);
    expect(silent.connections).to.equal(1);
  });

  it('times out against a server that stalls in the middle of the handshake', async () => {
    const stalling = await startStallingServer();
    servers.push(stalling);
    const result = await probeTls({ node: 'gitaly-1', address: stalling.address }, { ...options, timeoutMs: 800 });
    expect(result).to.include({ handshakeOk: false, connectionsMade: 1 });
    expect(result.error).to.deep.equal({
      code: 'TIMEOUT',
      message: `${stalling.address} accepted the TCP connection but completed no TLS handshake within 800 ms.`,
    });
  });

  it('reports a reset on connect, counting the accepted connection', async () => {
    const reset = await startResetServer();
    servers.push(reset);
    const result = await probeTls({ node: 'gitaly-1', address: reset.address }, options);
    expect(result).to.include({ handshakeOk: false, connectionsMade: 1, trusted: null, hostnameMatch: null });
    expect(result.error).to.deep.equal({
      code: 'RESET',
      message: `${reset.address} closed the connection during the TLS handshake (ECONNRESET).`,
    });
    expect(reset.connections).to.equal(1);
  });

  it('reports a refused connection with its errno, counting nothing', async () => {
    const port = await closedPort();
    const result = await probeTls({ node: 'gitaly-1', address: `127.0.0.1:${port}` }, { ...options, checkVersions: true });
    expect(result).to.include({ handshakeOk: false, connectionsMade: 0 });
    expect(result.error).to.deep.equal({ code: 'CONNECT', message: `Could not connect to 127.0.0.1:${port} (ECONNREFUSED).` });
    expect(result.accepts).to.deep.equal({ 'TLSv1.2': null, 'TLSv1.3': null });
  });

  it('reports a peer that answers with something that is not TLS as a handshake failure', async () => {
    const garbage = await startGarbageServer();
    servers.push(garbage);
    const result = await probeTls({ node: 'gitaly-1', address: garbage.address }, options);
    expect(result).to.include({ handshakeOk: false, connectionsMade: 1 });
    expect(result.error).to.deep.equal({
      code: 'HANDSHAKE',
      message: `TLS handshake with ${garbage.address} failed: wrong version number.`,
    });
  });

  it('reports a name that does not resolve as DNS', async () => {
    const connect = ((opts: tls.ConnectionOptions) =>
      tls.connect({
        ...opts,
        lookup: (hostname, _options, callback) =>
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4),
      })) as typeof tls.connect;
    const result = await probeTls({ node: 'gitaly-1', address: 'gitaly.invalid:9999' }, options, { connect });
    expect(result).to.include({ handshakeOk: false, connectionsMade: 0 });
    expect(result.error).to.deep.equal({ code: 'DNS', message: 'Could not resolve gitaly.invalid:9999 (ENOTFOUND).' });
  });

  it('rejects an address that is not a TLS address without dialling', async () => {
    let dialled = false;
    const connect = ((opts: tls.ConnectionOptions) => {
      dialled = true;
      return tls.connect(opts);
    }) as typeof tls.connect;
    const result = await probeTls({ node: 'gitaly-1', address: 'tcp://gitaly.example.com:8075' }, options, { connect });
    expect(dialled).to.equal(false);
    expect(result.error).to.deep.equal({
      code: 'ADDRESS',
      message: 'TLS address of node gitaly-1 is invalid: scheme tcp:// is not allowed here (use tls:// or host:port).',
    });
  });
});
