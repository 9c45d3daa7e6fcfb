// The `check` command's output: one line per node and the fleet verdict, for terminals and CI logs.
// One table for a local check (from the node views) and for `check --url` (from a running
// exporter's /migration, which carries the same facts): both build rows, and one renderer prints
// them. A fact nobody observed reads "unknown", explained under the table.
import type { CollectionView } from '../view/collection-view.ts';
import type { NodeView } from '../view/node-view.ts';

/** The checks the table shows, with their column header. */
export const TABLE_CHECKS = [
  ['trusted', 'TRUSTED'],
  ['hostnameMatch', 'HOSTNAME'],
  ['alpnH2', 'ALPN_H2'],
  ['restartNeeded', 'RESTART'],
  ['plaintextListenerOpen', 'LISTEN_ADDR'],
] as const;
export type TableCheck = (typeof TABLE_CHECKS)[number][0];

/** A yes/no/unknown fact as the table needs it: `why` is said under the table when `value` is null. */
export interface TableFact {
  value: boolean | null;
  why: string | null;
}

/** One node's line and notes. */
export interface TableRow {
  node: string;
  role: string;
  phase: string;
  /** Whole days to the soonest expiry in the chain; null with `certWhy` when not known. */
  certDays: number | null;
  certWhy: string | null;
  /** A tls_address is configured: an unknown expiry is then worth a note. */
  tlsConfigured: boolean;
  checks: Record<TableCheck, TableFact>;
  /** The pinned version handshakes: accepted, refused, or null (not checked). */
  accepts: Array<{ version: string; accepted: boolean | null }>;
  reasons: string[];
  /** Null: the answer has none (an older exporter's /migration). */
  nextStep: string | null;
  sourcesDown: Array<{ source: string; message: string }>;
}

export function mark(value: boolean | null): string {
  return value === null ? 'unknown' : value ? 'yes' : 'no';
}

export function rowOfView(v: NodeView): TableRow {
  return {
    node: v.node,
    role: v.role,
    phase: v.phase,
    certDays: v.certExpiry.atMs === null ? null : v.certExpiry.days,
    certWhy: v.certExpiry.atMs === null ? v.certExpiry.why : null,
    tlsConfigured: v.tlsAddress !== null,
    checks: Object.fromEntries(TABLE_CHECKS.map(([name]) => [name, { value: v.checks[name].value, why: v.checks[name].why }])) as Record<
      TableCheck,
      TableFact
    >,
    accepts: v.tls?.accepts ?? [],
    reasons: v.reasons.map((r) => r.reason),
    nextStep: v.nextStep,
    sourcesDown: v.sources.filter((s) => !s.up).map((s) => ({ source: s.source, message: s.error?.message ?? 'failed' })),
  };
}

/** As the page shows them: the versions checked and accepted, "none", or "unknown" when none was checked. */
function versions(r: TableRow): string {
  const known = r.accepts.filter((a) => a.accepted !== null);
  if (!known.length) return 'unknown';
  return (
    known
      .filter((a) => a.accepted)
      .map((a) => a.version.replace('TLSv', ''))
      .join(',') || 'none'
  );
}

function cells(r: TableRow): string[] {
  const [trusted, hostname, alpn, restart, listener] = TABLE_CHECKS.map(([name]) => mark(r.checks[name].value));
  return [
    r.node,
    r.role,
    r.phase,
    r.certDays === null ? 'unknown' : String(r.certDays),
    trusted!,
    hostname!,
    alpn!,
    versions(r),
    restart!,
    listener!,
    r.reasons.join(',') || '-',
  ];
}

/** Why each "unknown" in a node's row is unknown, and every source that failed with its error. */
function notes(r: TableRow): string[] {
  const lines = r.sourcesDown.map((s) => `  ${r.node}: ${s.source} down: ${s.message}`);
  // Columns unknown for the same reason share one line.
  const byWhy = new Map<string, string[]>();
  const add = (header: string, why: string): void => void byWhy.set(why, [...(byWhy.get(why) ?? []), header]);
  if (r.certDays === null && r.tlsConfigured) add('CERT_DAYS', r.certWhy ?? 'not known');
  for (const [name, header] of TABLE_CHECKS) {
    const c = r.checks[name];
    if (c.value === null) add(header, c.why ?? 'not known');
  }
  for (const [why, headers] of byWhy) lines.push(`  ${r.node}: ${headers.join(', ')} unknown: ${why}`);
  return lines;
}

const HEADER = ['NODE', 'ROLE', 'PHASE', 'CERT_DAYS', 'TRUSTED', 'HOSTNAME', 'ALPN_H2', 'TLS', 'RESTART', 'LISTEN_ADDR', 'BLOCKING'];

/** The fleet's verdict line(s), the same for a local check and `check --url`. */
export function fleetLine(complete: boolean, nodes: number, blocking: readonly string[]): string {
  return complete
    ? `Fleet: COMPLETE (${nodes} node(s)); it is safe to consider the migration done.`
    : `Fleet: NOT COMPLETE\n${blocking.map((b) => `  - ${b}`).join('\n')}`;
}

/** The table, next steps, notes and the verdict line; `prometheusDown` is the fleet's Prometheus error, if any. */
export function renderRows(rows: readonly TableRow[], verdict: string, prometheusDown: string | null = null): string {
  const all = [HEADER, ...rows.map(cells)];
  // No Math.max(...rows): a spread of tens of thousands of arguments overflows the stack.
  const widths = HEADER.map((_, i) => all.reduce((w, r) => Math.max(w, (r[i] ?? '').length), 0));
  const lines = all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
  // An older exporter's /migration has no nextStep: the section is left out rather than filled with "-".
  const stepLines = rows.flatMap((r) => (r.nextStep === null ? [] : [`  ${r.node}: ${r.nextStep}`]));
  const steps = stepLines.length ? `\nNext steps:\n${stepLines.join('\n')}\n` : '';
  const why = rows.flatMap(notes);
  const prometheus = prometheusDown !== null ? [`  Prometheus down: ${prometheusDown}`] : [];
  const explained = why.length + prometheus.length ? `\nSources down and unknowns:\n${[...prometheus, ...why].join('\n')}\n` : '';
  return `${lines.join('\n')}\n${steps}${explained}\n${verdict}\n`;
}

/** `gate`: `check --node`, one node's row, notes and verdict line instead of the whole fleet's. */
export function renderTable(s: CollectionView, gate?: { node: string; line: string }): string {
  const nodes = gate ? s.nodes.filter((v) => v.node === gate.node) : s.nodes;
  const verdict = gate ? gate.line : fleetLine(s.fleet.complete, s.nodes.length, s.fleet.blocking);
  return renderRows(nodes.map(rowOfView), verdict, s.prometheus?.ok === false ? s.prometheus.error.message : null);
}
