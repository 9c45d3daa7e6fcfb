// One node's share of a collection: its observers in order, each with one shape (observer.ts),
// their run times and failures recorded in one place. Scrape first, then the probes, so that every
// connection the probes open lands in the NEXT scrape's counters, where the history subtracts it.
// Pure of the history: what it teaches is migration/advance-node.ts's to record, once per cycle.
import type { NodeConfig } from '../config/types.ts';
import type { NodeCarry, NodeObservation, ObserveContext, ObserveMemory, Observer, ObserverRun } from './observer.ts';
import { certFileObserver } from './observers/cert-file.ts';
import { gitalyMetricsObserver } from './observers/gitaly-metrics.ts';
import { listenAddrObserver } from './observers/listen-addr.ts';
import { socketsObserver } from './observers/sockets.ts';
import { tlsObserver } from './observers/tls.ts';

export { emptyCarry } from './observer.ts';
export type { NodeCarry, NodeObservation, ObserveContext, ObserveMemory } from './observer.ts';

/** In the order they run: each may read what the ones before it found. */
export const OBSERVERS: readonly Observer[] = [gitalyMetricsObserver, tlsObserver, certFileObserver, listenAddrObserver, socketsObserver];

export async function observeNode(
  node: NodeConfig,
  memory: ObserveMemory,
  carry: NodeCarry,
  ctx: ObserveContext,
): Promise<{ observation: NodeObservation; carry: NodeCarry }> {
  const log = ctx.logger.child({ node: node.name });
  const started = ctx.now();
  const runs: ObserverRun[] = [];
  let observed: NodeObservation = {
    node,
    scrape: null,
    scrapeAtMs: null,
    tls: null,
    certFile: null,
    // The latest check, whenever it ran: reported as it was until the next one.
    plaintext: memory.lastPlaintextProbe,
    plaintextFresh: false,
    sockets: null,
    plaintextPeers: null,
    durationMs: 0,
    runs,
  };
  for (const observer of OBSERVERS) {
    const step = { node, memory, carry, observed, ctx, log };
    if (!observer.due(step)) continue;
    const begun = ctx.now();
    const result = await observer.run(step);
    observed = { ...observed, ...result.observed };
    carry = result.carry ?? carry;
    runs.push({ source: observer.source, durationMs: ctx.now() - begun, error: result.error });
  }
  return { observation: { ...observed, durationMs: ctx.now() - started }, carry };
}
