// The status page in a real browser: Debian's Chromium driven by playwright-core (no browser download).
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { realProbes } from '../../src/collect/probes.ts';
import { demoConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import { launchChromium, newPage } from '../helpers/chromium.ts';
import { expectTableFits, STATUS_COLUMNS } from '../helpers/page-fit.ts';
import { scaled } from '../helpers/time-factor.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** Git-ignored; the path is printed so a person can look at what the browser drew. */
const SCREENSHOTS = fileURLToPath(new URL('../../.tmp/screenshots/', import.meta.url));

interface Certificate {
  sent: boolean;
  position: string;
  serial: string;
  subject: string;
  notAfter: string;
  daysToExpiry: number;
  expiry: string;
}

interface MigrationNode {
  node: string;
  phase: string;
  nextStep: string;
  blockingReasons: Array<{ reason: string }>;
  soak: {
    observedForSeconds: number | null;
    projectedSafeAt: string | null;
    connections: {
      knownFrom: string | null;
      plaintextLastSeen: string | null;
      windowStart: string;
      buckets: Array<{ start: string; tcp: number; tls: number }>;
    };
  };
  certExpiry: { at: string | null; days: number | null; state?: string };
  evidence: {
    tls: { certificates: Certificate[] } | null;
    certificateFile: { serial: string; notAfter: string; matchesServed: boolean | null } | null;
  };
}

interface MigrationDoc {
  fleet: { complete: boolean; nodesByPhase: Record<string, number> };
  nodes: MigrationNode[];
}

const sum = (n: MigrationNode, k: 'tcp' | 'tls'): number => n.soak.connections.buckets.reduce((s, b) => s + b[k], 0);

describe('status page in headless Chromium', function () {
  this.timeout(scaled(120_000));
  let dir: string;
  let fleet: DemoFleet;
  let exporter: Exporter;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-browser-'));
    fleet = await startDemoFleet({ dir, migrationMs: 20_000 });
    const logger = pino({ level: 'silent' });
    exporter = new Exporter({ config: demoConfig(fleet, { stateFile: join(dir, 'state.json') }), logger, probes: realProbes });
    await exporter.init();
    // Collect until the charts have something to draw: the stuck client's plaintext on gitaly-3 in
    // five buckets, a third of the window (the demo's clients reconnect every few seconds) and TLS traffic on gitaly-2.
    await waitFor(
      async () => {
        const s = await exporter.collector.collect();
        const chart = (name: string) => s.view.nodes.find((n) => n.node === name)!.chart;
        return chart('gitaly-3').buckets.filter((b) => b.tcp > 0).length >= 5 && chart('gitaly-2').buckets.some((b) => b.tls > 0);
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'plaintext and TLS connections in the demo history' },
    );
    // The page reloads itself every refreshSeconds; on a busy machine a test's reads can span a
    // short one and meet a navigation mid-read. Nothing is collected after this point, so a reload
    // would show the same page: an hour keeps the reads on one document.
    const view: ExporterView = {
      snapshot: () => exporter.snapshot(),
      metricsText: () => exporter.metricsText(),
      configSource: () => exporter.configSource(),
      refreshSeconds: () => 3600,
      probe: (target) => exporter.probe(target),
      reload: () => exporter.reload(),
    };
    app = buildApp({ logger, view });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the fleet verdict and one row per node, as /migration says, with no console errors', async () => {
    const { page, problems } = await newPage(browser, { width: 1700, height: 700 });
    const response = await page.goto(`${base}/`);
    expect(response?.status()).to.equal(200);
    const doc = (await (await fetch(`${base}/migration`)).json()) as MigrationDoc;

    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).to.equal('3600');
    const banner = page.locator('.banner');
    expect(await banner.getAttribute('data-fleet-complete')).to.equal(String(doc.fleet.complete));
    expect(await banner.innerText()).to.contain(doc.fleet.complete ? 'Migration complete.' : 'Migration not complete.');

    const rows = page.locator('tbody tr');
    expect(await rows.count()).to.equal(doc.nodes.length);
    for (const node of doc.nodes) {
      const row = page.locator(`tbody tr[data-node="${node.node}"]`);
      expect(await row.getAttribute('data-phase'), node.node).to.equal(node.phase);
      const reasons = await row.locator('ul.reasons code').allInnerTexts();
      expect(reasons, node.node).to.deep.equal(node.blockingReasons.map((r) => r.reason));
    }
    // gitaly-4 serves a certificate renewed on disk but not loaded: a person must see it.
    expect(await page.locator('tbody tr[data-node="gitaly-4"]').innerText()).to.contain('restart needed');

    // Each node's next step, soak progress, chart and certificate date, as /migration says.
    for (const node of doc.nodes) {
      const row = page.locator(`tbody tr[data-node="${node.node}"]`);
      expect(await row.locator('[data-next-step]').innerText(), node.node).to.equal(node.nextStep);
      const soak = row.locator('td.soak');
      const observed = await soak.getAttribute('data-soak-observed-ms');
      if (node.soak.observedForSeconds === null) expect(observed, node.node).to.equal('unknown');
      else expect(Math.round(Number(observed) / 1000), node.node).to.equal(node.soak.observedForSeconds);
      const safe = await soak.getAttribute('data-soak-safe-ms');
      expect(safe === 'unknown' ? null : new Date(Number(safe)).toISOString(), node.node).to.equal(node.soak.projectedSafeAt);
      const chart = row.locator('svg.chart');
      expect(await chart.getAttribute('data-tcp-total'), node.node).to.equal(String(sum(node, 'tcp')));
      expect(await chart.getAttribute('data-tls-total'), node.node).to.equal(String(sum(node, 'tls')));
      expect(await chart.getAttribute('data-last-plaintext'), node.node).to.equal(node.soak.connections.plaintextLastSeen ?? 'none');
      expect(await chart.getAttribute('data-window-start'), node.node).to.equal(node.soak.connections.windowStart);
      expect(await chart.getAttribute('aria-label'), node.node).to.contain(`${node.node}: new connections`);
      const box = await chart.boundingBox();
      expect(box?.width, `${node.node}: the chart is drawn`).to.be.greaterThan(100);
      const expiry = row.locator('td[data-check="certDays"]');
      if (node.certExpiry.at === null) expect(await expiry.innerText(), node.node).to.equal('unknown');
      else {
        expect(await expiry.locator('time').getAttribute('datetime'), node.node).to.equal(node.certExpiry.at);
        expect(await expiry.innerText(), node.node).to.contain(node.certExpiry.at.slice(0, 10));
        expect(await expiry.getAttribute('data-expiry-state'), node.node).to.equal(node.certExpiry.state);
      }
    }
    // The charts drew what happened: the stuck client's plaintext, the last one marked.
    const stuck = page.locator('tbody tr[data-node="gitaly-3"] svg.chart');
    expect(await stuck.locator('path.tcp').count()).to.equal(1);
    expect(await stuck.locator('line.last-plaintext').count()).to.equal(1);
    // 20 days left, inside the demo's 30-day expiry_warning: amber, from the configuration.
    expect(await page.locator('tbody tr[data-node="gitaly-4"] td[data-check="certDays"]').getAttribute('class')).to.contain('warn');

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).to.be.greaterThan(10_000);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const pageShot = join(SCREENSHOTS, 'status-page.png');
    await page.screenshot({ path: pageShot, fullPage: true });
    console.log(`      screenshot of the status page: ${pageShot}`);
    expect(problems).to.deep.equal([]);
    await page.close();
  });

  it('reads the demo fleet on a 1,366 px screen: no sideways scrolling, every column on screen', async () => {
    const { page, problems } = await newPage(browser, { width: 1366, height: 768 });
    await page.goto(`${base}/`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'status-page-demo-1366.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot of the demo fleet at 1,366 px: ${shot}`);
    await expectTableFits(page, STATUS_COLUMNS);
    expect(problems).to.deep.equal([]);
    await page.close();
  });

  it('links each row to a node page with the whole evidence, as /migration says', async () => {
    const { page, problems } = await newPage(browser, { width: 1200, height: 900 });
    await page.goto(`${base}/`);
    await page.locator('tbody tr[data-node="gitaly-4"] th a').click();
    await page.waitForURL(`${base}/node/gitaly-4`);
    const doc = (await (await fetch(`${base}/migration`)).json()) as MigrationDoc;
    const node = doc.nodes.find((n) => n.node === 'gitaly-4')!;

    expect(await page.locator('h1').innerText()).to.contain('gitaly-4');
    expect(await page.locator('[data-next-step]').innerText()).to.equal(node.nextStep);
    expect(await page.locator('#verdict [data-reason] code').allInnerTexts()).to.deep.equal(node.blockingReasons.map((r) => r.reason));
    const chart = page.locator('#soak svg.chart');
    expect(await chart.locator('title').first().textContent()).to.contain('gitaly-4: new connections');
    expect(await chart.getAttribute('data-tls-total')).to.equal(String(sum(node, 'tls')));
    expect(await chart.locator('line.window-start').count()).to.equal(1);

    // Every certificate the node sent by chain position, with its not-after date and its colour; the
    // demo's nodes send leaf and intermediate, and the root the exporter took from its CA bundle is
    // shown apart, as the trust anchor.
    const chain = node.evidence.tls!.certificates;
    expect(chain.map((c) => `${c.position} ${c.sent}`)).to.deep.equal(['leaf true', 'intermediate true', 'root false']);
    const tables = page.locator('#certificates table.certs');
    expect(await tables.count()).to.equal(2);
    expect(await page.locator('#certificates h3').first().innerText()).to.equal(
      'Trust anchor (from the CA bundle, not sent by the server)',
    );
    for (const [t, certs] of [chain.filter((c) => c.sent), chain.filter((c) => !c.sent)].entries()) {
      const rows = tables.nth(t).locator('tbody tr');
      expect(await rows.count()).to.equal(certs.length);
      for (const [i, c] of certs.entries()) {
        const r = rows.nth(i);
        expect(await r.getAttribute('data-cert-position')).to.equal(c.position);
        expect(await r.getAttribute('data-not-after')).to.equal(c.notAfter);
        expect(await r.getAttribute('data-expiry-state')).to.equal(c.expiry);
        expect(await r.innerText())
          .to.contain(c.notAfter.slice(0, 10))
          .and.contain(`${c.daysToExpiry} d left`)
          .and.contain(c.serial);
      }
    }
    const served = chain.filter((c) => c.sent);
    // Renewed on disk, not loaded: both serials, and the file's own not-after.
    const file = node.evidence.certificateFile!;
    expect(file.matchesServed).to.equal(false);
    const restart = await page.locator('[data-restart-needed="true"]').innerText();
    expect(restart).to.contain(served[0]!.serial).and.contain(file.serial);
    expect(served[0]!.serial).to.not.equal(file.serial);
    expect(await page.locator('[data-file-not-after]').getAttribute('data-file-not-after')).to.equal(file.notAfter);

    mkdirSync(SCREENSHOTS, { recursive: true });
    const shot = join(SCREENSHOTS, 'node-gitaly-4.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot of a node page: ${shot}`);
    expect(statSync(shot).size).to.be.greaterThan(10_000);
    expect(problems).to.deep.equal([]);

    // An unknown node: a page that says so, not an error (the browser logs the 404 status itself).
    const missing = await page.goto(`${base}/node/${encodeURIComponent('no such/node')}`);
    expect(missing?.status()).to.equal(404);
    expect(await page.locator('body').innerText()).to.contain('No node named no such/node');
    await page.close();
  });
});
