// Everything the benchmark starts is registered here so it is stopped and removed on every path:
// normal end, a broken section, Ctrl-C, or an uncaught error (the 'exit' hook kills what is left).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTicksFromStat, statusFieldBytes } from './stats.ts';
import type { ChildMessage, ParentMessage } from './ipc.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const STOP_GRACE_MS = 5000;

const cleanups: Array<() => Promise<void>> = [];
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs `fn` at cleanup time, most recent first. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** Runs every registered cleanup once; never throws. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    await fn().catch((err: Error) => process.stderr.write(`bench cleanup: ${err.message}\n`));
  }
}

/** A fresh directory (under the system temp dir unless `parent` is given), removed at cleanup. */
export async function tempDir(label: string, parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, `gte-bench-${label}-`));
  tempDirs.add(dir);
  onCleanup(async () => {
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  });
  return dir;
}

/** A loopback port that was free a moment ago (for programs that cannot report the one they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends SIGTERM, then SIGKILL after a grace period; resolves once the process has gone. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Registers a process started elsewhere (e.g. blackbox_exporter) for cleanup. */
export function track(child: ChildProcess): void {
  children.add(child);
  onCleanup(() => stopProcess(child));
}

export interface BenchChild<Ready> {
  pid: number;
  ready: Ready;
  call<T>(command: string, args?: unknown, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts a child script as a direct child (so its pid is the process doing the work): a `.ts` name
 * in bench/ runs under tsx, an absolute `.js` path (compiled) under plain node. Waits for its
 * 'ready' message, then offers request/response calls over the IPC channel.
 */
export async function startChild<Ready>(script: string, args: unknown, readyTimeoutMs: number): Promise<BenchChild<Ready>> {
  // BENCH_CHILD_NODE_FLAGS (e.g. "--expose-gc"): extra node flags for the compiled exporter child, to investigate.
  const flags = script.endsWith('.js') ? (process.env.BENCH_CHILD_NODE_FLAGS ?? '').split(' ').filter(Boolean) : [];
  const argv = script.endsWith('.js') ? [...flags, script] : ['--import', 'tsx', join(REPO_ROOT, 'bench', script)];
  const child = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track(child);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let exited: Error | null = null;
  const ready = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} was not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.on('message', (raw: ChildMessage) => {
      if (raw.type === 'hello') {
        // Arguments travel over IPC rather than argv, which caps one argument at 128 KiB.
        const message: ParentMessage = { type: 'args', args };
        child.send(message);
      } else if (raw.type === 'ready') {
        clearTimeout(timer);
        resolve(raw.info as Ready);
      } else if (raw.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${script} failed to start: ${raw.message}`));
      } else if (raw.type === 'reply') {
        const waiting = pending.get(raw.id);
        if (!waiting) return;
        pending.delete(raw.id);
        clearTimeout(waiting.timer);
        if (raw.ok) waiting.resolve(raw.result);
        else waiting.reject(new Error(`${script}: ${raw.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      exited = new Error(`${script} exited (${signal ?? `code ${code}`})`);
      reject(exited);
      for (const waiting of pending.values()) {
        clearTimeout(waiting.timer);
        waiting.reject(exited);
      }
      pending.clear();
    });
  });
  const info = await ready;
  return {
    pid: child.pid ?? 0,
    ready: info,
    call<T>(command: string, callArgs?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(exited);
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: ${command} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        const message: ParentMessage = { type: 'call', id, command, args: callArgs };
        child.send(message);
      });
    },
    stop: () => stopProcess(child),
  };
}

/** The kernel's clock ticks per second, the unit of /proc/<pid>/stat times (almost always 100). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU time (ms) a process has used so far, all threads, from /proc/<pid>/stat. */
export async function processCpuMs(pid: number, clockTicksPerSecond: number): Promise<number> {
  return (cpuTicksFromStat(await readFile(`/proc/${pid}/stat`, 'utf8')) * 1000) / clockTicksPerSecond;
}

/** VmHWM (peak RSS) and VmRSS of a process, in bytes. */
export async function processMemory(pid: number): Promise<{ peakRss: number | null; rss: number | null }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { peakRss: statusFieldBytes(status, 'VmHWM'), rss: statusFieldBytes(status, 'VmRSS') };
}
