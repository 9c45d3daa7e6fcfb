// The status page on a 1,366 px laptop screen, in Debian's Chromium: a fleet with long node names,
// long error sentences and several blocking reasons per node must read without sideways scrolling,
// every column (the blocking reasons above all) on screen.
import { expect } from 'chai';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import type { Snapshot } from '../../src/cycle/collector.ts';
import type { CertFileResult } from '../../src/evidence/evidence.ts';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import { emptyHistory } from '../../src/migration/types.ts';
import { launchChromium, newPage } from '../helpers/chromium.ts';
import { cert, coveredHistory, DAY, NOW, plaintextClosed, tlsFailed, tlsOk } from '../helpers/evidence.ts';
import { expectTableFits, STATUS_COLUMNS } from '../helpers/page-fit.ts';
import { scaled } from '../helpers/time-factor.ts';
import { viewOfNodes, type NodeSpec } from '../helpers/view.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const HOUR = 3_600_000;
const LONG = 'gitaly-cluster-eu-west-1-storage-01.prod.example.com';
const DEAD = 'gitaly-cluster-eu-west-1-storage-02.prod.example.com';

const renewedOnDisk: CertFileResult = {
  ok: true,
  path: '/etc/gitlab/ssl/gitaly-cluster-eu-west-1-storage-01.prod.example.com.crt',
  chain: [cert({ serial: '99FF', notAfterMs: NOW + 400 * DAY, sha256: 'bb'.repeat(32) })],
  matchesServed: false,
};

/** Everything wrong at once: plaintext clients, the listener open, TLS untrusted, wrong name, no h2, expiring, renewed on disk. */
const EVERYTHING_WRONG: NodeSpec = {
  name: LONG,
  node: {
    tlsAddress: `${LONG}:9999`,
    plaintextAddress: `${LONG}:8075`,
    certificateFile: renewedOnDisk.ok ? renewedOnDisk.path : '',
  },
  evidence: {
    history: coveredHistory({
      plaintextLastSeenMs: NOW - HOUR,
      directBuckets: [[NOW - 2 * HOUR, { tcp: 1234, tls: 98765, lastTcpMs: NOW - HOUR, lastTlsMs: NOW - 60_000 }]],
    }),
    plaintext: plaintextClosed({ open: true, address: `${LONG}:8075` }),
    tls: tlsOk({
      address: `${LONG}:9999`,
      chain: [cert({ notAfterMs: NOW + 5 * DAY, subject: `CN=${LONG}` })],
      trusted: false,
      trustError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      hostnameMatch: false,
      alpnProtocol: null,
      accepts: { 'TLSv1.2': true, 'TLSv1.3': false },
    }),
    certFile: renewedOnDisk,
  },
};

/** Nothing answers: every source down with a long sentence naming a long address. */
const NOTHING_ANSWERS: NodeSpec = {
  name: DEAD,
  node: { tlsAddress: `${DEAD}:9999`, plaintextAddress: `${DEAD}:8075`, metricsUrl: `http://${DEAD}:9236/metrics` },
  evidence: {
    history: emptyHistory(),
    scrape: {
      ok: false,
      error: { code: 'CONNECT', message: `could not get an answer from http://${DEAD}:9236/metrics (ECONNREFUSED)` },
      durationMs: 2,
    },
    tls: tlsFailed({ code: 'CONNECT', message: `Could not connect to ${DEAD}:9999 (ECONNREFUSED).` }, { address: `${DEAD}:9999` }),
    plaintext: plaintextClosed({
      open: null,
      address: `${DEAD}:8075`,
      error: { code: 'TIMEOUT', message: `No answer from ${DEAD}:8075 within 5000 ms.` },
      connectionsMade: { tcp: 0, tls: 0 },
    }),
  },
};

const FLEET: NodeSpec[] = [
  EVERYTHING_WRONG,
  NOTHING_ANSWERS,
  { name: 'gitaly-1' },
  { name: 'gitaly-expiring', evidence: { tls: tlsOk({ chain: [cert({ notAfterMs: NOW + 20 * DAY })] }) } },
  { name: 'praefect-1', node: { role: 'praefect' }, evidence: { plaintext: plaintextClosed({ open: true }) } },
];

describe('status page at 1,366 px in headless Chromium', function () {
  this.timeout(scaled(60_000));
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;

  before(async () => {
    const view = viewOfNodes(FLEET);
    const exporter: ExporterView = {
      snapshot: () => ({ view }) as unknown as Snapshot,
      metricsText: () => '',
      configSource: () => 'test.yml',
      refreshSeconds: () => 3600,
      probe: () => Promise.reject(new Error('not used')),
      reload: () => Promise.resolve({ ok: false, message: 'not used' }),
    };
    app = buildApp({ logger: pino({ level: 'silent' }), view: exporter });
    browser = await launchChromium();
    // Fastify answers with the address it listens on.
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await browser?.close();
    await app?.close();
  });

  it('reads without sideways scrolling: every column header whole, the blocking reasons on screen', async () => {
    const { page, problems } = await newPage(browser, { width: 1366, height: 768 });
    expect((await page.goto(`${base}/`))?.status()).to.equal(200);

    // The fleet is as hard as promised: a row with seven blocking reasons, long names in the table.
    const worst = page.locator(`tbody tr[data-node="${LONG}"]`);
    expect(await worst.locator('ul.reasons code').count()).to.be.at.least(6);
    expect(await page.locator(`tbody tr[data-node="${DEAD}"] [data-source-down]`).count()).to.be.at.least(2);
    // The window's counts and the last plaintext client live under the chart now: still on the row.
    expect(await worst.locator('td.chart-cell').innerText())
      .to.contain('in window: 1234 tcp / 98765 tls')
      .and.contain('last plaintext: 60 min ago 2026-11-25 11:00 UTC');
    expect(await page.locator(`tbody tr[data-node="${DEAD}"] td.chart-cell`).innerText())
      .to.contain('in window: unknown')
      .and.contain('last plaintext: not observed yet');

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'status-page-1366.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot at 1,366 px: ${shot}`);
    expect(statSync(shot).size).to.be.greaterThan(10_000);

    await expectTableFits(page, STATUS_COLUMNS);
    expect(problems).to.deep.equal([]);
    await page.close();
  });
});
