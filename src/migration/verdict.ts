// Evidence → phase and blocking reasons, per node and for the fleet. Pure: no I/O, no clock.
// The rule that shapes it: absence of evidence is never success. Every path that lacks an
// answer adds a reason, and a phase only advances when no reason blocks it.
import type { Role } from '../config/types.ts';
import type { PrometheusNodeEvidence, ScrapeGap } from '../evidence/evidence.ts';
import { canaryMiss } from './canary.ts';
import type { NodeEvidence } from './node-evidence.ts';
import { LISTENER_COULD_NOT_TELL, LISTENER_NOT_CHECKED, settleFacts, type NodeFacts } from './facts.ts';
import { directWindowCounts, plaintextBeyondOwn } from './history.ts';
import { TLS_BLOCKERS, TRAFFIC_BLOCKERS, type NodeHistory, type Phase, type Reason } from './types.ts';

export type { NodeEvidence, PrometheusNodeView } from './node-evidence.ts';

export interface VerdictOptions {
  soakWindowMs: number;
  expiryWarningMs: number;
  bucketMs: number;
  /** Fraction of the window Prometheus must have scraped the node for. */
  minCoverage: number;
}

export interface NodeVerdict {
  node: string;
  role: Role;
  phase: Phase;
  reasons: Reason[];
  /** Specific sentences behind the reasons (which source failed and how, how many connections). */
  details: string[];
  /** Every check, source and certificate state the reasons were derived from (facts.ts). */
  facts: NodeFacts;
  window: { tcp: number; tls: number; source: 'prometheus' | 'direct' } | null;
  coverage: number | null;
  observedSinceMs: number | null;
  plaintextLastSeenMs: number | null;
  establishedPlaintext: number | null;
}

const DATE_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

interface Collected {
  reasons: Set<Reason>;
  details: string[];
  facts: NodeFacts;
}

/** A source of traffic or certificate evidence that failed blocks the verdict (TLS and listen_addr have reasons of their own). */
function downIfFailed(c: Collected, source: 'gitaly_metrics' | 'prometheus' | 'cert_file' | 'sockets'): void {
  const failed = c.facts.sources.find((s) => s.source === source && !s.up);
  if (!failed) return;
  c.reasons.add('source_down');
  c.details.push(`${source}: ${failed.error?.message ?? 'no error given'}`);
}

/**
 * Connections the window total counts but the change-by-change list does not: a Gitaly restart
 * whose counter comes back at the value it had (seen by process_start_time_seconds in the window
 * total, invisible as a change). Every exporter's dials are in both, so what is left is a client.
 */
export function missedByChanges(node: PrometheusNodeEvidence, startMs: number, endMs: number): number {
  const listed = (node.tcpChanges ?? []).reduce((sum, c) => (c.atMs > startMs && c.atMs <= endMs ? sum + c.n : sum), 0);
  return Math.max(0, Math.round(node.windowIncrease.tcp - listed));
}

/**
 * A counter that never had the chance to count a plaintext dial of ours may not count plaintext at
 * all (a proxy, or a page that drops the tcp series), and then it reads zero whatever the clients
 * do. Its zero holds only once a dial was counted, or if listen_addr was closed for the whole window.
 */
function untestedForPlaintext(history: NodeHistory, windowStartMs: number): boolean {
  if ((history.canary?.expected.tcp ?? 0) > 0) return false;
  const closedSince = history.listenerClosedSinceMs;
  return closedSince === null || closedSince > windowStartMs;
}

/**
 * listen_addr refused by the Gitaly process that runs now, at a moment its TLS port accepted (so its
 * listeners were up), while that process's plaintext counter, on a page seen counting the exporter's
 * own TLS and plaintext connections, is 0: no plaintext client can connect or be connected (a
 * client from before the restart lost its connection with the old process). The soak window's other
 * questions (coverage, clients before the restart, a source down) no longer matter. Null when any of
 * it is not shown. Direct scrapes only: they give the running process's start and its counter.
 */
