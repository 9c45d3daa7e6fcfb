// The engine check: evidence counts only from a Prometheus; any other engine that answers the same
// HTTP API is a blocking reason that names it, never a verdict.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkQueryEngine, describeBuildInfo } from '../../src/sources/prometheus-engine.ts';
import { queryVerifiedFleetEvidence } from '../../src/sources/prometheus.ts';
import {
  MIMIR_BUILD_INFO,
  PROMETHEUS_BUILD_INFO,
  THANOS_BUILD_INFO,
  VICTORIA_METRICS_179_BUILD_INFO,
  VICTORIA_METRICS_LATER_BUILD_INFO,
} from '../fixtures/build-info.ts';
import { ENGINES, startEngine } from '../helpers/query-engine.ts';

const OPTIONS = { timeoutMs: 5_000, maxBytes: 1_000_000 };

/** A server whose buildinfo answers `status`/`body`, and whose queries answer empty results. */
async function engine(status: number, body: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    if (req.url?.startsWith('/api/v1/status/buildinfo')) {
      res.writeHead(status).end(body);
      return;
    }
    let form = '';
    req.on('data', (c: Buffer) => (form += c.toString()));
    req.on('end', () => {
      const query = new URLSearchParams(form).get('query') ?? '';
      const resultType = /:\d+s\]$/.test(query.trim()) ? 'matrix' : 'vector';
      res.end(JSON.stringify({ status: 'success', data: { resultType, result: [] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('prometheus engine check', function () {
  it('takes Prometheus 2.x and 3.x by their full build information', function () {
    expect(describeBuildInfo(PROMETHEUS_BUILD_INFO)).to.deep.equal({ verified: true });
    expect(describeBuildInfo({ ...PROMETHEUS_BUILD_INFO, version: '3.5.0' })).to.deep.equal({ verified: true });
  });

  it('names every other engine, and one that only claims a Prometheus version', function () {
    const what = (data: unknown): string => {
      const d = describeBuildInfo(data);
      return d.verified ? 'verified' : d.what;
    };
    expect(what(VICTORIA_METRICS_179_BUILD_INFO)).to.include('VictoriaMetrics');
    expect(what(VICTORIA_METRICS_LATER_BUILD_INFO)).to.include('VictoriaMetrics');
    expect(what(MIMIR_BUILD_INFO)).to.equal('Grafana Mimir 2.10.0');
    expect(what(THANOS_BUILD_INFO)).to.equal('an engine reporting version 0.34.1');
    expect(what(null)).to.include('no Prometheus build');
  });

  const cases: Array<[string, number, string]> = [
    ['VictoriaMetrics 1.79', 200, JSON.stringify({ status: 'success', data: VICTORIA_METRICS_179_BUILD_INFO })],
    ['no buildinfo endpoint', 404, '404 page not found'],
  ];
  for (const [what, status, body] of cases) {
    it(`refuses evidence from ${what}, however good its answers look: UNVERIFIED_ENGINE, naming the docs`, async function () {
      const server = await engine(status, body);
      try {
        const cfg = { url: server.url, instanceLabel: 'instance' };
        const check = await checkQueryEngine(cfg, OPTIONS);
        expect(check.ok).to.equal(false);
        const evidence = await queryVerifiedFleetEvidence(cfg, { startMs: Date.now() - 600_000, endMs: Date.now() }, OPTIONS);
        if (evidence.ok) expect.fail('evidence from an unverified engine');
        expect(evidence.error.code).to.equal('UNVERIFIED_ENGINE');
        expect(evidence.error.message).to.include('not as Prometheus').and.include('docs/deploy.md');
      } finally {
        await server.close();
      }
    });
  }

  it('passes a Prometheus answer through unchanged', async function () {
    const server = await engine(200, JSON.stringify({ status: 'success', data: PROMETHEUS_BUILD_INFO }));
    try {
      const evidence = await queryVerifiedFleetEvidence(
        { url: server.url, instanceLabel: 'instance' },
        { startMs: Date.now() - 600_000, endMs: Date.now() },
        OPTIONS,
      );
      expect(evidence.ok, evidence.ok ? '' : evidence.error.message).to.equal(true);
    } finally {
      await server.close();
    }
  });

  it('keeps a network failure its own code (the queries meet it too)', async function () {
    const check = await checkQueryEngine({ url: 'http://127.0.0.1:1', instanceLabel: 'instance' }, OPTIONS);
    expect(check.ok).to.equal(false);
    if (!check.ok) expect(check.error.code).to.equal('CONNECT');
  });
});

describe('prometheus engine check against the real engines', function () {
  this.timeout(120_000);
  for (const name of ENGINES) {
    it(`${name === 'prometheus' ? 'takes' : 'refuses'} the real ${name}`, async function () {
      // Scraping itself is enough: the check reads the build information, not the data.
      const running = await startEngine(name, { jobs: [] });
      try {
        const check = await checkQueryEngine({ url: running.url, instanceLabel: 'instance' }, OPTIONS);
        if (name === 'prometheus') expect(check, JSON.stringify(check)).to.deep.equal({ ok: true, engine: 'prometheus' });
        else {
          if (check.ok) expect.fail(`${name} taken for Prometheus`);
          expect(check.error.code).to.equal('UNVERIFIED_ENGINE');
          expect(check.error.message).to.include('VictoriaMetrics');
        }
      } finally {
        await running.stop();
      }
    });
  }
});
