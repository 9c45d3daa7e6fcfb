// Mocha root hooks (loaded by .mocharc.cjs): at the end of the run, fail it if any process the
// suite started is still alive.
//
// How "started by the suite" is known: this module marks the test process's environment with a
// value unique to this run before any test file loads. Every process the suite starts, and every
// process those start (an exporter's children, Chromium's helpers, Prometheus), inherits it, even
// after being re-parented to init or moved to its own process group or session. /proc/PID/environ
// is the environment a process started with, so the mark cannot be lost by a daemonizing child.
// Processes that descend from this one by parent id count too, in case a test replaced the
// environment outright. Other people's processes on a shared machine carry neither.
//
// Not counted: zombies (already dead, waiting to be reaped), and the esbuild service that tsx, the
// TypeScript loader of this very process, keeps as its own child (it ends with this process and
// was not started by a test).
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Context } from 'mocha';
import { killGroup, startedGroups } from './processes.ts';
import { scaled } from './time-factor.ts';
import { sleep } from './wait-for.ts';

const MARK_NAME = 'GITALY_TLS_EXPORTER_TEST_RUN';
const MARK = `${MARK_NAME}=${process.pid}-${randomUUID()}`;
process.env[MARK_NAME] = MARK.slice(MARK_NAME.length + 1);

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  cmd: string;
}

function readProc(pid: number): ProcessInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, state: fields[0] ?? '?', ppid: Number(fields[1]), pgid: Number(fields[2]), cmd };
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

function carriesMark(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(MARK);
  } catch {
    return false;
  }
}

/** Processes alive now that this run started, directly or not. */
export function survivors(): ProcessInfo[] {
  const all = new Map<number, ProcessInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name));
    if (info) all.set(info.pid, info);
  }
  const descends = (info: ProcessInfo): boolean => {
    for (let p = all.get(info.ppid), hops = 0; p && hops < 64; p = all.get(p.ppid), hops++) if (p.pid === process.pid) return true;
    return info.ppid === process.pid;
  };
  const isOwnLoader = (info: ProcessInfo): boolean => info.ppid === process.pid && /\besbuild\b.*--service/.test(info.cmd);
  return [...all.values()].filter(
    (info) =>
      info.pid !== process.pid &&
      info.state !== 'Z' &&
      info.state !== 'X' &&
      !isOwnLoader(info) &&
      (carriesMark(info.pid) || descends(info)),
  );
}

function describeProcess(info: ProcessInfo): string {
  const group = startedGroups().get(info.pgid);
  return `pid ${info.pid} (group ${info.pgid}${group ? `, started as ${group}` : ''}): ${info.cmd.slice(0, 300)}`;
}

export const mochaHooks = {
  async afterAll(this: Context): Promise<void> {
    this.timeout(scaled(20_000));
    // A process told to stop a moment ago may still be on its way out.
    const deadline = Date.now() + scaled(3_000);
    let left = survivors();
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(100);
      left = survivors();
    }
    if (left.length === 0) return;
    for (const info of left) {
      // Only groups a helper started: a stray child in this process's own group shares it with mocha.
      if (startedGroups().has(info.pgid)) killGroup(info.pgid, 'SIGKILL');
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw new Error(
      `${left.length} process(es) the test suite started were still alive at its end (now killed); ` +
        `every test must stop what it starts, process group included:\n  ${left.map(describeProcess).join('\n  ')}`,
    );
  },
};
