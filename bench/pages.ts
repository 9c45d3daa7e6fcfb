// The benchmark's Gitaly pages: the same bytes wherever they are rendered (bench and page server).
import type { ConnectionCounts } from '../src/evidence/evidence.ts';

/** Counters the extractor must find on every bench page; distinct, so a mix-up shows. */
export const PAGE_COUNTS: ConnectionCounts = { tcp: 12, tls: 3456, unix: 78 };

export const PAGE_SIZES = [1_000_000, 10_000_000] as const;
