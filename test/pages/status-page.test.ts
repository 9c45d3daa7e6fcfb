// The status page and the node page over HTTP (app.inject): the fleet summary bar, filter and sort
// by query parameters, per-node charts with their marks, certificate colours from expiry_warning,
// and a node page with the whole evidence (404 page for an unknown node).
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Snapshot } from '../../src/cycle/collector.ts';
import type { Issued } from '../../src/demo/certs.ts';
import type { CertFileResult } from '../../src/evidence/evidence.ts';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import { emptyHistory } from '../../src/migration/types.ts';
import type { CollectionView } from '../../src/view/collection-view.ts';
import { cert, coveredHistory, DAY, NOW, plaintextClosed, tlsFailed, tlsOk, WINDOW } from '../helpers/evidence.ts';
import { probeSending, testPki, type TestPki } from '../helpers/served-chain.ts';
import { scaled } from '../helpers/time-factor.ts';
import { viewOfNodes, type NodeSpec } from '../helpers/view.ts';

const HOUR = 3_600_000;
const ODD_NAME = 'gitaly 7/b&c';

const restartFile: CertFileResult = {
  ok: true,
  path: '/etc/gitlab/ssl/gitaly.crt',
  chain: [cert({ serial: '99FF', notAfterMs: NOW + 400 * DAY, sha256: 'bb'.repeat(32) })],
  matchesServed: false,
};

const SPECS: NodeSpec[] = [
  { name: 'gitaly-done' },
  {
    name: 'gitaly-expiring',
    evidence: { tls: tlsOk({ chain: [cert({ notAfterMs: NOW + 20 * DAY })] }) },
  },
  { name: 'gitaly-restart', node: { certificateFile: restartFile.ok ? restartFile.path : '' }, evidence: { certFile: restartFile } },
  {
    name: 'gitaly-down',
    evidence: {
      history: emptyHistory(),
      scrape: {
        ok: false,
        error: { code: 'CONNECT', message: 'Could not connect to gitaly-down.internal:9236 (ECONNREFUSED).' },
        durationMs: 2,
      },
    },
  },
  {
    // A plaintext client two days ago, TLS traffic since; observed for the last five days only.
    name: 'gitaly-plain',
    evidence: {
      history: coveredHistory({
        firstObservedMs: NOW - 5 * DAY,
        plaintextLastSeenMs: NOW - 2 * DAY + 1000,
        directBuckets: [
          [NOW - 2 * DAY, { tcp: 3, tls: 40, lastTcpMs: NOW - 2 * DAY + 1000, lastTlsMs: NOW - 2 * DAY + 2000 }],
          [NOW - DAY, { tcp: 0, tls: 80, lastTcpMs: 0, lastTlsMs: NOW - DAY + 1000 }],
        ],
      }),
      plaintext: plaintextClosed({ open: true }),
      tls: tlsOk({ chain: [cert({ notAfterMs: NOW + 5 * DAY })] }),
    },
  },
  { name: ODD_NAME },
];

/** A listener that refused every handshake: no version is known. */
const REFUSED: NodeSpec = {
  name: 'gitaly-refused',
  evidence: {
    tls: tlsFailed({ code: 'HANDSHAKE', message: 'TLS handshake with gitaly-1.internal:9999 failed: wrong version number.' }),
  },
};

function appFor(view: CollectionView | null): FastifyInstance {
  const exporter: ExporterView = {
    snapshot: () => (view ? ({ view } as unknown as Snapshot) : null),
    metricsText: () => '',
    configSource: () => 'test.yml',
    refreshSeconds: () => 30,
    probe: () => Promise.reject(new Error('not used')),
    reload: () => Promise.resolve({ ok: false, message: 'not used' }),
  };
  return buildApp({ logger: pino({ level: 'silent' }), view: exporter });
}

const rowNames = (html: string): string[] => [...html.matchAll(/<tr data-node="([^"]+)"/g)].map((m) => m[1]!);
const rowOf = (html: string, node: string): string => {
  const start = html.indexOf(`<tr data-node="${node}"`);
  expect(start, `row of ${node}`).to.be.greaterThan(-1);
  return html.slice(start, html.indexOf('</tr>', start));
};
const svgOf = (html: string, node: string): string => {
  const start = html.indexOf(`data-chart-node="${node}"`);
  expect(start, `chart of ${node}`).to.be.greaterThan(-1);
  return html.slice(html.lastIndexOf('<svg', start), html.indexOf('</svg>', start));
};