function closedByRestart(e: NodeEvidence): string | null {
  const s = e.scrape;
  const p = e.plaintext;
  if (!s?.ok || typeof s.processStartSeconds !== 'number' || !p || p.open !== false || p.tlsPortRejectsPlaintext === null) return null;
  const startMs = s.processStartSeconds * 1000;
  const canary = e.history.canary;
  // The page's counter was seen counting both kinds of the exporter's own connections: its 0 is a
  // count, not a family (or a tcp series) the page lacks. (A node that never had listen_addr cannot
  // show that: it is complete once its window is clean.)
  const countsUs =
    canary !== null &&
    canary.source === 'gitaly_metrics' &&
    canary.expected.tls > 0 &&
    canary.expected.tcp > 0 &&
    canaryMiss(canary) === null;
  if (p.atMs < startMs || s.counts.tcp !== 0 || !countsUs) return null;
  return (
    `listen_addr refused at ${new Date(p.atMs).toISOString()} while the TLS port accepted, by the Gitaly process started ` +
    `${new Date(startMs).toISOString()}, whose plaintext counter is 0: no plaintext client can connect, so the soak window no longer matters`
  );
}

/** What each gap in Prometheus' samples inside the window cost, in words: the page says which were bridged and why. */
function gapDetails(gaps: readonly ScrapeGap[], startMs: number, endMs: number, windowMs: number, c: Collected): void {
  const iso = (ms: number): string => new Date(ms).toISOString();
  for (const g of gaps) {
    if (g.endMs <= startMs || g.startMs >= endMs) continue;
    const span = `Prometheus has no samples of this node from ${iso(g.startMs)} to ${iso(g.endMs)}`;
    if (g.bridged) c.details.push(`${span}: bridged, Gitaly's counters continued across it (the same process), so no connection was lost`);
    else if (g.restartMs !== null)
      c.details.push(
        `${span}, and Gitaly restarted inside it (${iso(g.restartMs)}): what its old process accepted after its last sample is unknown, so the window is clean only once it has passed the gap (${iso(g.endMs + windowMs)})`,
      );
    else c.details.push(`${span}: longer than the counters can be followed across, so it is not covered`);
  }
}

