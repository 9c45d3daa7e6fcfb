// One node's history moves once per cycle, here: what this collection observed of the node (its
// scrape, the exporter's own connections, the listen_addr check), then the fleet's Prometheus
// answer for it; out come the history to keep and the evidence the verdict judges. Pure: the
// caller keeps the history and logs the events.
import type { NodeConfig } from '../config/types.ts';
import type { PrometheusFleetEvidence, PrometheusNodeEvidence } from '../evidence/evidence.ts';
import type { NodeObservation } from '../collect/observe-node.ts';
import { directCanary, mergeCanary, prometheusCanary } from './canary.ts';
import {
  ownInWindow,
  plaintextBeyondOwn,
  recordListenerCheck,
  recordOwnConnections,
  recordPlaintextSeen,
  recordScrape,
  type HistoryOptions,
} from './history.ts';
import { plaintextSeenFromChanges } from './last-seen.ts';
import type { QueryWindow } from './query-window.ts';
import type { TimingPolicy } from './timing.ts';
import type { NodeHistory } from './types.ts';
import type { NodeEvidence, PrometheusNodeView } from './verdict.ts';

export interface JoinContext {
  prometheus: PrometheusFleetEvidence | null;
  queryWindow: QueryWindow | null;
  policy: TimingPolicy;
  nowMs: number;
}

/** What the direct scrape taught: for the log line that explains a later "plaintext seen". */
export interface ScrapeEvent {
  atMs: number;
  reset: boolean;
  continuityBroken: boolean;
  /** New connections beyond the exporter's own since the previous scrape; null when not known. */
  real: { tcp: number; tls: number } | null;
  /** The own dials subtracted from this scrape's growth. */
  ownSubtracted: number;
  previousCounts: NodeHistory['lastCounts'];
  previousScrapeMs: number | null;
}

export interface Advanced {
  /** The history to keep (and persist). */
  history: NodeHistory;
  /** What the verdict judges. */
  evidence: NodeEvidence;
  /** Set when a direct scrape answered. */
  scrape: ScrapeEvent | null;
}

/**
 * This collection's observation in the node's history, in the order it was made: the scrape (whose
 * counters hold every own connection made before it), then the TLS probe's and the listen_addr
 * check's own connections (in the next scrape's counters, where they are subtracted).
 */
export function recordObservation(
  history: NodeHistory,
  o: NodeObservation,
  options: HistoryOptions,
): { history: NodeHistory; scrape: ScrapeEvent | null } {
  let h = history;
  let event: ScrapeEvent | null = null;
  if (o.scrape?.ok && o.scrapeAtMs !== null) {
    const atMs = o.scrapeAtMs;
    const update = recordScrape(h, { atMs, counts: o.scrape.counts, processStartSeconds: o.scrape.processStartSeconds }, options);
    const canary = directCanary(h, { atMs, counts: o.scrape.counts, family: o.scrape.family, reset: update.reset });
    event = {
      atMs,
      reset: update.reset,
      continuityBroken: update.continuityBroken,
      real: update.real,
      ownSubtracted: h.pendingOwn.tcp,
      previousCounts: h.lastCounts,
      previousScrapeMs: h.lastScrapeMs,
    };
    h = { ...update.history, canary: mergeCanary(h.canary, canary) };
  }
  if (o.tls) {
    h = recordOwnConnections(h, { tcp: 0, tls: o.tls.connectionsMade, atMs: o.tls.atMs }, options);
    if (o.tls.handshakeOk) h = { ...h, tlsLastUpMs: o.tls.atMs };
  }
  if (o.plaintextFresh && o.plaintext) {
    const p = o.plaintext;
    h = recordListenerCheck({ ...recordOwnConnections(h, { ...p.connectionsMade, atMs: p.atMs }, options), lastPlaintextProbe: p }, p);
  }
  return { history: h, scrape: event };
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
  if (evidence && plaintextBeyondOwn(evidence.windowIncrease.tcp, own) > 0) {
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

/** The one update of a node's history per cycle, and the evidence the verdict judges. */
export function advanceNode(
  node: NodeConfig,
  instance: string | null,
  observation: NodeObservation,
  history: NodeHistory,
  c: JoinContext,
  identityConflicts: readonly string[] = [],
): Advanced {
  const observed = recordObservation(history, observation, c.policy.history);
  // Last seen as it stood before this cycle's direct scrapes (see plaintextSeenFromChanges).
  const p = joinPrometheus(instance, observed.history, history.plaintextLastSeenMs, c);
  return {
    scrape: observed.scrape,
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
