// Whether a certificate names the host clients dial, exactly as Go's crypto/x509 VerifyHostname
// decides it (Gitaly's clients are Go and gRPC): SANs only, the Common Name is ignored. A SAN that
// is not a valid host name pattern (e.g. `localhost.`, with its trailing dot) only matches the
// identical string; a trailing dot on the dialled name is dropped before matching.
import { isIP } from 'node:net';
import type { CertificateFacts } from '../evidence/evidence.ts';
import { normalizeIp } from './x509-facts.ts';

/** Go lowercases ASCII only. */
function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Go's validHostname: labels of [A-Za-z0-9_-] (no leading '-'); a pattern may start with a '*' label. */
function validHostname(host: string, isPattern: boolean): boolean {
  const name = isPattern ? host : host.replace(/\.$/, '');
  if (name === '' || name === '*') return false;
  return name.split('.').every((label, i) => {
    if (label === '') return false;
    if (isPattern && i === 0 && label === '*') return true;
    return /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(label);
  });
}

function matchExactly(a: string, b: string): boolean {
  if (a === '' || a === '.' || b === '' || b === '.') return false;
  return lowerAscii(a) === lowerAscii(b);
}

/** `*` is allowed only as the whole leftmost label and stands for exactly one label. */
function matchHostnames(pattern: string, host: string): boolean {
  const p = lowerAscii(pattern);
  const h = lowerAscii(host.replace(/\.$/, ''));
  if (p === '' || h === '') return false;
  const patternLabels = p.split('.');
  const hostLabels = h.split('.');
  if (patternLabels.length !== hostLabels.length) return false;
  return patternLabels.every((label, i) => (i === 0 && label === '*') || label === hostLabels[i]);
}

export function matchesHostname(host: string, facts: CertificateFacts): boolean {
  const trimmed = host.trim();
  const bare = trimmed.length >= 3 && trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  if (bare === '') return false;
  if (isIP(bare) !== 0) {
    const wanted = normalizeIp(bare);
    return facts.ipAddresses.some((ip) => normalizeIp(ip) === wanted);
  }
  const candidate = lowerAscii(trimmed);
  const validCandidate = validHostname(candidate, false);
  return facts.dnsNames.some((pattern) =>
    validCandidate && validHostname(pattern, true) ? matchHostnames(pattern, candidate) : matchExactly(pattern, candidate),
  );
}
