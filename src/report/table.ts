// The `check` command's output: one line per node and the fleet verdict, for terminals and CI logs.
import type { NodeResult, Snapshot } from '../collect/collector.ts';

const DAY_MS = 86_400_000;

function mark(value: boolean | null | undefined): string {
  return value === null || value === undefined ? '-' : value ? 'yes' : 'NO';
}

function cells(n: NodeResult, nowMs: number): string[] {
  const v = n.verdict;
  const t = n.observation.tls;
  const days = v.certExpiresMs === null ? '-' : String(Math.floor((v.certExpiresMs - nowMs) / DAY_MS));
  const versions = t
    ? Object.entries(t.accepts)
        .filter(([, ok]) => ok === true)
        .map(([name]) => name.replace('TLSv', ''))
        .join(',') || '-'
    : '-';
  const restart = n.observation.certFile?.ok ? mark(n.observation.certFile.matchesServed === false) : '-';
  return [
    v.node,
    v.role,
    v.phase,
    days,
    mark(t ? t.handshakeOk && t.trusted === true : null),
    mark(t?.hostnameMatch),
    mark(t ? t.alpnProtocol === 'h2' : null),
    versions,
    restart,
    v.reasons.join(',') || '-',
  ];
}

export function renderTable(s: Snapshot): string {
  const header = ['NODE', 'ROLE', 'PHASE', 'CERT_DAYS', 'TRUSTED', 'HOSTNAME', 'ALPN_H2', 'TLS', 'RESTART', 'BLOCKING'];
  const rows = [header, ...s.nodes.map((n) => cells(n, s.atMs))];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
  const verdict = s.fleet.complete
    ? `Fleet: COMPLETE (${s.nodes.length} node(s)); it is safe to consider the migration done.`
    : `Fleet: NOT COMPLETE\n${s.fleet.blocking.map((b) => `  - ${b}`).join('\n')}`;
  return `${lines.join('\n')}\n\n${verdict}\n`;
}
