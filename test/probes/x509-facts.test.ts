import { expect } from 'chai';
import { createCa, createIntermediate, createLeaf, DAY_MS } from '../../src/demo/certs.ts';
import { certificateFacts, chainFacts, derToPem, isSelfSigned, normalizeIp, parsePemChain, PemError } from '../../src/probes/x509-facts.ts';

// Made with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -sha384 -days 36500
//   -subj "/C=US/O=Acme, Inc./CN=gitaly-1.example.com" -set_serial 0x0BADC0FFEE
//   -addext "subjectAltName=DNS:gitaly-1.example.com,DNS:*.gitaly.example.com,IP:10.0.0.7,IP:2001:db8:0:0::7,IP:::ffff:192.0.2.1"
const OPENSSL_PEM = `-----BEGIN CERTIFICATE-----
MIICaTCCAfCgAwIBAgIFC63A/+4wCgYIKoZIzj0EAwMwQTELMAkGA1UEBhMCVVMx
EzARBgNVBAoMCkFjbWUsIEluYy4xHTAbBgNVBAMMFGdpdGFseS0xLmV4YW1wbGUu
Y29tMCAXDTI2MTEyNTE5MzcxNVoYDzIxMjYxMTAxMTkzNzE1WjBBMQswCQYDVQQG
EwJVUzETMBEGA1UECgwKQWNtZSwgSW5jLjEdMBsGA1UEAwwUZ2l0YWx5LTEuZXhh
bXBsZS5jb20wdjAQBgcqhkjOPQIBBgUrgQQAIgNiAAR5qHPPW+pTpt7uNEVLE6xF
ufuGivlzOp5rXB8pR2Li0aTGq160/AEr0oua3k4IMhZBqtw+Rakm3LbPDxDxuHFY
JuKojI4Y0ns0Q1vSCq9rv+oMtpUJGcR1vIG4a0K0/XCjgbUwgbIwHQYDVR0OBBYE
FGRWr0yd8C82Ln8A1LIRGluGMYACMB8GA1UdIwQYMBaAFGRWr0yd8C82Ln8A1LIR
GluGMYACMA8GA1UdEwEB/wQFMAMBAf8wXwYDVR0RBFgwVoIUZ2l0YWx5LTEuZXhh
bXBsZS5jb22CFCouZ2l0YWx5LmV4YW1wbGUuY29thwQKAAAHhxAgAQ24AAAAAAAA
AAAAAAAHhxAAAAAAAAAAAAAA///AAAIBMAoGCCqGSM49BAMDA2cAMGQCMAeJQZbu
DwOTjKVoO0GqXot2A3lilw20mbm2+3vQsp/CAMl0iqxtG7TtjeCfA4sZ0gIwJLxR
/rBgLTxkzW62/05eKBrQ005RrFtJShsZt/UmzxkBdVPU3vxKmMS/QcXJZJEx
-----END CERTIFICATE-----
`;