function judgeTraffic(
  e: NodeEvidence,
  o: VerdictOptions,
  c: Collected,
): { window: NodeVerdict['window']; coverage: number | null; known: boolean } {
  let window: NodeVerdict['window'] = null;
  let coverage: number | null = null;
  let known = false;
  const windowStart = e.nowMs - o.soakWindowMs;

  downIfFailed(c, 'gitaly_metrics');
  if (e.scrape?.ok) known = true;
  const seen = e.history.plaintextLastSeenMs;
  if (seen !== null && seen > windowStart) {
    c.reasons.add('plaintext_connections_in_window');
    c.details.push(`plaintext connection observed at ${new Date(seen).toISOString()}`);
  }

  downIfFailed(c, 'prometheus');
  if (e.prometheus?.ok) {
    const p = e.prometheus;
    if (!p.node || p.node.coverage === 0) {
      c.reasons.add('insufficient_history');
      c.details.push('Prometheus has no data for this node in the window (check prometheus_instance and the selector)');
    } else {
      known = true;
      coverage = p.node.coverage;
      const tcp =
        p.plaintextTcp === undefined
          ? plaintextBeyondOwn(p.node.windowIncrease.tcp, p.own)
          : p.plaintextTcp + missedByChanges(p.node, p.windowStartMs, p.windowEndMs);
      // Every exporter's probes (published, this one's included when Prometheus scrapes it), or this
      // one's own when that is more: either way none of them is a client.
      const tls = Math.max(0, Math.round(p.node.windowIncrease.tls - Math.max(p.own.tls, p.node.exportersTls)));
      window = { tcp, tls, source: 'prometheus' };
      if (tcp > 0) {
        c.reasons.add('plaintext_connections_in_window');
        c.details.push(
          `Prometheus: ${tcp} plaintext connection(s) in the window, ${p.plaintextTcp === undefined ? 'own dials' : 'every exporter’s dials'} excluded`,
        );
      }
      gapDetails(p.node.gaps ?? [], p.windowStartMs, p.windowEndMs, o.soakWindowMs, c);
      if (coverage < o.minCoverage) {
        c.reasons.add('insufficient_history');
        c.details.push(`Prometheus scraped the node for ${(coverage * 100).toFixed(1)}% of the window`);
      } else if (p.node.processStartCoverage < o.minCoverage) {
        // As for direct scrapes: a restart whose clients bring the counters back is invisible.
        c.reasons.add('insufficient_history');
        c.details.push(
          `Prometheus holds process_start_time_seconds for this node for ${(p.node.processStartCoverage * 100).toFixed(1)}% of the window ` +
            '(dropped by metric_relabel_configs?), so a Gitaly restart the counters hide cannot be seen: ' +
            'keep process_start_time_seconds for the Gitaly job, then wait one soak window',
        );
      }
    }
  } else if (!e.prometheus && e.scrape) {
    const direct = directWindowCounts(e.history, e.nowMs, o.soakWindowMs, o.bucketMs);
    if (direct) window = { ...direct, source: 'direct' };
    else if (e.history.firstObservedMs !== null || e.scrape.ok) {
      c.reasons.add('insufficient_history');
      const since = e.history.firstObservedMs ?? e.nowMs;
      c.details.push(
        `observed since ${new Date(since).toISOString()}, the soak window needs ${Math.ceil((since - windowStart) / 1000)} s more`,
      );
    }
  }
  if (!e.scrape && !e.prometheus) c.reasons.add('no_traffic_evidence');

  // A counter that did not count our own connections is not this node's: its zero means nothing.
  const misses = [e.scrape ? canaryMiss(e.history.canary) : null, e.prometheus?.ok ? canaryMiss(e.prometheus.canary ?? null) : null];
  for (const miss of misses.filter((m): m is string => m !== null)) {
    c.reasons.add('counter_not_counting_us');
    c.details.push(miss);
    known = false;
    window = null;
  }

  if (window?.source === 'direct' && e.history.processStartSeconds === null) {
    // Without it a restart whose clients lift the counters back past their old values is invisible,
    // and so are those clients (and our own dials lost with the old process would hide new ones).
    c.reasons.add('insufficient_history');
    c.details.push(
      'the metrics page has no process_start_time_seconds, so a Gitaly restart the counters hide cannot be seen: direct scrapes alone cannot show a clean window (configure Prometheus)',
    );
  }
  if (window?.source === 'direct' && !e.plaintextListenerRemoved && untestedForPlaintext(e.history, windowStart)) {
    c.reasons.add('insufficient_history');
    c.details.push(
      'the counter has not yet been seen counting a plaintext connection (the exporter’s own dial to listen_addr, at the next plaintext check), ' +
        'and listen_addr was not seen closed for the whole window: its zero is no evidence yet',
    );
  }

  downIfFailed(c, 'sockets');
  if (e.sockets?.ok && e.sockets.established.tcp > 0) {
    c.reasons.add('plaintext_established');
    c.details.push(`${e.sockets.established.tcp} plaintext connection(s) established now`);
  }
  return { window, coverage, known };
}

