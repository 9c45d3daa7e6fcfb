// Polls a condition instead of sleeping a fixed time, so tests are as fast as the system allows
// and fail with a sentence that says what never happened, and what the system looked like then.
import { scaled } from './time-factor.ts';

export interface WaitForOptions {
  /** The deadline on a quiet machine; scaled by TEST_TIME_FACTOR (see time-factor.ts). */
  timeoutMs: number;
  intervalMs: number;
  /** What is being waited for, as it should read in "timed out waiting for <what>". */
  what: string;
  /**
   * Evidence for the failure message (a process's log, say), read when the wait fails, not when it
   * starts: a log captured at the start says nothing about why nothing happened.
   */
  context?: () => string;
}

type Pending = undefined | false;

function contextOf(context: (() => string) | undefined): string {
  if (!context) return '';
  try {
    return `\n${context()}`;
  } catch (err) {
    return `\n(context unavailable: ${(err as Error).message})`;
  }
}

/**
 * Calls `fn` until it returns something other than `undefined` or `false`, and resolves with it.
 * A throw counts as "not yet" (a server that is still starting refuses connections); the last
 * error is quoted in the timeout message.
 */
export async function waitFor<T>(fn: () => Promise<T | Pending> | T | Pending, options: WaitForOptions): Promise<T> {
  const timeoutMs = scaled(options.timeoutMs);
  const deadline = Date.now() + timeoutMs;
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
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${cause}${contextOf(options.context)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
