// `check --config.file`: what one collection's view prints, and the exit code it makes, for the
// fleet or (`--node X`) for one node.
import type { CollectionView } from '../view/collection-view.ts';
import { CHECK_EXIT, gateExit } from './check-exit.ts';
import { gateNode } from './node-gate.ts';
import { renderTable } from './table.ts';

export interface CheckOutcome {
  exit: number;
  stdout: string;
  stderr: string;
}

export function localCheck(view: CollectionView, node?: string): CheckOutcome {
  if (node === undefined) return { exit: view.fleet.complete ? CHECK_EXIT.ok : CHECK_EXIT.notYet, stdout: renderTable(view), stderr: '' };
  const failed = (view.inventory?.sources ?? []).filter((s) => !s.ok).map((s) => s.id);
  const nodes = view.nodes.map((v) => ({ node: v.node, phase: v.phase, reasons: v.reasons.map((r) => r.reason) }));
  const gate = gateNode(nodes, node, failed);
  if (!gate.found) return { exit: gateExit(gate), stdout: '', stderr: `gitaly-tls-exporter: check: ${gate.line}\n` };
  return { exit: gateExit(gate), stdout: renderTable(view, { node, line: gate.line }), stderr: '' };
}
