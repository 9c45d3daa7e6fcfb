// The one sentence an operator reads first: what to do next on this node, in plain words, decided
// from the verdict's reasons in order of urgency. The reason codes stay beside it for scripts.
import type { Phase, Reason } from '../migration/types.ts';
import type { SourceError } from '../evidence/evidence.ts';

/** A source as the view shows it (node-view's SourceView; repeated here to keep the import one-way). */
interface Source {
  source: string;
  up: boolean;
  error: SourceError | null;
}

export interface NextStepInput {
  phase: Phase;
  reasons: Array<{ reason: Reason; text: string }>;
  sources: Source[];
  soak: {
    windowMs: number;
    observedForMs: number | null;
    plaintextLastSeenMs: number | null;
    /** Fraction of the window Prometheus scraped the node for; null without Prometheus. */
    coverage: number | null;
    projectedSafe: { atMs: number } | { atMs: null; why: string };
  };
  certExpiry: { atMs: number; days: number } | { atMs: null; why: string };
}

/** "7d 2h", "3 min", "45 s": the two largest units, enough for a decision. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}min` : `${h}h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

const SOURCE_LABEL: Record<string, string> = {
  gitaly_metrics: 'Gitaly’s metrics page',
  prometheus: 'Prometheus',
  tls: 'the TLS listener',
  cert_file: 'the certificate file',
  plaintext: 'the listen_addr check',
  sockets: 'the socket table',
};

export function nextStep(v: NextStepInput, nowMs: number): string {
  const has = (r: Reason): boolean => v.reasons.some((x) => x.reason === r);
  const text = (r: Reason): string => v.reasons.find((x) => x.reason === r)?.text ?? '';
  const lastSeen = v.soak.plaintextLastSeenMs;
  if (v.phase === 'complete') return 'Done: this node serves TLS only and listen_addr is closed.';
  // Every other finding may be another Gitaly's: tell the two entries apart first.
  if (has('identity_conflict')) return `Unknown: ${text('identity_conflict')}`;
  if (has('cert_expired')) return 'Replace the expired (or not yet valid) certificate now: TLS clients reject it.';
  if (has('restart_needed')) return 'Restart Gitaly to load the renewed certificate.';
  const down = v.sources.find((s) => !s.up);
  if (down && (v.phase === 'unknown' || has('source_down'))) {
    // Error messages are sentences; inside the parenthesis their full stop would double ours.
    const message = (down.error?.message ?? 'no error given').replace(/\.$/, '');
    const why = `${SOURCE_LABEL[down.source] ?? down.source} did not answer (${message})`;
    return `Unknown: ${why}.`;
  }
  if (has('tls_not_configured'))
    return 'Configure tls_listen_addr and a certificate on this node (and give its tls_address here, if not done yet).';
  for (const r of ['tls_handshake_failed', 'cert_untrusted', 'hostname_mismatch', 'alpn_not_h2', 'grpc_health_failed'] as const)
    if (has(r)) {
      const error = r === 'tls_handshake_failed' ? v.sources.find((s) => s.source === 'tls' && !s.up)?.error : null;
      return `Fix the TLS listener before moving clients: ${text(r)}${error ? ` (${error.message})` : ''}`;
    }
  if (has('cert_expiring') && v.certExpiry.atMs !== null)
    return `Renew the certificate: it expires in ${v.certExpiry.days} day(s), before going further.`;
  if (has('plaintext_established')) return 'Plaintext clients are connected right now — find them before going further.';
  if (has('plaintext_connections_in_window')) {
    const safe = v.soak.projectedSafe.atMs;
    // The client may have moved to TLS already: then the window only has to pass it.
    const clean =
      safe !== null && safe > nowMs
        ? ` If it has moved to TLS, the soak window is clean at ${new Date(safe).toISOString()} (in ${duration(safe - nowMs)}) unless another connects; if not, find it first.`
        : ' Find it before going further.';
    return lastSeen !== null
      ? `Plaintext client seen ${duration(nowMs - lastSeen)} ago.${clean}`
      : 'Plaintext clients connected within the soak window — find them before going further.';
  }
  if (has('source_down')) return `Unknown: ${text('source_down')}`;
  if (has('counter_not_counting_us')) return `Unknown: ${text('counter_not_counting_us')}`;
  if (has('no_traffic_evidence')) return `Unknown: ${text('no_traffic_evidence')}`;
  if (has('missing_from_inventory')) return `Unknown: ${text('missing_from_inventory')}`;
  if (has('insufficient_history')) {
    const watched = v.soak.observedForMs;
    if (watched === null) return `Wait: the soak window (${duration(v.soak.windowMs)}) has not started; no connection counts yet.`;
    if (watched < v.soak.windowMs) return `Wait: observed for ${duration(watched)} of the ${duration(v.soak.windowMs)} soak window.`;
    // Watched long enough, yet not evidence: a gap in Prometheus' scrapes, or a missing signal.
    if (v.soak.coverage !== null && v.soak.coverage < 1)
      return `Wait: Prometheus scraped this node for ${(v.soak.coverage * 100).toFixed(1)}% of the ${duration(v.soak.windowMs)} soak window; it is covered once the gap has passed out of the window (within ${duration(v.soak.windowMs)}).`;
    return 'Wait: the whole soak window was watched, but its counts are not evidence yet (the details say what is missing).';
  }
  const clean = lastSeen !== null ? nowMs - lastSeen : v.soak.observedForMs;
  const forHow = clean !== null ? ` (no plaintext client for ${duration(clean)})` : '';
  if (has('plaintext_listener_open') && v.phase === 'tls_only_traffic') return `Safe to remove listen_addr${forHow}.`;
  if (has('plaintext_listener_unknown')) return `Confirm listen_addr is removed (write plaintext_address: none once it is)${forHow}.`;
  if (v.phase === 'unknown') return `Unknown: ${v.reasons[0]?.text ?? 'not enough evidence yet'}`;
  return v.reasons[0]?.text ?? 'Nothing blocks this node.';
}
