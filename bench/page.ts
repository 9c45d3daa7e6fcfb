// The status page at fleet scale: rendering the page (and a node page) for 1,000 synthetic nodes,
// each with a full week of hourly chart buckets and a three-certificate chain: the worst case for
// the page's size. In memory: the view is built once, as the collector does once per collection.
import type { CertificateFacts } from '../src/evidence/evidence.ts';
import { renderNodePage } from '../src/pages/node-page.ts';
import { renderStatusPage } from '../src/pages/status-page.ts';
import type { NodeHistory } from '../src/migration/types.ts';
import type { CollectionView } from '../src/view/collection-view.ts';
// The page tests' evidence builders: the bench renders the same kind of view the tests check.
import { cert, coveredHistory, DAY, NOW, plaintextClosed, tlsOk } from '../test/helpers/evidence.ts';
import { viewOfNodes } from '../test/helpers/view.ts';
import { met, type Row } from './report.ts';
import { fmt, MB, median, percentile } from './stats.ts';

const NODES = 1000;
const RENDERS = 20;
const TARGET_MS = 1000;
const HOUR = 3_600_000;

function chain(i: number): CertificateFacts[] {
  const ca = (position: 'intermediate' | 'root', days: number): CertificateFacts =>
    cert({ position, serial: `${position === 'root' ? 'R' : 'I'}${i}`, subject: `CN=Bench ${position} CA`, notAfterMs: NOW + days * DAY });
  return [
    cert({ serial: (0x10000 + i).toString(16).toUpperCase(), notAfterMs: NOW + (5 + ((i * 37) % 400)) * DAY }),
    ca('intermediate', 900),
    ca('root', 3000),
  ];
}

/** A week of hourly buckets, every one with TLS traffic and, on a fifth of the nodes, plaintext. */
function history(i: number, plaintext: boolean): NodeHistory {
  const buckets: NodeHistory['directBuckets'] = [];
  for (let h = 170; h >= 0; h--) {
    const start = Math.floor((NOW - h * HOUR) / HOUR) * HOUR;
    const tcp = plaintext && h % 7 === 0 ? 1 + (h % 3) : 0;
    buckets.push([start, { tcp, tls: 20 + ((i + h) % 50), lastTcpMs: tcp ? start + 1000 : 0, lastTlsMs: start + 2000 }]);
  }
  return coveredHistory({ plaintextLastSeenMs: plaintext ? NOW - 3 * HOUR : NOW - 9 * DAY, directBuckets: buckets });
}

/** 1,000 nodes in every phase and state the page shows: clean, plaintext, expiring and restart, down. */
export function syntheticView(count: number): CollectionView {
  return viewOfNodes(
    Array.from({ length: count }, (_, i) => {
      const kind = i % 5;
      const name = `gitaly-${String(i).padStart(4, '0')}`;
      return {
        name,
        evidence: {
          history: history(i, kind === 1),
          tls: tlsOk({ chain: chain(i) }),
          plaintext: plaintextClosed({ open: kind !== 0 }),
          ...(kind === 2
            ? {
                certFile: {
                  ok: true as const,
                  path: '/etc/gitlab/ssl/gitaly.crt',
                  chain: [cert({ serial: 'NEW', sha256: 'bb'.repeat(32) })],
                  matchesServed: false,
                },
              }
            : {}),
          ...(kind === 3
            ? {
                scrape: {
                  ok: false as const,
                  error: { code: 'CONNECT' as const, message: `Could not connect to ${name}.internal:9236 (ECONNREFUSED).` },
                  durationMs: 2,
                },
              }
            : {}),
        },
      };
    }),
  );
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
