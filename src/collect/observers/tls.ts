// The TLS listener: a resumed handshake and a gRPC health check each collection; full handshakes
// and the pinned TLS versions in the node's slot of tls_version_check_interval.
import { isDue } from '../schedule.ts';
import type { Observer } from '../observer.ts';

export const tlsObserver: Observer = {
  source: 'tls',
  due: ({ node }) => Boolean(node.tlsAddress),
  async run({ node, carry, ctx, log }) {
    const { config, probes, now } = ctx;
    const checkVersions = isDue(carry.versionsCheckedMs, config.tlsVersionCheckIntervalMs, node.name, now());
    const tls = await probes.probeTls(
      { node: node.name, address: node.tlsAddress!, serverName: node.serverName },
      { timeoutMs: config.timeouts.tlsMs, ca: ctx.caPems, checkVersions, fullHandshake: checkVersions },
      { logger: log, now, sessions: ctx.tlsSessions, resolveAll: probes.resolveAll },
    );
    if (checkVersions && tls.handshakeOk)
      return { observed: { tls }, carry: { ...carry, versionsCheckedMs: tls.atMs, accepts: tls.accepts }, error: tls.error };
    // Pinned handshakes are re-checked in their slot, not every cycle; report the last answer meanwhile.
    return { observed: { tls: { ...tls, accepts: carry.accepts } }, error: tls.error };
  },
};
