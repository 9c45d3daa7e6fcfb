// Whether a certificate names the host clients dial, the way Go's crypto/x509 VerifyHostname decides it
// (Gitaly's clients are Go and gRPC): SANs only, the Common Name is ignored.
import { isIP } from 'node:net';
import type { CertificateFacts } from '../evidence.ts';
import { normalizeIp } from './x509-facts.ts';

function dnsLabels(name: string): string[] {
  // A fully qualified name's trailing dot does not change what it names.
  return name.toLowerCase().replace(/\.$/, '').split('.');
}

/** `*` is allowed only as the whole leftmost label and stands for exactly one label. */
function matchesDnsPattern(host: string, pattern: string): boolean {
  const hostLabels = dnsLabels(host);
  const patternLabels = dnsLabels(pattern);
  if (hostLabels.length !== patternLabels.length || hostLabels.some((label) => label === '')) return false;
  return patternLabels.every((label, i) => (i === 0 && label === '*') || label === hostLabels[i]);
}

export function matchesHostname(host: string, facts: CertificateFacts): boolean {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1');
  if (bare === '') return false;
  if (isIP(bare) !== 0) {
    const wanted = normalizeIp(bare);
    return facts.ipAddresses.some((ip) => normalizeIp(ip) === wanted);
  }
  return facts.dnsNames.some((pattern) => matchesDnsPattern(bare, pattern));
}
