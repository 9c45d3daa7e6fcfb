// Results → metrics, in one place. Rendered once per collection (and per /probe request on a
// fresh registry); /metrics serves the cached text, so scrapes cost nothing extra.
import type { Snapshot, NodeResult } from '../collect/collector.ts';
import type { TlsProbeResult } from '../evidence.ts';
import { topPeers } from '../collect/plaintext-peers.ts';
import { PHASES } from '../migration/types.ts';
import { bool, ContractRegistry, seconds, UNDECLARED_OTHERS } from './definitions.ts';

export interface ExporterInfo {
  version: string;
  configReloadSuccessful: boolean;
  /** The configuration's soak window, for dashboards ("safe to remove at"). */
  soakWindowMs: number;
}

/** What a gRPC client of Gitaly needs: a handshake, a trusted chain naming the address, h2, and a gRPC answer over it. */
export function tlsProbeSucceeded(t: TlsProbeResult): boolean {
  return t.handshakeOk && t.trusted === true && t.hostnameMatch === true && t.alpnProtocol === 'h2' && t.grpcHealthOk === true;
}

/** Every TLS gauge for one probe result; each check is emitted even when another fails. */
export function setTlsMetrics(r: ContractRegistry, node: string, t: TlsProbeResult): void {
  const labels = { node, address: t.address };
  r.gauge('gitaly_tls_probe_success').set(labels, bool(tlsProbeSucceeded(t)));
  r.gauge('gitaly_tls_probe_duration_seconds').set(labels, seconds(t.durationMs));
  r.gauge('gitaly_tls_handshake_ok').set(labels, bool(t.handshakeOk));
  if (t.trusted !== null) r.gauge('gitaly_tls_cert_trusted').set(labels, bool(t.trusted));
  if (t.hostnameMatch !== null) r.gauge('gitaly_tls_hostname_match').set(labels, bool(t.hostnameMatch));
  if (t.handshakeOk) r.gauge('gitaly_tls_alpn_h2').set(labels, bool(t.alpnProtocol === 'h2'));
  if (t.grpcHealthOk !== null) r.gauge('gitaly_tls_grpc_health_ok').set(labels, bool(t.grpcHealthOk));
  if (t.tlsVersion) r.gauge('gitaly_tls_version_info').set({ ...labels, version: t.tlsVersion }, 1);
  for (const [version, accepted] of Object.entries(t.accepts)) {
    if (accepted !== null) r.gauge('gitaly_tls_version_accepted').set({ ...labels, version }, bool(accepted));
  }
  for (const cert of t.chain) {
    const certLabels = { ...labels, position: cert.position, serial: cert.serial };
    r.gauge('gitaly_tls_cert_not_after_timestamp_seconds').set(certLabels, seconds(cert.notAfterMs));
    r.gauge('gitaly_tls_cert_not_before_timestamp_seconds').set(certLabels, seconds(cert.notBeforeMs));
    r.gauge('gitaly_tls_cert_info').set(
      {
        ...certLabels,
        subject: cert.subject,
        issuer: cert.issuer,
        sans: [...cert.dnsNames.map((n) => `DNS:${n}`), ...cert.ipAddresses.map((ip) => `IP:${ip}`)].join(','),
        sha256: cert.sha256,
      },
      1,
    );
  }
}

