// One info line when a node changes phase, saying from where to where and why (the reason codes
// and the next step), never one per cycle. The first collection sets the baseline silently: the
// status page and `check` show where each node stands; the log records what moved.
import type { Logger } from 'pino';
import type { Phase } from '../migration/types.ts';
import type { CollectionView } from '../view/collection-view.ts';

export class PhaseLog {
  private readonly phases = new Map<string, Phase>();

  constructor(private readonly logger: Logger) {}

  logChanges(view: CollectionView): void {
    const seen = new Set<string>();
    for (const n of view.nodes) {
      seen.add(n.node);
      const from = this.phases.get(n.node);
      this.phases.set(n.node, n.phase);
      if (from === undefined || from === n.phase) continue;
      const reasons = n.reasons.map((r) => r.reason).join(',');
      this.logger.info(
        { node: n.node, from, to: n.phase, reasons, next_step: n.nextStep },
        `${n.node}: phase ${from} → ${n.phase}${reasons ? ` (${reasons})` : ''}: ${n.nextStep}`,
      );
    }
    // A node dropped from the inventory and added back later starts a fresh baseline.
    for (const node of [...this.phases.keys()]) if (!seen.has(node)) this.phases.delete(node);
  }
}
