// Recording rules: the TLS share of new connections, certificate expiry and the phase as a number.
import { PHASES, type Phase } from '../migration/types.ts';
import type { RuleContext } from './context.ts';
import type { Rule } from './types.ts';

/** Phases as a number for history panels and look-backs: unknown 0, then in migration order. */
export const PHASE_ORDINALS = Object.fromEntries(
  PHASES.map((phase) => [phase, phase === 'unknown' ? 0 : PHASES.filter((p) => p !== 'unknown').indexOf(phase) + 1]),
) as Record<Phase, number>;

export const RECORDED = {
  notAfter: 'node_position_serial:gitaly_tls_cert_not_after_timestamp_seconds:min',
  expiry: 'node_position_serial:gitaly_tls_cert_expiry_seconds',
  fileExpiry: 'node:gitaly_tls_cert_file_expiry_seconds:min',
  fileNotAfter: 'node:gitaly_tls_cert_file_not_after_timestamp_seconds:min',
  fileMatches: 'node:gitaly_tls_cert_file_matches_served:min',
  ordinal: 'node:gitaly_tls_migration_phase:ordinal',
} as const;

export function recordingRules(c: RuleContext): Rule[] {
  const { m, by, on } = c;
  const { notAfter, expiry, fileExpiry, fileNotAfter, fileMatches, ordinal } = RECORDED;
  // While no exporter of the environment has collected, a value's last sample in the critical window.
  const orLastKnown = (series: string): string[] => [
    '(',
    `    ${series}`,
    '  or',
    `    last_over_time(${series}[${c.config.certCriticalDays}d])`,
    `    unless ${on()} ${m('gitaly_tls_exporter_last_collection_timestamp_seconds')}`,
    ')',
  ];
  return [
    // New connections per second by listener type, per scraped Gitaly or Praefect instance.
    // type="unix" is left out: Git hook traffic lands there even when nobody uses socket_path.
    // These are Gitaly's raw counters, so the exporter's own probes are included; the exporter's
    // gitaly_tls_window_connections excludes them.
    {
      record: 'instance_type:gitaly_connections:rate5m',
      expr: `sum ${by('job', 'instance', 'type')} (rate(gitaly_connections_total{type=~"tcp|tls"}[5m]))`,
      labels: { family: 'gitaly' },
    },
    {
      record: 'instance_type:gitaly_connections:rate5m',
      expr: `sum ${by('job', 'instance', 'type')} (rate(gitaly_praefect_connections_total{type=~"tcp|tls"}[5m]))`,
      labels: { family: 'praefect' },
    },
    // Share of new connections that arrive over TLS (0..1). A missing tls series counts as 0; with
    // no new connections at all the share is absent rather than a made-up number.
    {
      record: 'instance:gitaly_connections_tls_share:ratio_rate5m',
      expr: [
        '(',
        `    sum ${by('job', 'instance', 'family')} (instance_type:gitaly_connections:rate5m{type="tls"})`,
        `  or ${on('job', 'instance', 'family')}`,
        `    0 * sum ${by('job', 'instance', 'family')} (instance_type:gitaly_connections:rate5m)`,
        ')',
        '/',
        `(sum ${by('job', 'instance', 'family')} (instance_type:gitaly_connections:rate5m) > 0)`,
      ].join('\n'),
    },
    {
      record: 'gitaly:connections_tls_share:ratio_rate5m',
      expr: [
        '(',
        `    sum ${by()} (instance_type:gitaly_connections:rate5m{type="tls"})`,
        '  or',
        `    0 * sum ${by()} (instance_type:gitaly_connections:rate5m)`,
        ')',
        '/',
        `(sum ${by()} (instance_type:gitaly_connections:rate5m) > 0)`,
      ].join('\n'),
    },
    // When each served certificate expires, one series per node and certificate whatever the number
    // of addresses or exporter replicas.
    { record: notAfter, expr: `min ${by('node', 'position', 'serial')} (${m('gitaly_tls_cert_not_after_timestamp_seconds')})` },
    // Seconds until it expires (negative: expired); alerts and dashboards use it. While no exporter
    // of the environment has collected (it died, or was removed), the last value recorded in the
    // critical window stands in: a certificate does not get younger because nobody looks at it, so
    // the expiry page stays until the exporter is back or the certificate is long expired.
    { record: expiry, expr: [...orLastKnown(notAfter), '- time()'].join('\n') },
    // The soonest per node and chain position, for "expiry over time" panels.
    { record: 'node_position:gitaly_tls_cert_expiry_seconds:min', expr: `min ${by('node', 'position')} (${expiry})` },
    // The certificate file on disk: what a restart of Gitaly would load. Its expiry, and whether it
    // is the served one, stand in from their last values too, so its page outlives the exporter and
    // stays quiet when the file is the served certificate (whose own page then stands).
    { record: fileNotAfter, expr: `min ${by('node')} (${m('gitaly_tls_cert_file_not_after_timestamp_seconds')})` },
    { record: fileMatches, expr: `min ${by('node')} (${m('gitaly_tls_cert_file_matches_served')})` },
    { record: fileExpiry, expr: [...orLastKnown(fileNotAfter), '- time()'].join('\n') },
    // The node's phase as one number (unknown 0, plaintext_only 1, dual_listen 2, tls_only_traffic 3,
    // complete 4): a state timeline reads it, and the regression alerts look back on it cheaply.
    {
      record: ordinal,
      expr: Object.entries(PHASE_ORDINALS)
        .map(([phase, n]) => `${n} * max ${by('node')} (${m('gitaly_tls_migration_phase', `phase="${phase}"`)} == 1)`)
        .join('\nor\n'),
    },
  ];
}
