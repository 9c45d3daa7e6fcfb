// One view of each node per collection: computed once from the verdict and the observation, and
// the only thing /metrics, /migration, the status page and `check` read. Every fact is settled
// here (yes, no, or unknown with the reason why), so the four outputs cannot disagree; a renderer
// that needs a fact the view lacks adds it here, never derives it from evidence itself.
import type { Role } from '../config/types.ts';
import type { CertificateFacts, SourceError, TlsProbeResult } from '../evidence.ts';
import type { NodeObservation } from '../collect/observe-node.ts';
import type { PlaintextPeers } from '../collect/plaintext-peers.ts';
import { REASON_TEXT, type NodeHistory, type Phase, type Reason } from '../migration/types.ts';
import type { NodeVerdict } from '../migration/verdict.ts';
import { connectionChart, type ConnectionChart } from './connection-chart.ts';
import { nextStep } from './next-step.ts';
import { soakProgress, type SoakProgress } from './soak-progress.ts';

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

export interface CertificateView {
  /** Place in the chain Node built (leaf / intermediate / root), whether or not the server sent it. */
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

/** A certificate's validity as colours show it: `expiring` = within the configured expiry_warning. */
export type ExpiryState = 'expired' | 'not_yet_valid' | 'expiring' | 'ok';

export function expiryState(c: { notBeforeMs: number; notAfterMs: number }, nowMs: number, expiryWarningMs: number): ExpiryState {
  if (c.notAfterMs <= nowMs) return 'expired';
  if (c.notBeforeMs > nowMs) return 'not_yet_valid';
  // The verdict's own rule (cert_expiring), so the colour and the reason agree.
  return c.notAfterMs - nowMs < expiryWarningMs ? 'expiring' : 'ok';
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

export interface NodeView {
  node: string;
  role: Role;
  /** The Prometheus instance label this node is matched by. */
  instance: string | null;
  tlsAddress: string | null;
  plaintextAddress: string | null;
  phase: Phase;
  reasons: Array<{ reason: Reason; text: string }>;
  /** What to do next on this node, in one plain sentence decided from the reasons. */
  nextStep: string;
  /** Specific sentences behind the reasons. */
  details: string[];
  checks: Record<CheckName, Check>;
  /** Soonest notAfter among served certificates, how many whole days are left until it, and its state. */
  certExpiry: { atMs: number; days: number; state: ExpiryState } | { atMs: null; why: string };
  /** The configured expiry_warning the states are judged against. */
  expiryWarningMs: number;
  tls: TlsView | null;
  /** The certificate file on disk (certificate_file), when read: its leaf, for the restart-needed comparison. */
  certificateFile: {
    path: string;
    leafNotAfterMs: number | null;
    leafSerial: string | null;
    leafSubject: string | null;
    leafExpiry: ExpiryState | null;
  } | null;
  soak: {
    windowMs: number;
    /** New connections in the soak window, own excluded; null = not known. */
    window: { tcp: number; tls: number; source: 'prometheus' | 'direct' } | null;
    coverage: number | null;
    observedSinceMs: number | null;
    plaintextLastSeenMs: number | null;
    /** Local mode: connections established now per listener; null = not read. */
    established: { tcp: number; tls: number } | null;
    plaintextCheckedAtMs: number | null;
  } & SoakProgress;
  /** New plaintext and TLS connections over the soak window, for the charts. */
  chart: ConnectionChart;
  /** gitlab_build_info{version}; null with `versionWhy` when not observed. */
  version: string | null;
  versionWhy: string | null;
  /** Direct scrape counters, when the scrape answered. */
  counts: { tcp: number; tls: number; unix: number } | null;
  sources: SourceView[];
  ownConnections: { tcp: number; tls: number };
  /** The exporter's latest own dial of listen_addr, published for peer exporters. */
  lastOwnDialMs: number | null;
  /** When this exporter will next dial listen_addr (announced so peer exporters never take it for a client); null: none planned. */
  nextOwnDialMs: number | null;
  plaintextPeers: PlaintextPeers | null;
}

export interface NodeViewInput {
  observation: NodeObservation;
  verdict: NodeVerdict;
  history: NodeHistory;
  instance: string | null;
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

function sources(n: NodeViewInput, prometheusError: SourceError | null | undefined): SourceView[] {
  const o = n.observation;
  const list: SourceView[] = [];
  const add = (source: SourceName, error: SourceError | null): void => {
    list.push({ source, up: error === null, error });
  };
  if (o.scrape) add('gitaly_metrics', o.scrape.ok ? null : o.scrape.error);
  if (prometheusError !== undefined) add('prometheus', prometheusError);
  if (o.tls) add('tls', o.tls.handshakeOk ? null : (o.tls.error ?? { code: 'HANDSHAKE', message: 'The TLS handshake did not complete.' }));
  if (o.certFile) add('cert_file', o.certFile.ok ? null : o.certFile.error);
  if (o.plaintext) add('plaintext', o.plaintext.error);
  if (o.sockets) add('sockets', o.sockets.ok ? null : o.sockets.error);
  return list;
}

function restartNeeded(n: NodeViewInput): Check {
  const f = n.observation.certFile;
  if (!f) return unknown('no certificate_file is configured, so the file on disk cannot be compared with the served certificate');
  if (!f.ok) return unknown(`the certificate file could not be read: ${f.error.message}`);
  if (f.matchesServed === null) return unknown('no served certificate to compare the file with');
  return n.verdict.reasons.includes('restart_needed')
    ? yes(REASON_TEXT.restart_needed)
    : no('the certificate file on disk is the one served');
}

function listenerOpen(n: NodeViewInput): Check {
  const v = n.verdict;
  const p = n.observation.plaintext;
  if (v.plaintextListenerOpen !== null)
    return v.plaintextListenerOpen ? yes(REASON_TEXT.plaintext_listener_open) : no(p ? null : 'plaintext_address: none in the config');
  if (!n.observation.node.plaintextAddress) return unknown(REASON_TEXT.plaintext_listener_unknown);
  if (!p) return unknown('listen_addr has not been checked yet');
  const detail = v.details.find((d) => d.startsWith(`plaintext ${p.address}:`));
  return unknown(detail ?? p.error?.message ?? 'the check of listen_addr could not tell');
}

export interface ViewOptions {
  nowMs: number;
  soakWindowMs: number;
  /** expiry_warning: certificates expiring sooner show as expiring. */
  expiryWarningMs: number;
  /** Width of the history's buckets (timing policy), the chart's resolution. */
  bucketMs: number;
  /** plaintext_check_interval; absent: no next dial is announced. */
  plaintextCheckIntervalMs?: number;
  /** undefined: Prometheus is not configured; null: it answered; an error: it failed. */
  prometheusError?: SourceError | null;
}

const SEVERITY: ExpiryState[] = ['expired', 'not_yet_valid', 'expiring', 'ok'];

/** The soonest expiry's state; a not-yet-valid certificate elsewhere in the chain weighs as much. */
function worstState(certs: CertificateView[], soonestMs: number, o: ViewOptions): ExpiryState {
  const states = certs.map((c) => c.expiry ?? 'ok');
  states.push(expiryState({ notBeforeMs: -Infinity, notAfterMs: soonestMs }, o.nowMs, o.expiryWarningMs));
  return SEVERITY.find((s) => states.includes(s)) ?? 'ok';
}

function fileView(path: string, leaf: CertificateFacts | undefined, o: ViewOptions): NonNullable<NodeView['certificateFile']> {
  return {
    path,
    leafNotAfterMs: leaf?.notAfterMs ?? null,
    leafSerial: leaf?.serial ?? null,
    leafSubject: leaf?.subject ?? null,
    leafExpiry: leaf ? expiryState(leaf, o.nowMs, o.expiryWarningMs) : null,
  };
}

/** The plaintext check falls due one interval after the last one; announced only while it dials (a listener that accepts). */
function nextOwnDial(history: NodeHistory, o: ViewOptions): number | null {
  const last = history.lastPlaintextProbe;
  if (o.plaintextCheckIntervalMs === undefined || !last || last.connectionsMade.tcp === 0) return null;
  return last.atMs + o.plaintextCheckIntervalMs;
}

export function nodeView(n: NodeViewInput, o: ViewOptions): NodeView {
  const { observation: obs, verdict: v, history } = n;
  const tls = obs.tls ? tlsView(obs.tls, o.nowMs, o.expiryWarningMs) : null;
  const noTls = 'no tls_address is configured';
  const fromTls = (pick: (t: TlsView) => Check): Check => (tls ? pick(tls) : unknown(noTls));
  const tlsUsable: Check = tls
    ? tls.usable
      ? yes()
      : no('a gRPC client needs a completed handshake, a trusted chain naming the address, ALPN h2 and a gRPC answer')
    : unknown(noTls);
  const certExpiry: NodeView['certExpiry'] =
    v.certExpiresMs !== null
      ? {
          atMs: v.certExpiresMs,
          days: Math.floor((v.certExpiresMs - o.nowMs) / DAY_MS),
          state: worstState(tls?.certificates ?? [], v.certExpiresMs, o),
        }
      : { atMs: null, why: tls ? `no certificate was received (${tls.error?.message ?? 'no handshake'})` : noTls };
  const scrape = obs.scrape;
  const version = scrape?.ok ? scrape.version : null;
  const versionWhy =
    version !== null
      ? null
      : !scrape
        ? 'no metrics_url is configured'
        : scrape.ok
          ? 'the metrics page has no gitlab_build_info'
          : `the metrics scrape failed: ${scrape.error.message}`;
  const view: Omit<NodeView, 'nextStep'> = {
    node: v.node,
    role: v.role,
    instance: n.instance,
    tlsAddress: obs.node.tlsAddress ?? null,
    plaintextAddress: obs.node.plaintextAddress ?? null,
    phase: v.phase,
    reasons: v.reasons.map((reason) => ({ reason, text: REASON_TEXT[reason] })),
    details: v.details,
    checks: {
      tlsUsable,
      handshake: fromTls((t) => t.handshake),
      trusted: fromTls((t) => t.trusted),
      hostnameMatch: fromTls((t) => t.hostnameMatch),
      alpnH2: fromTls((t) => t.alpnH2),
      grpcHealth: fromTls((t) => t.grpcHealth),
      restartNeeded: restartNeeded(n),
      plaintextListenerOpen: listenerOpen(n),
    },
    certExpiry,
    tls,
    expiryWarningMs: o.expiryWarningMs,
    certificateFile: obs.certFile?.ok ? fileView(obs.certFile.path, obs.certFile.chain[0], o) : null,
    soak: {
      windowMs: o.soakWindowMs,
      window: v.window,
      coverage: v.coverage,
      observedSinceMs: v.observedSinceMs,
      plaintextLastSeenMs: v.plaintextLastSeenMs,
      established: obs.sockets?.ok ? obs.sockets.established : null,
      plaintextCheckedAtMs: obs.plaintext?.atMs ?? null,
      ...soakProgress(
        {
          windowMs: o.soakWindowMs,
          window: v.window,
          coverage: v.coverage,
          observedSinceMs: v.observedSinceMs,
          plaintextLastSeenMs: v.plaintextLastSeenMs,
          establishedPlaintext: v.establishedPlaintext,
        },
        o.nowMs,
      ),
    },
    chart: connectionChart(history, v.plaintextLastSeenMs, {
      ...o,
      notScrapedWhy: obs.scrape
        ? null
        : v.window?.source === 'prometheus'
          ? 'the exporter does not scrape this node’s metrics page itself (direct_scrape: false): Prometheus gives only the window’s totals'
          : 'no metrics_url is configured, so the exporter does not scrape this node’s connection counters',
    }),
    version,
    versionWhy,
    counts: scrape?.ok ? scrape.counts : null,
    sources: sources(n, o.prometheusError),
    ownConnections: history.ownTotals,
    lastOwnDialMs: history.ownTcpTimesMs.at(-1) ?? null,
    nextOwnDialMs: nextOwnDial(history, o),
    plaintextPeers: obs.plaintextPeers ?? null,
  };
  return { ...view, nextStep: nextStep(view, o.nowMs) };
}
