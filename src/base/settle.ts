// The shape of every deadline-bound wait on sockets and streams here: several events race to an
// answer, the first one wins, a timer answers if none does, and the loser events are ignored.

export interface Settle<T> {
  /** Answers with `value` unless answered already; returns whether this call answered. */
  finish: (value: T) => boolean;
  /** Whether an answer was given (late events check it to do nothing). */
  readonly settled: boolean;
}

/**
 * A promise answered once: by `start`'s first call to `finish`, or by `onTimeout()` after `timeoutMs`.
 * `cleanup` runs once with the answer, before the promise resolves (destroy sockets, cancel streams).
 * `start` runs at once; it must not throw (catch and `finish` with an error instead). Never rejects.
 */
export function settleOnce<T>(
  timeoutMs: number,
  onTimeout: () => T,
  start: (s: Settle<T>) => void,
  cleanup?: (value: T) => void,
): Promise<T> {
  return new Promise((resolve) => {
    let settled = false;
    const s: Settle<T> = {
      finish: (value) => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        cleanup?.(value);
        resolve(value);
        return true;
      },
      get settled() {
        return settled;
      },
    };
    const timer = setTimeout(() => s.finish(onTimeout()), Math.max(0, timeoutMs));
    start(s);
  });
}
