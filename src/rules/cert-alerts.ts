// Alerts about served certificates and the TLS endpoint: one page per cause.
import type { RuleContext } from './context.ts';
import { RECORDED } from './recording.ts';
import type { Rule } from './types.ts';

const DAY = 86400;
const EXPIRES = '{{ if lt $value 0.0 }}has expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}';

/** The nodes that serve the alert's certificate, from the recorded series (last known too), as "a, b, c". */
function servingNodes(c: RuleContext): string {
  const matchers = [...c.config.clusterLabels, 'position', 'serial'];
  const query = `${RECORDED.expiry}{${matchers.map((l) => `${l}=%q`).join(', ')}}`;
  const args = matchers.map((l) => `$labels.${l}`).join(' ');
  return `{{ range $i, $s := printf "${query.replaceAll('"', '\\"')}" ${args} | query | sortByLabel "node" }}{{ if $i }}, {{ end }}{{ $s.Labels.node }}{{ end }}`;
}

export function certificateAlerts(c: RuleContext): Rule[] {
  const { m, by, on, annotations } = c;
  const { expiry, fileExpiry, fileMatches } = RECORDED;
  const nodes = servingNodes(c);

  // One alert per certificate (serial), however many nodes serve it: a wildcard leaf on three nodes
  // or a shared intermediate is one thing to renew. Keeping the node out of the alert's identity
  // also keeps it stable when one of the nodes is renewed first.
  const expiryExpr = (days: number) => `min ${by('position', 'serial')} (${expiry}) < ${days} * ${DAY}`;
  const expiryAnnotations = annotations('GitalyTLSCertificateExpiry', 'gitaly-tls-certificates', {
    summary:
      '{{ if eq $labels.position "trust_anchor" }}Gitaly TLS trust anchor {{ $labels.serial }} (from the CA bundle){{ else }}Gitaly TLS {{ $labels.position }} certificate {{ $labels.serial }}{{ end }}' +
      ` ${EXPIRES}`,
    description:
      '{{ if eq $labels.position "leaf" }}The leaf certificate with serial {{ $labels.serial }}, served by ' +
      nodes +
      `, ${EXPIRES}` +
      '{{ if lt $value 0.0 }}: clients dialling tls:// reject it{{ end }}. ' +
      'Renew it, install it as ' +
      "the file its TLS certificate_path names (gitaly['configuration'][:tls][:certificate_path] in gitlab.rb; the TLS Secret with the Helm chart) on each of those nodes, then restart Gitaly there one node at a time " +
      '(gitlab-ctl restart gitaly; gitlab-ctl restart praefect on a Praefect node; a StatefulSet rollout with the chart): Gitaly reads the certificate only at start.' +
      // A trust anchor is not served: the nodes leave it out and clients complete the chain from their CA bundle.
      '{{ else if eq $labels.position "trust_anchor" }}The CA certificate with serial {{ $labels.serial }}, which the nodes do not send and ' +
      'clients take from their CA bundle to trust the chain of ' +
      nodes +
      ', {{ if lt $value 0.0 }}has expired: clients reject every chain that ends at it{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}. ' +
      'Renew it with your CA, reissue or re-chain the certificates that depend on it, install them as ' +
      "the file its TLS certificate_path names (gitaly['configuration'][:tls][:certificate_path] in gitlab.rb; the TLS Secret with the Helm chart) " +
      'and restart Gitaly on each node; put the new CA in the CA bundle of every client and of this exporter.' +
      '{{ else }}The {{ $labels.position }} certificate with serial {{ $labels.serial }}, in the chain served by ' +
      nodes +
      `, ${EXPIRES}. ` +
      'Renew it with your CA, reissue or re-chain the leaf certificates that depend on it, install them as ' +
      "the file its TLS certificate_path names (gitaly['configuration'][:tls][:certificate_path] in gitlab.rb; the TLS Secret with the Helm chart) " +
      'and restart Gitaly on each node; update the CA bundle of every client if the root changes.{{ end }}',
  });
  const fileExpiryExpr = (days: number) =>
    `${fileExpiry} < ${days} * ${DAY}\nunless ${on('node')}\n(${fileMatches} == 1 or last_over_time(${fileMatches}[${c.config.certCriticalDays}d]) == 1 unless ${on()} ${m('gitaly_tls_exporter_last_collection_timestamp_seconds')})`;
  const fileExpiryAnnotations = annotations('GitalyTLSCertificateFileExpiry', 'gitaly-tls-certificates', {
    summary: `Certificate file on disk on {{ $labels.node }} ${EXPIRES}`,
    description:
      "The certificate file at Gitaly's TLS certificate_path (gitaly['configuration'][:tls] in gitlab.rb) on {{ $labels.node }} is not the one Gitaly serves, and it " +
      `${EXPIRES}: the next restart of Gitaly ` +
      '(a reboot, an upgrade, gitlab-ctl restart) would load it. Install a valid certificate there before anything restarts Gitaly on {{ $labels.node }}.',
  });

  const perAddress = (metric: string) => `min ${by('node', 'address')} (${m(metric)}) == 0`;
  const probeFailingCauses = [
    `  ${perAddress('gitaly_tls_cert_trusted')}`,
    `or ${perAddress('gitaly_tls_hostname_match')}`,
    `or ${perAddress('gitaly_tls_alpn_h2')}`,
    `or ${perAddress('gitaly_tls_grpc_health_ok')}`,
  ].join('\n');
  // A failing probe with a more specific cause (untrusted, wrong name, no h2, no gRPC answer,
  // expired) is that cause's alert only; what is left is a handshake that does not complete.
  // A TLS listener never seen up is a node at the start of its migration (tls_not_configured), not a
  // broken one: no page. One that worked and then fails is.
  const probeFailingExpr = [
    perAddress('gitaly_tls_probe_success'),
    `unless ${on('node', 'address')}`,
    `(\n${probeFailingCauses}\n)`,
    `unless ${on('node')}`,
    `(${expiry} < 0)`,
    `unless ${on('node')}`,
    `(max ${by('node')} (${m('gitaly_tls_migration_blocked', 'reason="tls_not_configured"')}) == 1)`,
  ].join('\n');
  // Clients dial the listener: its TLS connections in the soak window, the exporter's own left out.
  const carriesTraffic = `(max ${by('node')} (${m('gitaly_tls_window_connections', 'type="tls"')}) > 0)`;
  const alpnAnnotations = (critical: boolean) =>
    annotations('GitalyTLSNoALPNh2', 'gitaly-tls-certificates', {
      summary: `{{ $labels.node }} ({{ $labels.address }}) does not negotiate ALPN h2${critical ? ': its TLS clients fail' : ''}`,
      description:
        'The TLS endpoint of {{ $labels.node }} at {{ $labels.address }} did not negotiate HTTP/2 via ALPN. Every gRPC client of ' +
        'Gitaly refuses such a server: GitLab Rails and Sidekiq (Ruby gRPC: "Cannot check peer: missing selected ALPN property") ' +
        'and the Go clients built with grpc-go 1.67 or later: Praefect, GitLab Workhorse, GitLab Shell, and Gitaly calling other Gitaly nodes. ' +
        (critical
          ? 'Clients already dial this listener (TLS connections in the soak window), so they fail now. '
          : 'Until clients dial this listener nobody fails yet; once it carries TLS connections this alert turns critical. ') +
        'If a load balancer or TLS proxy sits in front of {{ $labels.node }}, make it offer ALPN h2 or pass TLS through to Gitaly.',
    });

  // Overlapping severities under one name (kubernetes-mixin style): both fire under the critical
  // threshold, and Alertmanager's critical mutes the warning, so crossing it never RESOLVES.
  const bySeverity = (alert: string, expr: (days: number) => string, text: Record<string, string>): Rule[] => [
    { alert, expr: expr(c.config.certWarningDays), for: '15m', labels: { severity: 'warning' }, annotations: text },
    { alert, expr: expr(c.config.certCriticalDays), for: '5m', labels: { severity: 'critical' }, annotations: text },
  ];

  return [
    ...bySeverity('GitalyTLSCertificateExpiry', expiryExpr, expiryAnnotations),
    ...bySeverity('GitalyTLSCertificateFileExpiry', fileExpiryExpr, fileExpiryAnnotations),
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
      // An untrusted chain is the cause clients report first (a self-signed certificate usually has
      // the wrong names too): one page, GitalyTLSCertificateUntrusted's, whose fix reissues both.
      alert: 'GitalyTLSHostnameMismatch',
      expr: `${perAddress('gitaly_tls_hostname_match')}\nunless ${on('node', 'address')}\n(${perAddress('gitaly_tls_cert_trusted')})`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSHostnameMismatch', 'gitaly-tls-certificates', {
        summary: 'Gitaly certificate on {{ $labels.node }} does not name {{ $labels.address }}',
        description:
          'The certificate served by {{ $labels.node }} at {{ $labels.address }} has no Subject Alternative Name for the host ' +
          'clients dial (Gitaly ignores the Common Name), so tls:// clients reject it. Reissue it with a DNS or IP SAN for every ' +
          'name clients use for {{ $labels.node }}, install it as ' +
          "the file its TLS certificate_path names (gitaly['configuration'][:tls][:certificate_path] in gitlab.rb; the TLS Secret with the Helm chart) and restart Gitaly on that node (gitlab-ctl restart gitaly).",
      }),
    },
    {
      // An expired certificate also fails verification; that is GitalyTLSCertificateExpiry's advice.
      alert: 'GitalyTLSCertificateUntrusted',
      expr: `${perAddress('gitaly_tls_cert_trusted')}\nunless ${on('node')}\n(${expiry} < 0)`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: annotations('GitalyTLSCertificateUntrusted', 'gitaly-tls-certificates', {
        summary: 'Gitaly certificate chain on {{ $labels.node }} is not trusted',
        description:
          "The chain served by {{ $labels.node }} at {{ $labels.address }} does not verify against the exporter's CA bundle, so " +
          'clients that trust the same CAs (GitLab Rails, Praefect, other Gitaly nodes) reject it. Serve the full chain (leaf, ' +
          "then intermediates) in the file gitaly['configuration'][:tls][:certificate_path] names on {{ $labels.node }} (the Secret's tls.crt with the chart) and restart Gitaly there, or install the issuing " +
          'CA on every client (/etc/gitlab/trusted-certs, then gitlab-ctl reconfigure). A self-signed certificate: reissue it ' +
          'from your CA with a Subject Alternative Name for {{ $labels.address }} and every other name clients dial ' +
          '(GitalyTLSHostnameMismatch stays quiet while the chain is untrusted).',
      }),
    },
    {
      // No h2 breaks every client, but an idle listener (the start of a migration) breaks nobody yet.
      alert: 'GitalyTLSNoALPNh2',
      expr: perAddress('gitaly_tls_alpn_h2'),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: alpnAnnotations(false),
    },
    {
      alert: 'GitalyTLSNoALPNh2',
      expr: `${perAddress('gitaly_tls_alpn_h2')}\nand ${on('node')}\n${carriesTraffic}`,
      for: '5m',
      labels: { severity: 'critical' },
      annotations: alpnAnnotations(true),
    },
    {
      // The handshake works, the gRPC call over it does not: what Gitaly's clients do next. Only
      // measured after a handshake with ALPN h2, so a refused handshake or no h2 is not this alert;
      // a handshake failing on another address of the same node is GitalyTLSProbeFailing's.
      alert: 'GitalyTLSGRPCHealthFailing',
      expr: `${perAddress('gitaly_tls_grpc_health_ok')}\nunless ${on('node')}\n(\n${probeFailingExpr}\n)`,
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
      expr: `min ${by('node')} (${m('gitaly_tls_cert_file_matches_served')}) == 0`,
      for: '15m',
      labels: { severity: 'warning' },
      annotations: annotations('GitalyTLSRestartNeeded', 'gitaly-tls-certificates', {
        summary: 'Gitaly on {{ $labels.node }} serves an old certificate: restart needed',
        description:
          'The certificate file on disk on {{ $labels.node }} differs from the certificate Gitaly serves: it was renewed, but ' +
          'Gitaly reads it only at start. Restart Gitaly on that node: gitlab-ctl restart gitaly (gitlab-ctl restart praefect on a Praefect node).',
      }),
    },
  ];
}
