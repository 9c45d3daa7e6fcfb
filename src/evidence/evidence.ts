// What each source and probe returns. Sources and probes never throw: they return one of these.
import type { ErrorCode } from '../base/error-codes.ts';

export type ConnectionType = 'tcp' | 'tls' | 'unix';

export interface SourceError {
  /** Stable machine-readable code, one per cause whichever source met it (see error-codes.ts). */
  code: ErrorCode;
  /** One human sentence; never contains secrets. */
  message: string;
}

export type Result<T> = ({ ok: true } & T) | { ok: false; error: SourceError };

export interface ConnectionCounts {
  tcp: number;
  tls: number;
  unix: number;
}

/** One direct scrape of a Gitaly or Praefect /metrics page. */
export type GitalyScrape = Result<{
  counts: ConnectionCounts;
  /** Which family carried the counts: gitaly_connections_total or gitaly_praefect_connections_total. */
  family: string | null;
  /** gitlab_build_info{version}. */
  version: string | null;
  /** process_start_time_seconds, when present: a change reveals a restart the counters may hide. */
  processStartSeconds?: number | null;
  bytes: number;
}> & { durationMs: number };

/** One step at which a node's plaintext (tcp) counter grew: by `n`, first shown by the sample stamped `atMs`. */
export interface TcpChange {
  /** When Prometheus scraped the sample that first showed the growth. */
  atMs: number;
  n: number;
  /** When it scraped the sample before, if known: every accept between the two is in this change. */
  prevSampleMs?: number;
}

/** A run of failed scrapes of a node in Prometheus, and the restart it holds, if one shows. */
export interface ScrapeGap {
  startMs: number;
  endMs: number;
  /** The new process_start_time_seconds seen after the gap, ms; null: the same process on both sides. */
  restartMs: number | null;
  /** Still running at the range's end: what comes after it is not known yet. */
  ongoing?: boolean;
  /** The counters bridge it (the same process, and no longer than the window count looks back): nothing was lost. */
  bridged?: boolean;
}

/** Per node, from one Prometheus query set covering the soak window. */
export interface PrometheusNodeEvidence {
  instance: string;
  /** New connections in the queried window: increase(), and for tcp the step count when larger (a
   *  series that appears inside the window counts from zero; see windowCountExpr). Missing series = 0. */
  windowIncrease: { tcp: number; tls: number };
  /** Fraction (0..1) of the window during which the node was scraped successfully. */
  coverage: number;
  /** Fraction (0..1) of the window during which Prometheus held the node's process_start_time_seconds:
   *  without it a restart whose clients bring the counters back to their old values is invisible. */
  processStartCoverage: number;
  /** Last time the tcp counter moved (includes our own connections; see verdict). Unix ms. */
  tcpLastChangeMs: number | null;
  /** Every growth of the tcp counter over the soak window and a margin before it (absent: not asked). */
  tcpChanges?: TcpChange[];
  /** Plaintext dials of this node published by any gitaly-tls-exporter (this one included), ms. */
  dialsMs?: number[];
  /** Runs of failed scrapes in the range the per-change answer covers (absent: not asked). */
  gaps?: ScrapeGap[];
  /** Plaintext dials any gitaly-tls-exporter announced ahead (when each next check is due), ms. */
  plannedDialsMs?: number[];
  /** TLS connections every exporter published for this node in the window (value at its end less value at its start), this one included. */
  exportersTls: number;
}

export type PrometheusFleetEvidence = Result<{
  /** Window actually queried (may start a little earlier than now - soak window, never later). */
  windowStartMs: number;
  windowEndMs: number;
  /** Keyed by instance label value. */
  byInstance: Map<string, PrometheusNodeEvidence>;
  /** Instances exporting Gitaly connection counters that no configured node claims. */
  instancesSeen: string[];
  /** The answer lists every counter change and every exporter's dials (tcpChanges, dialsMs). */
  perChange?: boolean;
  queries: number;
}> & { durationMs: number };

export type ChainPosition = 'leaf' | 'intermediate' | 'root';

