// The join step of a cycle: one node's direct observation with the fleet's Prometheus answer,
// into the evidence the verdict judges. Pure: the history it returns is for the caller to keep.
import type { NodeConfig } from '../config/types.ts';
import type { PrometheusFleetEvidence, PrometheusNodeEvidence } from '../evidence.ts';
import { prometheusCanary } from '../migration/canary.ts';
import { ownInWindow, recordPlaintextSeen } from '../migration/history.ts';
import { plaintextSeenFromChanges } from '../migration/last-seen.ts';
import type { QueryWindow } from '../migration/query-window.ts';
import type { TimingPolicy } from '../migration/timing.ts';
import type { NodeHistory } from '../migration/types.ts';
import type { NodeEvidence, PrometheusNodeView } from '../migration/verdict.ts';
import type { NodeObservation } from './observe-node.ts';

export interface JoinContext {
  prometheus: PrometheusFleetEvidence | null;
  queryWindow: QueryWindow | null;
  policy: TimingPolicy;
  nowMs: number;
}

export interface Joined {
  /** The history to keep (and persist). */
  history: NodeHistory;
  /** What the verdict judges. */
  evidence: NodeEvidence;
}

/**
 * Prometheus' share of a node's evidence, and what it teaches the history (when plaintext was last
 * seen). `seenBefore` is last seen as it stood before this cycle's direct scrapes.
 */
function joinPrometheus(
  instance: string | null,
  history: NodeHistory,
  seenBefore: number | null,
  c: JoinContext,
): { history: NodeHistory; verdictHistory: NodeHistory; view: PrometheusNodeView | null } {
  const { prometheus, queryWindow, policy, nowMs } = c;
  if (!prometheus || !queryWindow) return { history, verdictHistory: history, view: null };
  if (!prometheus.ok) return { history, verdictHistory: history, view: { ok: false, error: prometheus.error } };
  // An instance Prometheus scrapes but with no Gitaly connection counters (a wrong metrics path,
  // say) is no evidence of zero plaintext: treat it as no data.
  const scraped = instance ? (prometheus.byInstance.get(instance) ?? null) : null;
  const evidence = instance && prometheus.instancesSeen.includes(instance) ? scraped : null;
  const own = ownInWindow(history, queryWindow.startMs, queryWindow.endMs, queryWindow.unsafe);
  // Also an instance Prometheus scrapes without any connection counter: it must count us too.
  const canary = prometheusCanary(history, queryWindow, scraped, policy.canary);
  const view: PrometheusNodeView = {
    ok: true,
    windowStartMs: queryWindow.startMs,
    windowEndMs: queryWindow.endMs,
    node: evidence,
    own,
    canary,
  };
  if (evidence?.tcpChanges) {
    // Change by change, every exporter's dials excluded: the window count and last seen.
    const seen = plaintextSeenFromChanges(
      evidence.tcpChanges,
      {
        ownMs: history.ownTcpTimesMs,
        publishedMs: evidence.dialsMs ?? [],
        plannedMs: evidence.plannedDialsMs ?? [],
        restartsMs: restartTimes(history, evidence),
      },
      seenBefore,
      nowMs,
      policy.seen,
      evidence.coverage >= policy.verdict.minCoverage ? queryWindow.startMs : null,
    );
    const kept = { ...history, plaintextLastSeenMs: seen.rememberMs };
    return {
      history: kept,
      verdictHistory: { ...kept, plaintextLastSeenMs: seen.lastSeenMs },
      view: { ...view, plaintextTcp: seen.windowTcp },
    };
  }
  if (prometheus.perChange) {
    // No counter in Prometheus yet: a direct scrape cannot tell another exporter's dial from a
    // client, and the window is not covered anyway; keep what was known.
    const kept = { ...history, plaintextLastSeenMs: seenBefore };
    return { history: kept, verdictHistory: kept, view };
  }
  if (evidence && evidence.windowIncrease.tcp - own.tcp >= 0.5) {
    // Prometheus saw plaintext that was not ours: remember when, so a restart of the exporter keeps it.
    const kept = recordPlaintextSeen(history, evidence.tcpLastChangeMs ?? queryWindow.endMs);
    return { history: kept, verdictHistory: kept, view };
  }
  return { history, verdictHistory: history, view };
}

/** When Gitaly restarted, as far as known: the running process's start (direct scrapes), and restarts inside Prometheus' gaps. */
function restartTimes(history: NodeHistory, evidence: PrometheusNodeEvidence): number[] {
  const fromGaps = (evidence.gaps ?? []).flatMap((g) => (g.restartMs === null ? [] : [g.restartMs]));
  return history.processStartSeconds === null ? fromGaps : [...fromGaps, history.processStartSeconds * 1000];
}

export function joinNode(
  node: NodeConfig,
  instance: string | null,
  observation: NodeObservation,
  history: NodeHistory,
  seenBefore: number | null,
  c: JoinContext,
  identityConflicts: readonly string[] = [],
): Joined {
  const p = joinPrometheus(instance, history, seenBefore, c);
  return {
    history: p.history,
    evidence: {
      name: node.name,
      role: node.role,
      nowMs: c.nowMs,
      history: p.verdictHistory,
      tlsAddress: node.tlsAddress ?? null,
      plaintextAddress: node.plaintextAddress ?? null,
      certificateFile: node.certificateFile ?? null,
      plaintextListenerRemoved: node.plaintextListenerRemoved === true,
      scrape: observation.scrape,
      prometheus: p.view,
      tls: observation.tls,
      certFile: observation.certFile,
      plaintext: observation.plaintext,
      sockets: observation.sockets,
      plaintextPeers: observation.plaintextPeers ?? null,
      identityConflicts,
    },
  };
}
