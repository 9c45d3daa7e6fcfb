// Reads a small file the exporter does not control (/proc/net/tcp, or whatever a proc_root points
// at) with a deadline and a size cap. Opened non-blocking, so a FIFO in its place cannot hang the
// thread pool in open(), and anything but a regular file is refused before a byte is read.
import { constants, promises as fsp } from 'node:fs';

export interface BoundedReadOptions {
  timeoutMs: number;
  maxBytes: number;
}

/** Rejects with an error whose `code` is TIMEOUT, TOO_LARGE, NOT_A_FILE, or the errno of the failure. */
export async function readFileBounded(path: string, options: BoundedReadOptions): Promise<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'TIMEOUT' })),
      options.timeoutMs,
    );
  });
  let handle: fsp.FileHandle | undefined;
  const read = async (): Promise<Buffer> => {
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'NOT_A_FILE' });
    // /proc files report size 0, so the size is found by reading, up to one byte past the cap.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > options.maxBytes) throw Object.assign(new Error(`larger than ${options.maxBytes} bytes`), { code: 'TOO_LARGE' });
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  };
  try {
    return await Promise.race([read(), deadline]);
  } finally {
    clearTimeout(timer);
    // A read still stuck in the thread pool closes its handle when it returns.
    void handle?.close().catch(() => undefined);
  }
}
