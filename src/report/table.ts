// The `check` command's output: one line per node and the fleet verdict, for terminals and CI logs.
// Rendered from the node views only; a fact nobody observed reads "unknown", explained under the table.
import type { CollectionView } from '../view/collection-view.ts';
import type { Check, CheckName, NodeView } from '../view/node-view.ts';

/** The columns that show a check, with their header. */
const CHECK_COLUMNS: Array<[CheckName, string]> = [
  ['trusted', 'TRUSTED'],
  ['hostnameMatch', 'HOSTNAME'],
  ['alpnH2', 'ALPN_H2'],
  ['restartNeeded', 'RESTART'],
  ['plaintextListenerOpen', 'LISTEN_ADDR'],
];

export function mark(c: Check): string {
  return c.value === null ? 'unknown' : c.value ? 'yes' : 'no';
}

function cells(v: NodeView): string[] {
  // As the page shows them: the versions checked, and "unknown" when none was (no handshake yet).
  const known = (v.tls?.accepts ?? []).filter((a) => a.accepted !== null);
  const versions = known.length
    ? known
        .filter((a) => a.accepted)
        .map((a) => a.version.replace('TLSv', ''))
        .join(',') || 'none'
    : 'unknown';
  const [trusted, hostname, alpn, restart, listener] = CHECK_COLUMNS.map(([name]) => mark(v.checks[name]));
  return [
    v.node,
    v.role,
    v.phase,
    v.certExpiry.atMs === null ? 'unknown' : String(v.certExpiry.days),
    trusted!,
    hostname!,
    alpn!,
    versions,
    restart!,
    listener!,
    v.reasons.map((r) => r.reason).join(',') || '-',
  ];
}

/** Why each "unknown" in a node's row is unknown, and every source that failed with its error. */
function notes(v: NodeView): string[] {
  const lines: string[] = [];
  for (const s of v.sources) if (!s.up) lines.push(`  ${v.node}: ${s.source} down: ${s.error?.message ?? 'failed'}`);
  // Columns unknown for the same reason share one line.
  const byWhy = new Map<string, string[]>();
  const add = (header: string, why: string): void => void byWhy.set(why, [...(byWhy.get(why) ?? []), header]);
  if (v.certExpiry.atMs === null && v.tlsAddress) add('CERT_DAYS', v.certExpiry.why);
  for (const [name, header] of CHECK_COLUMNS) {
    const c = v.checks[name];
    if (c.value === null) add(header, c.why);
  }
  for (const [why, headers] of byWhy) lines.push(`  ${v.node}: ${headers.join(', ')} unknown: ${why}`);
  return lines;
}

/** `gate`: `check --node`, one node's row, notes and verdict line instead of the whole fleet's. */
export function renderTable(s: CollectionView, gate?: { node: string; line: string }): string {
  const nodes = gate ? s.nodes.filter((v) => v.node === gate.node) : s.nodes;
  const header = [
    'NODE',
    'ROLE',
    'PHASE',
    'CERT_DAYS',
    ...CHECK_COLUMNS.slice(0, 3).map(([, h]) => h),
    'TLS',
    'RESTART',
    'LISTEN_ADDR',
    'BLOCKING',
  ];
  const rows = [header, ...nodes.map(cells)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
  const steps = nodes.length ? `\nNext steps:\n${nodes.map((v) => `  ${v.node}: ${v.nextStep}`).join('\n')}\n` : '';
  const why = nodes.flatMap(notes);
  const prometheus = s.prometheus?.ok === false ? [`  Prometheus down: ${s.prometheus.error.message}`] : [];
  const explained = why.length + prometheus.length ? `\nSources down and unknowns:\n${[...prometheus, ...why].join('\n')}\n` : '';
  const verdict = gate
    ? gate.line
    : s.fleet.complete
      ? `Fleet: COMPLETE (${s.nodes.length} node(s)); it is safe to consider the migration done.`
      : `Fleet: NOT COMPLETE\n${s.fleet.blocking.map((b) => `  - ${b}`).join('\n')}`;
  return `${lines.join('\n')}\n${steps}${explained}\n${verdict}\n`;
}
