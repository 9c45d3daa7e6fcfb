// The verdict of a node its sources no longer list: unknown and blocking, saying since when and
// until when it is kept, so the page explains why a node nobody lists still blocks the fleet.
import type { MissingNode } from '../inventory/types.ts';
import { settleFacts } from './facts.ts';
import type { NodeHistory } from './types.ts';
import type { NodeVerdict } from './verdict.ts';

export function judgeMissingNode(m: MissingNode, history: NodeHistory, o: { nowMs: number; expiryWarningMs: number }): NodeVerdict {
  const iso = (ms: number): string => new Date(ms).toISOString();
  // Nothing was observed this collection: every fact is unknown.
  const facts = settleFacts(
    {
      name: m.node.name,
      role: m.node.role,
      nowMs: o.nowMs,
      history,
      tlsAddress: m.node.tlsAddress ?? null,
      plaintextAddress: m.node.plaintextAddress ?? null,
      certificateFile: m.node.certificateFile ?? null,
      scrape: null,
      prometheus: null,
      tls: null,
      certFile: null,
      plaintext: null,
      sockets: null,
    },
    o,
  );
  return {
    node: m.node.name,
    role: m.node.role,
    phase: 'unknown',
    reasons: ['missing_from_inventory'],
    details: [
      `${m.sources.join(', ')} no longer list(s) this node (last listed ${iso(m.lastListedMs)}); it stays in the fleet, unknown and blocking, until ${iso(m.untilMs)} unless listed again`,
    ],
    facts,
    window: null,
    coverage: null,
    observedSinceMs: null,
    plaintextLastSeenMs: history.plaintextLastSeenMs,
    establishedPlaintext: null,
  };
}
