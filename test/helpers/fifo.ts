// A FIFO in place of a file the exporter reads, for "a read that never ends". Code that opens it
// without O_NONBLOCK stays blocked in open() in a libuv pool thread, and a process exits only once
// every pool thread has returned: releaseFifo frees such a reader, so a failing test cannot hang mocha.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';

export function makeFifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

/** Opens and closes the write end: a reader blocked in open() returns and reads end of file. */
export function releaseFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader is waiting; ENOENT: already removed.
  }
}

/** Rejects when `promise` has not settled within `ms`: a read that never ends fails the test, not hangs it. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
