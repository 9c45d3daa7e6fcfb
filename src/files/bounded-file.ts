// The one reader for every file the exporter reads while it runs (certificate_file, client files,
// discovery files, the CA bundle, secret files, /proc/net/tcp): regular files only, a size cap and
// a deadline. Opened non-blocking and checked with fstat on the opened descriptor, so a FIFO in
// place of a file is refused at once (no check-then-open race), while symlinks (normal for
// certificates) are followed.
//
// A hung mount (NFS) blocks open() or read() in a libuv pool thread, which no deadline can free:
// the caller gives up at its deadline, but the thread stays blocked. So at most one operation per
// path is in flight (a stuck one is joined, never started again beside it), and at most
// MAX_IN_FLIGHT operations hold pool threads at once: the other threads stay free for the state
// file, DNS and TLS whatever the files do. blockedFileReads() names what is still stuck, because a
// normal exit waits for every pool thread (see the shutdown in cli.ts).
import { closeSync, constants, fstatSync, openSync, promises as fsp, readSync, type Stats } from 'node:fs';

export interface BoundedReadOptions {
  timeoutMs: number;
  maxBytes: number;
}

/** A local file of a few KB takes microseconds: this is only reached on a hung mount. */
export const FILE_TIMEOUT_MS = 5_000;

/** Of libuv's 4 pool threads (UV_THREADPOOL_SIZE), at most this many are ever held by file reads. */
const MAX_IN_FLIGHT = 2;

/** `message` reads after the path: "<path> is a FIFO, not a regular file". */
export class FileReadError extends Error {
  constructor(
    readonly code: 'TIMEOUT' | 'TOO_LARGE' | 'NOT_A_FILE',
    message: string,
  ) {
    super(message);
  }
}

interface Operation {
  path: string;
  /** When it got a pool thread; null while it waits for one. */
  startedMs: number | null;
  result: Promise<unknown>;
}

const operations = new Map<string, Operation>();
let running = 0;
const queue: Array<() => void> = [];

async function slot<T>(op: Operation, work: () => Promise<T>): Promise<T> {
  if (running >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => queue.push(resolve));
  running += 1;
  op.startedMs = Date.now();
  try {
    return await work();
  } finally {
    running -= 1;
    queue.shift()?.();
  }
}

function stuckMessage(op: Operation, timeoutMs: number): string {
  if (op.startedMs === null) {
    const blocked = [...operations.values()].filter((o) => o.startedMs !== null).map((o) => o.path);
    return `was not read within ${timeoutMs} ms: the ${MAX_IN_FLIGHT} file reads allowed at once are blocked (${blocked.join(', ')}), a hung mount?`;
  }
  const seconds = Math.round((Date.now() - op.startedMs) / 1000);
  return `was not read within ${timeoutMs} ms: a read of it has been blocked in the kernel for ${seconds} s (a hung mount?), and is not started again until it returns`;
}

/** Runs `work` for `key` (one at a time per key, joined by later callers) and gives up at the deadline. */
async function bounded<T>(key: string, path: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  let op = operations.get(key);
  if (!op) {
    const created: Operation = { path, startedMs: null, result: Promise.resolve() };
    created.result = slot(created, work).finally(() => operations.delete(key));
    // A caller that gave up does not leave an unhandled rejection behind.
    created.result.catch(() => undefined);
    operations.set(key, created);
    op = created;
  }
  const joined = op;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FileReadError('TIMEOUT', stuckMessage(joined, timeoutMs))), timeoutMs);
  });
  try {
    return (await Promise.race([joined.result, deadline])) as T;
  } finally {
    clearTimeout(timer);
  }
}

function notRegular(stat: Stats): FileReadError {
  const kind = stat.isFIFO()
    ? 'a FIFO'
    : stat.isDirectory()
      ? 'a directory'
      : stat.isSocket()
        ? 'a socket'
        : stat.isCharacterDevice()
          ? 'a character device'
          : stat.isBlockDevice()
            ? 'a block device'
            : null;
  return new FileReadError('NOT_A_FILE', kind ? `is ${kind}, not a regular file` : 'is not a regular file');
}

