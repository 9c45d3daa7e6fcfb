// One view of each node per collection: computed once from the verdict and the observation, and
// the only thing /metrics, /migration, the status page and `check` read. Every fact is settled
// here (yes, no, or unknown with the reason why), so the four outputs cannot disagree; a renderer
// that needs a fact the view lacks adds it here, never derives it from evidence itself.
// One view of each node per collection: the verdict's settled facts (migration/facts.ts) with what
// a person needs beside them (next step, soak progress, chart). The only thing /metrics,
// /migration, the status page and `check` read; it presents facts and never judges evidence, so
// the four outputs cannot disagree. A renderer that needs a fact the verdict lacks adds it to the
// facts, never derives it here.
import type { PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { NodeConfig, Role } from '../config/types.ts';
import type { CertExpiry, CertificateFileView, CheckName, Check, NodeFacts, SourceView, TlsView } from '../migration/facts.ts';
import { REASON_TEXT, type NodeHistory, type Phase, type Reason } from '../migration/types.ts';
import type { NodeVerdict } from '../migration/verdict.ts';
import { connectionChart, type ConnectionChart } from './connection-chart.ts';
import { nextStep } from './next-step.ts';
import { soakProgress, type SoakProgress } from './soak-progress.ts';

export {
  CHECK_NAMES,
  expiryState,
  tlsView,
  type CertificateView,
  type Check,
  type CheckName,
  type ExpiryState,
  type SourceName,
  type SourceView,
  type TlsView,
} from '../migration/facts.ts';

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
  /** Soonest notAfter in the chain, how many whole days are left until it, and its state. */
  certExpiry: CertExpiry;
  /** The configured expiry_warning the states are judged against. */
  expiryWarningMs: number;
  tls: TlsView | null;
  /** The certificate file on disk (certificate_file), when read: its leaf, for the restart-needed comparison. */
  certificateFile: CertificateFileView | null;
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
  node: NodeConfig;
  verdict: NodeVerdict;
  history: NodeHistory;
  instance: string | null;
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
}

/** The plaintext check falls due one interval after the last one; announced only while it dials (a listener that accepts). */
function nextOwnDial(history: NodeHistory, o: ViewOptions): number | null {
  const last = history.lastPlaintextProbe;
  if (o.plaintextCheckIntervalMs === undefined || !last || last.connectionsMade.tcp === 0) return null;
  return last.atMs + o.plaintextCheckIntervalMs;
}

export function nodeView(n: NodeViewInput, o: ViewOptions): NodeView {
  const { node, verdict: v, history } = n;
  const f: NodeFacts = v.facts;
  const scraped = f.sources.some((s) => s.source === 'gitaly_metrics');
  const view: Omit<NodeView, 'nextStep'> = {
    node: v.node,
    role: v.role,
    instance: n.instance,
    tlsAddress: node.tlsAddress ?? null,
    plaintextAddress: node.plaintextAddress ?? null,
    phase: v.phase,
    reasons: v.reasons.map((reason) => ({ reason, text: REASON_TEXT[reason] })),
    details: v.details,
    checks: f.checks,
    certExpiry: f.certExpiry,
    tls: f.tls,
    expiryWarningMs: o.expiryWarningMs,
    certificateFile: f.certificateFile,
    soak: {
      windowMs: o.soakWindowMs,
      window: v.window,
      coverage: v.coverage,
      observedSinceMs: v.observedSinceMs,
      plaintextLastSeenMs: v.plaintextLastSeenMs,
      established: f.established,
      plaintextCheckedAtMs: f.plaintextCheckedAtMs,
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
      notScrapedWhy: scraped
        ? null
        : v.window?.source === 'prometheus'
          ? 'the exporter does not scrape this node’s metrics page itself (direct_scrape: false): Prometheus gives only the window’s totals'
          : 'no metrics_url is configured, so the exporter does not scrape this node’s connection counters',
    }),
    version: f.version,
    versionWhy: f.versionWhy,
    counts: f.counts,
    sources: f.sources,
    ownConnections: history.ownTotals,
    lastOwnDialMs: history.ownTcpTimesMs.at(-1) ?? null,
    nextOwnDialMs: nextOwnDial(history, o),
    plaintextPeers: f.plaintextPeers,
  };
  return { ...view, nextStep: nextStep(view, o.nowMs) };
}