export interface CertificateFacts {
  position: ChainPosition;
  /** Hex, upper case, no separators. */
  serial: string;
  subject: string;
  issuer: string;
  dnsNames: string[];
  ipAddresses: string[];
  notBeforeMs: number;
  notAfterMs: number;
  /** SHA-256 of the DER, lower-case hex. */
  sha256: string;
  keyType: string;
  keyBits: number | null;
  signatureAlgorithm: string;
  /**
   * From a handshake: whether the server sent it. false = Node completed the chain with it from
   * the trusted CAs (the CA bundle): a trust anchor, not served. Absent for a file's certificates.
   */
  sent?: boolean;
}

/** One TLS probe of a node's tls_listen_addr. Each check is reported even when another fails. */
export interface TlsProbeResult {
  address: string;
  durationMs: number;
  /** TCP connected and TLS handshake completed (trust is judged separately). */
  handshakeOk: boolean;
  error: SourceError | null;
  /** The chain Node built, leaf first: what the server sent (`sent`), then what it took from the CA bundle; empty when no certificate was received. */
  chain: CertificateFacts[];
  /** null = not judged (no certificate). */
  trusted: boolean | null;
  trustError: string | null;
  hostnameMatch: boolean | null;
  alpnProtocol: string | null;
  tlsVersion: string | null;
  cipher: string | null;
  /** Pinned handshakes; null = not checked (this cycle or ever). */
  accepts: { 'TLSv1.2': boolean | null; 'TLSv1.3': boolean | null };
  /**
   * grpc.health.v1.Health/Check answered SERVING over the handshake's own connection (h2), as
   * `gitlab-rake gitlab:gitaly:check` asks; null = not asked (no handshake, or no ALPN h2).
   */
  grpcHealthOk: boolean | null;
  grpcHealthError: SourceError | null;
  /** TCP connections this probe got accepted by the listener (each adds 1 to Gitaly's tls counter). */
  connectionsMade: number;
  atMs: number;
  /**
   * The server resumed the session of an earlier probe, so chain, trust and hostname are that full
   * handshake's (same process, same certificate: see probes/tls-sessions.ts). Absent = not asked.
   */
  sessionResumed?: boolean;
  /** The host name resolved to several addresses, each probed (the fields above are the worst one's). */
  perAddress?: Array<{ address: string; handshakeOk: boolean; leafSha256: string | null; error: SourceError | null }>;
  /** Those addresses served different leaf certificates. */
  differentLeaves?: boolean;
}

/** Certificate file on disk compared with the served leaf. */
export type CertFileResult = Result<{
  path: string;
  chain: CertificateFacts[];
  /** null when there is no served leaf to compare with. */
  matchesServed: boolean | null;
}>;

/** One dial of listen_addr. */
export interface PlaintextProbeResult {
  address: string;
  /** true = accepted a TCP connection, false = refused, null = could not tell (timeout, DNS). */
  open: boolean | null;
  /** Cleartext gRPC health answered SERVING; null = not asked or not applicable. */
  grpcHealthServing: boolean | null;
  /** Whether the TLS port refused a plaintext client (null = not checked). */
  tlsPortRejectsPlaintext: boolean | null;
  error: SourceError | null;
  durationMs: number;
  /** Connections this probe opened, by Gitaly's counter type; the verdict subtracts them. */
  connectionsMade: { tcp: number; tls: number };
  atMs: number;
  /** The host name resolved to several addresses, each dialled: open if any accepted. */
  perAddress?: Array<{ address: string; open: boolean | null; error: SourceError | null }>;
}

/**
 * Local mode: ESTABLISHED connections per listener port, now; `peers` (when asked for) per listener
 * and client address, the top ones of each listener, with the others counted in `peersNotKept`.
 */
export type SocketsResult = Result<{
  established: { tcp: number; tls: number };
  peers?: Array<{ address: string; listener: 'tcp' | 'tls'; connections: number }>;
  peersNotKept?: Record<'tcp' | 'tls', { peers: number; connections: number }>;
}>;
