import { expect } from 'chai';
import type { CertificateFacts } from '../../src/evidence/evidence.ts';
import { matchesHostname } from '../../src/probes/hostname.ts';

function facts(dnsNames: string[], ipAddresses: string[] = [], subject = 'CN=gitaly.example.com'): CertificateFacts {
  return {
    position: 'leaf',
    serial: '01',
    subject,
    issuer: 'CN=test CA',
    dnsNames,
    ipAddresses,
    notBeforeMs: 0,
    notAfterMs: 1,
    sha256: '00',
    keyType: 'ec',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
  };
}

describe('matchesHostname', () => {
  it('matches a DNS SAN exactly, ignoring case and a trailing dot', () => {
    const cert = facts(['Gitaly-1.Example.com']);
    expect(matchesHostname('gitaly-1.example.com', cert)).to.equal(true);
    expect(matchesHostname('GITALY-1.EXAMPLE.COM.', cert)).to.equal(true);
    expect(matchesHostname('gitaly-2.example.com', cert)).to.equal(false);
    expect(matchesHostname('example.com', cert)).to.equal(false);
  });

  it('lets a leftmost * stand for exactly one label', () => {
    const cert = facts(['*.gitaly.example.com']);
    expect(matchesHostname('node-1.gitaly.example.com', cert)).to.equal(true);
    expect(matchesHostname('gitaly.example.com', cert)).to.equal(false);
    expect(matchesHostname('a.b.gitaly.example.com', cert)).to.equal(false);
    expect(matchesHostname('.gitaly.example.com', cert)).to.equal(false);
  });

  it('treats a * that is not a whole leftmost label literally', () => {
    expect(matchesHostname('node1.example.com', facts(['node*.example.com']))).to.equal(false);
    expect(matchesHostname('a.b.example.com', facts(['a.*.example.com']))).to.equal(false);
  });

  it('never matches an IP literal against DNS SANs, wildcards included', () => {
    expect(matchesHostname('10.0.0.7', facts(['10.0.0.7', '*.0.0.7']))).to.equal(false);
  });

  it('matches IPv4 and IPv6 literals against IP SANs, normalised', () => {
    const cert = facts(['gitaly.example.com'], ['10.0.0.7', '2001:db8::7']);
    expect(matchesHostname('10.0.0.7', cert)).to.equal(true);
    expect(matchesHostname('2001:DB8:0:0:0:0:0:7', cert)).to.equal(true);
    expect(matchesHostname('[2001:db8::7]', cert)).to.equal(true);
    expect(matchesHostname('::ffff:10.0.0.7', cert)).to.equal(true);
    expect(matchesHostname('10.0.0.8', cert)).to.equal(false);
    expect(matchesHostname('2001:db8::8', cert)).to.equal(false);
  });

  it('does not match a name against IP SANs', () => {
    expect(matchesHostname('gitaly.example.com', facts([], ['10.0.0.7']))).to.equal(false);
  });

  it('ignores the Common Name: a certificate without SANs matches nothing', () => {
    expect(matchesHostname('gitaly.example.com', facts([], [], 'CN=gitaly.example.com'))).to.equal(false);
    expect(matchesHostname('', facts(['gitaly.example.com']))).to.equal(false);
  });
});
