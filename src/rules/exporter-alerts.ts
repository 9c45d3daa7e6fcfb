// Alerts about the exporter itself: down, stuck, rejected configuration, a source of evidence failing.
import type { RuleContext } from './context.ts';
import type { Rule } from './types.ts';

export function exporterAlerts(c: RuleContext): Rule[] {
  const { m, by, on, annotations, sel, config } = c;
  const lastCollection = m('gitaly_tls_exporter_last_collection_timestamp_seconds');
  const stuck = `(time() - ${lastCollection}) > ${config.collectionStaleSeconds}`;
  // A stuck replica serves frozen values: its failures are GitalyTLSExporterCollectionStuck's.
  const sourceUp = (matcher: string) => `${m('gitaly_tls_exporter_source_up', matcher)}\n  unless ${on('job', 'instance')} ${stuck}`;
  return [
    {
      alert: 'GitalyTLSExporterDown',
      expr: `up{${sel}} == 0 or absent(up{${sel}})`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterDown', 'gitaly-tls-migration', {
        summary: 'gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} is down',
        description:
          'Prometheus has not scraped gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} for 5 minutes' +
          ", so no new certificate or migration alert can fire (a certificate expiry already firing stays, from the last known value). Check the exporter's process or container and its log, " +
          "and that the rules' exporter selector matches its scrape job.",
      }),
    },
    {
      alert: 'GitalyTLSExporterCollectionStuck',
      expr: [
        `${stuck}`,
        `  and ${on('job', 'instance')} up{${sel}} == 1`,
        'or',
        `up{${sel}} == 1 unless ${on('job', 'instance')} ${lastCollection}`,
      ].join('\n'),
      for: '5m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterCollectionStuck', 'gitaly-tls-migration', {
        summary: 'gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} has not finished a collection recently',
        description:
          'Prometheus still scrapes gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }}, but its latest ' +
          'collection finished more than ' +
          `${config.collectionStaleSeconds / 60} minutes ago (or none has finished since it started): every value it serves is ` +
          "frozen. Read the exporter's log for a collection that never ends, and restart it.",
      }),
    },
    {
      alert: 'GitalyTLSExporterConfigReloadFailed',
      expr: `${m('gitaly_tls_exporter_config_last_reload_successful')} == 0`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterConfigReloadFailed', 'gitaly-tls-migration', {
        summary: 'gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} rejected its new configuration',
        description:
          'The latest configuration reload (SIGHUP or POST /-/reload) of gitaly-tls-exporter{{ with $labels.instance }} at ' +
          '{{ . }}{{ end }} was rejected; the previous configuration keeps running, so your change is not in effect. The ' +
          "exporter's log names the file, line and field; gitaly-tls-exporter --config.check --config.file=... does too.",
      }),
    },
    {
      // One alert per source and node, however many exporter replicas read it (an HA pair sees the
      // same failure twice). The tls source is the TLS handshake: GitalyTLSProbeFailing says it.
      // The prometheus source is one query for the whole fleet: one alert, not one per node.
      alert: 'GitalyTLSExporterSourceDown',
      expr: [
        `min ${by('node', 'source')} (\n  ${sourceUp('source!~"tls|prometheus"')}\n) == 0`,
        'or',
        `min ${by('source')} (\n  ${sourceUp('source="prometheus"')}\n) == 0`,
      ].join('\n'),
      for: '10m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterSourceDown', 'gitaly-tls-migration', {
        summary: 'gitaly-tls-exporter cannot read {{ $labels.source }}{{ with $labels.node }} for {{ . }}{{ end }}',
        description:
          'The {{ $labels.source }} source{{ with $labels.node }} for {{ . }}{{ end }} has failed for 10 minutes on at least one ' +
          'exporter replica (gitaly_tls_exporter_source_up by instance tells which), so the verdict ' +
          'cannot advance (missing evidence never counts as success). ' +
          '{{ if eq $labels.source "gitaly_metrics" }}Check that the node\'s metrics_url (Gitaly\'s prometheus_listen_addr) is reachable from the exporter.' +
          '{{ else if eq $labels.source "prometheus" }}One query serves the whole fleet, so this is one alert. Check prometheus.url, its credentials and selector, and that Prometheus answers queries.' +
          '{{ else if eq $labels.source "plaintext" }}Check that the exporter can reach plaintext_address (a firewall that drops packets hides whether listen_addr is closed).' +
          '{{ else if eq $labels.source "cert_file" }}Check that certificate_file is mounted and readable by the exporter\'s user.' +
          '{{ else if eq $labels.source "sockets" }}Check that the exporter runs on the node (or in its network namespace) and can read net/tcp and net/tcp6 under proc_root.' +
          "{{ end }} gitaly_tls_exporter_source_errors_total and the exporter's log give the reason.",
      }),
    },
  ];
}
