// The benchmark's result rows: one per measured claim, printed as a Markdown table (pasted into
// docs/benchmark.md) and written with the raw figures as JSON (bench-results/latest.json).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** `info` rows carry a figure with no target; `not measured` rows say why in `note`. */
export type Met = 'yes' | 'no' | 'not measured' | 'info';

export interface Row {
  /** Section number of the issue, e.g. "1". */
  section: string;
  what: string;
  ours: string;
  baseline: string;
  target: string;
  met: Met;
  /** Why a row was not measured, or how a figure was obtained. */
  note?: string;
  /** Raw figures, for the JSON file only. */
  data?: Record<string, unknown>;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  openFileLimit: number | null;
}

export interface BenchReport {
  date: string;
  machine: Machine;
  durationSeconds: number;
  rows: Row[];
  /** Sections that broke (the bench's own failures, not missed targets). */
  errors: string[];
}

export function met(ok: boolean): Met {
  return ok ? 'yes' : 'no';
}

export function notMeasured(section: string, what: string, target: string, reason: string): Row {
  return { section, what, ours: '—', baseline: '—', target, met: 'not measured', note: reason };
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = ['| # | what | ours | baseline | target | met |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${[r.section, r.what, r.ours, r.baseline, r.target, r.met].map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** Notes under the table, one per row that has one, numbered like the rows. */
export function notesList(rows: readonly Row[]): string {
  return rows
    .filter((r) => r.note)
    .map((r) => `- ${r.section}, ${r.what}: ${r.note}`)
    .join('\n');
}

export function machineLine(m: Machine): string {
  const fds = m.openFileLimit === null ? 'unlimited' : String(m.openFileLimit);
  return `${m.cpus} CPU (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Node ${m.node}, Linux ${m.kernel}, open-file limit ${fds}`;
}

export async function writeReport(path: string, report: BenchReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
