// What the verdict judges for one node: the direct observation joined with Prometheus' answer
// (advance-node.ts), with the history as it stands after this collection.
import type { PlaintextPeers } from '../peers/plaintext-peers.ts';
import type { Role } from '../config/types.ts';
import type {
  CertFileResult,
  GitalyScrape,
  PlaintextProbeResult,
  PrometheusNodeEvidence,
  SocketsResult,
  SourceError,
  TlsProbeResult,
} from '../evidence/evidence.ts';
import type { CanaryCheck, NodeHistory } from './types.ts';

export type PrometheusNodeView =
  | { ok: false; error: SourceError }
  | {
      ok: true;
      windowStartMs: number;
      windowEndMs: number;
      node: PrometheusNodeEvidence | null;
      own: { tcp: number; tls: number };
      /** Real plaintext connections in the soak window counted change by change, every exporter's dials excluded. */
      plaintextTcp?: number;
      /** Our own connections against the counter Prometheus has for the node (see canary.ts). */
      canary?: CanaryCheck | null;
    };

export interface NodeEvidence {
  name: string;
  role: Role;
  nowMs: number;
  history: NodeHistory;
  /** The configured tls_address and plaintext_address; null: not configured for this node. */
  tlsAddress: string | null;
  plaintextAddress: string | null;
  /** The configured certificate_file, when there is one. */
  certificateFile?: string | null;
  /** `plaintext_address: none` in the config: the operator states listen_addr is removed. */
  plaintextListenerRemoved?: boolean;
  /** null = not configured for this node. */
  scrape: GitalyScrape | null;
  prometheus: PrometheusNodeView | null;
  tls: TlsProbeResult | null;
  certFile: CertFileResult | null;
  /** The latest plaintext check, possibly from an earlier cycle (it runs rarely). */
  plaintext: PlaintextProbeResult | null;
  sockets: SocketsResult | null;
  /** Local mode: who holds plaintext connections open now. */
  plaintextPeers?: PlaintextPeers | null;
  /** Entries of the inventory that share this node's identity but disagree with it (merge.ts). */
  identityConflicts?: readonly string[];
}