describe('x509-facts', () => {
  describe('certificateFacts', () => {
    it('reads every fact of a certificate made by OpenSSL, names in RFC 4514 order', () => {
      const [der] = parsePemChain(OPENSSL_PEM);
      expect(certificateFacts(der!, 'leaf')).to.deep.equal({
        position: 'leaf',
        serial: '0BADC0FFEE',
        subject: 'CN=gitaly-1.example.com,O=Acme\\, Inc.,C=US',
        issuer: 'CN=gitaly-1.example.com,O=Acme\\, Inc.,C=US',
        dnsNames: ['gitaly-1.example.com', '*.gitaly.example.com'],
        ipAddresses: ['10.0.0.7', '2001:db8::7', '192.0.2.1'],
        notBeforeMs: Date.UTC(2026, 10, 25, 19, 37, 15),
        notAfterMs: Date.UTC(2126, 10, 1, 19, 37, 15),
        sha256: 'c485b9feede5be429fc2e15df1810bd6693a867c0414542b60645b61f636cdaa',
        keyType: 'ec',
        keyBits: 384,
        signatureAlgorithm: 'ecdsa-with-SHA384',
      });
    });

    it('reports RSA keys and RSA signatures, and EC keys signed by an RSA CA', async () => {
      const notBefore = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));
      const notAfter = new Date(Date.UTC(2035, 0, 2, 3, 4, 5));
      const ca = await createCa('RSA test CA', { key: 'rsa', notBefore, notAfter });
      const leaf = await createLeaf(ca, 'gitaly.example.com', { dnsNames: ['gitaly.example.com', 'a,b.example'], ipAddresses: ['::1'] });
      const [caDer] = parsePemChain(ca.certPem);
      const [leafDer] = parsePemChain(leaf.certPem);
      const caFacts = certificateFacts(caDer!, 'root');
      expect(caFacts).to.include({
        position: 'root',
        serial: ca.serial,
        subject: 'CN=RSA test CA',
        issuer: 'CN=RSA test CA',
        keyType: 'rsa',
        keyBits: 2048,
        signatureAlgorithm: 'sha256WithRSAEncryption',
      });
      expect(caFacts.notBeforeMs).to.equal(notBefore.getTime());
      expect(caFacts.notAfterMs).to.equal(notAfter.getTime());
      expect(caFacts.dnsNames).to.deep.equal([]);
      expect(caFacts.ipAddresses).to.deep.equal([]);
      const leafFacts = certificateFacts(leafDer!, 'leaf');
      expect(leafFacts).to.include({
        subject: 'CN=gitaly.example.com',
        issuer: 'CN=RSA test CA',
        keyType: 'ec',
        keyBits: 256,
        signatureAlgorithm: 'sha256WithRSAEncryption',
      });
      // A comma inside a SAN must not split it in two.
      expect(leafFacts.dnsNames).to.deep.equal(['gitaly.example.com', 'a,b.example']);
      expect(leafFacts.ipAddresses).to.deep.equal(['::1']);
    });

    it('labels a chain leaf first, intermediates, then the self-signed root', async () => {
      const ca = await createCa();
      const intermediate = await createIntermediate(ca);
      const leaf = await createLeaf(intermediate, 'gitaly.example.com', { notAfterOffsetMs: 30 * DAY_MS });
      const ders = parsePemChain(leaf.certPem + intermediate.certPem + ca.certPem);
      expect(chainFacts(ders).map((f) => [f.position, f.serial, f.signatureAlgorithm])).to.deep.equal([
        ['leaf', leaf.serial, 'ecdsa-with-SHA256'],
        ['intermediate', intermediate.serial, 'ecdsa-with-SHA256'],
        ['root', ca.serial, 'ecdsa-with-SHA256'],
      ]);
      expect(isSelfSigned(ders[2]!)).to.equal(true);
      expect(isSelfSigned(ders[0]!)).to.equal(false);
    });
  });

  describe('parsePemChain', () => {
    it('returns each certificate in order, skipping other blocks and tolerating CRLF', async () => {
      const ca = await createCa();
      const leaf = await createLeaf(ca, 'gitaly.example.com');
      const text = `subject=CN=gitaly\r\n${leaf.certPem.replace(/\n/g, '\r\n')}${leaf.keyPem}${ca.certPem}`;
      const ders = parsePemChain(text);
      expect(ders.map((der) => derToPem(der))).to.deep.equal([leaf.certPem, ca.certPem]);
    });

    it('returns nothing for text without a certificate', () => {
      expect(parsePemChain('no certificates here\n')).to.deep.equal([]);
    });

    it('reports a block that is not base64', () => {
      expect(() => parsePemChain(OPENSSL_PEM + '-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n')).to.throw(
        PemError,
        'certificate block 2 is not valid base64',
      );
    });

    it('reports base64 that is not a certificate', () => {
      expect(() => parsePemChain('-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQh\n-----END CERTIFICATE-----\n')).to.throw(
        PemError,
        'certificate block 1 is not a valid X.509 certificate',
      );
    });

    it('reports a truncated last block', () => {
      expect(() => parsePemChain(OPENSSL_PEM + OPENSSL_PEM.slice(0, 200))).to.throw(
        PemError,
        'certificate block 2 has no "-----END CERTIFICATE-----" line',
      );
    });
  });

  describe('normalizeIp', () => {
    it('writes IPv6 compressed in lower case and IPv4-mapped addresses as IPv4', () => {
      expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).to.equal('2001:db8::1');
      expect(normalizeIp('[::1]')).to.equal('::1');
      expect(normalizeIp('0:0:0:0:0:FFFF:C000:0201')).to.equal('192.0.2.1');
      expect(normalizeIp('10.1.2.3')).to.equal('10.1.2.3');
    });
  });
});