function judgeTls(e: NodeEvidence, c: Collected): void {
  if (!e.tlsAddress) {
    c.reasons.add('tls_not_configured');
    return;
  }
  const t = e.tls;
  if (t && !t.handshakeOk && t.connectionsMade === 0 && t.error?.code === 'CONNECT' && e.history.tlsLastUpMs === null) {
    // Refused, and never seen up: TLS is not set up on this node yet, the start of its migration,
    // not a breakage. Something that accepts and fails (silent, resets, answers garbage) is broken.
    c.reasons.add('tls_not_configured');
    c.details.push(
      `TLS ${t.address} has never completed a handshake${t.error ? ` (${t.error.message.replace(/\.$/, '')})` : ''}: configure tls_listen_addr and a certificate on this node`,
    );
    return;
  }
  const checks = c.facts.checks;
  if (checks.handshake.value !== true) {
    c.reasons.add('tls_handshake_failed');
    if (t?.error) c.details.push(`TLS ${t.address}: ${t.error.message}`);
  }
  if (!t) return;
  // An expired certificate is untrusted too; it is reported as expired (below).
  if (checks.trusted.value === false && !DATE_ERRORS.has(t.trustError ?? '')) {
    c.reasons.add('cert_untrusted');
    c.details.push(`TLS ${t.address}: ${t.trustError ?? 'untrusted'}`);
  }
  if (checks.hostnameMatch.value === false) c.reasons.add('hostname_mismatch');
  if (checks.alpnH2.value === false) c.reasons.add('alpn_not_h2');
  if (checks.grpcHealth.value === false) {
    c.reasons.add('grpc_health_failed');
    if (t.grpcHealthError) c.details.push(`TLS ${t.address}: ${t.grpcHealthError.message}`);
  }
  if (t.differentLeaves && t.perAddress) {
    const leaves = t.perAddress.map((a) => `${a.address} ${a.leafSha256 ? `sha256 ${a.leafSha256.slice(0, 16)}…` : 'no certificate'}`);
    c.details.push(`TLS ${t.address}: its addresses serve different certificates (${leaves.join(', ')}); the worst is judged`);
  }
  for (const cert of c.facts.tls?.certificates ?? []) {
    // A trust anchor the server did not send breaks the chain all the same when it expires.
    const what = cert.sent ? cert.position : `${cert.position} from the CA bundle (not sent by the server)`;
    if (cert.expiry === 'expired' || cert.expiry === 'not_yet_valid') {
      c.reasons.add('cert_expired');
      c.details.push(
        `${what} ${cert.subject} is outside its validity (${new Date(cert.notBeforeMs).toISOString()} – ${new Date(cert.notAfterMs).toISOString()})`,
      );
    } else if (cert.expiry === 'expiring') {
      c.reasons.add('cert_expiring');
      c.details.push(`${what} ${cert.subject} expires ${new Date(cert.notAfterMs).toISOString()}`);
    }
  }
  downIfFailed(c, 'cert_file');
  if (checks.restartNeeded.value === true) c.reasons.add('restart_needed');
}

/** The reasons and details listen_addr's settled state gives. */
function judgeListener(e: NodeEvidence, c: Collected): void {
  const open = c.facts.checks.plaintextListenerOpen;
  if (open.value === true) {
    c.reasons.add('plaintext_listener_open');
    const each = e.plaintext?.perAddress;
    if (each) {
      // One name, several sockets: say which still accepts, since that is the one to close.
      const states = each.map((a) => `${a.address} ${a.open === true ? 'accepts' : a.open === false ? 'refuses' : 'unknown'}`);
      c.details.push(`plaintext ${e.plaintext!.address}: its host name resolves to ${each.length} addresses: ${states.join(', ')}`);
    }
  }
  if (open.value === null) {
    c.reasons.add('plaintext_listener_unknown');
    if (open.why !== LISTENER_NOT_CHECKED && open.why !== LISTENER_COULD_NOT_TELL) c.details.push(open.why);
  }
}

export function judgeNode(e: NodeEvidence, o: VerdictOptions): NodeVerdict {
  const facts = settleFacts(e, { nowMs: e.nowMs, expiryWarningMs: o.expiryWarningMs });
  const c: Collected = { reasons: new Set(), details: [], facts };
  const traffic = judgeTraffic(e, o, c);
  const restartClosed = closedByRestart(e);
  if (restartClosed !== null) {
    // Nothing about past traffic can block a node no plaintext client can reach; established
    // plaintext connections (local mode) would contradict it, so they still do.
    for (const r of TRAFFIC_BLOCKERS) if (r !== 'plaintext_established') c.reasons.delete(r);
    c.details.push(restartClosed);
    traffic.known = true;
  }
  judgeTls(e, c);
  judgeListener(e, c);
  // Two Gitalys behind one identity: whose counters, certificate and listener were read is not known.
  const conflicted = (e.identityConflicts?.length ?? 0) > 0;
  if (conflicted) {
    c.reasons.add('identity_conflict');
    c.details.push(...e.identityConflicts!);
  }
  const has = (list: readonly Reason[]): boolean => list.some((r) => c.reasons.has(r));
  const plaintextUsed = c.reasons.has('plaintext_connections_in_window') || c.reasons.has('plaintext_established');
  // The probe says whether TLS answers now; without one, TLS connections in the window are the sign.
  const tlsUp = e.tls ? e.tls.handshakeOk : (traffic.window?.tls ?? 0) > 0;

  // listen_addr seen closed (or declared removed): the node is past dual listen whatever blocks it.
  // Until nothing does, it is not complete, and the reasons say what is missing.
  const listenerClosed = facts.checks.plaintextListenerOpen.value === false;
  const blocked = has(TRAFFIC_BLOCKERS) || has(TLS_BLOCKERS);
  let phase: Phase;
  if (conflicted) phase = 'unknown';
  else if (listenerClosed) phase = traffic.known && !plaintextUsed && !blocked ? 'complete' : 'unknown';
  else if (plaintextUsed) phase = tlsUp ? 'dual_listen' : 'plaintext_only';
  else if (!traffic.known) phase = 'unknown';
  else if (blocked) phase = tlsUp ? 'dual_listen' : 'plaintext_only';
  else phase = 'tls_only_traffic';

  return {
    node: e.name,
    role: e.role,
    phase,
    reasons: [...c.reasons],
    details: c.details,
    facts,
    window: traffic.window,
    coverage: traffic.coverage,
    observedSinceMs: e.history.firstObservedMs,
    plaintextLastSeenMs: e.history.plaintextLastSeenMs,
    establishedPlaintext: facts.established?.tcp ?? null,
  };
}

