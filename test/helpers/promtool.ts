import { spawnSync } from 'node:child_process';
import { realPart } from './real-parts.ts';

/** `promtool check metrics` on a page; returns what promtool printed (empty = clean). */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync(realPart('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}
