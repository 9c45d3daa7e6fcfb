// A Prometheus that answers with far more instances than any fleet has: the answer is abandoned at
// the sample cap, and below the cap the undeclared instances are listed up to a bound and counted
// beyond it, so /metrics, /migration and the status page stay small.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { UNDECLARED_OTHERS } from '../../src/metrics/definitions.ts';
import { renderMetrics } from '../../src/metrics/render.ts';
import { MAX_UNDECLARED_LISTED } from '../../src/migration/verdict.ts';
import { migrationJson } from '../../src/pages/migration-json.ts';
import { queryFleetEvidence } from '../../src/sources/prometheus.ts';
import { PROMETHEUS_BUILD_INFO } from '../fixtures/build-info.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const logger = pino({ level: 'silent' });

/** Answers every vector query with `count` instances, one sample each (two types for increase()). */
async function hostilePrometheus(count: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/status/buildinfo')) {
      // A Prometheus (src/sources/prometheus-engine.ts): its answers are what the test is about.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'success', data: PROMETHEUS_BUILD_INFO }));
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const query = new URLSearchParams(body).get('query') ?? '';
      if (/:\d+s\]$/.test(query.trim())) {
        // The per-change range queries (a subquery, answered as a matrix): nothing changed.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"success","data":{"resultType":"matrix","result":[]}}');
        return;
      }
      const types = query.includes('increase(') ? ['tcp', 'tls'] : [null];
      const samples: string[] = [];
      for (let i = 0; i < count; i += 1) {
        for (const type of types) {
          const metric = type ? `{"instance":"stranger-${i}:9236","type":"${type}"}` : `{"instance":"stranger-${i}:9236"}`;
          samples.push(`{"metric":${metric},"value":[1,"${type === 'tcp' ? 0 : 1}"]}`);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"status":"success","data":{"resultType":"vector","result":[${samples.join(',')}]}}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('faults: a Prometheus that sees thousands of undeclared instances', function () {
  this.timeout(60_000);
  let dir: string;
  let prometheus: { url: string; close(): Promise<void> } | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-hostile-prom-'));
  });
  afterEach(async () => {
    await prometheus?.close();
    prometheus = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function collectAgainst(count: number) {
    prometheus = await hostilePrometheus(count);
    const fleet = new FakeFleet(new FakeClock(Date.now()));
    fleet.add('gitaly-1', { listenerOpen: false });
    const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'), {
      prometheus: { url: prometheus.url, instanceLabel: 'instance', scrapeIntervalMs: 15_000 },
      // A loaded CI machine: the answers are big, the point is what they cost, not how fast they come.
      timeouts: { metricsMs: 5000, tlsMs: 5000, plaintextMs: 5000, prometheusMs: 60_000 },
    });
    const collector = new Collector({ config, logger, probes: { ...fleet.probes(), queryFleetEvidence }, now: Date.now });
    return collector.collect();
  }

  it('lists the first 100 undeclared instances and sums the rest into one series, and says how many', async () => {
    const s = await collectAgainst(5_000);
    expect(s.prometheus?.ok, JSON.stringify(s.prometheus)).to.equal(true);
    expect(s.fleet.undeclaredCount).to.equal(5_000);
    expect(s.fleet.undeclaredInstances).to.have.length(MAX_UNDECLARED_LISTED);
    expect(s.fleet.complete).to.equal(false);
    const sentence = s.fleet.blocking.find((b) => b.includes('not in the configuration'))!;
    expect(sentence).to.include('5000 instance(s)').and.include('and 4990 more');
    expect(sentence.length).to.be.below(500);

    const text = await renderMetrics(s.view, { version: 'test', configReloadSuccessful: true, soakWindowMs: 60_000 });
    const series = text.split('\n').filter((l) => l.startsWith('gitaly_tls_undeclared_instance{'));
    expect(series).to.have.length(MAX_UNDECLARED_LISTED + 1);
    expect(series).to.include(`gitaly_tls_undeclared_instance{prometheus_instance="${UNDECLARED_OTHERS}"} 4900`);
    const sum = series.reduce((total, line) => total + Number(line.split(' ').pop()), 0);
    expect(sum, 'sum() counts every undeclared instance').to.equal(5_000);
    expect(text.length).to.be.below(200_000);

    const doc = migrationJson(s.view) as { fleet: { undeclaredInstances: string[]; undeclaredInstanceCount: number } };
    expect(doc.fleet.undeclaredInstances).to.have.length(MAX_UNDECLARED_LISTED);
    expect(doc.fleet.undeclaredInstanceCount).to.equal(5_000);
  });

  it('abandons an answer with more samples than the cap: Prometheus evidence fails with TOO_MANY_SAMPLES, no node is judged on it', async () => {
    const s = await collectAgainst(60_000);
    expect(s.prometheus?.ok).to.equal(false);
    expect(s.prometheus && !s.prometheus.ok && s.prometheus.error.code).to.equal('TOO_MANY_SAMPLES');
    expect(s.nodes[0]!.verdict.reasons).to.include('source_down');
    expect(s.fleet.undeclaredCount).to.equal(0);
    expect(s.fleet.complete).to.equal(false);
    expect(s.sourceErrors.get('prometheus\u0000TOO_MANY_SAMPLES')).to.equal(1);
  });
});
