import { expect } from 'chai';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Exporter } from '../../src/exporter.ts';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import type { FastifyInstance } from 'fastify';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const logger = pino({ level: 'silent' });

describe('HTTP interface', () => {
  let dir: string;
  let exporter: Exporter;
  let app: FastifyInstance;
  let fleet: FakeFleet;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-app-'));
    const clock = new FakeClock(Date.UTC(2026, 10, 25));
    fleet = new FakeFleet(clock);
    fleet.add('gitaly-1');
    fleet.add('gitaly-2');
    const config = fakeConfig(
      [fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2', { tlsAddress: 'tls://gitaly-2:9999' })],
      join(dir, 'state.json'),
    );
    exporter = new Exporter({ config, logger, probes: fleet.probes(), now: clock.now });
    await exporter.init();
    app = buildApp({ logger, view: exporter });
  });
  afterEach(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is healthy at once, ready only after the first collection', async () => {
    expect((await app.inject('/-/healthy')).statusCode).to.equal(200);
    expect((await app.inject('/-/ready')).statusCode).to.equal(503);
    expect((await app.inject('/migration')).statusCode).to.equal(503);
    await exporter.collector.collect();
    expect((await app.inject('/-/ready')).statusCode).to.equal(200);
  });

  it('serves /metrics in the Prometheus text format, from the latest collection only', async () => {
    const before = await app.inject('/metrics');
    expect(before.headers['content-type']).to.equal('text/plain; version=0.0.4; charset=utf-8');
    expect(before.body).to.contain('gitaly_tls_exporter_build_info');
    expect(before.body).to.not.contain('gitaly_tls_migration_phase');
    await exporter.collector.collect();
    const tlsDialsBefore = fleet.nodes.get('gitaly-1')!.counts.tls;
    const after = await app.inject('/metrics');
    await app.inject('/metrics');
    expect(after.body).to.contain('gitaly_tls_migration_phase{node="gitaly-1",role="gitaly",phase="dual_listen"} 1');
    // Scrapes are served from the cache: no probe runs for them.
    expect(fleet.nodes.get('gitaly-1')!.counts.tls).to.equal(tlsDialsBefore);
  });

  it('adds prom-client’s process and Node.js metrics to /metrics, and the page still passes promtool', async () => {
    await exporter.collector.collect();
    const res = await app.inject('/metrics');
    expect(res.body).to.match(/^process_resident_memory_bytes \d+$/m);
    expect(res.body).to.match(/^process_cpu_seconds_total [\d.e+-]+$/m);
    expect(res.body).to.match(/^nodejs_eventloop_lag_seconds [\d.e+-]+$/m);
    expect(res.body).to.contain('gitaly_tls_migration_phase{node="gitaly-1"');
    const check = promtoolCheckMetrics(res.body);
    expect(check.output).to.equal('');
    expect(check.status).to.equal(0);
  });

  it('serves /migration as JSON with the fleet verdict and each node’s blocking reasons', async () => {
    await exporter.collector.collect();
    const res = await app.inject('/migration');
    expect(res.headers['content-type']).to.match(/^application\/json/);
    const body = res.json<{
      fleet: { complete: boolean; phase: string };
      nodes: Array<{ node: string; phase: string; blockingReasons: Array<{ reason: string; text: string }> }>;
    }>();
    expect(body.fleet.complete).to.equal(false);
    expect(body.nodes.map((n) => n.node)).to.deep.equal(['gitaly-1', 'gitaly-2']);
    expect(body.nodes[0]!.blockingReasons.map((r) => r.reason)).to.include('insufficient_history');
    expect(body.nodes[0]!.blockingReasons[0]!.text).to.match(/\.$/);
  });

  it('serves a status page with the verdict and one row per node', async () => {
    expect((await app.inject('/')).body).to.contain('first collection is still running');
    await exporter.collector.collect();
    const res = await app.inject('/');
    expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(res.body).to.contain('Migration not complete.');
    expect(res.body.match(/<tr data-node=/g)).to.have.length(2);
  });

  describe('/probe', () => {
    it('probes a configured target, with or without the tls:// scheme', async () => {
      for (const target of ['gitaly-1:9999', 'tls://gitaly-2:9999']) {
        const res = await app.inject(`/probe?target=${encodeURIComponent(target)}`);
        expect(res.statusCode, res.body).to.equal(200);
        expect(res.body).to.contain('gitaly_tls_handshake_ok{node="gitaly-');
      }
    });

    it('refuses an unlisted target: no open relay into the network', async () => {
      const res = await app.inject('/probe?target=10.0.0.1:22');
      expect(res.statusCode).to.equal(403);
      expect(res.body).to.equal(
        'Target 10.0.0.1:22 is not the tls_address of a configured node (set allow_unlisted_targets: true to probe any address).\n',
      );
    });

    it('answers 400 with the reason for a missing or malformed target', async () => {
      const cases: Array<[string, string]> = [
        ['/probe', 'Missing parameter: target (e.g. /probe?target=tls://gitaly-1.internal:9999).\n'],
        ['/probe?target=gitaly-1', 'Bad target: "gitaly-1" has no port (expected host:port).\n'],
        ['/probe?target=tcp://gitaly-1:8075', 'Bad target: scheme tcp:// is not allowed here (use tls:// or host:port).\n'],
        ['/probe?target=gitaly-1:99999', 'Bad target: "gitaly-1:99999" has no valid port (1-65535).\n'],
        [`/probe?target=${'a'.repeat(400)}:1`, 'Bad target: longer than 300 characters.\n'],
        ['/probe?target=x&target=y', 'Bad target: give one target parameter, not several.\n'],
      ];
      for (const [url, message] of cases) {
        const res = await app.inject(url);
        expect(res.statusCode, url).to.equal(400);
        expect(res.body, url).to.equal(message);
      }
    });
  });

  it('answers unknown paths with a short hint, not a stack trace', async () => {
    const res = await app.inject('/nope?secret=1');
    expect(res.statusCode).to.equal(404);
    expect(res.body).to.equal('Not found: GET /nope. Try /, /migration, /metrics or /probe?target=host:port.\n');
  });

  it('refuses a reload when there is no configuration file', async () => {
    const withLifecycle = buildApp({ logger, view: exporter, lifecycle: true });
    try {
      const res = await withLifecycle.inject({ method: 'POST', url: '/-/reload' });
      expect(res.statusCode).to.equal(400);
    } finally {
      await withLifecycle.close();
    }
  });

  it('serves POST /-/reload only with --web.enable-lifecycle, as Prometheus does', async () => {
    let reloads = 0;
    const view: ExporterView = {
      snapshot: () => exporter.snapshot(),
      metricsText: () => exporter.metricsText(),
      configSource: () => exporter.configSource(),
      refreshSeconds: () => exporter.refreshSeconds(),
      probe: (target) => exporter.probe(target),
      reload: () => {
        reloads += 1;
        return exporter.reload();
      },
    };
    const off = buildApp({ logger, view });
    try {
      const res = await off.inject({ method: 'POST', url: '/-/reload' });
      expect(res.statusCode).to.equal(403);
      expect(res.body).to.equal(
        'Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle to reload over HTTP, or send it SIGHUP.\n',
      );
      expect(reloads, 'nothing was reloaded').to.equal(0);
    } finally {
      await off.close();
    }
  });
});
