// Feeds an HTTP body, inflated when it is gzip, to a synchronous consumer chunk by chunk. Plain
// 'data' events instead of pipeline() and an async iterator: at a thousand 1 MB pages per collection,
// the iterator's promise per chunk and pipeline's bookkeeping were ~20 MiB of garbage per cycle.
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

// Each output chunk costs the main thread one hand-off to zlib's worker thread, measured at
// 60-80 µs on a busy 2-core machine. A 1,000-node collection of 1 MB pages spent 2.6 s of main
// thread in them with zlib's default 16 KiB chunks, 1.2-1.4 s with 64 KiB, 0.95 s with 256 KiB
// (npm run bench -- --only memory, BENCH_CPU_PROFILE=1). Each scrape in flight holds one chunk.
const GUNZIP_CHUNK_BYTES = 256 * 1024;

/**
 * Resolves when the whole body was consumed. Rejects with the first error: the body's (abort,
 * socket closed), zlib's (a Z_ code), or the one `consume` throws to stop early. Both streams are
 * destroyed on failure, which closes the connection.
 */
export function streamBody(body: Readable, gzip: boolean, consume: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const inflate = gzip ? createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }) : null;
    const out = inflate ?? body;
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      body.destroy();
      inflate?.destroy();
      reject(err);
    };
    body.on('error', fail);
    // A body closed before its end without an error would otherwise leave the inflater waiting.
    body.on('close', () => {
      if (!body.readableEnded) fail(Object.assign(new Error('the body was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
    out.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        consume(chunk);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    out.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    if (inflate) {
      inflate.on('error', fail);
      body.pipe(inflate);
    }
  });
}
