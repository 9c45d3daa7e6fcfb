// One node's share of a collection: scrape first, then the probes, so that every connection the
// probes open lands in the NEXT scrape's counters, where the history subtracts it exactly.
import type { Logger } from 'pino';
import { parseAddress } from '../base/address.ts';
import type { Config, NodeConfig } from '../config/types.ts';
import type { CertFileResult, GitalyScrape, PlaintextProbeResult, SocketsResult, TlsProbeResult } from '../evidence/evidence.ts';
import type { ReverseDnsCache } from '../peers/reverse-dns.ts';
import type { TlsSessionCache } from '../probes/tls-sessions.ts';
import { DEFAULTS } from '../config/schema.ts';
import { PEERS_LISTED, trackPlaintextPeers, type PeerSightings, type PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { ProbeFunctions } from './probes.ts';
import { isDue } from './schedule.ts';

export interface NodeObservation {
  node: NodeConfig;
  scrape: GitalyScrape | null;
  /** When the scrape's page arrived (not when it was asked for): a client that connected during a slow scrape is in its counters. */
  scrapeAtMs: number | null;
  tls: TlsProbeResult | null;
  certFile: CertFileResult | null;
  /** The latest plaintext check; `plaintextFresh` says whether it ran in this cycle. */
  plaintext: PlaintextProbeResult | null;
  plaintextFresh: boolean;
  sockets: SocketsResult | null;
  /** Local mode: who holds plaintext connections open now (null when not read). */
  plaintextPeers?: PlaintextPeers | null;
  durationMs: number;
}

/** What the observers need to know of earlier collections, from the node's history (kept across restarts). */
export interface ObserveMemory {
  /** The latest check of listen_addr, whenever it ran. */
  lastPlaintextProbe: PlaintextProbeResult | null;
  /** Whether the TLS listener ever completed a handshake (before this collection). */
  tlsEverUp: boolean;
}

/** What a node carries between cycles in memory (checks that do not run every cycle). */
export interface NodeCarry {
  versionsCheckedMs: number | null;
  accepts: TlsProbeResult['accepts'];
  /** Local mode: when each plaintext peer address was first and last seen connected. */
  peerSightings?: PeerSightings;
}

export function emptyCarry(): NodeCarry {
  return { versionsCheckedMs: null, accepts: { 'TLSv1.2': null, 'TLSv1.3': null } };
}

export interface ObserveContext {
  config: Config;
  probes: ProbeFunctions;
  caPems: string[] | undefined;
  now: () => number;
  logger: Logger;
  /** Local mode with reverse_dns: names for plaintext peers. */
  peerNames?: ReverseDnsCache | null;
  /** TLS sessions resumed between cycles; a full handshake runs with the hourly version check. */
  tlsSessions?: TlsSessionCache;
}

function portOf(address: string | undefined): number | undefined {
  if (!address) return undefined;
  const parsed = parseAddress(address, ['tls://', 'tcp://']);
  return parsed.ok ? parsed.value.port : undefined;
}

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

/**
 * Observes one node: scrape first, then the probes. Pure of the history: what it records is the
 * verdict's job (migration/advance-node.ts), once per cycle, from the observation returned here.
 */
export async function observeNode(
  node: NodeConfig,
  memory: ObserveMemory,
  carry: NodeCarry,
  ctx: ObserveContext,
): Promise<{ observation: NodeObservation; carry: NodeCarry }> {
  const { config, probes, now } = ctx;
  const log = ctx.logger.child({ node: node.name });
  const started = now();
  let c = carry;

  let scrape: GitalyScrape | null = null;
  let scrapeAtMs: number | null = null;
  // With direct_scrape: false, Prometheus (which scrapes the same page) is the only traffic evidence.
  if (node.metricsUrl && config.prometheus?.directScrape !== false) {
    scrape = await probes.scrapeGitalyMetrics(
      node.metricsUrl,
      { role: node.role, timeoutMs: config.timeouts.metricsMs, maxBytes: config.maxMetricsPageBytes },
      { dispatcher: probes.scrapeDispatcher ?? probes.dispatcher, now },
    );
    scrapeAtMs = now();
  }

  let tls: TlsProbeResult | null = null;
  if (node.tlsAddress) {
    const checkVersions = isDue(c.versionsCheckedMs, config.tlsVersionCheckIntervalMs, node.name, now());
    tls = await probes.probeTls(
      { node: node.name, address: node.tlsAddress, serverName: node.serverName },
      { timeoutMs: config.timeouts.tlsMs, ca: ctx.caPems, checkVersions, fullHandshake: checkVersions },
      { logger: log, now, sessions: ctx.tlsSessions, resolveAll: probes.resolveAll },
    );
    if (checkVersions && tls.handshakeOk) c = { ...c, versionsCheckedMs: tls.atMs, accepts: tls.accepts };
    // Pinned handshakes are re-checked hourly, not every cycle; report the last answer meanwhile.
    else tls = { ...tls, accepts: c.accepts };
  }

  let certFile: CertFileResult | null = null;
  // Before TLS was ever up there is no served certificate to compare the file with: a node at the
  // start of its migration, whose certificate may not be installed yet.
  if (node.certificateFile && (memory.tlsEverUp || tls?.handshakeOk === true)) {
    const servedLeaf = tls?.chain.find((cert) => cert.position === 'leaf')?.sha256 ?? null;
    certFile = await probes.checkCertFile(node.certificateFile, servedLeaf);
  }

  let plaintext = memory.lastPlaintextProbe;
  let plaintextFresh = false;
  // Removing listen_addr takes a Gitaly restart: check it again as soon as the new process serves
  // TLS, rather than up to plaintext_check_interval later (once per restart).
  const lastCheckMs = plaintext?.atMs;
  const startMs = scrape?.ok && typeof scrape.processStartSeconds === 'number' ? scrape.processStartSeconds * 1000 : null;
  const restartedSinceCheck = lastCheckMs !== undefined && startMs !== null && startMs > lastCheckMs && tls?.handshakeOk === true;
  // A check that could not tell (no answer, no name) dialled nothing Gitaly counted: ask again soon,
  // so its error does not stand for a whole interval after the listener is reachable again.
  // (Without a plaintext_address the answer is never known: only the TLS port is checked, hourly.)
  const undetermined = node.plaintextAddress !== undefined && plaintext?.open === null && plaintext.connectionsMade.tcp === 0;
  const retryDue = undetermined && lastCheckMs !== undefined && now() - lastCheckMs >= 2 * config.collectionIntervalMs;
  const checkDue = retryDue || isDue(lastCheckMs, config.plaintextCheckIntervalMs, node.name, now());
  if ((node.plaintextAddress || node.tlsAddress) && (restartedSinceCheck || checkDue)) {
    plaintext =
      (await listenerFromProc(node, ctx)) ??
      (await probes.probePlaintext(
        { node: node.name, plaintextAddress: node.plaintextAddress, tlsAddress: node.tlsAddress },
        { timeoutMs: config.timeouts.plaintextMs, grpcHealth: true, checkTlsPortRejectsPlaintext: Boolean(node.tlsAddress) },
        { now, resolveAll: probes.resolveAll },
      ));
    plaintextFresh = true;
  }

  let sockets: SocketsResult | null = null;
  let plaintextPeers: PlaintextPeers | null = null;
  if (config.local?.node === node.name) {
    const ports = { tcp: portOf(node.plaintextAddress), tls: portOf(node.tlsAddress) };
    sockets = await probes.readEstablished(config.local.procRoot, ports, {}, { peers: true });
    // Two collections' grace: one read that skips a peer does not restart its "since".
    const tracked = trackPlaintextPeers(sockets, c.peerSightings ?? new Map(), now(), 2 * config.collectionIntervalMs);
    if (tracked) {
      c = { ...c, peerSightings: tracked.sightings };
      // Names only for the peers the pages list: never thousands of lookups.
      const listed = tracked.peers.slice(0, PEERS_LISTED).map((p) => p.address);
      const names = ctx.peerNames ? await ctx.peerNames.names(listed) : null;
      plaintextPeers = {
        peers: tracked.peers.map((p) => ({ ...p, name: names?.get(p.address) ?? null })),
        notKept: tracked.notKept,
        metricLimit: config.local.peerMetricLimit ?? DEFAULTS.peerMetricLimit,
      };
    }
  }

  return {
    observation: {
      node,
      scrape,
      scrapeAtMs,
      tls,
      certFile,
      plaintext,
      plaintextFresh,
      sockets,
      plaintextPeers,
      durationMs: now() - started,
    },
    carry: c,
  };
}
