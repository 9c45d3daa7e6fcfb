// GETs a URL and hands the body, inflated when it is gzip, to a synchronous consumer chunk by chunk,
// straight from undici's dispatch handler. No Readable stands between the socket and the consumer:
// with request() and 'data' events a 10 MB page took 2 - 3 ms longer to scrape than this on a
// 2-core machine (median of 80 alternating downloads), as much again as extracting from it.
import { createGunzip, type Gunzip } from 'node:zlib';
import type { Dispatcher } from 'undici';

// Each output chunk costs the main thread one hand-off to zlib's worker thread, measured at
// 60-80 µs on a busy 2-core machine. A 1,000-node collection of 1 MB pages spent 2.6 s of main
// thread in them with zlib's default 16 KiB chunks, 1.2-1.4 s with 64 KiB, 0.95 s with 256 KiB
// (npm run bench -- --only memory, BENCH_CPU_PROFILE=1). Each scrape in flight holds one chunk.
const GUNZIP_CHUNK_BYTES = 256 * 1024;

/** What to do with a body once the status and headers are known. */
export type BodyPlan =
  | { consume: (chunk: Buffer) => void; gzip: boolean }
  /** Read and drop up to this many bytes, so the connection can be reused; past it, close it. */
  | { discardUpTo: number };

export interface StreamGetRequest {
  url: URL;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  timeoutMs: number;
  signal: AbortSignal;
  /** Called once the status and headers are in; what it returns decides what becomes of the body. */
  onHead: (statusCode: number, headers: Record<string, string | string[] | undefined>) => BodyPlan;
}

/**
 * Resolves once the whole body was handled as `onHead` planned. Rejects with the first error:
 * undici's (connect, timeouts, socket closed), zlib's (a Z_ code), the one `consume` throws to stop
 * early, or the signal's reason. Every failure closes the connection.
 */
export function streamGet(req: StreamGetRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | null = null;
    let inflate: Gunzip | null = null;
    let plan: BodyPlan | null = null;
    let discarded = 0;
    let settled = false;

    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener('abort', onAbort);
      if (err) {
        inflate?.destroy();
        reject(err);
      } else {
        resolve();
      }
    };
    const fail = (err: Error): void => {
      if (settled) return;
      // undici answers abort() with onResponseError; finish first so the reason given here wins.
      finish(err);
      controller?.abort(err);
    };
    const failWith = (err: unknown): void => fail(err instanceof Error ? err : new Error(String(err)));
    function onAbort(): void {
      fail(abortReason(req.signal));
    }

    if (req.signal.aborted) {
      finish(abortReason(req.signal));
      return;
    }
    req.signal.addEventListener('abort', onAbort, { once: true });

    const consume = (chunk: Buffer): void => {
      if (settled || !plan) return;
      if ('discardUpTo' in plan) {
        discarded += chunk.length;
        if (discarded > plan.discardUpTo) fail(new Error('the discarded body is over its limit'));
        return;
      }
      try {
        plan.consume(chunk);
      } catch (err) {
        failWith(err);
      }
    };

    req.dispatcher.dispatch(
      {
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: 'GET',
        headers: req.headers,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      },
      {
        onRequestStart(c) {
          controller = c;
          if (settled) c.abort(new Error('already settled'));
        },
        onResponseStart(c, statusCode, headers) {
          if (settled) return;
          try {
            plan = req.onHead(statusCode, headers);
          } catch (err) {
            failWith(err);
            return;
          }
          if ('gzip' in plan && plan.gzip) {
            const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
            inflate = gunzip;
            gunzip.on('data', consume);
            gunzip.on('error', fail);
            gunzip.on('end', () => finish());
            gunzip.on('drain', () => c.resume());
          }
        },
        onResponseData(c, chunk) {
          if (settled) return;
          if (!inflate) consume(chunk);
          else if (!inflate.write(chunk)) c.pause();
        },
        onResponseEnd() {
          if (settled) return;
          // A gzip body is done when zlib has flushed its last output ('end' above).
          if (inflate) inflate.end();
          else finish();
        },
        onResponseError(_c, err) {
          fail(err);
        },
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('the request was aborted'), { code: 'ABORT_ERR' });
}
