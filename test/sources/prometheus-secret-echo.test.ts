// A Prometheus (or the proxy in front of it) that echoes the credentials it was sent in its 401
// body, placed so that the exporter's cut of a long error text falls inside them: no part of the
// secret may reach the error, the log, /migration or the status page.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realProbes } from '../../src/collect/probes.ts';
import type { PrometheusConfig } from '../../src/config/types.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { prometheusTargetsSource } from '../../src/inventory/prometheus-targets.ts';
import { createLogger } from '../../src/log/logger.ts';
import { instantQuery } from '../../src/sources/prometheus-client.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';
import { listenLoopback, type LoopbackHttpServer } from '../helpers/http-server.ts';

/** 46 characters, none of its 8-character pieces found in ordinary text. */
const TOKEN = 'Zq7XwV2bN5mK8jH3gF6dS4aP0oI9uY1tR5eW3qL8kJ2hG4';
const USER = 'grafana';
const PASSWORD = 'Pw9Lk2Mn7Bv4Cx1Zs8Qa3Wd6Ef0Rg5';
/** The exporter cuts an error text at 300 characters; the echo is placed to straddle the cut. */
const CUT = 300;

/** Every 8-character piece of `secret` that occurs in `text` (none, when nothing of it leaked). */
function leaks(text: string, secret: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 8 <= secret.length; i++) if (text.includes(secret.slice(i, i + 8))) found.push(secret.slice(i, i + 8));
  return found;
}

/** The credential the request carried, as a proxy that echoes it would see it. */
function credential(req: IncomingMessage): string {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice('Bearer '.length);
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1);
}

/**
 * Answers 401 with Prometheus' error JSON whose text ("unauthorized: ...") has the cut fall inside
 * the credential, 13 characters before its end: of a 46-character token, 33 are before the cut.
 * Under /partial it echoes the credential less its last 6 characters, as a proxy that shortens it.
 */
function startEchoServer(): Promise<LoopbackHttpServer> {
  return listenLoopback((req, res) => {
    const whole = credential(req);
    const secret = req.url?.startsWith('/partial/') ? whole.slice(0, -6) : whole;
    const inside = whole.length - 13;
    const head = 'unauthorized: ';
    const lead = 'the credential is not in the allow list of this proxy, ask the Prometheus operator; ';
    const filler = `${lead.repeat(Math.ceil(CUT / lead.length)).slice(0, CUT - inside - head.length - ' you sent '.length)} `;
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'error', errorType: 'unauthorized', error: `${filler}you sent ${secret} (rejected)` }));
  });
}

describe('prometheus client: a 401 that echoes the credentials', function () {
  let dir: string;
  let server: LoopbackHttpServer;
  let prom: { bearer: PrometheusConfig; basic: PrometheusConfig };

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'gte-secret-echo-'));
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    await writeFile(join(dir, 'password'), `${PASSWORD}\n`);
    server = await startEchoServer();
    prom = {
      bearer: { url: server.url, instanceLabel: 'instance', bearerTokenFile: join(dir, 'token') },
      basic: { url: server.url, instanceLabel: 'instance', basicAuth: { username: USER, passwordFile: join(dir, 'password') } },
    };
  });

  after(async function () {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a proxy's own shortened echo of the token, cut again by the exporter: no piece of it is shown", async function () {
    const cfg = { ...prom.bearer, url: `${server.url}/partial` };
    const r = await instantQuery(cfg, 'up', Date.now(), { timeoutMs: 5_000, maxBytes: 1_000_000 });
    if (r.ok) throw new Error('expected the 401 to fail the query');
    expect(r.error.message).to.contain('answered HTTP 401').and.contain('you sent <redacted>…');
    expect(leaks(r.error.message, TOKEN), r.error.message).to.deep.equal([]);
  });

  for (const [kind, secret] of [
    ['bearer', TOKEN],
    ['basic', PASSWORD],
  ] as const) {
    const encoded = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

    it(`${kind}: the error says 401 and what Prometheus said, with no piece of the secret`, async function () {
      const r = await instantQuery(prom[kind], 'up', Date.now(), { timeoutMs: 5_000, maxBytes: 1_000_000 });
      if (r.ok) throw new Error('expected the 401 to fail the query');
      expect(r.error.code).to.equal('HTTP_STATUS');
      expect(r.error.message).to.contain('answered HTTP 401').and.contain('unauthorized: the credential is not in the allow list');
      expect(leaks(r.error.message, secret), r.error.message).to.deep.equal([]);
      expect(leaks(r.error.message, encoded), r.error.message).to.deep.equal([]);
    });

    it(`${kind}: neither the log, /migration nor the status page shows any piece of the secret`, async function () {
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', format: 'json', destination: { write: (s: string) => void lines.push(s) } });
      const clock = new FakeClock(Date.now());
      const fleet = new FakeFleet(clock);
      fleet.add('gitaly-1');
      const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, `state-${kind}.json`), { prometheus: prom[kind] });
      const probes = { ...fleet.probes(), queryFleetEvidence: realProbes.queryFleetEvidence };
      const exporter = new Exporter({ config, logger, probes, now: clock.now });
      await exporter.init();
      const app = buildApp({ logger, view: exporter });
      try {
        await exporter.collector.collect();
        const migration = await app.inject('/migration');
        const page = await app.inject('/');
        expect(migration.statusCode).to.equal(200);
        expect(page.statusCode).to.equal(200);
        const said = JSON.parse(migration.body) as { fleet: { prometheus: { ok: boolean; error?: { message: string } } } };
        // The failure is there to be seen: the check below is of a page that shows it.
        expect(said.fleet.prometheus.error?.message).to.contain('answered HTTP 401');
        expect(page.body).to.contain('answered HTTP 401');
        expect(lines.join('')).to.contain('answered HTTP 401');
        for (const [where, text] of [
          ['the log', lines.join('')],
          ['/migration', migration.body],
          ['the status page', page.body],
        ] as const) {
          expect(leaks(text, secret), where).to.deep.equal([]);
          expect(leaks(text, encoded), where).to.deep.equal([]);
        }
      } finally {
        await app.close();
      }
    });

    it(`${kind}: inventory discovery from Prometheus' targets reports the 401 with no piece of the secret`, async function () {
      const source = prometheusTargetsSource(
        prom[kind],
        { selector: 'job="gitaly"', templates: {} },
        {
          timeoutMs: 5_000,
          maxBytes: 1_000_000,
        },
      );
      const r = await source.discover();
      if (r.ok) throw new Error('expected the 401 to fail discovery');
      expect(r.error.message).to.contain('answered HTTP 401');
      expect(leaks(r.error.message, secret), r.error.message).to.deep.equal([]);
      expect(leaks(r.error.message, encoded), r.error.message).to.deep.equal([]);
    });
  }
});
