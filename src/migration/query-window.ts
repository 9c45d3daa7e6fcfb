// Chooses the Prometheus window so that no own plaintext dial sits near one of its edges.
//
// Prometheus samples Gitaly's counter every scrape interval. An own dial made just after the
// window starts (before the first sample in it) is already in that first sample, so increase()
// does not contain it; subtracting it anyway would hide one real plaintext connection. The same
// holds for a dial after the last sample before the window ends. Keeping every dial at least
// `slackMs` (more than a scrape interval) away from both edges makes "dials inside the window"
// exactly "dials that increase() counted". The window only ever grows backwards or ends a little
// earlier; the few minutes it may end early are still watched by the direct scrape.

export interface QueryWindow {
  startMs: number;
  endMs: number;
  /** Dials that could not be kept away from an edge: not subtracted (a false "not yet" at worst). */
  unsafe: Set<number>;
}

export interface QueryWindowOptions {
  soakWindowMs: number;
  slackMs: number;
  /** How far the end may move back, and the start beyond the soak window, before giving up. */
  maxShiftMs: number;
}

function nearest(times: readonly number[], edge: number, slackMs: number): number | undefined {
  return times.filter((t) => Math.abs(t - edge) < slackMs).sort((a, b) => a - b)[0];
}

export function chooseQueryWindow(nowMs: number, ownDialTimesMs: readonly number[], options: QueryWindowOptions): QueryWindow {
  const { soakWindowMs, slackMs } = options;
  // A single dial just before now already needs the end two slacks back: never allow less, but
  // never so much that the window shrinks below half the soak window.
  const maxShiftMs = Math.min(Math.max(options.maxShiftMs, 3 * slackMs), soakWindowMs / 2);
  const times = [...new Set(ownDialTimesMs)];
  let endMs = nowMs;
  for (
    let hit = nearest(times, endMs, slackMs);
    hit !== undefined && nowMs - (hit - slackMs) <= maxShiftMs;
    hit = nearest(times, endMs, slackMs)
  ) {
    endMs = hit - slackMs;
  }
  let startMs = Math.min(endMs, nowMs - soakWindowMs);
  const earliestStart = nowMs - soakWindowMs - maxShiftMs;
  for (
    let hit = nearest(times, startMs, slackMs);
    hit !== undefined && hit - slackMs >= earliestStart;
    hit = nearest(times, startMs, slackMs)
  ) {
    startMs = hit - slackMs;
  }
  const unsafe = new Set(times.filter((t) => Math.abs(t - startMs) < slackMs || Math.abs(t - endMs) < slackMs));
  return { startMs, endMs, unsafe };
}
