// The Prometheus alert and recording rules, generated from one small configuration as monitoring
// mixins do (kubernetes-mixin's _config). deploy/prometheus/rules/gitaly-tls.rules.yml is this file's
// output with DEFAULT_RULES_CONFIG; a test checks they agree. To change a threshold or the selector
// of the exporter's scrape job for your Prometheus:
//   npx tsx scripts/gitaly-tls-rules.ts --set exporterSelector='job="gitaly-tls"' --set certWarningDays=21 > gitaly-tls.rules.yml
// Without arguments it rewrites deploy/prometheus/rules/gitaly-tls.rules.yml.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { PHASES, type Phase } from '../src/migration/types.ts';

export interface RulesConfig {
  /**
   * Label matchers that select the exporter's own /metrics scrape, added to every selector of an
   * exporter metric. It keeps a /probe job (same metric names) from duplicating alerts.
   */
  exporterSelector: string;
  /** A served certificate (or the file on disk) expiring within this many days: warning. */
  certWarningDays: number;
  /** … within this many days, and once expired: critical. The warning keeps firing under it too. */
  certCriticalDays: number;
  /** No collection finished for this long while Prometheus still scrapes the exporter: stuck. At least twice collection_interval. */
  collectionStaleSeconds: number;
  /** How long after a node falls back from tls_only_traffic or complete the regression alerts fire. */
  regressionLookback: string;
  /** How long a node must stay in tls_only_traffic before "ready to remove listen_addr". */
  readyToRemoveFor: string;
  /** Where docs/runbook.md is served; each alert links to its section (#alertname in lower case). */
  runbookUrl: string;
  /** Grafana's base URL, for the dashboard link of each alert. */
  grafanaUrl: string;
}

export const DEFAULT_RULES_CONFIG: RulesConfig = {
  exporterSelector: 'job="gitaly-tls-exporter"',
  certWarningDays: 30,
  certCriticalDays: 7,
  collectionStaleSeconds: 600,
  regressionLookback: '1h',
  readyToRemoveFor: '1h',
  runbookUrl: 'https://gitlab.example.com/gitaly-tls-exporter/-/blob/main/docs/runbook.md',
  grafanaUrl: 'http://localhost:3000',
};

export const RULES_OUTPUT = fileURLToPath(new URL('../deploy/prometheus/rules/gitaly-tls.rules.yml', import.meta.url));

/** Phases as a number for history panels and look-backs: unknown 0, then in migration order. */
export const PHASE_ORDINALS = Object.fromEntries(
  PHASES.map((phase) => [phase, phase === 'unknown' ? 0 : PHASES.filter((p) => p !== 'unknown').indexOf(phase) + 1]),
) as Record<Phase, number>;

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

const DAY = 86400;
const PLAINTEXT_REASONS = 'plaintext_connections_in_window|plaintext_established';

/** The heading anchor GitHub and GitLab give "## GitalyTLSFoo": lower case. */
export const runbookAnchor = (alert: string): string => alert.toLowerCase();

