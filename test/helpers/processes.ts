// Child processes of the suite. Each one starts in its own process group (detached), so stopping
// it can end everything it started too (a wrapper's child, Chromium's helpers); stopping kills the
// group, never just the wrapper. Everything still registered is killed when the test process
// exits, whatever happened, and test/helpers/root-hooks.ts fails the run if anything the suite
// started is still alive at its end.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scaled } from './time-factor.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Process groups started here and not yet known to be empty: pgid -> what it is. */
const groups = new Map<number, string>();

process.once('exit', () => {
  for (const pgid of groups.keys()) killGroup(pgid, 'SIGKILL');
});

/** Signals a whole process group; a group already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Process groups the suite started, for the end-of-run report. */
export function startedGroups(): ReadonlyMap<number, string> {
  return groups;
}

export interface TrackedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /**
   * Resolves once the process has exited and its stdout and stderr are closed, so every line it
   * wrote has been read ('exit' can come before the last output does).
   */
  readonly closed: Promise<Exit>;
  /** How the process ended, or null while it runs. */
  readonly exitState: () => Exit | null;
  /** Sends `signal` to the process itself (not its group), if it still runs. */
  readonly signal: (signal: NodeJS.Signals) => void;
  /**
   * SIGTERM to the process, SIGKILL to its whole group after `graceMs` (scaled by
   * TEST_TIME_FACTOR) if it has not exited; then SIGKILL to the group in any case, for whatever it
   * left behind. Resolves with how the process itself ended.
   */
  readonly stop: (graceMs?: number) => Promise<Exit>;
}

/**
 * Spawns `command` in a new process group, registered until stop() has swept the group.
 * `what` names it in reports ("the exporter", "prometheus").
 */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions & { what: string }): TrackedChild {
  const { what, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions, detached: true });
  const pid = child.pid;
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (pid !== undefined) groups.set(pid, `${what}: ${[command, ...args].join(' ')}`);
  const closed = new Promise<Exit>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
    // A spawn that failed (ENOENT) emits 'error' and then 'close'; resolve anyway for safety.
    void spawnError.then(() => setImmediate(() => resolve({ code: null, signal: null })));
  });
  const exitState = (): Exit | null =>
    child.exitCode === null && child.signalCode === null ? null : { code: child.exitCode, signal: child.signalCode };
  const sweep = (): void => {
    if (pid === undefined) return;
    killGroup(pid, 'SIGKILL');
    groups.delete(pid);
  };
  return {
    child,
    pid: pid ?? -1,
    closed,
    exitState,
    signal(signal) {
      if (exitState() === null && pid !== undefined) child.kill(signal);
    },
    async stop(graceMs = 10_000) {
      if (exitState() === null) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (pid !== undefined) killGroup(pid, 'SIGKILL');
          resolve();
        }, scaled(graceMs));
      });
      await Promise.race([closed, forced]);
      clearTimeout(timer);
      const exit = await closed;
      sweep();
      return exit;
    },
  };
}

/** Arguments to run a TypeScript entry point with Node itself (no tsx wrapper process between). */
export function nodeTs(script: string, args: readonly string[] = []): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', script, ...args]];
}
