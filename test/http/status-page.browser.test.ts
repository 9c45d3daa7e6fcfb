// The status page in a real browser: Debian's Chromium driven by playwright-core (no browser download).
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { realProbes } from '../../src/collect/probes.ts';
import { demoConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { scaled } from '../helpers/time-factor.ts';
import { realPart } from '../helpers/real-parts.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

interface MigrationDoc {
  fleet: { complete: boolean; nodesByPhase: Record<string, number> };
  nodes: Array<{ node: string; phase: string; blockingReasons: Array<{ reason: string }> }>;
}

describe('status page in headless Chromium', function () {
  this.timeout(scaled(120_000));
  let dir: string;
  let fleet: DemoFleet;
  let exporter: Exporter;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;

  before(async () => {
    const executablePath = realPart('chromium');
    dir = mkdtempSync(join(tmpdir(), 'gte-browser-'));
    fleet = await startDemoFleet({ dir, migrationMs: 20_000 });
    const logger = pino({ level: 'silent' });
    exporter = new Exporter({ config: demoConfig(fleet, { stateFile: join(dir, 'state.json') }), logger, probes: realProbes });
    await exporter.init();
    await exporter.collector.collect();
    app = buildApp({ logger, view: exporter });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the fleet verdict and one row per node, as /migration says, with no console errors', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    const response = await page.goto(`${base}/`);
    expect(response?.status()).to.equal(200);
    const doc = (await (await fetch(`${base}/migration`)).json()) as MigrationDoc;

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

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).to.be.greaterThan(10_000);
    expect(problems).to.deep.equal([]);
    await page.close();
  });
});
