// The /migration document: for change tickets and scripts. Times are ISO 8601 strings; a value
// nobody observed is null, never a made-up default.
import type { NodeResult, Snapshot } from '../collect/collector.ts';
import { REASON_TEXT, type Reason } from '../migration/types.ts';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const DAY_MS = 86_400_000;

function tlsSummary(n: NodeResult, nowMs: number): object | null {
  const t = n.observation.tls;
  if (!t) return null;
  return {
    address: t.address,
    handshakeOk: t.handshakeOk,
    error: t.error,
    trusted: t.trusted,
    trustError: t.trustError,
    hostnameMatch: t.hostnameMatch,
    alpn: t.alpnProtocol,
    version: t.tlsVersion,
    cipher: t.cipher,
    accepts: t.accepts,
    certificates: t.chain.map((c) => ({
      position: c.position,
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      sans: [...c.dnsNames, ...c.ipAddresses],
      notBefore: iso(c.notBeforeMs),
      notAfter: iso(c.notAfterMs),
      daysToExpiry: Math.floor((c.notAfterMs - nowMs) / DAY_MS),
      sha256: c.sha256,
      key: c.keyBits ? `${c.keyType} ${c.keyBits}` : c.keyType,
      signatureAlgorithm: c.signatureAlgorithm,
    })),
  };
}

export function nodeJson(n: NodeResult, nowMs: number): object {
  const v = n.verdict;
  const o = n.observation;
  return {
    node: v.node,
    role: v.role,
    phase: v.phase,
    blockingReasons: v.reasons.map((reason: Reason) => ({ reason, text: REASON_TEXT[reason] })),
    details: v.details,
    evidence: {
      sourcesDown: v.sourcesDown,
      windowConnections: v.window,
      prometheusInstance: n.instance,
      prometheusCoverage: v.coverage,
      observedSince: iso(v.observedSinceMs),
      plaintextLastSeen: iso(v.plaintextLastSeenMs),
      establishedPlaintext: v.establishedPlaintext,
      plaintextListenerOpen: v.plaintextListenerOpen,
      plaintextCheckedAt: iso(o.plaintext?.atMs),
      gitalyVersion: o.scrape?.ok ? o.scrape.version : null,
      metricsScrape: o.scrape ? (o.scrape.ok ? { ok: true, counts: o.scrape.counts } : { ok: false, error: o.scrape.error }) : null,
      tls: tlsSummary(n, nowMs),
      certificateFile: o.certFile
        ? o.certFile.ok
          ? { path: o.certFile.path, matchesServed: o.certFile.matchesServed, notAfter: iso(o.certFile.chain[0]?.notAfterMs) }
          : { error: o.certFile.error }
        : null,
      ownConnections: n.history.ownTotals,
      plaintextPeers: o.plaintextPeers
        ? o.plaintextPeers.peers.map((p) => ({
            address: p.address,
            name: p.name,
            connections: p.connections,
            firstSeen: iso(p.firstSeenMs),
          }))
        : null,
    },
  };
}

export function migrationJson(s: Snapshot): object {
  return {
    generatedAt: iso(s.atMs),
    fleet: {
      complete: s.fleet.complete,
      phase: s.fleet.phase,
      nodesByPhase: s.fleet.nodesByPhase,
      blocking: s.fleet.blocking,
      undeclaredInstances: s.fleet.undeclaredInstances,
      undeclaredInstanceCount: s.fleet.undeclaredCount,
      prometheus: s.prometheus
        ? s.prometheus.ok
          ? { ok: true, windowStart: iso(s.prometheus.windowStartMs), windowEnd: iso(s.prometheus.windowEndMs) }
          : { ok: false, error: s.prometheus.error }
        : null,
    },
    nodes: s.nodes.map((n) => nodeJson(n, s.atMs)),
    clients: s.clients ?? null,
    // Where the node list came from this cycle, and the discovered nodes kept though no longer listed.
    inventory: s.inventory
      ? {
          sources: s.inventory.sources.map((x) => ({ source: x.id, kind: x.kind, ok: x.ok, nodes: x.nodes, error: x.error })),
          missing: s.inventory.missing.map((m) => ({
            node: m.node.name,
            sources: m.sources,
            lastListed: iso(m.lastListedMs),
            keptUntil: iso(m.untilMs),
          })),
        }
      : null,
  };
}
