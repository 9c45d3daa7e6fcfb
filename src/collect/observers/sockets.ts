// Local mode: the connections established now per listener, and who holds plaintext ones open.
import { DEFAULTS } from '../../config/schema.ts';
import { PEERS_LISTED, trackPlaintextPeers, type PlaintextPeers } from '../../peers/plaintext-peers.ts';
import type { Observer } from '../observer.ts';
import { portOf } from './ports.ts';

export const socketsObserver: Observer = {
  source: 'sockets',
  due: ({ node, ctx }) => ctx.config.local?.node === node.name,
  async run({ node, carry, ctx }) {
    const { config, probes, now } = ctx;
    const local = config.local!;
    const ports = { tcp: portOf(node.plaintextAddress), tls: portOf(node.tlsAddress) };
    const sockets = await probes.readEstablished(local.procRoot, ports, {}, { peers: true });
    const error = sockets.ok ? null : sockets.error;
    // Two collections' grace: one read that skips a peer does not restart its "since".
    const tracked = trackPlaintextPeers(sockets, carry.peerSightings ?? new Map(), now(), 2 * config.collectionIntervalMs);
    if (!tracked) return { observed: { sockets }, error };
    // Names only for the peers the pages list: never thousands of lookups.
    const listed = tracked.peers.slice(0, PEERS_LISTED).map((p) => p.address);
    const names = ctx.peerNames ? await ctx.peerNames.names(listed) : null;
    const plaintextPeers: PlaintextPeers = {
      peers: tracked.peers.map((p) => ({ ...p, name: names?.get(p.address) ?? null })),
      notKept: tracked.notKept,
      metricLimit: local.peerMetricLimit ?? DEFAULTS.peerMetricLimit,
    };
    return { observed: { sockets, plaintextPeers }, carry: { ...carry, peerSightings: tracked.sightings }, error };
  },
};
