// listen_addr: does it still accept connections? Dialled every plaintext_check_interval (read from
// /proc/net/tcp instead in local mode), at once after a Gitaly restart, and again soon when the
// last check could not tell. Every node's dial falls in the same collection, not in a slot of its
// own: Prometheus' window edges are kept clear of the dials (migration/query-window.ts), which
// needs them bunched, a plaintext_check_interval apart.
import type { NodeConfig } from '../../config/types.ts';
import type { PlaintextProbeResult } from '../../evidence/evidence.ts';
import type { ObserveContext, Observer, ObserveStep } from '../observer.ts';
import { portOf } from './ports.ts';

/**
 * Local mode: listen_addr's state read from /proc/net/tcp (LISTEN) instead of dialled, so this
 * exporter adds nothing to Gitaly's plaintext counter. Trusted only when the TLS listener is seen
 * listening in the same table (proof that it is Gitaly's network namespace); otherwise null: dial.
 */
async function listenerFromProc(node: NodeConfig, ctx: ObserveContext): Promise<PlaintextProbeResult | null> {
  const tcp = portOf(node.plaintextAddress);
  const tls = portOf(node.tlsAddress);
  if (ctx.config.local?.node !== node.name || !ctx.probes.readListening || tcp === undefined || tls === undefined) return null;
  const started = ctx.now();
  const read = await ctx.probes.readListening(ctx.config.local.procRoot, { tcp, tls });
  if (!read.ok || !read.listening.tls) return null;
  return {
    address: node.plaintextAddress!,
    open: read.listening.tcp,
    grpcHealthServing: null,
    tlsPortRejectsPlaintext: null,
    error: null,
    durationMs: ctx.now() - started,
    connectionsMade: { tcp: 0, tls: 0 },
    atMs: started,
  };
}

function due({ node, memory, observed, ctx }: ObserveStep): boolean {
  if (!node.plaintextAddress && !node.tlsAddress) return false;
  const { config, now } = ctx;
  const last = memory.lastPlaintextProbe;
  const lastCheckMs = last?.atMs;
  // Removing listen_addr takes a Gitaly restart: check it again as soon as the new process serves
  // TLS, rather than up to plaintext_check_interval later (once per restart).
  const scrape = observed.scrape;
  const startMs = scrape?.ok && typeof scrape.processStartSeconds === 'number' ? scrape.processStartSeconds * 1000 : null;
  if (lastCheckMs !== undefined && startMs !== null && startMs > lastCheckMs && observed.tls?.handshakeOk === true) return true;
  // A check that could not tell (no answer, no name) dialled nothing Gitaly counted: ask again soon,
  // so its error does not stand for a whole interval after the listener is reachable again.
  // (Without a plaintext_address the answer is never known: only the TLS port is checked, at the interval.)
  const undetermined = node.plaintextAddress !== undefined && last?.open === null && last.connectionsMade.tcp === 0;
  if (undetermined && lastCheckMs !== undefined && now() - lastCheckMs >= 2 * config.collectionIntervalMs) return true;
  return lastCheckMs === undefined || now() - lastCheckMs >= config.plaintextCheckIntervalMs;
}

export const listenAddrObserver: Observer = {
  source: 'plaintext',
  due,
  async run({ node, ctx }) {
    const { config, probes, now } = ctx;
    const plaintext =
      (await listenerFromProc(node, ctx)) ??
      (await probes.probePlaintext(
        { node: node.name, plaintextAddress: node.plaintextAddress, tlsAddress: node.tlsAddress },
        { timeoutMs: config.timeouts.plaintextMs, grpcHealth: true, checkTlsPortRejectsPlaintext: Boolean(node.tlsAddress) },
        { now, resolveAll: probes.resolveAll },
      ));
    return { observed: { plaintext, plaintextFresh: true }, error: plaintext.error };
  },
};
