// Our own connections as a canary. Gitaly counts every accept, ours included, so the counter read
// for a node must move when we connect to its listeners. One that does not is not counting this
// node's listeners (a Praefect read without `role: praefect`, a page without the counter family,
// the wrong metrics_url or prometheus_instance, a proxy in between, a Gitaly too old to count):
// its zero is no evidence, and the node must be unknown rather than "no plaintext".
import type { ConnectionCounts, PrometheusNodeEvidence } from '../evidence/evidence.ts';
import type { CanaryCheck, NodeHistory } from './types.ts';

export type { CanaryCheck };

/**
 * Direct scrapes: every own connection made since the previous scrape is in this scrape's counters
 * (the node's scrape runs before its probes), so the counters must have grown by at least as much.
 * Returns null when the scrape teaches nothing: the first one, one after a restart (our connections
 * may have been lost with the old counter), or no own connection since the last.
 */
export function directCanary(
  before: NodeHistory,
  scrape: { atMs: number; counts: ConnectionCounts; family: string | null; reset: boolean },
): CanaryCheck | null {
  const last = before.lastCounts;
  const expected = before.pendingOwn;
  if (!last || scrape.reset || expected.tcp + expected.tls === 0) return null;
  return {
    source: 'gitaly_metrics',
    counter: scrape.family ?? 'no connection counter family on the metrics page',
    atMs: scrape.atMs,
    expected: { ...expected },
    counted: { tcp: scrape.counts.tcp - last.tcp, tls: scrape.counts.tls - last.tls },
  };
}

/**
 * The check to keep after a scrape: per connection type, the latest scrape that tested it. A TLS
 * probe every cycle must not wash out the miss of a plaintext dial made once an hour.
 */
export function mergeCanary(previous: CanaryCheck | null, check: CanaryCheck | null): CanaryCheck | null {
  if (!check || !previous) return check ?? previous;
  const pick = (type: 'tcp' | 'tls'): [number, number] =>
    check.expected[type] > 0 ? [check.expected[type], check.counted[type]] : [previous.expected[type], previous.counted[type]];
  const [tcp, tls] = [pick('tcp'), pick('tls')];
  return { ...check, expected: { tcp: tcp[0], tls: tls[0] }, counted: { tcp: tcp[1], tls: tls[1] } };
}

/**
 * Prometheus: own connections made well inside the window (at least `slackMs` from both edges,
 * so that Prometheus scraped before and after each) must show in the window's count. Checked only
 * when Prometheus scraped the node for the whole window (otherwise insufficient history blocks
 * anyway, and our connections from before it scraped cannot show). A restart can lose the few
 * connections made just before it, so a type fails only when the counter counted none of ours.
 * `evidence` may be an instance Prometheus scrapes without any connection counter series.
 */
export function prometheusCanary(
  history: NodeHistory,
  window: { startMs: number; endMs: number; unsafe: ReadonlySet<number> },
  evidence: PrometheusNodeEvidence | null,
  options: { slackMs: number; bucketMs: number; minCoverage: number },
): CanaryCheck | null {
  if (!evidence || evidence.coverage < options.minCoverage) return null;
  const from = window.startMs + options.slackMs;
  const to = window.endMs - options.slackMs;
  const tcp = history.ownTcpTimesMs.filter((t) => t > from && t <= to && !window.unsafe.has(t)).length;
  const tls = history.ownTlsBuckets.filter(([start]) => start > from && start + options.bucketMs <= to).reduce((sum, [, n]) => sum + n, 0);
  if (tcp + tls === 0) return null;
  return {
    source: 'prometheus',
    counter: `instance ${evidence.instance}`,
    atMs: window.endMs,
    expected: { tcp, tls },
    counted: { tcp: evidence.windowIncrease.tcp, tls: evidence.windowIncrease.tls },
  };
}

/** The sentence saying why the counter is not this node's, or null when it counted us. */
export function canaryMiss(check: CanaryCheck | null): string | null {
  if (!check) return null;
  const { expected, counted } = check;
  // Direct: exact, per scrape. Prometheus: none of ours counted (see prometheusCanary).
  const missed = (type: 'tcp' | 'tls'): boolean =>
    expected[type] > 0 && (check.source === 'gitaly_metrics' ? counted[type] < expected[type] : counted[type] < 0.5);
  if (!missed('tcp') && !missed('tls')) return null;
  const where =
    check.source === 'gitaly_metrics'
      ? `the metrics page (${check.counter}) counted ${fmt(counted.tls)} TLS and ${fmt(counted.tcp)} plaintext new connection(s) since the previous scrape`
      : `Prometheus (${check.counter}) counted ${fmt(counted.tls)} TLS and ${fmt(counted.tcp)} plaintext new connection(s) in the window`;
  return (
    `the counter read for this node did not count the exporter's own connections: it made ${expected.tls} TLS and ${expected.tcp} ` +
    `plaintext connection(s), ${where}; check role, metrics_url and prometheus_instance (or a proxy in between, or a Gitaly too old to count)`
  );
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
