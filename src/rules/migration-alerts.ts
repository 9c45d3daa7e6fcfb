// Alerts about the migration's progress: plaintext still used, ready, regressed, unmeasurable.
import type { RuleContext } from './context.ts';
import { PHASE_ORDINALS, RECORDED } from './recording.ts';
import type { Rule } from './types.ts';

const PLAINTEXT_REASONS = 'plaintext_connections_in_window|plaintext_established';

export function migrationAlerts(c: RuleContext): Rule[] {
  const { m, by, on, annotations, config } = c;
  const { ordinal } = RECORDED;
  return [
    {
      alert: 'GitalyTLSPlaintextStillUsed',
      expr: [
        `max ${by('node')} (${m('gitaly_tls_window_connections', 'type="tcp"')}) > 0`,
        `and ${on('node')}`,
        `max ${by('node')} (${m('gitaly_tls_migration_phase', 'phase="dual_listen"')}) == 1`,
      ].join('\n'),
      for: '15m',
      labels: { severity: 'info' },
      annotations: annotations('GitalyTLSPlaintextStillUsed', 'gitaly-tls-migration', {
        summary: 'Clients still open plaintext connections to {{ $labels.node }}',
        description:
          '{{ $value }} new plaintext (listen_addr) connections reached {{ $labels.node }} in the soak window while its TLS ' +
          "listener also runs. Switch the clients still dialling tcp:// to tls:// (gitaly_address in gitlab.rb, Praefect's " +
          'virtual storage nodes, other Gitaly nodes), restart them so long-lived channels reconnect, and keep listen_addr until this clears.',
      }),
    },
    {
      // Every exporter replica must agree: "ready" is the one answer that must not be optimistic.
      alert: 'GitalyTLSReadyToRemoveListenAddr',
      expr: `min ${by('node')} (${m('gitaly_tls_migration_phase', 'phase="tls_only_traffic"')}) == 1`,
      for: config.readyToRemoveFor,
      labels: { severity: 'info' },
      annotations: annotations('GitalyTLSReadyToRemoveListenAddr', 'gitaly-tls-migration', {
        summary: 'listen_addr can be removed on {{ $labels.node }}',
        description:
          '{{ $labels.node }} has had no plaintext traffic for the whole soak window and its TLS endpoint is healthy ' +
          '(tls_only_traffic for ' +
          config.readyToRemoveFor +
          "). Remove listen_addr from its Gitaly configuration (gitaly['configuration'] in gitlab.rb; the GitLab Helm chart always keeps it, see the runbook), " +
          'reconfigure and restart Gitaly; the node then becomes complete.',
      }),
    },
    {
      // Fires for regressionLookback after the fall, then clears by itself: the ongoing state is
      // GitalyTLSPlaintextStillUsed. The look-back reads one recorded series per node.
      alert: 'GitalyTLSMigrationRegressed',
      expr: [
        `max ${by('node')} (${m('gitaly_tls_migration_blocked', `reason=~"${PLAINTEXT_REASONS}"`)}) == 1`,
        `and ${on('node')}`,
        `max_over_time(${ordinal}[${config.regressionLookback}]) >= ${PHASE_ORDINALS.tls_only_traffic}`,
      ].join('\n'),
      for: '1m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSMigrationRegressed', 'gitaly-tls-migration', {
        summary: 'Plaintext traffic is back on {{ $labels.node }}',
        description:
          '{{ $labels.node }} had reached tls_only_traffic or complete within the last ' +
          config.regressionLookback +
          ', but now sees plaintext connections again: a client was switched back to, or newly set up with, a tcp:// address. ' +
          'Do not remove listen_addr on {{ $labels.node }}; find that client and point it at tls://. This alert clears by itself after ' +
          config.regressionLookback +
          '; GitalyTLSPlaintextStillUsed then tracks the node.',
      }),
    },
    {
      alert: 'GitalyTLSListenAddrReopened',
      expr: [
        `max ${by('node')} (${m('gitaly_tls_plaintext_listener_open')}) == 1`,
        `and ${on('node')}`,
        `max_over_time(${ordinal}[${config.regressionLookback}]) >= ${PHASE_ORDINALS.complete}`,
      ].join('\n'),
      for: '1m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSListenAddrReopened', 'gitaly-tls-migration', {
        summary: 'listen_addr is open again on {{ $labels.node }}, which had completed the migration',
        description:
          '{{ $labels.node }} was complete (plaintext listener closed) within the last ' +
          config.regressionLookback +
          ', and its plaintext listen_addr accepts connections again: a configuration management run or a restored ' +
          'gitlab.rb or config.toml put listen_addr back. Remove it again (and fix the source of the change) before clients start using it.',
      }),
    },
    {
      // While the source that gives the counter fails, GitalyTLSExporterSourceDown speaks for the
      // node: the stale comparison would only repeat it with the wrong advice.
      alert: 'GitalyTLSCounterNotCountingExporter',
      expr: [
        `max ${by('node')} (${m('gitaly_tls_migration_blocked', 'reason="counter_not_counting_us"')}) == 1`,
        `unless ${on('node')}`,
        `(min ${by('node')} (${m('gitaly_tls_exporter_source_up', 'source=~"gitaly_metrics|prometheus"')}) == 0)`,
      ].join('\n'),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSCounterNotCountingExporter', 'gitaly-tls-migration', {
        summary: "The connection counter read for {{ $labels.node }} does not count the exporter's own connections",
        description:
          "The exporter's own TLS probes and plaintext dials to {{ $labels.node }} did not show in the connection counter it " +
          "reads for that node, so that counter is not counting {{ $labels.node }}'s listeners: its zero proves nothing, the node " +
          'stays unknown and its migration verdict cannot advance. Check role (praefect for a Praefect), metrics_url and ' +
          'prometheus_instance of {{ $labels.node }} in the exporter configuration, and whether a proxy or load balancer sits ' +
          'between the exporter and the listeners. /migration names the counter read and what it counted.',
      }),
    },
    {
      alert: 'GitalyTLSUndeclaredInstance',
      expr: `max ${by('prometheus_instance')} (${m('gitaly_tls_undeclared_instance')}) == 1`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSUndeclaredInstance', 'gitaly-tls-migration', {
        summary: 'Gitaly instance {{ $labels.prometheus_instance }} is not in the exporter configuration',
        description:
          "Prometheus scrapes Gitaly connection counters from {{ $labels.prometheus_instance }}, but no node in the exporter's " +
          'configuration claims it, so the fleet can never be called complete. Add it to nodes: (or set prometheus_instance on ' +
          'the node it belongs to), or stop scraping it if it is not a Gitaly of this fleet.',
      }),
    },
  ];
}
