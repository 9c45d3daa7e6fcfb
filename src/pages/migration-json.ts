// The /migration document: for change tickets and scripts. Times are ISO 8601 strings; a value
// nobody observed is null, with the reason beside it, never a made-up default.
import { PEERS_LISTED, topPeers, type PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { PeerTotals } from '../peers/socket-peers.ts';
import type { CollectionView } from '../view/collection-view.ts';
import { CHECK_NAMES, type Check, type NodeView, type TlsView } from '../view/node-view.ts';

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** `{ value, reason }`: value true/false when observed; null with the reason it is not known. */
const checkJson = (c: Check): { value: boolean | null; reason: string | null } => ({ value: c.value, reason: c.why });

function tlsJson(t: TlsView | null): object | null {
  if (!t) return null;
  return {
    address: t.address,
    handshakeOk: t.handshake.value,
    error: t.error,
    trusted: t.trusted.value,
    trustError: t.trusted.value === false ? t.trusted.why : null,
    hostnameMatch: t.hostnameMatch.value,
    alpn: t.alpnProtocol,
    alpnH2: t.alpnH2.value,
    grpcHealthOk: t.grpcHealth.value,
    version: t.version,
    cipher: t.cipher,
    accepts: Object.fromEntries(t.accepts.map((a) => [a.version, a.accepted])),
    certificates: t.certificates.map((c) => ({
      position: c.position,
      sent: c.sent,
      subject: c.subject,
      issuer: c.issuer,
      serial: c.serial,
      sans: c.sans,
      notBefore: iso(c.notBeforeMs),
      notAfter: iso(c.notAfterMs),
      daysToExpiry: c.daysToExpiry,
      expiry: c.expiry,
      sha256: c.sha256,
      key: c.key,
      signatureAlgorithm: c.signatureAlgorithm,
    })),
  };
}

/** New connections per bucket over the soak window (own excluded): the numbers behind the page's chart. */
function chartJson(c: NodeView['chart']): object {
  return {
    from: iso(c.fromMs),
    to: iso(c.toMs),
    windowStart: iso(c.windowStartMs),
    bucketSeconds: c.bucketMs / 1000,
    knownFrom: iso(c.known?.fromMs),
    knownTo: iso(c.known?.toMs),
    unknownReason: c.why,
    buckets: c.buckets.map((b) => ({ start: iso(b.startMs), tcp: b.tcp, tls: b.tls })),
    plaintextLastSeen: iso(c.plaintextLastSeenMs),
  };
}

export function nodeJson(v: NodeView): object {
  return {
    node: v.node,
    role: v.role,
    tlsAddress: v.tlsAddress,
    plaintextAddress: v.plaintextAddress,
    phase: v.phase,
    nextStep: v.nextStep,
    blockingReasons: v.reasons,
    details: v.details,
    soak: {
      windowSeconds: v.soak.windowMs / 1000,
      observedSince: iso(v.soak.observedSinceMs),
      observedForSeconds: v.soak.observedForMs === null ? null : Math.round(v.soak.observedForMs / 1000),
      plaintextLastSeen: iso(v.soak.plaintextLastSeenMs),
      plaintextLastSeenAgeSeconds: v.soak.plaintextLastSeenAgeMs === null ? null : Math.round(v.soak.plaintextLastSeenAgeMs / 1000),
      projectedSafeAt: iso(v.soak.projectedSafe.atMs),
      projectedSafeReason: v.soak.projectedSafe.atMs === null ? v.soak.projectedSafe.why : null,
      connections: chartJson(v.chart),
    },
    checks: Object.fromEntries(CHECK_NAMES.map((name) => [name, checkJson(v.checks[name])])),
    certExpiry:
      v.certExpiry.atMs === null
        ? { at: null, days: null, reason: v.certExpiry.why }
        : { at: iso(v.certExpiry.atMs), days: v.certExpiry.days, state: v.certExpiry.state, reason: null },
    expiryWarningSeconds: v.expiryWarningMs / 1000,
    evidence: {
      sources: v.sources.map((s) => ({ source: s.source, up: s.up, error: s.error })),
      sourcesDown: v.sources.filter((s) => !s.up).map((s) => s.source),
      windowConnections: v.soak.window,
      soakWindowSeconds: v.soak.windowMs / 1000,
      prometheusInstance: v.instance,
      prometheusCoverage: v.soak.coverage,
      observedSince: iso(v.soak.observedSinceMs),
      plaintextLastSeen: iso(v.soak.plaintextLastSeenMs),
      establishedPlaintext: v.soak.established?.tcp ?? null,
      plaintextListenerOpen: v.checks.plaintextListenerOpen.value,
      plaintextCheckedAt: iso(v.soak.plaintextCheckedAtMs),
      gitalyVersion: v.version,
      gitalyVersionReason: v.versionWhy,
      metricsScrape: sourceJson(v, 'gitaly_metrics', { counts: v.counts }),
      tls: tlsJson(v.tls),
      certificateFile: v.certificateFile
        ? {
            path: v.certificateFile.path,
            matchesServed: invert(v.checks.restartNeeded),
            notAfter: iso(v.certificateFile.leafNotAfterMs),
            serial: v.certificateFile.leafSerial,
            subject: v.certificateFile.leafSubject,
            expiry: v.certificateFile.leafExpiry,
          }
        : sourceJson(v, 'cert_file', {}),
      ownConnections: v.ownConnections,
      ...plaintextPeersJson(v.plaintextPeers),
    },
  };
}

const invert = (c: Check): boolean | null => (c.value === null ? null : !c.value);

/** The top PEERS_LISTED peers, and how many others there are with how many connections (0 and 0 when none). */
function plaintextPeersJson(peers: PlaintextPeers | null): { plaintextPeers: object[] | null; plaintextPeersNotListed: PeerTotals | null } {
  if (!peers) return { plaintextPeers: null, plaintextPeersNotListed: null };
  const { top, other } = topPeers(peers, PEERS_LISTED);
  return {
    plaintextPeers: top.map((p) => ({ address: p.address, name: p.name, connections: p.connections, firstSeen: iso(p.firstSeenMs) })),
    plaintextPeersNotListed: other ?? { peers: 0, connections: 0 },
  };
}

/** A source's answer in the shape /migration has always had: `{ ok: true, …extra }`, `{ ok: false, error }` or null. */
function sourceJson(v: NodeView, source: NodeView['sources'][number]['source'], extra: object): object | null {
  const s = v.sources.find((x) => x.source === source);
  if (!s) return null;
  return s.up ? { ok: true, ...extra } : { ok: false, error: s.error };
}

export function migrationJson(s: CollectionView): object {
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
    exporter: {
      caBundle: s.caBundle.ok
        ? { ok: true, source: s.caBundle.source, certificates: s.caBundle.count }
        : { ok: false, error: s.caBundle.error },
      stateFile: s.stateError ? { ok: false, error: s.stateError } : { ok: true },
    },
    nodes: s.nodes.map(nodeJson),
    clients: s.clients,
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
