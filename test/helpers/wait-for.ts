// Polls a condition instead of sleeping a fixed time, so tests are as fast as the system allows
// and fail with a sentence that says what never happened.

export interface WaitForOptions {
  timeoutMs: number;
  intervalMs: number;
  /** What is being waited for, as it should read in "timed out waiting for <what>". */
  what: string;
}

type Pending = undefined | false;

/**
 * Calls `fn` until it returns something other than `undefined` or `false`, and resolves with it.
 * A throw counts as "not yet" (a server that is still starting refuses connections); the last
 * error is quoted in the timeout message.
 */
export async function waitFor<T>(fn: () => Promise<T | Pending> | T | Pending, options: WaitForOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause =
        lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
