import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

/** `promtool check metrics` on a page; returns what promtool printed (empty = clean). */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  if (!existsSync(PROMTOOL)) throw new Error(`promtool not found at ${PROMTOOL}: install it with apt-get install -y prometheus`);
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}
