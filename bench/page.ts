// The status page at fleet scale: rendering the page (and a node page) for 1,000 synthetic nodes,
// each with a full week of hourly chart buckets and a three-certificate chain: the worst case for
// the page's size. In memory: the view is built once, as the collector does once per collection.
import type { NodeConfig } from '../src/config/types.ts';
import type { CertificateFacts, TlsProbeResult } from '../src/evidence.ts';
import { renderNodePage } from '../src/http/node-page.ts';
import { renderStatusPage } from '../src/http/status-page.ts';
import { emptyHistory, type NodeHistory } from '../src/migration/types.ts';
import { judgeFleet, judgeNode, type NodeEvidence, type VerdictOptions } from '../src/migration/verdict.ts';
import { collectionView, type CollectionView } from '../src/view/collection-view.ts';
import { met, type Row } from './report.ts';
import { fmt, MB, median, percentile } from './stats.ts';

const NODES = 1000;
const RENDERS = 20;
const TARGET_MS = 1000;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 25, 12);
const OPTIONS: VerdictOptions = { soakWindowMs: 7 * DAY, expiryWarningMs: 30 * DAY, bucketMs: HOUR, minCoverage: 0.998 };

function certificate(i: number, position: CertificateFacts['position'], notAfterMs: number): CertificateFacts {
  return {
    position,
    serial: (0x10000 + i).toString(16).toUpperCase(),
    subject: position === 'leaf' ? `CN=gitaly-${i}.internal` : `CN=Bench ${position} CA`,
    issuer: position === 'root' ? 'CN=Bench root CA' : 'CN=Bench intermediate CA',
    dnsNames: position === 'leaf' ? [`gitaly-${i}.internal`] : [],
    ipAddresses: [],
    notBeforeMs: NOW - 60 * DAY,
    notAfterMs,
    sha256: i.toString(16).padStart(64, '0'),
    keyType: 'ec',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
  };
}

function tls(i: number): TlsProbeResult {
  const leafDays = 5 + ((i * 37) % 400);
  return {
    address: `gitaly-${i}.internal:9999`,
    durationMs: 10,
    handshakeOk: true,
    error: null,
    chain: [
      certificate(i, 'leaf', NOW + leafDays * DAY),
      certificate(i, 'intermediate', NOW + 900 * DAY),
      certificate(i, 'root', NOW + 3000 * DAY),
    ],
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
  };
}

/** A week of hourly buckets, every one with TLS traffic and, on a fifth of the nodes, plaintext. */
function history(i: number, plaintext: boolean): NodeHistory {
  const buckets: NodeHistory['directBuckets'] = [];
  for (let h = 170; h >= 0; h--) {
    const start = Math.floor((NOW - h * HOUR) / HOUR) * HOUR;
    const tcp = plaintext && h % 7 === 0 ? 1 + (h % 3) : 0;
    buckets.push([start, { tcp, tls: 20 + ((i + h) % 50), lastTcpMs: tcp ? start + 1000 : 0, lastTlsMs: start + 2000 }]);
  }
  return {
    ...emptyHistory(),
    firstObservedMs: NOW - 8 * DAY,
    lastScrapeMs: NOW,
    lastCounts: { tcp: 10, tls: 5000, unix: 0 },
    processStartSeconds: (NOW - 30 * DAY) / 1000,
    plaintextLastSeenMs: plaintext ? NOW - 3 * HOUR : NOW - 9 * DAY,
    directBuckets: buckets,
    // The counter was seen counting a plaintext dial of ours: its zeros are evidence.
    canary: {
      source: 'gitaly_metrics',
      counter: 'gitaly_connections_total',
      atMs: NOW - DAY,
      expected: { tcp: 1, tls: 2 },
      counted: { tcp: 1, tls: 2 },
    },
  };
}

