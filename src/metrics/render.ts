// Results → metrics, in one place. Rendered once per collection (and per /probe request on a
// fresh registry); /metrics serves the cached text, so scrapes cost nothing extra.
import { topPeers } from '../peers/plaintext-peers.ts';
import { PHASES } from '../migration/types.ts';
import type { CollectionView } from '../view/collection-view.ts';
import type { Check, NodeView, TlsView } from '../view/node-view.ts';
import { bool, ContractRegistry, seconds, UNDECLARED_OTHERS, type ContractMetric } from './definitions.ts';

export interface ExporterInfo {
  version: string;
  configReloadSuccessful: boolean;
  /** The configuration's soak window, for dashboards ("safe to remove at"). */
  soakWindowMs: number;
}

/** A check's series: 1 or 0 when known, absent when nobody observed it. */
function setCheck(g: ContractMetric, labels: Record<string, string>, check: Check): void {
  if (check.value !== null) g.set(labels, bool(check.value));
}

/** Every TLS gauge for one probe; each check is emitted even when another fails (and absent when unknown). */
export function setTlsMetrics(r: ContractRegistry, node: string, t: TlsView): void {
  const labels = { node, address: t.address };
  r.gauge('gitaly_tls_probe_success').set(labels, bool(t.usable));
  r.gauge('gitaly_tls_probe_duration_seconds').set(labels, seconds(t.durationMs));
  setCheck(r.gauge('gitaly_tls_handshake_ok'), labels, t.handshake);
  setCheck(r.gauge('gitaly_tls_cert_trusted'), labels, t.trusted);
  setCheck(r.gauge('gitaly_tls_hostname_match'), labels, t.hostnameMatch);
  setCheck(r.gauge('gitaly_tls_alpn_h2'), labels, t.alpnH2);
  setCheck(r.gauge('gitaly_tls_grpc_health_ok'), labels, t.grpcHealth);
  if (t.version) r.gauge('gitaly_tls_version_info').set({ ...labels, version: t.version }, 1);
  for (const { version, accepted } of t.accepts) {
    if (accepted !== null) r.gauge('gitaly_tls_version_accepted').set({ ...labels, version }, bool(accepted));
  }
  for (const cert of t.certificates) {
    // `root` is a root the server sent. One it did not send (Node took it from the CA bundle) still
    // decides trust, and its expiry still breaks the chain: exported, under its own name.
    const certLabels = { ...labels, position: cert.sent ? cert.position : 'trust_anchor', serial: cert.serial };
    r.gauge('gitaly_tls_cert_not_after_timestamp_seconds').set(certLabels, seconds(cert.notAfterMs));
    r.gauge('gitaly_tls_cert_not_before_timestamp_seconds').set(certLabels, seconds(cert.notBeforeMs));
    r.gauge('gitaly_tls_cert_info').set(
      { ...certLabels, subject: cert.subject, issuer: cert.issuer, sans: cert.sans.join(','), sha256: cert.sha256 },
      1,
    );
  }
}

function setNodeMetrics(r: ContractRegistry, v: NodeView): void {
  const node = v.node;
  for (const phase of PHASES) r.gauge('gitaly_tls_migration_phase').set({ node, role: v.role, phase }, bool(v.phase === phase));
  for (const { reason } of v.reasons) r.gauge('gitaly_tls_migration_blocked').set({ node, reason }, 1);
  const soak = v.soak;
  if (soak.window) {
    r.gauge('gitaly_tls_window_connections').set({ node, type: 'tcp' }, soak.window.tcp);
    r.gauge('gitaly_tls_window_connections').set({ node, type: 'tls' }, soak.window.tls);
  }
  if (soak.plaintextLastSeenMs !== null)
    r.gauge('gitaly_tls_plaintext_last_seen_timestamp_seconds').set({ node }, seconds(soak.plaintextLastSeenMs));
  if (soak.projectedSafe.atMs !== null)
    r.gauge('gitaly_tls_soak_projected_safe_timestamp_seconds').set({ node }, seconds(soak.projectedSafe.atMs));
  if (soak.established) {
    r.gauge('gitaly_tls_established_connections').set({ node, listener: 'tcp' }, soak.established.tcp);
    r.gauge('gitaly_tls_established_connections').set({ node, listener: 'tls' }, soak.established.tls);
  }
  if (v.plaintextPeers) {
    // Bounded cardinality: one series per top peer, one for all the others together.
    const { top, other } = topPeers(v.plaintextPeers);
    for (const p of top) r.gauge('gitaly_tls_plaintext_peer_connections').set({ node, peer: p.address }, p.connections);
    if (other) r.gauge('gitaly_tls_plaintext_peer_connections').set({ node, peer: 'other' }, other.connections);
  }
  // `plaintext_address: none` is a known "closed", labelled as the config says it.
  setCheck(r.gauge('gitaly_tls_plaintext_listener_open'), { node, address: v.plaintextAddress ?? 'none' }, v.checks.plaintextListenerOpen);
  if (v.tls) setTlsMetrics(r, node, v.tls);
  const restart = v.checks.restartNeeded;
  if (restart.value !== null) r.gauge('gitaly_tls_cert_file_matches_served').set({ node }, bool(!restart.value));
  if (v.certificateFile?.leafNotAfterMs != null)
    r.gauge('gitaly_tls_cert_file_not_after_timestamp_seconds').set({ node }, seconds(v.certificateFile.leafNotAfterMs));
  if (v.version !== null) r.gauge('gitaly_tls_node_info').set({ node, role: v.role, version: v.version }, 1);

  for (const s of v.sources) r.gauge('gitaly_tls_exporter_source_up').set({ node, source: s.source }, bool(s.up));
  r.counter('gitaly_tls_exporter_probe_connections_total').inc({ node, type: 'tcp' }, v.ownConnections.tcp);
  r.counter('gitaly_tls_exporter_probe_connections_total').inc({ node, type: 'tls' }, v.ownConnections.tls);
  // Published for other exporters watching the same node (src/sources/prometheus-steps.ts).
  if (v.instance) {
    const peerLabels = { node, prometheus_instance: v.instance };
    if (v.lastOwnDialMs !== null) r.gauge('gitaly_tls_exporter_plaintext_dial_timestamp_seconds').set(peerLabels, seconds(v.lastOwnDialMs));
    if (v.nextOwnDialMs !== null)
      r.gauge('gitaly_tls_exporter_plaintext_next_dial_timestamp_seconds').set(peerLabels, seconds(v.nextOwnDialMs));
    r.counter('gitaly_tls_exporter_tls_connections_total').inc(peerLabels, v.ownConnections.tls);
  }
}

export async function renderMetrics(s: CollectionView, info: ExporterInfo): Promise<string> {
  const r = new ContractRegistry();
  for (const n of s.nodes) setNodeMetrics(r, n);
  r.gauge('gitaly_tls_migration_complete').set(bool(s.fleet.complete));
  r.gauge('gitaly_tls_soak_window_seconds').set(seconds(info.soakWindowMs));
  for (const instance of s.fleet.undeclaredInstances) r.gauge('gitaly_tls_undeclared_instance').set({ prometheus_instance: instance }, 1);
  const unlisted = s.fleet.undeclaredCount - s.fleet.undeclaredInstances.length;
  if (unlisted > 0) r.gauge('gitaly_tls_undeclared_instance').set({ prometheus_instance: UNDECLARED_OTHERS }, unlisted);
  for (const { source, code, count } of s.sourceErrors)
    r.counter('gitaly_tls_exporter_source_errors_total').inc({ source, reason: code }, count);
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
