import type { ConnectionCounts, PlaintextProbeResult } from '../evidence/evidence.ts';

/** In the order a node moves through them; `unknown` stands apart. */
export const PHASES = ['plaintext_only', 'dual_listen', 'tls_only_traffic', 'complete', 'unknown'] as const;
export type Phase = (typeof PHASES)[number];

/** Reasons that keep a node from `tls_only_traffic` because its traffic is unknown or still plaintext. */
export const TRAFFIC_BLOCKERS = [
  'plaintext_connections_in_window',
  'plaintext_established',
  'insufficient_history',
  'no_traffic_evidence',
  'source_down',
  'counter_not_counting_us',
] as const;
/** Reasons that keep a node from `tls_only_traffic` because its TLS listener is not healthy. */
export const TLS_BLOCKERS = [
  'tls_not_configured',
  'tls_handshake_failed',
  'cert_untrusted',
  'hostname_mismatch',
  'alpn_not_h2',
  'grpc_health_failed',
  'cert_expiring',
  'cert_expired',
  'restart_needed',
] as const;
export const REASONS = [
  ...TRAFFIC_BLOCKERS,
  ...TLS_BLOCKERS,
  'plaintext_listener_open',
  'plaintext_listener_unknown',
  'missing_from_inventory',
  'identity_conflict',
] as const;
export type Reason = (typeof REASONS)[number];

/** One sentence per reason, for the status page, `check` and /migration. */
export const REASON_TEXT: Record<Reason, string> = {
  plaintext_connections_in_window: 'Plaintext connections (not the exporter’s own) were accepted within the soak window.',
  plaintext_established: 'Plaintext connections are established right now (long-lived gRPC channels).',
  insufficient_history: 'The node has not been observed for the whole soak window yet.',
  no_traffic_evidence: 'No source gives connection counts for this node (configure metrics_url or Prometheus).',
  source_down: 'A source of evidence failed this cycle; the verdict cannot advance until it answers.',
  counter_not_counting_us:
    'The connection counter read for this node did not count the exporter’s own connections, so it is not this node’s listeners’ counter (check role, metrics_url, prometheus_instance).',
  tls_not_configured:
    'No TLS listener yet: no tls_address is configured for this node, or its tls_listen_addr has never completed a TLS handshake.',
  tls_handshake_failed: 'The TLS listener did not complete a handshake.',
  cert_untrusted: 'The served certificate chain is not trusted by the configured CA bundle.',
  hostname_mismatch: 'The served certificate does not name the dialled address in a Subject Alternative Name.',
  alpn_not_h2: 'The TLS listener does not negotiate HTTP/2 (ALPN h2); grpc-go 1.67+ clients reject it.',
  grpc_health_failed:
    'The TLS handshake completed but a gRPC health check over that connection failed (a client certificate demanded, a reset, or no gRPC server behind it): Gitaly clients fail too.',
  cert_expiring: 'A certificate of the chain (served, or the trust anchor from the CA bundle) expires within the warning threshold.',
  cert_expired: 'A certificate of the chain (served, or the trust anchor from the CA bundle) has expired or is not valid yet.',
  restart_needed: 'The certificate file on disk differs from the one served: restart Gitaly to load it.',
  plaintext_listener_open: 'listen_addr still accepts connections: remove it from Gitaly’s config to finish.',
  missing_from_inventory:
    'The node was discovered but its source no longer lists it: it stays unknown and blocking for a soak window, in case it still serves clients.',
  identity_conflict:
    'Another discovered entry shares this node’s name, address or Prometheus instance but disagrees on a field: the evidence may be another Gitaly’s, so the node cannot advance until the sources tell the two apart.',
  plaintext_listener_unknown:
    'Whether listen_addr is closed is not known (no plaintext_address — write plaintext_address: none once it is removed —, or the check has not run or failed).',
};

/** One comparison of our own connections with what the counter counted. */
export interface CanaryCheck {
  source: 'gitaly_metrics' | 'prometheus';
  /** What was read, for the sentence: the family on the page, or the Prometheus instance. */
  counter: string;
  atMs: number;
  /** Own connections the counter must have counted by now. */
  expected: { tcp: number; tls: number };
  /** What it counted over the same span. */
  counted: { tcp: number; tls: number };
}

export interface DirectBucket {
  tcp: number;
  tls: number;
  lastTcpMs: number;
  lastTlsMs: number;
}

/** Per-node history the exporter keeps across cycles and restarts (the state file). */
export interface NodeHistory {
  /** Start of uninterrupted direct observation of the node's counters. */
  firstObservedMs: number | null;
  lastScrapeMs: number | null;
  lastCounts: ConnectionCounts | null;
  /** Gitaly's process_start_time_seconds at the last scrape, to see restarts that counters hide. */
  processStartSeconds: number | null;
  /** Own connections made since the last successful scrape: the next scrape's counters include them. */
  pendingOwn: { tcp: number; tls: number };
  /** Last time a plaintext connection that was not ours was observed (direct scrapes or Prometheus). */
  plaintextLastSeenMs: number | null;
  /** Times of the exporter's own connections to listen_addr, kept for the soak window and a margin. */
  ownTcpTimesMs: number[];
  /** The exporter's own TLS connections, in coarse buckets (start ms → count). */
  ownTlsBuckets: Array<[number, number]>;
  /** Lifetime totals of own connections, for gitaly_tls_exporter_probe_connections_total. */
  ownTotals: { tcp: number; tls: number };
  /** Real (own-excluded) new connections seen by direct scrapes, in buckets, for the window gauge;
   *  `lastTcpMs`/`lastTlsMs` (the last scrape that added to each) decide whether a bucket at the
   *  window's edge counts, so the gauge agrees with plaintextLastSeenMs. */
  directBuckets: Array<[number, DirectBucket]>;
  /** The latest check of listen_addr: kept so that a restart (or `check`) need not dial it again. */
  lastPlaintextProbe: PlaintextProbeResult | null;
  /** The latest direct scrape that could tell whether the counter counts our own connections. */
  canary: CanaryCheck | null;
  /** Start of the current run of listen_addr checks that all found it closed; null while it is (or
   *  may be) open. Until the counter is seen counting a plaintext dial of ours, only this shows that
   *  no plaintext client could connect inside the window. */
  listenerClosedSinceMs: number | null;
  /** The latest completed TLS handshake with the node's tls_address; null: never seen up, so a
   *  failing TLS listener is one not configured yet (the start of the migration), not a broken one. */
  tlsLastUpMs: number | null;
}

export function emptyHistory(): NodeHistory {
  return {
    firstObservedMs: null,
    lastScrapeMs: null,
    lastCounts: null,
    processStartSeconds: null,
    pendingOwn: { tcp: 0, tls: 0 },
    plaintextLastSeenMs: null,
    ownTcpTimesMs: [],
    ownTlsBuckets: [],
    ownTotals: { tcp: 0, tls: 0 },
    directBuckets: [],
    lastPlaintextProbe: null,
    canary: null,
    listenerClosedSinceMs: null,
    tlsLastUpMs: null,
  };
}
