// The settled facts of one node: every check with its state and why, each source's state, the
// certificates' expiry states, what the node's metrics page said. Settled here once, from the
// evidence; the verdict derives reasons and phase from these facts, and every output shows them
// as they are (yes, no, or unknown with the reason why), so no two places judge the same thing.
import type { PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { CertificateFacts, SourceError, TlsProbeResult } from '../evidence/evidence.ts';
import { REASON_TEXT } from './types.ts';
import type { NodeEvidence } from './node-evidence.ts';

const DAY_MS = 86_400_000;

/** A yes/no fact: `value` null means nobody observed it, and `why` says what is missing. */
export type Check = { value: boolean; why: string | null } | { value: null; why: string };

export const yes = (why: string | null = null): Check => ({ value: true, why });
export const no = (why: string | null = null): Check => ({ value: false, why });
export const unknown = (why: string): Check => ({ value: null, why });

/** The checks every output shows, in the order they show them. */
export const CHECK_NAMES = [
  'tlsUsable',
  'handshake',
  'trusted',
  'hostnameMatch',
  'alpnH2',
  'grpcHealth',
  'restartNeeded',
  'plaintextListenerOpen',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** A certificate's validity as colours show it: `expiring` = within the configured expiry_warning. */
export type ExpiryState = 'expired' | 'not_yet_valid' | 'expiring' | 'ok';

/** The one expiry rule: the verdict's cert_expired / cert_expiring and every colour come from it. */
export function expiryState(c: { notBeforeMs: number; notAfterMs: number }, nowMs: number, expiryWarningMs: number): ExpiryState {
  if (c.notAfterMs <= nowMs) return 'expired';
  if (c.notBeforeMs > nowMs) return 'not_yet_valid';
  return c.notAfterMs - nowMs < expiryWarningMs ? 'expiring' : 'ok';
}

export interface CertificateView {
  /** Place in the chain Node built (leaf / intermediate / root / trust_anchor), whether or not the server sent it. */
  position: CertificateFacts['position'];
  /** The server sent it; false: Node took it from the CA bundle to complete the chain (a trust anchor). */
  sent: boolean;
  serial: string;
  subject: string;
  issuer: string;
  /** `DNS:name` and `IP:address` entries, in the certificate's order. */
  sans: string[];
  notBeforeMs: number;
  notAfterMs: number;
  /** Whole days from the collection to notAfter (negative once expired). */
  daysToExpiry: number;
  /** Judged against the configured expiry_warning; null where no threshold applies (/probe). */
  expiry: ExpiryState | null;
  sha256: string;
  key: string;
  signatureAlgorithm: string;
}

/** One TLS probe as shown: also what /probe renders. */
export interface TlsView {
  address: string;
  durationMs: number;
  /** What a gRPC client of Gitaly needs: a handshake, a trusted chain naming the address, h2, a gRPC answer. */
  usable: boolean;
  handshake: Check;
  trusted: Check;
  hostnameMatch: Check;
  alpnH2: Check;
  grpcHealth: Check;
  error: SourceError | null;
  alpnProtocol: string | null;
  version: string | null;
  cipher: string | null;
  /** Pinned handshakes per TLS version; null = not checked. */
  accepts: Array<{ version: string; accepted: boolean | null }>;
  certificates: CertificateView[];
}

export const SOURCES = ['gitaly_metrics', 'prometheus', 'tls', 'cert_file', 'plaintext', 'sockets'] as const;
export type SourceName = (typeof SOURCES)[number];

/** One configured source of evidence for the node, as it answered in this collection. */
export interface SourceView {
  source: SourceName;
  up: boolean;
  /** Set exactly when `up` is false. */
  error: SourceError | null;
}

export type CertExpiry = { atMs: number; days: number; state: ExpiryState } | { atMs: null; why: string };

export interface CertificateFileView {
  path: string;
  leafNotAfterMs: number | null;
  leafSerial: string | null;
  leafSubject: string | null;
  leafExpiry: ExpiryState | null;
}

/** What the verdict's reasons and every output are made of, settled once per node per collection. */
export interface NodeFacts {
  checks: Record<CheckName, Check>;
  tls: TlsView | null;
  /** Soonest notAfter in the chain (served, and the trust anchor from the CA bundle), its days and worst state. */
  certExpiry: CertExpiry;
  /** The certificate file on disk (certificate_file), when read: its leaf, for the restart-needed comparison. */
  certificateFile: CertificateFileView | null;
  sources: SourceView[];
  /** gitlab_build_info{version}; null with `versionWhy` when not observed. */
  version: string | null;
  versionWhy: string | null;
  /** Direct scrape counters, when the scrape answered. */
  counts: { tcp: number; tls: number; unix: number } | null;
  /** Local mode: connections established now per listener; null = not read. */
  established: { tcp: number; tls: number } | null;
  plaintextCheckedAtMs: number | null;
  /** Local mode: who holds plaintext connections open now; null when not read. */
  plaintextPeers: PlaintextPeers | null;
}

export interface FactOptions {
  nowMs: number;
  expiryWarningMs: number;
}

function certificateView(c: CertificateFacts, nowMs: number, expiryWarningMs: number | null): CertificateView {
  return {
    position: c.position,
    // Only a handshake says what was not sent; a chain without the field counts as served, as it always did.
    sent: c.sent !== false,
    serial: c.serial,
    subject: c.subject,
    issuer: c.issuer,
    sans: [...c.dnsNames.map((n) => `DNS:${n}`), ...c.ipAddresses.map((ip) => `IP:${ip}`)],
    notBeforeMs: c.notBeforeMs,
    notAfterMs: c.notAfterMs,
    daysToExpiry: Math.floor((c.notAfterMs - nowMs) / DAY_MS),
    expiry: expiryWarningMs === null ? null : expiryState(c, nowMs, expiryWarningMs),
    sha256: c.sha256,
    key: c.keyBits ? `${c.keyType} ${c.keyBits}` : c.keyType,
    signatureAlgorithm: c.signatureAlgorithm,
  };
}

/** One TLS probe result, settled into checks. */
export function tlsView(t: TlsProbeResult, nowMs: number = t.atMs, expiryWarningMs: number | null = null): TlsView {
  const failed = t.error?.message ?? 'the handshake did not complete';
  const noCert = `no certificate was received (${failed})`;
  const handshake = t.handshakeOk ? yes() : no(failed);
  const trusted = t.trusted === null ? unknown(noCert) : t.trusted ? yes() : no(t.trustError ?? 'the chain is not trusted');
  const hostnameMatch =
    t.hostnameMatch === null
      ? unknown(noCert)
      : t.hostnameMatch
        ? yes()
        : no(`no Subject Alternative Name of the served certificate names ${t.address}`);
  const alpnH2 = !t.handshakeOk
    ? unknown(`ALPN is negotiated in the handshake, which failed (${failed})`)
    : t.alpnProtocol === 'h2'
      ? yes()
      : no(t.alpnProtocol ? `the listener chose ALPN ${t.alpnProtocol}` : 'the listener negotiated no ALPN protocol');
  const grpcHealth =
    t.grpcHealthOk === null
      ? unknown(t.handshakeOk ? 'not asked: the listener does not negotiate h2' : `not asked: the handshake failed (${failed})`)
      : t.grpcHealthOk
        ? yes()
        : no(t.grpcHealthError?.message ?? 'the health check failed');
  return {
    address: t.address,
    durationMs: t.durationMs,
    usable: [handshake, trusted, hostnameMatch, alpnH2, grpcHealth].every((c) => c.value === true),
    handshake,
    trusted,
    hostnameMatch,
    alpnH2,
    grpcHealth,
    error: t.error,
    alpnProtocol: t.alpnProtocol,
    version: t.tlsVersion,
    cipher: t.cipher,
    accepts: Object.entries(t.accepts).map(([version, accepted]) => ({ version, accepted })),
    certificates: t.chain.map((c) => certificateView(c, nowMs, expiryWarningMs)),
  };
}

function sources(e: NodeEvidence): SourceView[] {
  const list: SourceView[] = [];
  const add = (source: SourceName, error: SourceError | null): void => {
    list.push({ source, up: error === null, error });
  };
  if (e.scrape) add('gitaly_metrics', e.scrape.ok ? null : e.scrape.error);
  if (e.prometheus) add('prometheus', e.prometheus.ok ? null : e.prometheus.error);
  if (e.tls) add('tls', e.tls.handshakeOk ? null : (e.tls.error ?? { code: 'HANDSHAKE', message: 'The TLS handshake did not complete.' }));
  if (e.certFile) add('cert_file', e.certFile.ok ? null : e.certFile.error);
  if (e.plaintext) add('plaintext', e.plaintext.error);
  if (e.sockets) add('sockets', e.sockets.ok ? null : e.sockets.error);
  return list;
}

function restartNeeded(e: NodeEvidence): Check {
  const f = e.certFile;
  if (!f) {
    return unknown(
      e.certificateFile
        ? 'the certificate file is read once the TLS listener has completed a handshake'
        : 'no certificate_file is configured, so the file on disk cannot be compared with the served certificate',
    );
  }
  if (!f.ok) return unknown(`the certificate file could not be read: ${f.error.message}`);
  if (f.matchesServed === null) return unknown('no served certificate to compare the file with');
  return f.matchesServed ? no('the certificate file on disk is the one served') : yes(REASON_TEXT.restart_needed);
}

/** Why listen_addr's state is unknown when nothing more specific is known (no detail for the verdict). */
export const LISTENER_NOT_CHECKED = 'listen_addr has not been checked yet';
export const LISTENER_COULD_NOT_TELL = 'the check of listen_addr could not tell';

/**
 * Whether listen_addr accepts connections. A refusal on a host whose TLS port accepted no
 * connection either is a dead host (or Gitaly stopped), not a removed listener: unknown.
 */
function listenerOpen(e: NodeEvidence): Check {
  const p = e.plaintext;
  if (!e.plaintextAddress) {
    // Declared closed by the operator, in so many words: never concluded from a missing key.
    if (e.plaintextListenerRemoved) return no('plaintext_address: none in the config');
    return unknown(
      'no plaintext_address is configured: give listen_addr to have it checked, or write plaintext_address: none once it is removed',
    );
  }
  if (!p) return unknown(LISTENER_NOT_CHECKED);
  if (p.open === false && e.tls && !e.tls.handshakeOk && e.tls.connectionsMade === 0)
    return unknown(`plaintext ${p.address}: refused, but the TLS listener accepted no connection either: the host or Gitaly is down`);
  if (p.open === true) return yes(REASON_TEXT.plaintext_listener_open);
  if (p.open === false) return no(null);
  return unknown(p.error ? `plaintext ${p.address}: ${p.error.message}` : LISTENER_COULD_NOT_TELL);
}

const SEVERITY: ExpiryState[] = ['expired', 'not_yet_valid', 'expiring', 'ok'];

function certExpiry(tls: TlsView | null, o: FactOptions): CertExpiry {
  const certs = tls?.certificates ?? [];
  if (certs.length === 0)
    return {
      atMs: null,
      why: tls ? `no certificate was received (${tls.error?.message ?? 'no handshake'})` : 'no tls_address is configured',
    };
  const atMs = Math.min(...certs.map((c) => c.notAfterMs));
  // The soonest expiry's state; a not-yet-valid certificate elsewhere in the chain weighs as much.
  const states = certs.map((c) => c.expiry ?? 'ok');
  const state = SEVERITY.find((s) => states.includes(s)) ?? 'ok';
  return { atMs, days: Math.floor((atMs - o.nowMs) / DAY_MS), state };
}

function fileView(e: NodeEvidence, o: FactOptions): CertificateFileView | null {
  const f = e.certFile;
  if (!f?.ok) return null;
  const leaf = f.chain[0];
  return {
    path: f.path,
    leafNotAfterMs: leaf?.notAfterMs ?? null,
    leafSerial: leaf?.serial ?? null,
    leafSubject: leaf?.subject ?? null,
    leafExpiry: leaf ? expiryState(leaf, o.nowMs, o.expiryWarningMs) : null,
  };
}

function version(e: NodeEvidence): { version: string | null; versionWhy: string | null } {
  const scrape = e.scrape;
  const v = scrape?.ok ? scrape.version : null;
  if (v !== null) return { version: v, versionWhy: null };
  if (!scrape) return { version: null, versionWhy: 'no metrics_url is configured' };
  return {
    version: null,
    versionWhy: scrape.ok ? 'the metrics page has no gitlab_build_info' : `the metrics scrape failed: ${scrape.error.message}`,
  };
}

export function settleFacts(e: NodeEvidence, o: FactOptions): NodeFacts {
  const tls = e.tls ? tlsView(e.tls, o.nowMs, o.expiryWarningMs) : null;
  const noTls = 'no tls_address is configured';
  const fromTls = (pick: (t: TlsView) => Check): Check => (tls ? pick(tls) : unknown(noTls));
  const tlsUsable: Check = tls
    ? tls.usable
      ? yes()
      : no('a gRPC client needs a completed handshake, a trusted chain naming the address, ALPN h2 and a gRPC answer')
    : unknown(noTls);
  return {
    checks: {
      tlsUsable,
      handshake: fromTls((t) => t.handshake),
      trusted: fromTls((t) => t.trusted),
      hostnameMatch: fromTls((t) => t.hostnameMatch),
      alpnH2: fromTls((t) => t.alpnH2),
      grpcHealth: fromTls((t) => t.grpcHealth),
      restartNeeded: restartNeeded(e),
      plaintextListenerOpen: listenerOpen(e),
    },
    tls,
    certExpiry: certExpiry(tls, o),
    certificateFile: fileView(e, o),
    sources: sources(e),
    ...version(e),
    counts: e.scrape?.ok ? e.scrape.counts : null,
    established: e.sockets?.ok ? e.sockets.established : null,
    plaintextCheckedAtMs: e.plaintext?.atMs ?? null,
    plaintextPeers: e.plaintextPeers ?? null,
  };
}
