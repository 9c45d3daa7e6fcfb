// How far a node is through its soak window, and when it becomes safe if nothing else happens:
// settled once here so the page, /migration and /metrics show the same projection.

export interface SoakProgressInput {
  windowMs: number;
  window: { source: 'prometheus' | 'direct' } | null;
  /** Fraction of the window Prometheus scraped the node for; null without Prometheus. */
  coverage: number | null;
  observedSinceMs: number | null;
  plaintextLastSeenMs: number | null;
  /** Plaintext connections established right now (local mode); null = not read. */
  establishedPlaintext: number | null;
}

export interface SoakProgress {
  /** How long the node's traffic has been watched, capped at nothing; null = not watched yet. */
  observedForMs: number | null;
  /** Time since the last plaintext connection that was not the exporter's own; null = none seen. */
  plaintextLastSeenAgeMs: number | null;
  /** Wall-clock time at which the soak window holds no plaintext connection if none arrives. */
  projectedSafe: { atMs: number } | { atMs: null; why: string };
}

export function soakProgress(s: SoakProgressInput, nowMs: number): SoakProgress {
  // Direct scrapes watch from their first success; Prometheus has watched the share of the window it covers.
  const since = s.observedSinceMs ?? (s.window?.source === 'prometheus' && s.coverage !== null ? nowMs - s.coverage * s.windowMs : null);
  const observedForMs = since === null ? null : Math.max(0, nowMs - since);
  const plaintextLastSeenAgeMs = s.plaintextLastSeenMs === null ? null : Math.max(0, nowMs - s.plaintextLastSeenMs);
  if (s.establishedPlaintext !== null && s.establishedPlaintext > 0)
    return {
      observedForMs,
      plaintextLastSeenAgeMs,
      projectedSafe: {
        atMs: null,
        why: `${s.establishedPlaintext} plaintext connection(s) are established right now; the window restarts when they close`,
      },
    };
  if (since === null)
    return {
      observedForMs,
      plaintextLastSeenAgeMs,
      projectedSafe: { atMs: null, why: 'the node’s connection counts have not been observed yet' },
    };
  const atMs = Math.max(since, s.plaintextLastSeenMs ?? since) + s.windowMs;
  return { observedForMs, plaintextLastSeenAgeMs, projectedSafe: { atMs } };
}
