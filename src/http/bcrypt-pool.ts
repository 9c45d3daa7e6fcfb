// bcrypt comparisons off the event loop. bcryptjs is plain JavaScript: even in its async form it
// works in 100 ms slices on the main thread, so a flood of wrong passwords used to delay every other
// request, /metrics of users already verified included. Here one worker thread does the work, one
// comparison at a time, with a bounded queue: past it, a caller is told at once to come back later.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

/** Comparisons waiting or running; at cost 10 (~70 ms each) a full queue drains in about two seconds. */
export const MAX_PENDING_COMPARES = 32;

export class BcryptBusy extends Error {
  constructor() {
    super(`more than ${MAX_PENDING_COMPARES} password checks are waiting`);
  }
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

type Compare = (password: string, hash: string) => Promise<boolean>;

/**
 * A compare function that runs bcrypt in a worker thread, at most MAX_PENDING_COMPARES at a time
 * (rejecting with BcryptBusy beyond). Where no worker can be started (a bundle without
 * node_modules, say) it compares on the main thread, one at a time, still bounded.
 */
export function bcryptPool(): { compare: Compare; close(): Promise<void> } {
  let worker: Worker | null = null;
  let workerFailed = false;
  let nextId = 1;
  let pending = 0;
  const waiting = new Map<number, (ok: boolean) => void>();
  let chain: Promise<unknown> = Promise.resolve();

  const startWorker = (): Worker | null => {
    if (worker || workerFailed) return worker;
    try {
      const bcryptPath = createRequire(import.meta.url).resolve('bcryptjs');
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath } });
      worker.unref();
      worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
        waiting.get(id)?.(ok);
        waiting.delete(id);
      });
      worker.on('error', () => undefined);
      worker.on('exit', () => {
        // Whatever was in flight fails closed (not verified); the next call starts a new worker.
        for (const resolve of waiting.values()) resolve(false);
        waiting.clear();
        worker = null;
      });
    } catch {
      workerFailed = true;
      worker = null;
    }
    return worker;
  };

  const compare: Compare = async (password, hash) => {
    if (pending >= MAX_PENDING_COMPARES) throw new BcryptBusy();
    pending += 1;
    try {
      const w = startWorker();
      if (w) {
        const id = nextId++;
        return await new Promise<boolean>((resolve) => {
          waiting.set(id, resolve);
          w.postMessage({ id, password, hash });
        });
      }
      const run = chain.then(() => bcrypt.compare(password, hash));
      chain = run.catch(() => undefined);
      return await run;
    } finally {
      pending -= 1;
    }
  };
  return {
    compare,
    close: async () => {
      await worker?.terminate();
    },
  };
}
