// The shape every observer of a node has (one file each in observers/), and what they fill in.
import type { Logger } from 'pino';
import type { Config, NodeConfig } from '../config/types.ts';
import type {
  CertFileResult,
  GitalyScrape,
  PlaintextProbeResult,
  SocketsResult,
  SourceError,
  TlsProbeResult,
} from '../evidence/evidence.ts';
import type { PeerSightings, PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { ReverseDnsCache } from '../peers/reverse-dns.ts';
import type { TlsSessionCache } from '../probes/tls-sessions.ts';
import type { ProbeFunctions } from './probes.ts';

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
  /** Each observer that ran this collection: how long it took and how it failed (null: it answered). */
  runs: ObserverRun[];
}

export type ObserverSource = 'gitaly_metrics' | 'tls' | 'cert_file' | 'plaintext' | 'sockets';

export interface ObserverRun {
  source: ObserverSource;
  durationMs: number;
  error: SourceError | null;
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

/** What an observer is given: the node, what earlier collections left, and what this one found so far. */
export interface ObserveStep {
  node: NodeConfig;
  memory: ObserveMemory;
  carry: NodeCarry;
  /** The observers before this one, in this collection. */
  observed: NodeObservation;
  ctx: ObserveContext;
  log: Logger;
}

/** Its share of the observation; the carry when it changed; its failure (null: it answered). Never thrown. */
export interface ObserverResult {
  observed: Partial<NodeObservation>;
  carry?: NodeCarry;
  error: SourceError | null;
}

/** One source of a node's evidence: whether it runs this collection, and what it finds. */
export interface Observer {
  source: ObserverSource;
  due(step: ObserveStep): boolean;
  run(step: ObserveStep): Promise<ObserverResult>;
}
