// The verdict of a node its sources no longer list: unknown and blocking, saying since when and
// until when it is kept, so the page explains why a node nobody lists still blocks the fleet.
import type { NodeObservation } from '../collect/observe-node.ts';
import type { NodeVerdict } from '../migration/verdict.ts';
import type { InventoryView, MissingNode } from './types.ts';

export function missingObservation(m: MissingNode): NodeObservation {
  return { node: m.node, scrape: null, tls: null, certFile: null, plaintext: null, plaintextFresh: false, sockets: null, durationMs: 0 };
}

export function missingVerdict(m: MissingNode, plaintextLastSeenMs: number | null): NodeVerdict {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    node: m.node.name,
    role: m.node.role,
    phase: 'unknown',
    reasons: ['missing_from_inventory'],
    details: [
      `${m.sources.join(', ')} no longer list(s) this node (last listed ${iso(m.lastListedMs)}); it stays in the fleet, unknown and blocking, until ${iso(m.untilMs)} unless listed again`,
    ],
    sourcesDown: [],
    window: null,
    coverage: null,
    observedSinceMs: null,
    plaintextLastSeenMs,
    establishedPlaintext: null,
    plaintextListenerOpen: null,
    certExpiresMs: null,
    tlsHealthy: false,
  };
}

/** Sentences for the fleet verdict: every source that failed this cycle, every missing node. */
export function inventoryBlocking(view: InventoryView): string[] {
  const out = view.sources
    .filter((s) => !s.ok)
    .map((s) => `inventory source ${s.id} failed this cycle, so nodes may be missing: ${s.error?.message ?? 'unknown error'}`);
  if (view.missing.length > 0) {
    const named = view.missing.slice(0, 10).map((m) => `${m.node.name} (until ${new Date(m.untilMs).toISOString()})`);
    const more = view.missing.length > 10 ? ` and ${view.missing.length - 10} more` : '';
    out.push(
      `${view.missing.length} discovered node(s) no longer listed by their source, kept for the soak window: ${named.join(', ')}${more}`,
    );
  }
  if (view.conflicts.size > 0) {
    const named = [...view.conflicts.keys()].slice(0, 10);
    const more = view.conflicts.size > 10 ? ` and ${view.conflicts.size - 10} more` : '';
    out.push(
      `${view.conflicts.size} node(s) share an identity with another discovered entry that disagrees with them, so a Gitaly may be unjudged: ${named.join(', ')}${more}`,
    );
  }
  return out;
}
