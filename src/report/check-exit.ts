// `check`'s exit codes, distinct so a CI job can tell "not yet" from "the gate is broken".
import type { NodeGate } from './node-gate.ts';

export const CHECK_EXIT = {
  /** The fleet is complete, or the node may drop listen_addr. */
  ok: 0,
  /** A verdict was reached, and it is "not yet". */
  notYet: 1,
  /** Bad usage or configuration: a flag, the config file, a --url that is not one, a --node the fleet does not have. */
  usage: 2,
  /** No verdict could be had: the exporter unreachable, no verdict yet, an answer that is not /migration's. */
  undetermined: 3,
} as const;

/** A node the fleet does not have is a usage error, unless a source of the node list failed: then nobody can tell. */
export function gateExit(gate: NodeGate): number {
  if (gate.found) return gate.may ? CHECK_EXIT.ok : CHECK_EXIT.notYet;
  return gate.cannotTell ? CHECK_EXIT.undetermined : CHECK_EXIT.usage;
}