function tooLarge(maxBytes: number): FileReadError {
  return new FileReadError('TOO_LARGE', `is larger than the ${maxBytes} bytes allowed`);
}

function checkOpened(stat: Stats, maxBytes: number): void {
  if (!stat.isFile()) throw notRegular(stat);
  if (stat.size > maxBytes) throw tooLarge(maxBytes);
}

/** /proc files report size 0, and a file may grow: chunks are read up to one byte past the cap. */
class CappedChunks {
  private readonly chunks: Buffer[] = [];
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  next(): Buffer {
    return Buffer.alloc(Math.min(64 * 1024, this.maxBytes + 1 - this.total));
  }

  /** False at the end of the file. */
  add(chunk: Buffer, bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.total += bytesRead;
    if (this.total > this.maxBytes) throw tooLarge(this.maxBytes);
    this.chunks.push(chunk.subarray(0, bytesRead));
    return true;
  }

  result(): Buffer {
    return Buffer.concat(this.chunks, this.total);
  }
}

async function readRegular(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    checkOpened(await handle.stat(), maxBytes);
    const chunks = new CappedChunks(maxBytes);
    for (;;) {
      const chunk = chunks.next();
      if (!chunks.add(chunk, (await handle.read(chunk, 0, chunk.length, null)).bytesRead)) return chunks.result();
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Rejects with a FileReadError (TIMEOUT, TOO_LARGE, NOT_A_FILE) or the system error (ENOENT, ...). */
export function readFileBounded(path: string, options: BoundedReadOptions): Promise<Buffer> {
  return bounded(`read\0${options.maxBytes}\0${path}`, path, options.timeoutMs, () => readRegular(path, options.maxBytes));
}

/** stat() under the same rules: a hung mount blocks stat too. */
export function statBounded(path: string, timeoutMs = FILE_TIMEOUT_MS): Promise<Stats> {
  return bounded(`stat\0${path}`, path, timeoutMs, () => fsp.stat(path));
}

export function readdirBounded(path: string, timeoutMs = FILE_TIMEOUT_MS): Promise<string[]> {
  return bounded(`readdir\0${path}`, path, timeoutMs, () => fsp.readdir(path));
}

/** What went wrong, to follow the path: "<path> does not exist". Never the file's content. */
export function describeFileError(err: unknown): string {
  if (err instanceof FileReadError) return err.message;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable (permission denied)';
  if (code === 'EISDIR') return 'is a directory, not a regular file';
  if (code === 'ELOOP') return 'is a symlink loop';
  return `could not be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
}

/** The stable code for a failed read: TIMEOUT and TOO_LARGE as they are, anything else READ. */
export function fileErrorCode(err: unknown): 'TIMEOUT' | 'TOO_LARGE' | 'READ' {
  return err instanceof FileReadError && err.code !== 'NOT_A_FILE' ? err.code : 'READ';
}

/** Operations holding a pool thread now: a normal exit waits for them (libuv joins its threads). */
export function heldFileReads(): Array<{ path: string; sinceMs: number }> {
  return [...operations.values()].flatMap((o) => (o.startedMs === null ? [] : [{ path: o.path, sinceMs: o.startedMs }]));
}

/** Waits up to `waitMs` for the operations holding a pool thread; those still held then are blocked. */
export async function settleFileReads(waitMs: number): Promise<Array<{ path: string; sinceMs: number }>> {
  const held = [...operations.values()].filter((o) => o.startedMs !== null);
  if (held.length > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(held.map((o) => o.result)), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }
  return heldFileReads();
}

/**
 * For the few reads that must be synchronous (the config file at start and on SIGHUP, the web
 * config's TLS files): no deadline is possible, but a FIFO or device is refused as above instead of
 * stopping the event loop, and the size is capped.
 */
export function readFileBoundedSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    checkOpened(fstatSync(fd), maxBytes);
    const chunks = new CappedChunks(maxBytes);
    for (;;) {
      const chunk = chunks.next();
      if (!chunks.add(chunk, readSync(fd, chunk, 0, chunk.length, null))) return chunks.result();
    }
  } finally {
    closeSync(fd);
  }
}