describe('status page and node page', () => {
  const view = viewOfNodes(SPECS);
  const phaseOf = (name: string): string => view.nodes.find((n) => n.node === name)!.phase;
  let app: FastifyInstance;
  beforeEach(() => {
    app = appFor(view);
  });
  afterEach(async () => {
    await app.close();
  });

  it('shows a fleet summary bar: nodes per phase as text, each part a link that filters', async () => {
    const html = (await app.inject('/')).body;
    const bar = html.slice(html.indexOf('<nav class="summary"'), html.indexOf('</nav>'));
    for (const [phase, count] of Object.entries(view.fleet.nodesByPhase)) {
      if (count === 0) expect(bar, phase).to.not.contain(`data-summary-phase="${phase}"`);
      else
        expect(bar, phase).to.match(
          new RegExp(`data-summary-phase="${phase}" data-count="${count}"[^>]*href="/\\?phase=${phase}"[^>]*>${count} `),
        );
    }
    expect(view.fleet.nodesByPhase.complete, 'the sample has complete nodes').to.be.greaterThan(0);
  });

  it('folds a fleet sentence that lists hundreds of nodes, so the summary bar and the table stay in view', async () => {
    const many = viewOfNodes(
      Array.from({ length: 60 }, (_, i) => ({ name: `gitaly-node-${i}`, evidence: { plaintext: plaintextClosed({ open: true }) } })),
    );
    const big = appFor(many);
    const html = (await big.inject('/')).body;
    await big.close();
    const banner = html.slice(html.indexOf('<div class="banner'), html.indexOf('<nav class="summary"'));
    expect(banner).to.contain(
      '<details class="fold"><summary>60 of 60 node(s) not complete (show the list)</summary>gitaly-node-0, gitaly-node-1,',
    );
    // A short sentence is not folded.
    expect((await app.inject('/')).body).to.not.contain('class="fold"');
  });

  it('filters by phase and sorts by expiry or name from the query string', async () => {
    const complete = await app.inject('/?phase=complete');
    expect(complete.statusCode).to.equal(200);
    const expected = view.nodes.filter((n) => n.phase === 'complete').map((n) => n.node.replace('&', '&amp;'));
    expect(rowNames(complete.body)).to.deep.equal(expected);
    expect(complete.body).to.contain(`${expected.length} of ${view.nodes.length} node(s) in phase Complete`);
    expect(complete.body).to.contain('<option value="complete" selected>');

    // Soonest expiry first; the node with no certificate received (none here) would go last.
    const byExpiry = rowNames((await app.inject('/?sort=expiry')).body);
    expect(byExpiry.slice(0, 2)).to.deep.equal(['gitaly-plain', 'gitaly-expiring']);
    const byName = rowNames((await app.inject('/?sort=name')).body);
    expect(byName).to.deep.equal([...byName].sort());
    expect(rowNames((await app.inject('/')).body)).to.deep.equal(view.nodes.map((n) => n.node.replace('&', '&amp;')));

    const bad = await app.inject('/?phase=done');
    expect(bad.statusCode).to.equal(400);
    expect(bad.body).to.contain('Bad phase "done": use one of plaintext_only, dual_listen');
    expect((await app.inject('/?sort=size')).statusCode).to.equal(400);
    expect((await app.inject('/?phase=complete&phase=unknown')).statusCode).to.equal(400);
  });

  it('links each row to its node page, the name URL-encoded', async () => {
    const html = (await app.inject('/')).body;
    expect(rowOf(html, 'gitaly-done')).to.contain('<a href="/node/gitaly-done">gitaly-done</a>');
    expect(html).to.contain(`<a href="/node/${encodeURIComponent(ODD_NAME).replace('&', '&amp;')}">gitaly 7/b&amp;c</a>`);
    const page = await app.inject(`/node/${encodeURIComponent(ODD_NAME)}`);
    expect(page.statusCode).to.equal(200);
    expect(page.body).to.contain('<h1 data-node="gitaly 7/b&amp;c">');
  });

  it('colours certificate expiry from the configured expiry_warning, with the date and days left', async () => {
    const cell = (html: string, node: string): string => /<td class="expiry ([a-z]+)"[^>]*>(.*?)<\/td>/.exec(rowOf(html, node))![0];
    const html = (await app.inject('/')).body;
    const twentyDays = cell(html, 'gitaly-expiring');
    expect(twentyDays).to.contain('class="expiry warn"').and.contain('data-expiry-state="expiring"');
    expect(twentyDays)
      .to.contain(`>${new Date(NOW + 20 * DAY).toISOString().slice(0, 10)}</time>`)
      .and.contain('<div>20 d</div>');
    expect(cell(html, 'gitaly-done')).to.contain('class="expiry ok"');

    // The same certificate with a 14-day warning: not yet a warning. Not fixed 7/30 days.
    const short = appFor(viewOfNodes(SPECS, { expiryWarningMs: 14 * DAY }));
    const shortHtml = (await short.inject('/')).body;
    expect(cell(shortHtml, 'gitaly-expiring')).to.contain('class="expiry ok"');
    expect(cell(shortHtml, 'gitaly-plain')).to.contain('class="expiry warn"');
    await short.close();
    // And a 365-day warning colours even the 200-day certificate.
    const long = appFor(viewOfNodes(SPECS, { expiryWarningMs: 365 * DAY }));
    expect(cell((await long.inject('/')).body, 'gitaly-done')).to.contain('class="expiry warn"');
    await long.close();
    const expired = appFor(viewOfNodes([{ name: 'old', evidence: { tls: tlsOk({ chain: [cert({ notAfterMs: NOW - DAY })] }) } }]));
    expect(cell((await expired.inject('/')).body, 'old')).to.contain('class="expiry bad"');
    await expired.close();
  });

  it('draws each node’s connections over the soak window, marking its start, the last plaintext client and the gaps', async () => {
    const html = (await app.inject('/')).body;
    const plain = svgOf(html, 'gitaly-plain');
    expect(plain).to.contain('role="img"').and.contain('data-tcp-total="3"').and.contain('data-tls-total="120"');
    expect(plain).to.match(
      /<title>gitaly-plain: new connections per 1h over the soak window \(7d\), own probes excluded; 3 plaintext, 120 TLS; no data before /,
    );
    expect(plain).to.contain(`data-last-plaintext="${new Date(NOW - 2 * DAY + 1000).toISOString()}"`);
    // One path per series, one bar per bucket with connections (7.35 days of hours in at most 42 bars: 5 h each).
    const path = (cls: string): string => new RegExp(`<path class="${cls}" d="([^"]+)"`).exec(plain)![1]!;
    expect(path('tcp').match(/M/g)).to.have.length(1);
    expect(path('tls').match(/M/g)).to.have.length(2);
    expect(plain.match(/<line class="last-plaintext"/g)).to.have.length(1);
    // Window start at a twentieth of a window after the chart's left edge (168 px wide: 8 px).
    expect(plain).to.match(/<line class="window-start" x1="8\.0"/);
    // Observed for five days of the 7.35 shown: the first 2.35 days are a gap, not zero.
    const gap = /<rect class="gap" x="0\.0" y="\d+" width="([\d.]+)"/.exec(plain);
    expect(Number(gap![1])).to.be.closeTo((168 * 2.35) / 7.35, 0.2);
    // The bar sits where its four hours are: the five holding the hour two days before now.
    const barX = Number(/^M([\d.]+) /.exec(path('tcp'))![1]);
    const barStart = Math.floor((NOW - 2 * DAY) / (5 * HOUR)) * 5 * HOUR;
    expect(barX).to.be.closeTo((168 * (barStart - (NOW - 7.35 * DAY))) / (7.35 * DAY), 0.2);

    // Never scraped: the whole span is a gap, nothing is drawn as zero, and the title says why.
    const down = svgOf(html, 'gitaly-down');
    expect(down.match(/<rect class="gap" x="0\.0" y="\d+" width="168\.0"/g)).to.have.length(1);
    expect(down).to.not.contain('class="tcp"').and.not.contain('class="tls"');
    expect(down).to.contain('no data: the node’s metrics page has not been scraped successfully yet');
  });

  it('shows the TLS versions found, or unknown with the reason, never a dash that reads as none', async () => {
    const withRefused = appFor(viewOfNodes([...SPECS, REFUSED]));
    const html = (await withRefused.inject('/')).body;
    await withRefused.close();
    expect(rowOf(html, 'gitaly-done')).to.match(
      /<td data-check="tlsVersions"><span class="ok">1\.2<\/span> <span class="ok">1\.3<\/span><\/td>/,
    );
    expect(rowOf(html, 'gitaly-refused')).to.contain(
      '<td data-check="tlsVersions" data-value="unknown" title="no TLS handshake completed: TLS handshake with gitaly-1.internal:9999 failed: wrong version number."><span class="na">unknown</span></td>',
    );
  });

  it('puts each down source’s error sentence and the details next to the node', async () => {
    const html = (await app.inject('/')).body;
    expect(rowOf(html, 'gitaly-down')).to.contain(
      '<li class="bad" data-source-down="gitaly_metrics">gitaly_metrics: Could not connect to gitaly-down.internal:9236 (ECONNREFUSED).</li>',
    );
    const plain = view.nodes.find((n) => n.node === 'gitaly-plain')!;
    expect(plain.details.length).to.be.greaterThan(0);
    for (const d of plain.details) expect(rowOf(html, 'gitaly-plain')).to.contain(`<li>${d}</li>`);
  });

  it('serves a node page with the whole evidence for a change ticket', async () => {
    const res = await app.inject('/node/gitaly-restart');
    expect(res.statusCode).to.equal(200);
    expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
    const v = view.nodes.find((n) => n.node === 'gitaly-restart')!;
    const html = res.body;
    expect(html).to.contain(`<span data-next-step>${v.nextStep}</span>`);
    expect(v.nextStep).to.equal('Restart Gitaly to load the renewed certificate.');
    expect(html).to.contain(`data-phase="${phaseOf('gitaly-restart')}"`);
    for (const r of v.reasons) expect(html).to.contain(`<li data-reason="${r.reason}"><code>${r.reason}</code> — `);
    // Soak progress and the large chart with its labels.
    expect(html).to.contain('<dt>Soak window</dt><dd>7d</dd>');
    expect(html).to.contain('window start').and.contain('class="chart-scale"');
    expect(svgOf(html, 'gitaly-restart')).to.contain('viewBox="0 0 720 160"');
    // The large chart keeps a title on each bar, one bar per hour.
    const plainPage = (await app.inject('/node/gitaly-plain')).body;
    expect(svgOf(plainPage, 'gitaly-plain')).to.contain('<rect class="tcp"').and.contain('<title>3 plaintext from ');
    expect(plainPage).to.contain('Each bar: 1h.');
    // Every served certificate by position, with not-after as a date and days left; both serials.
    expect(html).to.contain('data-cert-position="leaf" data-cert-index="0"');
    expect(html).to.contain('data-cert-position="intermediate" data-cert-index="1"');
    expect(html).to.contain(
      `<time datetime="${new Date(NOW + 200 * DAY).toISOString()}">${new Date(NOW + 200 * DAY).toISOString().slice(0, 10)}</time>`,
    );
    expect(html).to.contain('200 d left');
    expect(html).to.contain('Restart needed: Gitaly serves serial <code>01AB</code>, the file on disk holds serial <code>99FF</code>');
    expect(html).to.contain(`data-file-not-after="${new Date(NOW + 400 * DAY).toISOString()}"`);
    expect(html).to.contain('<a href="/">← all nodes</a>');
  });

  it('shows a down source with its error and why each check is unknown on the node page', async () => {
    const html = (await app.inject('/node/gitaly-down')).body;
    expect(html).to.contain('<tr data-source="gitaly_metrics" data-up="false">');
    expect(html).to.contain('<code>CONNECT</code> Could not connect to gitaly-down.internal:9236 (ECONNREFUSED).');
    expect(html).to.contain('No connection counts to draw: the node’s metrics page has not been scraped successfully yet');
  });

  it('answers an unknown node with a 404 page that says so, and 503 before the first collection', async () => {
    const res = await app.inject('/node/gitaly-99');
    expect(res.statusCode).to.equal(404);
    expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(res.body).to.contain('No node named <code>gitaly-99</code> is in the latest collection (6 node(s)');
    const escaped = await app.inject(`/node/${encodeURIComponent('<script>')}`);
    expect(escaped.statusCode).to.equal(404);
    expect(escaped.body).to.contain('&lt;script&gt;').and.not.contain('<script>');
    const early = appFor(null);
    const first = await early.inject('/node/gitaly-1');
    expect(first.statusCode).to.equal(503);
    expect(first.body).to.contain('The first collection is still running');
    await early.close();
  });

  it('keeps the chart’s span a soak window (and a twentieth before it) long', () => {
    const c = view.nodes[0]!.chart;
    expect(c.toMs - c.windowStartMs).to.equal(WINDOW);
    expect(c.windowStartMs - c.fromMs).to.equal(WINDOW / 20);
    expect(c.bucketMs).to.equal(HOUR);
  });
});