/** 1,000 nodes in every phase and state the page shows: clean, plaintext, expiring and restart, down. */
export function syntheticView(count: number): CollectionView {
  const nodes = Array.from({ length: count }, (_, i) => {
    const kind = i % 5;
    const name = `gitaly-${String(i).padStart(4, '0')}`;
    const node: NodeConfig = {
      name,
      role: 'gitaly',
      metricsUrl: `http://${name}.internal:9236/metrics`,
      tlsAddress: `${name}.internal:9999`,
      plaintextAddress: `${name}.internal:8075`,
    };
    const t = tls(i);
    const e: NodeEvidence = {
      name,
      role: 'gitaly',
      nowMs: NOW,
      history: history(i, kind === 1),
      hasTlsAddress: true,
      hasPlaintextAddress: true,
      scrape:
        kind === 3
          ? { ok: false, error: { code: 'CONNECT', message: `Could not connect to ${name}.internal:9236 (ECONNREFUSED).` }, durationMs: 2 }
          : {
              ok: true,
              counts: { tcp: 10, tls: 5000, unix: 0 },
              family: 'gitaly_connections_total',
              version: '18.6.0',
              bytes: 1e6,
              durationMs: 40,
            },
      prometheus: null,
      tls: t,
      certFile:
        kind === 2
          ? { ok: true, path: '/etc/gitlab/ssl/gitaly.crt', chain: [certificate(i + 1, 'leaf', NOW + 400 * DAY)], matchesServed: false }
          : null,
      plaintext: {
        address: node.plaintextAddress!,
        open: kind !== 0,
        grpcHealthServing: null,
        tlsPortRejectsPlaintext: true,
        error: null,
        durationMs: 3,
        connectionsMade: { tcp: 0, tls: 0 },
        atMs: NOW - 60_000,
      },
      sockets: null,
    };
    const verdict = judgeNode(e, OPTIONS);
    const observation = {
      node,
      scrape: e.scrape,
      tls: e.tls,
      certFile: e.certFile,
      plaintext: e.plaintext,
      plaintextFresh: true,
      sockets: null,
      durationMs: 5,
    };
    return { observation, verdict, history: e.history, instance: `${name}.internal:9236` };
  });
  return collectionView({
    atMs: NOW,
    durationMs: 1000,
    nodes,
    fleet: judgeFleet(
      nodes.map((n) => n.verdict),
      [],
      null,
    ),
    prometheus: null,
    caBundle: { ok: true, source: 'bench', count: 1 },
    stateError: null,
    sourceErrors: new Map(),
    clients: null,
    soakWindowMs: OPTIONS.soakWindowMs,
    expiryWarningMs: OPTIONS.expiryWarningMs,
    bucketMs: OPTIONS.bucketMs,
  });
}

function timed(render: () => string, runs: number): { ms: number[]; bytes: number } {
  let bytes = render().length; // warm-up, and the size
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    bytes = render().length;
    ms.push(performance.now() - t0);
  }
  return { ms, bytes };
}

export async function pageRows(log: (line: string) => void): Promise<Row[]> {
  const t0 = performance.now();
  const view = syntheticView(NODES);
  const viewMs = performance.now() - t0;
  log(`page: built a synthetic ${NODES}-node view in ${fmt(viewMs)} ms; rendering ${RENDERS} times each`);
  const opts = { refreshSeconds: 30, source: 'bench' };
  const full = timed(() => renderStatusPage(view, opts), RENDERS);
  const sorted = timed(() => renderStatusPage(view, { ...opts, query: { phase: null, sort: 'expiry' } }), RENDERS);
  const filtered = timed(() => renderStatusPage(view, { ...opts, query: { phase: 'dual_listen', sort: 'expiry' } }), RENDERS);
  const node = view.nodes[1]!;
  const nodePage = timed(() => renderNodePage(view, node, opts), RENDERS);
  await Promise.resolve();
  const row = (what: string, r: { ms: number[]; bytes: number }, note: string): Row => {
    const p50 = median(r.ms);
    const p95 = percentile(r.ms, 95);
    return {
      section: 'page',
      what,
      ours: `${fmt(p50)} ms median, ${fmt(p95)} ms p95, ${fmt(r.bytes / MB)} MB`,
      baseline: '—',
      target: `< ${TARGET_MS} ms`,
      met: met(p95 < TARGET_MS),
      note,
      data: { renders: r.ms.length, medianMs: p50, p95Ms: p95, bytes: r.bytes },
    };
  };
  const counts = Object.entries(view.fleet.nodesByPhase)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${n} ${p}`)
    .join(', ');
  return [
    row(
      `Status page, ${NODES} nodes (all rows, SVG chart each)`,
      full,
      `${RENDERS} renders in process after one warm-up; synthetic view (${counts}), 171 hourly buckets and 3 certificates per node; view built once in ${fmt(viewMs)} ms`,
    ),
    row(`Status page, ${NODES} nodes, ?sort=expiry`, sorted, 'the same view, sorted by soonest certificate expiry'),
    row(`Status page, ${NODES} nodes, ?phase=dual_listen&sort=expiry`, filtered, `${view.fleet.nodesByPhase.dual_listen} rows shown`),
    row(`Node page /node/NAME in a ${NODES}-node fleet`, nodePage, 'one node with plaintext in the window'),
  ];
}