export function buildRules(config: RulesConfig = DEFAULT_RULES_CONFIG): RuleFile {
  const sel = config.exporterSelector.trim();
  /** An exporter metric restricted to the exporter's job, with extra matchers. */
  const m = (name: string, ...matchers: string[]): string => `${name}{${[sel, ...matchers].filter((s) => s !== '').join(', ')}}`;
  const expiry = 'node_position_serial:gitaly_tls_cert_expiry_seconds';
  const fileExpiry = 'node:gitaly_tls_cert_file_expiry_seconds:min';
  const ordinal = 'node:gitaly_tls_migration_phase:ordinal';

  const annotations = (
    alert: string,
    dashboard: 'gitaly-tls-migration' | 'gitaly-tls-certificates',
    a: { summary: string; description: string },
  ) => ({
    summary: a.summary,
    description: a.description,
    runbook_url: `${config.runbookUrl}#${runbookAnchor(alert)}`,
    dashboard_url: `${config.grafanaUrl}/d/${dashboard}{{ with $labels.node }}?var-node={{ . }}{{ end }}`,
  });

  const recording: Rule[] = [
    // New connections per second by listener type, per scraped Gitaly or Praefect instance.
    // type="unix" is left out: Git hook traffic lands there even when nobody uses socket_path.
    // These are Gitaly's raw counters, so the exporter's own probes are included; the exporter's
    // gitaly_tls_window_connections excludes them.
    {
      record: 'instance_type:gitaly_connections:rate5m',
      expr: 'sum by (job, instance, type) (rate(gitaly_connections_total{type=~"tcp|tls"}[5m]))',
      labels: { family: 'gitaly' },
    },
    {
      record: 'instance_type:gitaly_connections:rate5m',
      expr: 'sum by (job, instance, type) (rate(gitaly_praefect_connections_total{type=~"tcp|tls"}[5m]))',
      labels: { family: 'praefect' },
    },
    // Share of new connections that arrive over TLS (0..1). A missing tls series counts as 0; with
    // no new connections at all the share is absent rather than a made-up number.
    {
      record: 'instance:gitaly_connections_tls_share:ratio_rate5m',
      expr: [
        '(',
        '    sum by (job, instance, family) (instance_type:gitaly_connections:rate5m{type="tls"})',
        '  or on (job, instance, family)',
        '    0 * sum by (job, instance, family) (instance_type:gitaly_connections:rate5m)',
        ')',
        '/',
        '(sum by (job, instance, family) (instance_type:gitaly_connections:rate5m) > 0)',
      ].join('\n'),
    },
    {
      record: 'gitaly:connections_tls_share:ratio_rate5m',
      expr: [
        '(',
        '    sum(instance_type:gitaly_connections:rate5m{type="tls"})',
        '  or',
        '    0 * sum(instance_type:gitaly_connections:rate5m)',
        ')',
        '/',
        '(sum(instance_type:gitaly_connections:rate5m) > 0)',
      ].join('\n'),
    },
    // Seconds until each served certificate expires (negative: expired), one series per node and
    // certificate whatever the number of addresses or exporter replicas. Alerts and dashboards use it.
    {
      record: expiry,
      expr: `min by (node, position, serial) (${m('gitaly_tls_cert_not_after_timestamp_seconds')} - time())`,
    },
    // The soonest per node and chain position, for "expiry over time" panels.
    { record: 'node_position:gitaly_tls_cert_expiry_seconds:min', expr: `min by (node, position) (${expiry})` },
    // Seconds until the certificate file on disk expires: what a restart of Gitaly would load.
    { record: fileExpiry, expr: `min by (node) (${m('gitaly_tls_cert_file_not_after_timestamp_seconds')} - time())` },
    // The node's phase as one number (unknown 0, plaintext_only 1, dual_listen 2, tls_only_traffic 3,
    // complete 4): a state timeline reads it, and the regression alerts look back on it cheaply.
    {
      record: ordinal,
      expr: Object.entries(PHASE_ORDINALS)
        .map(([phase, n]) => `${n} * max by (node) (${m('gitaly_tls_migration_phase', `phase="${phase}"`)} == 1)`)
        .join('\nor\n'),
    },
  ];

  const expiryExpr = (days: number) =>
    [
      '(',
      `    ${expiry}{position="leaf"}`,
      '  or',
      `    min by (position, serial) (${expiry}{position!="leaf"})`,
      `) < ${days} * ${DAY}`,
    ].join('\n');
  const expiryAnnotations = annotations('GitalyTLSCertificateExpiry', 'gitaly-tls-certificates', {
    summary:
      '{{ if $labels.node }}Gitaly TLS certificate on {{ $labels.node }}{{ else if eq $labels.position "trust_anchor" }}Gitaly TLS trust anchor {{ $labels.serial }} (from the CA bundle){{ else }}Gitaly TLS {{ $labels.position }} certificate {{ $labels.serial }}{{ end }}' +
      ' {{ if lt $value 0.0 }}has expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}',
    description:
      '{{ if $labels.node }}The leaf certificate (serial {{ $labels.serial }}) served by {{ $labels.node }} ' +
      '{{ if lt $value 0.0 }}has expired: clients dialling tls:// reject it{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}. ' +
      "Renew it, install it at Gitaly's [tls] certificate_path on {{ $labels.node }}, then restart Gitaly on that node " +
      '(gitlab-ctl restart gitaly; gitlab-ctl restart praefect on a Praefect node): Gitaly reads the certificate only at start.' +
      // A trust anchor is not served: the nodes leave it out and clients complete the chain from their CA bundle.
      '{{ else if eq $labels.position "trust_anchor" }}The CA certificate with serial {{ $labels.serial }}, which the nodes do not send and ' +
      'clients take from their CA bundle to trust the chain, ' +
      '{{ if lt $value 0.0 }}has expired: clients reject every chain that ends at it{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}. ' +
      'Renew it with your CA, reissue or re-chain the certificates that depend on it, install them at [tls] certificate_path ' +
      'and restart Gitaly on each node; put the new CA in the CA bundle of every client and of this exporter.' +
      '{{ else }}The {{ $labels.position }} certificate with serial {{ $labels.serial }}, in the chain every node that uses it serves, ' +
      '{{ if lt $value 0.0 }}has expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}. ' +
      'Renew it with your CA, reissue or re-chain the leaf certificates that depend on it, install them at [tls] certificate_path ' +
      'and restart Gitaly on each node; update the CA bundle of every client if the root changes.{{ end }}',
  });
  const fileExpiryExpr = (days: number) =>
    `${fileExpiry} < ${days} * ${DAY}\nunless on (node)\n(min by (node) (${m('gitaly_tls_cert_file_matches_served')}) == 1)`;
  const fileExpiryAnnotations = annotations('GitalyTLSCertificateFileExpiry', 'gitaly-tls-certificates', {
    summary:
      'Certificate file on disk on {{ $labels.node }} {{ if lt $value 0.0 }}has expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}',
    description:
      "The certificate file at Gitaly's [tls] certificate_path on {{ $labels.node }} is not the one Gitaly serves, and it " +
      '{{ if lt $value 0.0 }}has expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}: the next restart of Gitaly ' +
      '(a reboot, an upgrade, gitlab-ctl restart) would load it. Install a valid certificate there before anything restarts Gitaly on {{ $labels.node }}.',
  });

  const probeFailingCauses = [
    `  min by (node, address) (${m('gitaly_tls_cert_trusted')}) == 0`,
    `or min by (node, address) (${m('gitaly_tls_hostname_match')}) == 0`,
    `or min by (node, address) (${m('gitaly_tls_alpn_h2')}) == 0`,
    `or min by (node, address) (${m('gitaly_tls_grpc_health_ok')}) == 0`,
  ].join('\n');
  // A failing probe with a more specific cause (untrusted, wrong name, no h2, no gRPC answer,
  // expired) is that cause's alert only; what is left is a handshake that does not complete.
  // A TLS listener never seen up is a node at the start of its migration (tls_not_configured), not a
  // broken one: no page. One that worked and then fails is.
  const probeFailingExpr = [
    `min by (node, address) (${m('gitaly_tls_probe_success')}) == 0`,
    'unless on (node, address)',
    `(\n${probeFailingCauses}\n)`,
    'unless on (node)',
    `(${expiry} < 0)`,
    'unless on (node)',
    `(max by (node) (${m('gitaly_tls_migration_blocked', 'reason="tls_not_configured"')}) == 1)`,
  ].join('\n');

  const alerts: Rule[] = [
    {
      alert: 'GitalyTLSCertificateExpiry',
      expr: expiryExpr(config.certWarningDays),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: expiryAnnotations,
    },
    {
      alert: 'GitalyTLSCertificateExpiry',
      expr: expiryExpr(config.certCriticalDays),
      for: '5m',
      labels: { severity: 'critical' },
      annotations: expiryAnnotations,
    },
    {
      alert: 'GitalyTLSCertificateFileExpiry',
      expr: fileExpiryExpr(config.certWarningDays),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: fileExpiryAnnotations,
    },
    {
      alert: 'GitalyTLSCertificateFileExpiry',
      expr: fileExpiryExpr(config.certCriticalDays),
      for: '5m',
      labels: { severity: 'critical' },
      annotations: fileExpiryAnnotations,
    },
    {
      alert: 'GitalyTLSProbeFailing',
      expr: probeFailingExpr,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSProbeFailing', 'gitaly-tls-certificates', {
        summary: 'TLS handshake with {{ $labels.node }} ({{ $labels.address }}) fails',
        description:
          'The exporter has not completed a TLS handshake with {{ $labels.node }} at {{ $labels.address }} for 5 minutes; ' +
          'clients dialling tls:// fail the same way. Check that Gitaly runs on that node (gitlab-ctl status gitaly), that ' +
          "tls_listen_addr is set to this address and reachable from the exporter, and read the reason in the exporter's log.",
      }),
    },
    {
      alert: 'GitalyTLSHostnameMismatch',
      expr: `min by (node, address) (${m('gitaly_tls_hostname_match')}) == 0`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSHostnameMismatch', 'gitaly-tls-certificates', {
        summary: 'Gitaly certificate on {{ $labels.node }} does not name {{ $labels.address }}',
        description:
          'The certificate served by {{ $labels.node }} at {{ $labels.address }} has no Subject Alternative Name for the host ' +
          'clients dial (Gitaly ignores the Common Name), so tls:// clients reject it. Reissue it with a DNS or IP SAN for every ' +
          'name clients use for {{ $labels.node }}, install it at [tls] certificate_path and restart Gitaly on that node (gitlab-ctl restart gitaly).',
      }),
    },
    {
      // An expired certificate also fails verification; that is GitalyTLSCertificateExpiry's advice.
      alert: 'GitalyTLSCertificateUntrusted',
      expr: `min by (node, address) (${m('gitaly_tls_cert_trusted')}) == 0\nunless on (node)\n(${expiry} < 0)`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSCertificateUntrusted', 'gitaly-tls-certificates', {
        summary: 'Gitaly certificate chain on {{ $labels.node }} is not trusted',
        description:
          "The chain served by {{ $labels.node }} at {{ $labels.address }} does not verify against the exporter's CA bundle, so " +
          'clients that trust the same CAs (GitLab Rails, Praefect, other Gitaly nodes) reject it. Serve the full chain (leaf, ' +
          'then intermediates) in [tls] certificate_path on {{ $labels.node }} and restart Gitaly there, or install the issuing ' +
          'CA on every client (/etc/gitlab/trusted-certs, then gitlab-ctl reconfigure).',
      }),
    },
    {
      alert: 'GitalyTLSNoALPNh2',
      expr: `min by (node, address) (${m('gitaly_tls_alpn_h2')}) == 0`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSNoALPNh2', 'gitaly-tls-certificates', {
        summary: '{{ $labels.node }} ({{ $labels.address }}) does not negotiate ALPN h2',
        description:
          'The TLS endpoint of {{ $labels.node }} at {{ $labels.address }} did not negotiate HTTP/2 via ALPN. gRPC Go clients ' +
          '1.67 and later (Praefect, Workhorse, Gitaly calling Gitaly) refuse such servers. If a load balancer or TLS proxy sits ' +
          'in front of {{ $labels.node }}, make it offer ALPN h2 or pass TLS through to Gitaly.',
      }),
    },
    {
      // The handshake works, the gRPC call over it does not: what Gitaly's clients do next. Only
      // measured after a handshake with ALPN h2, so a refused handshake or no h2 is not this alert;
      // a handshake failing on another address of the same node is GitalyTLSProbeFailing's.
      alert: 'GitalyTLSGRPCHealthFailing',
      expr: `min by (node, address) (${m('gitaly_tls_grpc_health_ok')}) == 0\nunless on (node)\n(\n${probeFailingExpr}\n)`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSGRPCHealthFailing', 'gitaly-tls-certificates', {
        summary: 'gRPC health check over TLS to {{ $labels.node }} ({{ $labels.address }}) fails',
        description:
          'The TLS handshake with {{ $labels.node }} at {{ $labels.address }} completes, but grpc.health.v1.Health/Check over ' +
          'that connection has failed for 5 minutes, so Gitaly clients dialling tls:// (GitLab Rails, Praefect, Workhorse, other ' +
          'Gitaly nodes) fail too. Usual causes: something in front of Gitaly demands a client certificate or resets the ' +
          "connection after the handshake, or the address is not Gitaly's tls_listen_addr (no gRPC server behind it). " +
          "The exporter's log and /migration give the error; pass TLS through to Gitaly or point the address at tls_listen_addr.",
      }),
    },
    {
      alert: 'GitalyTLSRestartNeeded',
      expr: `min by (node) (${m('gitaly_tls_cert_file_matches_served')}) == 0`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSRestartNeeded', 'gitaly-tls-certificates', {
        summary: 'Gitaly on {{ $labels.node }} serves an old certificate: restart needed',
        description:
          'The certificate file on disk on {{ $labels.node }} differs from the certificate Gitaly serves: it was renewed, but ' +
          'Gitaly reads it only at start. Restart Gitaly on that node: gitlab-ctl restart gitaly (gitlab-ctl restart praefect on a Praefect node).',
      }),
    },
    {
      alert: 'GitalyTLSPlaintextStillUsed',
      expr: [
        `max by (node) (${m('gitaly_tls_window_connections', 'type="tcp"')}) > 0`,
        'and on (node)',
        `max by (node) (${m('gitaly_tls_migration_phase', 'phase="dual_listen"')}) == 1`,
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
      expr: `min by (node) (${m('gitaly_tls_migration_phase', 'phase="tls_only_traffic"')}) == 1`,
      for: config.readyToRemoveFor,
      labels: { severity: 'info' },
      annotations: annotations('GitalyTLSReadyToRemoveListenAddr', 'gitaly-tls-migration', {
        summary: 'listen_addr can be removed on {{ $labels.node }}',
        description:
          '{{ $labels.node }} has had no plaintext traffic for the whole soak window and its TLS endpoint is healthy ' +
          '(tls_only_traffic for ' +
          config.readyToRemoveFor +
          "). Remove listen_addr from its Gitaly configuration (gitaly['configuration'] in gitlab.rb, or config.toml), " +
          'reconfigure and restart Gitaly; the node then becomes complete.',
      }),
    },
    {
      // Fires for regressionLookback after the fall, then clears by itself: the ongoing state is
      // GitalyTLSPlaintextStillUsed. The look-back reads one recorded series per node.
      alert: 'GitalyTLSMigrationRegressed',
      expr: [
        `max by (node) (${m('gitaly_tls_migration_blocked', `reason=~"${PLAINTEXT_REASONS}"`)}) == 1`,
        'and on (node)',
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
        `max by (node) (${m('gitaly_tls_plaintext_listener_open')}) == 1`,
        'and on (node)',
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
          'config.toml put listen_addr back. Remove it again (and fix the source of the change) before clients start using it.',
      }),
    },
    {
      // While the source that gives the counter fails, GitalyTLSExporterSourceDown speaks for the
      // node: the stale comparison would only repeat it with the wrong advice.
      alert: 'GitalyTLSCounterNotCountingExporter',
      expr: [
        `max by (node) (${m('gitaly_tls_migration_blocked', 'reason="counter_not_counting_us"')}) == 1`,
        'unless on (node)',
        `(min by (node) (${m('gitaly_tls_exporter_source_up', 'source=~"gitaly_metrics|prometheus"')}) == 0)`,
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
      expr: `max by (prometheus_instance) (${m('gitaly_tls_undeclared_instance')}) == 1`,
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
    {
      alert: 'GitalyTLSExporterDown',
      expr: `up{${sel}} == 0 or absent(up{${sel}})`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterDown', 'gitaly-tls-migration', {
        summary: 'gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} is down',
        description:
          'Prometheus has not scraped gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} for 5 minutes' +
          ", so no certificate or migration alert can fire. Check the exporter's process or container and its log, " +
          "and that the rules' exporter selector matches its scrape job.",
      }),
    },
    {
      alert: 'GitalyTLSExporterCollectionStuck',
      expr: [
        `(time() - ${m('gitaly_tls_exporter_last_collection_timestamp_seconds')}) > ${config.collectionStaleSeconds}`,
        `  and on (job, instance) up{${sel}} == 1`,
        'or',
        `up{${sel}} == 1 unless on (job, instance) ${m('gitaly_tls_exporter_last_collection_timestamp_seconds')}`,
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
      // The tls source is the TLS handshake: GitalyTLSProbeFailing says it. The prometheus source
      // is one query for the whole fleet: once per exporter, not once per node.
      alert: 'GitalyTLSExporterSourceDown',
      expr: [
        `${m('gitaly_tls_exporter_source_up', 'source!~"tls|prometheus"')} == 0`,
        'or',
        `min by (job, instance, source) (${m('gitaly_tls_exporter_source_up', 'source="prometheus"')}) == 0`,
      ].join('\n'),
      for: '10m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSExporterSourceDown', 'gitaly-tls-migration', {
        summary:
          'gitaly-tls-exporter{{ with $labels.instance }} at {{ . }}{{ end }} cannot read {{ $labels.source }}{{ with $labels.node }} for {{ . }}{{ end }}',
        description:
          'The {{ $labels.source }} source{{ with $labels.node }} for {{ . }}{{ end }} has failed for 10 minutes, so the verdict ' +
          'cannot advance (missing evidence never counts as success). ' +
          '{{ if eq $labels.source "gitaly_metrics" }}Check that the node\'s metrics_url (Gitaly\'s prometheus_listen_addr) is reachable from the exporter.' +
          '{{ else if eq $labels.source "prometheus" }}One query serves the whole fleet, so this is one alert per exporter. Check prometheus.url, its credentials and selector, and that Prometheus answers queries.' +
          '{{ else if eq $labels.source "plaintext" }}Check that the exporter can reach plaintext_address (a firewall that drops packets hides whether listen_addr is closed).' +
          '{{ else if eq $labels.source "cert_file" }}Check that certificate_file is mounted and readable by the exporter\'s user.' +
          '{{ else if eq $labels.source "sockets" }}Check that the exporter runs on the node (or in its network namespace) and can read net/tcp and net/tcp6 under proc_root.' +
          "{{ end }} gitaly_tls_exporter_source_errors_total and the exporter's log give the reason.",
      }),
    },
  ];

  // One group: Prometheus evaluates a group's rules in order, so the alerts read the recorded
  // series of the same evaluation (separate groups run independently, one interval apart at worst).
  return { groups: [{ name: 'gitaly-tls', rules: [...recording, ...alerts] }] };
}

