// What the inventory's state costs the fleet verdict: every source that failed, every missing node.
import type { InventoryView } from './types.ts';

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