function setNodeMetrics(r: ContractRegistry, n: NodeResult): void {
  const { observation: o, verdict: v, history } = n;
  const node = v.node;
  for (const phase of PHASES) r.gauge('gitaly_tls_migration_phase').set({ node, role: v.role, phase }, bool(v.phase === phase));
  for (const reason of v.reasons) r.gauge('gitaly_tls_migration_blocked').set({ node, reason }, 1);
  if (v.window) {
    r.gauge('gitaly_tls_window_connections').set({ node, type: 'tcp' }, v.window.tcp);
    r.gauge('gitaly_tls_window_connections').set({ node, type: 'tls' }, v.window.tls);
  }
  if (v.plaintextLastSeenMs !== null)
    r.gauge('gitaly_tls_plaintext_last_seen_timestamp_seconds').set({ node }, seconds(v.plaintextLastSeenMs));
  if (o.sockets?.ok) {
    r.gauge('gitaly_tls_established_connections').set({ node, listener: 'tcp' }, o.sockets.established.tcp);
    r.gauge('gitaly_tls_established_connections').set({ node, listener: 'tls' }, o.sockets.established.tls);
  }
  if (o.plaintextPeers) {
    // Bounded cardinality: one series per top peer, one for all the others together.
    const { top, other } = topPeers(o.plaintextPeers);
    for (const p of top) r.gauge('gitaly_tls_plaintext_peer_connections').set({ node, peer: p.address }, p.connections);
    if (other) r.gauge('gitaly_tls_plaintext_peer_connections').set({ node, peer: 'other' }, other.connections);
  }
  if (o.plaintext && o.plaintext.open !== null && o.node.plaintextAddress) {
    r.gauge('gitaly_tls_plaintext_listener_open').set({ node, address: o.plaintext.address }, bool(o.plaintext.open));
  }
  if (o.tls) setTlsMetrics(r, node, o.tls);
  if (o.certFile?.ok) {
    if (o.certFile.matchesServed !== null) r.gauge('gitaly_tls_cert_file_matches_served').set({ node }, bool(o.certFile.matchesServed));
    const leaf = o.certFile.chain[0];
    if (leaf) r.gauge('gitaly_tls_cert_file_not_after_timestamp_seconds').set({ node }, seconds(leaf.notAfterMs));
  }
  const version = o.scrape?.ok ? o.scrape.version : null;
  r.gauge('gitaly_tls_node_info').set({ node, role: v.role, version: version ?? '' }, 1);

  const up = (source: string, ok: boolean): void => r.gauge('gitaly_tls_exporter_source_up').set({ node, source }, bool(ok));
  if (o.scrape) up('gitaly_metrics', o.scrape.ok);
  if (o.tls) up('tls', o.tls.handshakeOk);
  if (o.certFile) up('cert_file', o.certFile.ok);
  if (o.plaintext) up('plaintext', o.plaintext.error === null);
  if (o.sockets) up('sockets', o.sockets.ok);
  r.counter('gitaly_tls_exporter_probe_connections_total').inc({ node, type: 'tcp' }, history.ownTotals.tcp);
  r.counter('gitaly_tls_exporter_probe_connections_total').inc({ node, type: 'tls' }, history.ownTotals.tls);
  // Published for other exporters watching the same node (src/sources/prometheus-steps.ts).
  const lastDialMs = history.ownTcpTimesMs.at(-1);
  if (lastDialMs !== undefined && n.instance)
    r.gauge('gitaly_tls_exporter_plaintext_dial_timestamp_seconds').set({ node, prometheus_instance: n.instance }, seconds(lastDialMs));
}

export async function renderMetrics(s: Snapshot, info: ExporterInfo): Promise<string> {
  const r = new ContractRegistry();
  for (const n of s.nodes) {
    setNodeMetrics(r, n);
    if (s.prometheus) r.gauge('gitaly_tls_exporter_source_up').set({ node: n.verdict.node, source: 'prometheus' }, bool(s.prometheus.ok));
  }
  r.gauge('gitaly_tls_migration_complete').set(bool(s.fleet.complete));
  r.gauge('gitaly_tls_soak_window_seconds').set(seconds(info.soakWindowMs));
  for (const instance of s.fleet.undeclaredInstances) r.gauge('gitaly_tls_undeclared_instance').set({ prometheus_instance: instance }, 1);
  const unlisted = s.fleet.undeclaredCount - s.fleet.undeclaredInstances.length;
  if (unlisted > 0) r.gauge('gitaly_tls_undeclared_instance').set({ prometheus_instance: UNDECLARED_OTHERS }, unlisted);
  for (const [key, count] of s.sourceErrors) {
    const [source, reason] = key.split('\u0000');
    r.counter('gitaly_tls_exporter_source_errors_total').inc({ source, reason }, count);
  }
  r.gauge('gitaly_tls_exporter_collection_duration_seconds').set(seconds(s.durationMs));
  r.gauge('gitaly_tls_exporter_last_collection_timestamp_seconds').set(seconds(s.atMs));
  r.gauge('gitaly_tls_exporter_build_info').set({ version: info.version, nodejs_version: process.version }, 1);
  r.gauge('gitaly_tls_exporter_config_last_reload_successful').set(bool(info.configReloadSuccessful));
  return r.text();
}

/** Before the first collection: only what the exporter knows about itself. */
export async function renderStartupMetrics(info: ExporterInfo): Promise<string> {
  const r = new ContractRegistry();
  r.gauge('gitaly_tls_exporter_build_info').set({ version: info.version, nodejs_version: process.version }, 1);
  r.gauge('gitaly_tls_exporter_config_last_reload_successful').set(bool(info.configReloadSuccessful));
  return r.text();
}
