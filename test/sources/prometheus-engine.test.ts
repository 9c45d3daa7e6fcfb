// The engine check: evidence counts only from a Prometheus; any other engine that answers the same
// HTTP API is a blocking reason that names it, never a verdict.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkQueryEngine,
  describeBuildInfo,
  hiddenRangeMs,
  latencyOffsetMs,
  parseGoDurationMs,
  PROMETHEUS_ENGINE,
} from '../../src/sources/prometheus-engine.ts';
import { rangeLagMs } from '../../src/sources/prometheus.ts';
import {
  MIMIR_BUILD_INFO,
  PROMETHEUS_BUILD_INFO,
  THANOS_BUILD_INFO,
  VICTORIA_METRICS_179_BUILD_INFO,
  VICTORIA_METRICS_LATER_BUILD_INFO,
} from '../fixtures/build-info.ts';
import type { RunningPrometheus } from '../helpers/prometheus-server.ts';
import { queryVerifiedFleetEvidence, startEngine } from '../helpers/query-engine.ts';
import { startVictoriaMetrics } from '../helpers/victoria-metrics-server.ts';

const OPTIONS = { timeoutMs: 5_000, maxBytes: 1_000_000 };

/** A server whose buildinfo answers `status`/`body`, /flags `flags`, and whose queries answer empty results. */
async function engine(status: number, body: string, flags = ''): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/status/buildinfo')) {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.url?.startsWith('/flags')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(flags);
      return;
    }
    res.setHeader('content-type', 'application/json');
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
  it('tells Prometheus 2.x and 3.x and VictoriaMetrics by their build information', function () {
    expect(describeBuildInfo(PROMETHEUS_BUILD_INFO)).to.deep.equal({ engine: 'prometheus' });
    expect(describeBuildInfo({ ...PROMETHEUS_BUILD_INFO, version: '3.5.0' })).to.deep.equal({ engine: 'prometheus' });
    expect(describeBuildInfo(VICTORIA_METRICS_179_BUILD_INFO)).to.deep.equal({ engine: 'victoriametrics' });
    expect(describeBuildInfo(VICTORIA_METRICS_LATER_BUILD_INFO)).to.deep.equal({ engine: 'victoriametrics' });
  });

  it('names every other engine', function () {
    const what = (data: unknown): string => {
      const d = describeBuildInfo(data);
      return d.engine === null ? d.what : d.engine;
    };
    expect(what(MIMIR_BUILD_INFO)).to.equal('Grafana Mimir 2.10.0');
    expect(what(THANOS_BUILD_INFO)).to.equal('an engine reporting version 0.34.1');
    expect(what({ version: 'x', revision: 'y' })).to.equal('an engine reporting version x');
  });

  it("reads VictoriaMetrics' -search.latencyOffset from its /flags page (absent: the default 30 s)", function () {
    expect(latencyOffsetMs('')).to.equal(30_000);
    expect(latencyOffsetMs('-retentionPeriod="1d"\n-search.latencyOffset="1s"\n')).to.equal(1_000);
    expect(latencyOffsetMs('-search.latencyOffset="500ms"')).to.equal(500);
    expect(latencyOffsetMs('-search.latencyOffset="1m0s"')).to.equal(60_000);
    expect(latencyOffsetMs('-search.latencyOffset="soon"')).to.equal(null);
    expect(parseGoDurationMs('1h2m3.5s')).to.equal(3_723_500);
    expect(parseGoDurationMs('0')).to.equal(0);
    expect(parseGoDurationMs('')).to.equal(null);
  });

  it('keeps the per-change range and the window clear of what VictoriaMetrics rewrites, and only there', function () {
    const vm1s = { engine: 'victoriametrics' as const, latencyOffsetMs: 1_000 };
    // Its offset and a second of clock skew, for steps under a minute (it rewrites nothing coarser).
    expect(hiddenRangeMs(vm1s, 1_000)).to.equal(2_000);
    expect(hiddenRangeMs(vm1s, 60_000)).to.equal(0);
    expect(hiddenRangeMs(PROMETHEUS_ENGINE, 1_000)).to.equal(0);
    // The window ends a step earlier still, so the per-change range (ending on a step) covers it.
    expect(rangeLagMs(vm1s, 600)).to.equal(3_000);
    expect(rangeLagMs(vm1s, 7 * 86_400)).to.equal(2_000 + 303_000);
    expect(rangeLagMs(PROMETHEUS_ENGINE, 600)).to.equal(0);
  });

  const vm = JSON.stringify({ status: 'success', data: VICTORIA_METRICS_179_BUILD_INFO });
  const cases: Array<[string, number, string, string, RegExp]> = [
    [
      'VictoriaMetrics with its default latency offset',
      200,
      vm,
      '',
      /VictoriaMetrics with -search.latencyOffset=30s.*-search.latencyOffset=1s/,
    ],
    ['VictoriaMetrics with a 2 s latency offset', 200, vm, '-search.latencyOffset="2s"\n', /-search.latencyOffset=2s/],
    ['Grafana Mimir', 200, JSON.stringify({ status: 'success', data: MIMIR_BUILD_INFO }), '', /Grafana Mimir 2.10.0/],
    ['no buildinfo endpoint', 404, '404 page not found', '', /without Prometheus' \/api\/v1\/status\/buildinfo.*HTTP 404/],
  ];
  for (const [what, status, body, flags, says] of cases) {
    it(`refuses evidence from ${what}, however good its answers look: UNVERIFIED_ENGINE, naming the docs`, async function () {
      const server = await engine(status, body, flags);
      try {
        const cfg = { url: server.url, instanceLabel: 'instance' };
        const check = await checkQueryEngine(cfg, OPTIONS);
        expect(check.ok).to.equal(false);
        const evidence = await queryVerifiedFleetEvidence(cfg, { startMs: Date.now() - 600_000, endMs: Date.now() }, OPTIONS);
        if (evidence.ok) expect.fail('evidence from an unverified engine');
        expect(evidence.error.code).to.equal('UNVERIFIED_ENGINE');
        expect(evidence.error.message).to.match(says).and.include('docs/deploy.md');
      } finally {
        await server.close();
      }
    });
  }

  const verified: Array<[string, string, string]> = [
    ['Prometheus', JSON.stringify({ status: 'success', data: PROMETHEUS_BUILD_INFO }), ''],
    ['VictoriaMetrics with -search.latencyOffset=1s', vm, '-search.latencyOffset="1s"\n'],
  ];
  for (const [what, body, flags] of verified) {
    it(`passes the answer of ${what} through unchanged`, async function () {
      const server = await engine(200, body, flags);
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
  }

  it('keeps a network failure its own code (the queries meet it too)', async function () {
    const check = await checkQueryEngine({ url: 'http://127.0.0.1:1', instanceLabel: 'instance' }, OPTIONS);
    expect(check.ok).to.equal(false);
    if (!check.ok) expect(check.error.code).to.equal('CONNECT');
  });
});

describe('prometheus engine check against the real engines', function () {
  this.timeout(120_000);
  const runs: Array<[string, () => Promise<RunningPrometheus>, string | null]> = [
    ['takes the real Prometheus', () => startEngine('prometheus', { jobs: [] }), null],
    ['takes the real VictoriaMetrics started as docs/deploy.md says', () => startEngine('victoria-metrics', { jobs: [] }), null],
    [
      'refuses the real VictoriaMetrics with its default flags, naming the flag to set',
      () => startVictoriaMetrics({ jobs: [], latencyOffset: '30s' }),
      'VictoriaMetrics with -search.latencyOffset=30s',
    ],
  ];
  for (const [title, start, refusal] of runs) {
    it(title, async function () {
      const running = await start();
      try {
        const check = await checkQueryEngine({ url: running.url, instanceLabel: 'instance' }, OPTIONS);
        if (refusal === null) expect(check.ok, JSON.stringify(check)).to.equal(true);
        else {
          if (check.ok) expect.fail(`taken as ${check.engine}`);
          expect(check.error.code).to.equal('UNVERIFIED_ENGINE');
          expect(check.error.message).to.include(refusal).and.include('start it with -search.latencyOffset=1s');
        }
      } finally {
        await running.stop();
      }
    });
  }
});
