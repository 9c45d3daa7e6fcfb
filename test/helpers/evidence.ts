// Builders for evidence in a known-good state; tests change one thing at a time.
import type { CertificateFacts, GitalyScrape, PlaintextProbeResult, SourceError, TlsProbeResult } from '../../src/evidence/evidence.ts';
import { emptyHistory, type NodeHistory } from '../../src/migration/types.ts';
import type { NodeEvidence, VerdictOptions } from '../../src/migration/verdict.ts';

export const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
export const DAY = 86_400_000;
export const WINDOW = 7 * DAY;

export const OPTIONS: VerdictOptions = { soakWindowMs: WINDOW, expiryWarningMs: 30 * DAY, bucketMs: 3_600_000, minCoverage: 0.998 };

export function cert(overrides: Partial<CertificateFacts> = {}): CertificateFacts {
  return {
    position: 'leaf',
    serial: '01AB',
    subject: 'CN=gitaly-1.internal',
    issuer: 'CN=Test CA',
    dnsNames: ['gitaly-1.internal'],
    ipAddresses: [],
    notBeforeMs: NOW - 10 * DAY,
    notAfterMs: NOW + 200 * DAY,
    sha256: 'aa'.repeat(32),
    keyType: 'ec',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
    ...overrides,
  };
}

export function tlsOk(overrides: Partial<TlsProbeResult> = {}): TlsProbeResult {
  return {
    address: 'gitaly-1.internal:9999',
    durationMs: 12,
    handshakeOk: true,
    error: null,
    chain: [cert(), cert({ position: 'intermediate', serial: '02', subject: 'CN=Test Intermediate', notAfterMs: NOW + 900 * DAY })],
    trusted: true,
    trustError: null,
    hostnameMatch: true,
    alpnProtocol: 'h2',
    tlsVersion: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    accepts: { 'TLSv1.2': true, 'TLSv1.3': true },
    grpcHealthOk: true,
    grpcHealthError: null,
    connectionsMade: 1,
    atMs: NOW,
    ...overrides,
  };
}

/** A TLS probe that got no handshake: nothing about the listener is known but the error. */
export function tlsFailed(error: SourceError, overrides: Partial<TlsProbeResult> = {}): TlsProbeResult {
  return tlsOk({
    handshakeOk: false,
    error,
    chain: [],
    trusted: null,
    trustError: null,
    hostnameMatch: null,
    alpnProtocol: null,
    tlsVersion: null,
    cipher: null,
    accepts: { 'TLSv1.2': null, 'TLSv1.3': null },
    grpcHealthOk: null,
    ...overrides,
  });
}

export function plaintextClosed(overrides: Partial<PlaintextProbeResult> = {}): PlaintextProbeResult {
  return {
    address: 'gitaly-1.internal:8075',
    open: false,
    grpcHealthServing: null,
    tlsPortRejectsPlaintext: true,
    error: null,
    durationMs: 3,
    connectionsMade: { tcp: 0, tls: 1 },
    atMs: NOW - 60_000,
    ...overrides,
  };
}

export function scrapeOk(counts = { tcp: 10, tls: 500, unix: 40 }): GitalyScrape {
  return { ok: true, counts, family: 'gitaly_connections_total', version: '18.6.0', bytes: 1_000_000, durationMs: 40 };
}

/** Observed directly for eight days with no plaintext since. */
export function coveredHistory(overrides: Partial<NodeHistory> = {}): NodeHistory {
  return {
    ...emptyHistory(),
    firstObservedMs: NOW - 8 * DAY,
    lastScrapeMs: NOW,
    lastCounts: { tcp: 10, tls: 500, unix: 40 },
    plaintextLastSeenMs: NOW - 9 * DAY,
    directBuckets: [[NOW - 2 * DAY, { tcp: 0, tls: 120, lastTcpMs: 0, lastTlsMs: NOW - 2 * DAY + 1000 }]],
    // Restarts are visible, and the counter was seen counting a plaintext dial of ours.
    processStartSeconds: (NOW - 30 * DAY) / 1000,
    // TLS worked before: a failing handshake now is a breakage, not a node not yet on TLS.
    tlsLastUpMs: NOW - DAY,
    canary: {
      source: 'gitaly_metrics',
      counter: 'gitaly_connections_total',
      atMs: NOW - DAY,
      expected: { tcp: 1, tls: 2 },
      counted: { tcp: 1, tls: 2 },
    },
    ...overrides,
  };
}

/** A node that has finished: direct scrapes only, TLS healthy, listen_addr closed. */
export function completeEvidence(overrides: Partial<NodeEvidence> = {}): NodeEvidence {
  return {
    name: 'gitaly-1',
    role: 'gitaly',
    nowMs: NOW,
    history: coveredHistory(),
    tlsAddress: 'gitaly-1.internal:9999',
    plaintextAddress: 'gitaly-1.internal:8075',
    scrape: scrapeOk(),
    prometheus: null,
    tls: tlsOk(),
    certFile: null,
    plaintext: plaintextClosed(),
    sockets: null,
    ...overrides,
  };
}
