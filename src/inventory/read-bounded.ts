// Reads one discovery file with a deadline and a size cap; never throws.
import { open, stat } from 'node:fs/promises';
import type { Result } from '../evidence.ts';

const READ_ERRORS: Partial<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
};

export interface FileLimits {
  timeoutMs: number;
  maxBytes: number;
}

export async function readBounded(file: string, limits: FileLimits): Promise<Result<{ text: string }>> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  let handle;
  try {
    // A FIFO or device would block the read (and a thread) beyond any deadline: regular files only.
    if (!(await stat(file)).isFile()) return { ok: false, error: { code: 'READ', message: `cannot read ${file}: not a regular file` } };
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size > limits.maxBytes) {
      return {
        ok: false,
        error: {
          code: 'TOO_LARGE',
          message: `${file}: ${size} bytes, more than the ${limits.maxBytes} allowed (discovery.max_file_bytes)`,
        },
      };
    }
    // One byte more than the cap: a file that grew since stat() is caught too.
    const buffer = Buffer.alloc(Math.min(size, limits.maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      if (signal.aborted) return { ok: false, error: { code: 'TIMEOUT', message: `${file}: not read within ${limits.timeoutMs} ms` } };
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limits.maxBytes) {
      return {
        ok: false,
        error: { code: 'TOO_LARGE', message: `${file}: more than the ${limits.maxBytes} bytes allowed (discovery.max_file_bytes)` },
      };
    }
    return { ok: true, text: buffer.subarray(0, length).toString('utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return { ok: false, error: { code: 'READ', message: `cannot read ${file}: ${READ_ERRORS[code] ?? (code || 'read error')}` } };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