const HEADER = `# Generated by scripts/gitaly-tls-rules.ts: edit that file (or run it with --set), not this one.
# Settings used: see DEFAULT_RULES_CONFIG there. Unit tests: promtool test rules deploy/prometheus/rules/*.test.yml
`;

export function renderRules(config: RulesConfig = DEFAULT_RULES_CONFIG): string {
  return HEADER + stringify(buildRules(config), { lineWidth: 0, blockQuote: 'literal', aliasDuplicateObjects: false });
}

/** --set key=value pairs over the defaults; numbers stay numbers. */
export function configFromArgs(args: readonly string[]): RulesConfig {
  const config: RulesConfig = { ...DEFAULT_RULES_CONFIG };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const pair = arg === '--set' ? args[++i] : arg.startsWith('--set=') ? arg.slice('--set='.length) : undefined;
    const eq = pair?.indexOf('=') ?? -1;
    if (pair === undefined || eq < 1) throw new Error(`expected --set key=value, got ${JSON.stringify(arg)}`);
    const key = pair.slice(0, eq) as keyof RulesConfig;
    const value = pair.slice(eq + 1);
    if (!(key in DEFAULT_RULES_CONFIG)) throw new Error(`unknown setting ${key}; known: ${Object.keys(DEFAULT_RULES_CONFIG).join(', ')}`);
    if (typeof DEFAULT_RULES_CONFIG[key] === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${key} must be a positive number, got ${JSON.stringify(value)}`);
      (config as unknown as Record<string, number>)[key] = n;
    } else (config as unknown as Record<string, string>)[key] = value;
  }
  if (config.certCriticalDays >= config.certWarningDays) throw new Error('certCriticalDays must be smaller than certWarningDays');
  return config;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const args = process.argv.slice(2);
    if (args.length === 0) writeFileSync(RULES_OUTPUT, renderRules());
    else process.stdout.write(renderRules(configFromArgs(args)));
  } catch (err) {
    process.stderr.write(`gitaly-tls-rules: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
