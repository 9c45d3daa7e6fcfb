/**
 * Runs `fn` over `items` with at most `limit` in flight, preserving order. A slow item holds one
 * slot only, so one hung Gitaly delays nobody else's result. `fn` must not throw (probes never do);
 * if it does, the error propagates after the in-flight items settle.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