export interface FleetVerdict {
  complete: boolean;
  /** The least advanced node phase (unknown counts as least advanced). */
  phase: Phase;
  nodesByPhase: Record<Phase, number>;
  blocking: string[];
  /** The first MAX_UNDECLARED_LISTED undeclared instances, sorted; `undeclaredCount` says how many there are. */
  undeclaredInstances: string[];
  undeclaredCount: number;
}

/**
 * A Prometheus that scrapes thousands of unrelated instances must not turn /metrics, /migration and
 * the status page into a list of them: this many are named, the rest are counted.
 */
export const MAX_UNDECLARED_LISTED = 100;
const UNDECLARED_IN_SENTENCE = 10;

const ORDER: Record<Phase, number> = { unknown: 0, plaintext_only: 1, dual_listen: 2, tls_only_traffic: 3, complete: 4 };

export function judgeFleet(
  nodes: readonly NodeVerdict[],
  undeclaredInstances: readonly string[],
  prometheusAnswered: boolean | null,
  /** Why the node list itself may be incomplete (inventory/missing.ts): a node may be missing from it. */
  inventoryBlocking: readonly string[] = [],
): FleetVerdict {
  const nodesByPhase: Record<Phase, number> = { plaintext_only: 0, dual_listen: 0, tls_only_traffic: 0, complete: 0, unknown: 0 };
  for (const n of nodes) nodesByPhase[n.phase] += 1;
  const blocking: string[] = [];
  const notDone = nodes.filter((n) => n.phase !== 'complete');
  if (nodes.length === 0) blocking.push('no nodes are configured');
  if (notDone.length > 0)
    blocking.push(`${notDone.length} of ${nodes.length} node(s) not complete: ${notDone.map((n) => n.node).join(', ')}`);
  const undeclaredCount = undeclaredInstances.length;
  const listed = [...undeclaredInstances].sort().slice(0, MAX_UNDECLARED_LISTED);
  if (undeclaredCount > 0) {
    const named = listed.slice(0, UNDECLARED_IN_SENTENCE).join(', ');
    const more = undeclaredCount > UNDECLARED_IN_SENTENCE ? ` and ${undeclaredCount - UNDECLARED_IN_SENTENCE} more` : '';
    blocking.push(`Prometheus sees Gitaly counters from ${undeclaredCount} instance(s) not in the configuration: ${named}${more}`);
  }
  if (prometheusAnswered === false) blocking.push('Prometheus did not answer, so undeclared nodes cannot be ruled out');
  blocking.push(...inventoryBlocking);
  const phase = nodes.reduce<Phase>((least, n) => (ORDER[n.phase] < ORDER[least] ? n.phase : least), nodes.length ? 'complete' : 'unknown');
  return { complete: blocking.length === 0, phase, nodesByPhase, blocking, undeclaredInstances: listed, undeclaredCount };
}
