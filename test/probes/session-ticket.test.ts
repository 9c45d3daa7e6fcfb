// Tickets are kept without the server's certificate (decoding it was the costliest step of a
// resumed probe); what is left must still be a session OpenSSL resumes (tls-resumption.test.ts).
import { expect } from 'chai';
import * as tls from 'node:tls';
import { chainPem, createCa, createLeaf, type Issued } from '../../src/demo/certs.ts';
import { withoutPeerCertificate } from '../../src/probes/session-ticket.ts';
import { TlsSessionCache } from '../../src/probes/tls-sessions.ts';
import { parsePemChain } from '../../src/probes/x509-facts.ts';
import { startTlsServer } from '../helpers/tls-servers.ts';

describe('session tickets without the server certificate', () => {
  let ca: Issued;
  let leaf: Issued;
  let leafDer: Buffer;
  const tickets = new Map<string, Buffer>();

  before(async () => {
    ca = await createCa();
    leaf = await createLeaf(ca, 'gitaly.example.com', { dnsNames: ['gitaly.example.com'] });
    leafDer = parsePemChain(leaf.certPem)[0]!;
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const server = await startTlsServer({ cert: chainPem(leaf), key: leaf.keyPem, minVersion: version, maxVersion: version });
      try {
        tickets.set(version, await firstTicket(server.host, server.port));
      } finally {
        await server.close();
      }
    }
  });

  function firstTicket(host: string, port: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host, port, servername: 'gitaly.example.com', ca: [ca.certPem], ALPNProtocols: ['h2'] });
      socket.once('session', (ticket: Buffer) => {
        socket.destroy();
        resolve(ticket);
      });
      socket.once('error', reject);
    });
  }

  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    it(`drops the certificate from a ${version} session and nothing else`, () => {
      const ticket = tickets.get(version)!;
      expect(ticket.indexOf(leafDer), 'the saved session holds the leaf').to.be.greaterThan(0);
      const stripped = withoutPeerCertificate(ticket);
      expect(stripped.indexOf(leafDer)).to.equal(-1);
      // The leaf, its [3] tag and length, and no more: 4 bytes of tag and length for a leaf this size.
      expect(ticket.length - stripped.length).to.be.within(leafDer.length + 4, leafDer.length + 4 + 2);
      expect(withoutPeerCertificate(stripped), 'stripping twice changes nothing').to.equal(stripped);
    });
  }

  it('gives back what it cannot read unchanged, rather than a broken session', () => {
    const ticket = tickets.get('TLSv1.3')!;
    for (const odd of [Buffer.alloc(0), Buffer.from('not a session'), ticket.subarray(0, 100), Buffer.concat([ticket, Buffer.from([0])])]) {
      expect(withoutPeerCertificate(odd)).to.equal(odd);
    }
  });

  it('is how the session cache keeps every ticket', () => {
    const sessions = new TlsSessionCache();
    const context = tls.createSecureContext({ ca: [ca.certPem] });
    const key = TlsSessionCache.key('127.0.0.1:1', 'gitaly.example.com');
    const ticket = tickets.get('TLSv1.3')!;
    sessions.set(key, {
      ticket,
      context,
      chain: [],
      trusted: true,
      trustError: null,
      hostnameMatch: true,
      verifiedAtMs: 0,
      notBeforeMs: 0,
      notAfterMs: Number.POSITIVE_INFINITY,
    });
    expect(sessions.usable(key, context, 1)?.ticket).to.deep.equal(withoutPeerCertificate(ticket));
  });
});