describe('node page: what the server sent, and the trust anchor apart', function () {
  this.timeout(scaled(20_000));
  let pki: TestPki;
  before(async () => {
    pki = await testPki(Date.now());
  });

  /** The node page of a node whose TLS listener sends `sent`, probed trusting `caBundle`. */
  async function pageOf(sent: (p: TestPki) => Issued[], caBundle: (p: TestPki) => Issued[]): Promise<{ html: string; migration: unknown }> {
    const tls = await probeSending(sent(pki), caBundle(pki));
    const app = appFor(viewOfNodes([{ name: 'gitaly-1', evidence: { tls } }]));
    try {
      return { html: (await app.inject('/node/gitaly-1')).body, migration: (await app.inject('/migration')).json() };
    } finally {
      await app.close();
    }
  }
  function certificatesIn(migration: unknown): string[] {
    const doc = migration as { nodes: Array<{ evidence: { tls: { certificates: Array<{ position: string; sent?: boolean }> } } }> };
    return doc.nodes[0]!.evidence.tls.certificates.map(
      (c) => `${c.position} ${c.sent === true ? 'sent' : c.sent === false ? 'not sent' : 'unknown'}`,
    );
  }
  /** Position and serial of each certificate row between a heading that starts with `heading` and the next h3. */
  function rowsUnder(html: string, heading: string): string[] {
    const start = html.indexOf(heading);
    if (start === -1) return [];
    const end = html.indexOf('<h3>', start + heading.length);
    const part = html.slice(start, end === -1 ? undefined : end);
    return [
      ...part.matchAll(
        /<tr data-cert-position="([a-z_]+)"[^>]*>\s*<td>[^<]*<\/td><td>[^<]*<\/td><td>[^<]*<\/td><td><code>([0-9A-F]+)<\/code>/g,
      ),
    ].map((m) => `${m[1]} ${m[2]}`);
  }
  const SERVED = '<h2>Certificates served on';
  const ANCHOR = '<h3>Trust anchor (from the CA bundle, not sent by the server)</h3>';

  it('lists under "Certificates served" only what the server sent, the root from the CA bundle apart', async () => {
    const { html } = await pageOf(
      (p) => [p.leaf, p.intermediate],
      (p) => [p.root],
    );
    expect(rowsUnder(html, SERVED)).to.deep.equal([`leaf ${pki.leaf.serial}`, `intermediate ${pki.intermediate.serial}`]);
    expect(rowsUnder(html, ANCHOR)).to.deep.equal([`root ${pki.root.serial}`]);
  });

  it('shows an intermediate the server did not send with the trust anchor, not as served', async () => {
    const { html } = await pageOf(
      (p) => [p.leaf],
      (p) => [p.root, p.intermediate],
    );
    expect(rowsUnder(html, SERVED)).to.deep.equal([`leaf ${pki.leaf.serial}`]);
    expect(rowsUnder(html, ANCHOR)).to.deep.equal([`intermediate ${pki.intermediate.serial}`, `root ${pki.root.serial}`]);
  });

  it('lists a root the server sent as served, and no trust anchor apart; /migration says each was sent', async () => {
    const { html, migration } = await pageOf(
      (p) => [p.leaf, p.intermediate, p.root],
      (p) => [p.root],
    );
    expect(rowsUnder(html, SERVED)).to.deep.equal([
      `leaf ${pki.leaf.serial}`,
      `intermediate ${pki.intermediate.serial}`,
      `root ${pki.root.serial}`,
    ]);
    expect(html).to.not.contain(ANCHOR);
    expect(certificatesIn(migration)).to.deep.equal(['leaf sent', 'intermediate sent', 'root sent']);
  });

  it('says in /migration which certificate the server did not send', async () => {
    const { migration } = await pageOf(
      (p) => [p.leaf, p.intermediate],
      (p) => [p.root],
    );
    expect(certificatesIn(migration)).to.deep.equal(['leaf sent', 'intermediate sent', 'root not sent']);
  });
});
