// TLS sessions kept between a collection's probes of one listener, so the next probe can resume
// instead of repeating the full handshake. Why a resumed session proves as much as a full one:
// Gitaly reads its certificate once, at start, and its session-ticket keys are random per process
// (Go's crypto/tls makes them at start). A server that accepts our ticket is therefore the same
// process that served the verified certificate, still serving it. A restarted Gitaly (new
// certificate or not), or another backend behind a load balancer, cannot decrypt the ticket: the
// handshake is a full one and its chain is read and verified afresh.
//
// What a resumed session cannot show is handled by the caller forcing a full handshake: at least
// every tls_version_check_interval, when the CA bundle changes (the entry remembers the
// SecureContext it was verified with), when a certificate of the chain crosses its notBefore or
// notAfter (trust would be judged differently now), and after any probe that failed or answered
// differently (no new ticket is stored, so the entry is dropped).
import type { SecureContext } from 'node:tls';
import type { CertificateFacts } from '../evidence/evidence.ts';
import { withoutPeerCertificate } from './session-ticket.ts';

/** What the last full handshake with one listener established, and the ticket to resume it. */
export interface VerifiedSession {
  /** Serialized TLS session (ticket) from the server, kept without its certificate (session-ticket.ts); handed to setSession(). */
  ticket: Buffer;
  /** The context (CA bundle and options) the chain was verified against. */
  context: SecureContext;
  chain: CertificateFacts[];
  trusted: boolean | null;
  trustError: string | null;
  hostnameMatch: boolean | null;
  /** When the full handshake was made. */
  verifiedAtMs: number;
  /** The chain's validity as a whole: resuming is only right while now is inside it. */
  notBeforeMs: number;
  notAfterMs: number;
}

/** Unix ms the whole chain is valid from and until (the latest notBefore, the earliest notAfter). */
export function chainValidity(chain: CertificateFacts[]): { notBeforeMs: number; notAfterMs: number } {
  let notBeforeMs = Number.NEGATIVE_INFINITY;
  let notAfterMs = Number.POSITIVE_INFINITY;
  for (const cert of chain) {
    notBeforeMs = Math.max(notBeforeMs, cert.notBeforeMs);
    notAfterMs = Math.min(notAfterMs, cert.notAfterMs);
  }
  return { notBeforeMs, notAfterMs };
}

/**
 * One entry per listener (address and server name). Bounded: the least recently stored entry goes
 * first, so nodes that left the configuration stop holding memory once the cap is reached.
 */
export class TlsSessionCache {
  private readonly entries = new Map<string, VerifiedSession>();

  constructor(private readonly maxEntries = 50_000) {}

  static key(address: string, serverName: string | undefined): string {
    return `${address}\u0000${serverName ?? ''}`;
  }

  /** The entry to resume with, or null when a full handshake is due (see the file comment). */
  usable(key: string, context: SecureContext, nowMs: number): VerifiedSession | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.context !== context || nowMs < entry.notBeforeMs || nowMs >= entry.notAfterMs) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  set(key: string, entry: VerifiedSession): void {
    this.entries.delete(key);
    this.entries.set(key, { ...entry, ticket: withoutPeerCertificate(entry.ticket) });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
