import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrometheusConfig } from '../../src/config/types.ts';
import type { PrometheusFleetEvidence, PrometheusNodeEvidence } from '../../src/evidence/evidence.ts';
import { checkSelector, instantQuery, MAX_FLEET_QUERIES, queryFleetEvidence } from '../../src/sources/prometheus.ts';
import { matrixQuery } from '../../src/sources/prometheus-client.ts';
import { freePort, type RunningPrometheus, type ScrapeJob } from '../helpers/prometheus-server.ts';
import { ENGINES, queryVerifiedFleetEvidence, startEngine } from '../helpers/query-engine.ts';
import { sleep, waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

const OPTIONS = { timeoutMs: 5_000, maxBytes: 1_000_000 };

interface HttpServer {
  url: string;
  address: string;
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpServer> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A hand-written Gitaly-like /metrics page whose counters the test changes. */
interface GitalyPage extends HttpServer {
  series: Map<string, number>;
}

async function startGitalyPage(series: Record<string, number>): Promise<GitalyPage> {
  const values = new Map(Object.entries(series));
  const server = await listen((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end([...values].map(([name, value]) => `${name} ${value}\n`).join(''));
  });
  return { ...server, series: values };
}

function node(evidence: PrometheusFleetEvidence, instance: string): PrometheusNodeEvidence {
  if (!evidence.ok) throw new Error(`query failed: ${evidence.error.message}`);
  const found = evidence.byInstance.get(instance);
  if (!found) throw new Error(`${instance} missing from ${[...evidence.byInstance.keys()].join(', ')}`);
  return found;
}

describe('prometheus source', function () {
  for (const engine of ENGINES)
    describe(`against the real ${engine} scraping Gitaly-like pages`, function () {
      this.timeout(scaled(90_000));
      const pages: GitalyPage[] = [];
      let prom: RunningPrometheus | undefined;
      let cfg: PrometheusConfig;
      let window: { startMs: number; endMs: number };
      let evidence: PrometheusFleetEvidence;
      let resetAtMs: number;
      let gitaly: GitalyPage, praefect: GitalyPage, federated: GitalyPage, other: GitalyPage, late: GitalyPage;
      const UNDECLARED = 'undeclared-gitaly:9236';

      async function valueOf(expr: string): Promise<number | undefined> {
        const r = await instantQuery(cfg, expr, Date.now(), OPTIONS);
        return r.ok && r.samples.length === 1 ? r.samples[0]!.value : undefined;
      }
      async function waitForValue(expr: string, value: number): Promise<void> {
        await waitFor(async () => (await valueOf(expr)) === value, {
          timeoutMs: 15_000,
          intervalMs: 200,
          what: `${expr} == ${value} in Prometheus`,
        });
      }

      before(async function () {
        gitaly = await startGitalyPage({
          'gitaly_connections_total{type="tcp"}': 5,
          'gitaly_connections_total{type="tls"}': 10,
          'gitaly_connections_total{type="unix"}': 2,
        });
        // A Praefect that also exports the Gitaly family: only the Praefect family may count.
        praefect = await startGitalyPage({
          'gitaly_praefect_connections_total{type="tcp"}': 7,
          'gitaly_praefect_connections_total{type="tls"}': 3,
          'gitaly_connections_total{type="tcp"}': 1,
        });
        // Federation-style page: its series carry their own instance, which has no `up`.
        federated = await startGitalyPage({ [`gitaly_connections_total{instance="${UNDECLARED}",type="unix"}`]: 4 });
        other = await startGitalyPage({ 'gitaly_connections_total{type="tcp"}': 1 });
        late = await startGitalyPage({ 'gitaly_connections_total{type="tls"}': 1 });
        pages.push(gitaly, praefect, federated, other, late);
        const jobs: ScrapeJob[] = [
          { job: 'gitaly', targets: [gitaly.address] },
          { job: 'praefect', targets: [praefect.address] },
          { job: 'federated', targets: [federated.address], honorLabels: true },
          { job: 'other', targets: [other.address] },
        ];
        prom = await startEngine(engine, { jobs });
        cfg = { url: prom.url, instanceLabel: 'instance' };
        await waitForValue('count(up == 1)', 4);
        // Start the window well after the first samples: the window actually queried starts up to a
        // second earlier (whole seconds), and a series first seen inside it counts as a tcp change.
        window = { startMs: Date.now() + 2_500, endMs: 0 };
        await sleep(window.startMs - Date.now());
        // Change nothing before every target has a sample inside the window: a change between the
        // last sample before it and the first inside is, rightly, not in the window's increase().
        await waitFor(async () => ((await valueOf('min(timestamp(up))')) ?? 0) * 1000 > window.startMs, {
          timeoutMs: 10_000,
          intervalMs: 100,
          what: 'a scrape of every target inside the window',
        });

        gitaly.series.set('gitaly_connections_total{type="tcp"}', 8);
        gitaly.series.set('gitaly_connections_total{type="tls"}', 13);
        praefect.series.set('gitaly_praefect_connections_total{type="tls"}', 5);
        praefect.series.set('gitaly_connections_total{type="tcp"}', 5);
        federated.series.set(`gitaly_connections_total{instance="${UNDECLARED}",type="unix"}`, 6);
        other.series.set('gitaly_connections_total{type="tcp"}', 3);
        await waitForValue(`gitaly_connections_total{instance="${gitaly.address}",type="tcp"}`, 8);
        await waitForValue(`gitaly_connections_total{instance="${other.address}",type="tcp"}`, 3);

        // Gitaly restarts: its counter starts again from zero and has counted 2 connections since.
        resetAtMs = Date.now();
        gitaly.series.set('gitaly_connections_total{type="tcp"}', 2);
        await waitForValue(`gitaly_connections_total{instance="${gitaly.address}",type="tcp"}`, 2);

        // A target added half-way. The window stays long enough (>= 16 s at a 1 s scrape interval)
        // for increase()'s extrapolation to the window edges to stay well under half a connection.
        await sleep(window.startMs + 8_000 - Date.now());
        const addedAtMs = Date.now();
        await prom.reload({ jobs: [{ job: 'gitaly', targets: [gitaly.address, late.address] }, ...jobs.slice(1)] });
        await waitForValue(`up{instance="${late.address}"}`, 1);
        // Watch it for as long as the window ran without it: coverage about a half (counted from the
        // reload, so a slow first scrape or a late sample makes it less, never more).
        await sleep(Math.max(0, 2 * addedAtMs - window.startMs - Date.now()));
        window.endMs = Date.now();
        evidence = await queryVerifiedFleetEvidence(cfg, window, OPTIONS);
      });

      after(async function () {
        await prom?.stop();
        await Promise.all(pages.map((p) => p.close()));
      });

      it('answers the whole fleet with a fixed number of queries', function () {
        expect(evidence.ok, evidence.ok ? '' : evidence.error.message).to.equal(true);
        if (!evidence.ok) return;
        // Increase, coverage, last change, two per-change range queries, and the step count's
        // pieces: the steps per family, a head and a tail when the window's edges fall between steps.
        expect(evidence.queries).to.be.within(7, MAX_FLEET_QUERIES);
        expect(evidence.windowEndMs).to.equal(window.endMs);
        expect(evidence.windowStartMs).to.be.at.most(window.startMs);
      });

      it('counts new connections per instance and type in the window, a counter reset included', function () {
        const g = node(evidence, gitaly.address);
        // 5 -> 8, restart, 0 -> 2: five new plaintext connections, not a negative increase.
        expect(g.windowIncrease.tcp).to.be.closeTo(5, 0.49);
        expect(g.windowIncrease.tls).to.be.closeTo(3, 0.49);
        expect(Math.round(node(evidence, other.address).windowIncrease.tcp)).to.equal(2);
      });

      it('lists each growth of the tcp counter with its sample time, a restart included', function () {
        const g = node(evidence, gitaly.address);
        const total = (g.tcpChanges ?? []).reduce((sum, c) => sum + c.n, 0);
        // 5 -> 8 (+3), restart, 0 -> 2 (+2): every count once, at the time of the sample showing it.
        expect(total, JSON.stringify(g.tcpChanges)).to.equal(5);
        expect(g.tcpChanges!.map((c) => c.n)).to.deep.equal([3, 2]);
        expect(g.tcpChanges![1]!.atMs).to.be.at.least(resetAtMs - 1_000);
        // And the time of the sample before each (scraped every second), which a late dial count needs.
        for (const c of g.tcpChanges!) {
          expect(c.prevSampleMs, JSON.stringify(c)).to.be.a('number');
          expect(c.atMs - c.prevSampleMs!, JSON.stringify(c))
            .to.be.above(0)
            .and.below(60_000);
        }
        expect(node(evidence, other.address).tcpChanges!.map((c) => c.n)).to.deep.equal([2]);
        // Praefect: its own family did not move; the Gitaly family it also exports is ignored.
        expect(node(evidence, praefect.address).tcpChanges).to.deep.equal([]);
        expect(node(evidence, late.address).tcpChanges).to.deep.equal([]);
      });

      it('reads a Praefect from its own family, not the Gitaly family it also exports', function () {
        const p = node(evidence, praefect.address);
        expect(p.windowIncrease.tcp).to.equal(0);
        expect(p.windowIncrease.tls).to.be.closeTo(2, 0.49);
        expect(p.tcpLastChangeMs).to.equal(null);
      });

      it('lists every instance with connection counters, including one nobody configured', function () {
        if (!evidence.ok) expect.fail(evidence.error.message);
        expect(evidence.instancesSeen).to.have.members([gitaly.address, praefect.address, other.address, late.address, UNDECLARED]);
        // The federating target itself exports no Gitaly counters.
        expect(evidence.instancesSeen).not.to.include(federated.address);
        const undeclared = node(evidence, UNDECLARED);
        expect(undeclared.windowIncrease).to.deep.equal({ tcp: 0, tls: 0 });
        expect(undeclared.coverage, 'no up series: never observed as scraped').to.equal(0);
      });

      it('reports coverage: about 1 when scraped throughout, clearly less when added half-way', function () {
        expect(node(evidence, gitaly.address).coverage).to.be.above(0.9).and.at.most(1);
        const lateCoverage = node(evidence, late.address).coverage;
        expect(lateCoverage).to.be.above(0.05).and.below(0.75);
      });

      it('reports when the tcp counter last moved, and null when it did not', function () {
        const changed = node(evidence, gitaly.address).tcpLastChangeMs;
        expect(changed).to.be.a('number');
        // The step holding the restart's sample; 1 s slack for a scrape that began just before it.
        expect(changed!)
          .to.be.at.least(resetAtMs - 1_000)
          .and.at.most(window.endMs);
        expect(node(evidence, late.address).tcpLastChangeMs).to.equal(null);
      });

      it('moves the last tcp change forward when tcp increments again', async function () {
        const before = node(evidence, gitaly.address).tcpLastChangeMs!;
        const incrementedAtMs = Date.now();
        gitaly.series.set('gitaly_connections_total{type="tcp"}', 3);
        await waitForValue(`gitaly_connections_total{instance="${gitaly.address}",type="tcp"}`, 3);
        // Within a scrape or two of the new value: VictoriaMetrics stamps the change a step later
        // than Prometheus (its subquery sees the sample one step on), and shows samples a moment later.
        const after = await waitFor(
          async () => {
            const endMs = Date.now();
            const later = await queryVerifiedFleetEvidence(cfg, { startMs: endMs - (window.endMs - window.startMs), endMs }, OPTIONS);
            const changed = node(later, gitaly.address).tcpLastChangeMs!;
            return changed > before ? changed : undefined;
          },
          { timeoutMs: 5_000, intervalMs: 250, what: 'the last tcp change to move forward' },
        );
        expect(after).to.be.at.least(incrementedAtMs - 1_000);
      });

      it('filters by the configured selector', async function () {
        const filtered = await queryVerifiedFleetEvidence({ ...cfg, selector: 'job="gitaly"' }, window, OPTIONS);
        if (!filtered.ok) expect.fail(filtered.error.message);
        expect(filtered.instancesSeen).to.deep.equal([gitaly.address, late.address].sort());
        expect([...filtered.byInstance.keys()].sort()).to.deep.equal([gitaly.address, late.address].sort());
        expect(filtered.byInstance.get(gitaly.address)!.windowIncrease.tcp).to.be.closeTo(5, 0.49);
      });

      // Prometheus' own answer shapes (a scalar, its parse error text); VictoriaMetrics answers both its way.
      if (engine === 'prometheus')
        it('rejects answers that are not vectors and passes on PromQL errors', async function () {
          const scalar = await instantQuery(cfg, '1', Date.now(), OPTIONS);
          expect(scalar.ok).to.equal(false);
          if (!scalar.ok) expect(scalar.error.code).to.equal('BAD_RESPONSE');
          const broken = await instantQuery(cfg, 'sum(', Date.now(), OPTIONS);
          expect(broken.ok).to.equal(false);
          if (!broken.ok) {
            expect(broken.error.code).to.equal('HTTP_STATUS');
            expect(broken.error.message).to.include('400').and.include('parse error');
          }
        });
    });

  describe('against misbehaving HTTP servers', function () {
    let server: HttpServer | undefined;
    let secretsDir: string | undefined;
    afterEach(async function () {
      await server?.close();
      server = undefined;
      if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
      secretsDir = undefined;
    });

    const vector = (result: Array<{ metric: Record<string, string>; value: string }>) =>
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: result.map((r) => ({ metric: r.metric, value: [1, r.value] })) },
      });

    const matrix = (result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }>) =>
      JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } });

    async function answer(status: number, body: string, contentType = 'application/json') {
      server = await listen((_req, res) => {
        res.writeHead(status, { 'content-type': contentType });
        res.end(body);
      });
      return instantQuery({ url: server.url, instanceLabel: 'instance' }, 'up', Date.now(), OPTIONS);
    }

    function expectError(result: { ok: boolean; error?: { code: string; message: string } }, code: string): string {
      expect(result.ok).to.equal(false);
      expect(result.error?.code).to.equal(code);
      return result.error!.message;
    }

    it('reports HTTP 500 with the error text Prometheus sent', async function () {
      const r = await answer(
        500,
        JSON.stringify({ status: 'error', errorType: 'internal', error: '  query processing would load too many samples into memory\n' }),
      );
      const message = expectError(r, 'HTTP_STATUS');
      expect(message).to.include('500').and.include('query processing would load too many samples into memory');
      expect(message).not.to.match(/\n/);
    });

    it('reports HTTP 400 without a JSON body', async function () {
      expect(expectError(await answer(400, '<html>bad request</html>', 'text/html'), 'HTTP_STATUS')).to.include('400');
    });

    it('rejects a body that is not JSON', async function () {
      expectError(await answer(200, '{"status":"success","data":'), 'BAD_RESPONSE');
    });

    it('rejects status error even with HTTP 200', async function () {
      const message = expectError(await answer(200, JSON.stringify({ status: 'error', error: 'storage unavailable' })), 'BAD_RESPONSE');
      expect(message).to.include('storage unavailable');
    });

    it("treats VictoriaMetrics' isPartial as a partial answer", async function () {
      const body = JSON.parse(vector([{ metric: { instance: 'a' }, value: '1' }])) as Record<string, unknown>;
      body.isPartial = true;
      expect(expectError(await answer(200, JSON.stringify(body)), 'PARTIAL')).to.include('isPartial');
      await server?.close();
      body.isPartial = false;
      expect((await answer(200, JSON.stringify(body))).ok).to.equal(true);
    });

    it('treats warnings as a partial answer', async function () {
      const body = JSON.parse(vector([{ metric: { instance: 'a' }, value: '1' }])) as Record<string, unknown>;
      body.warnings = ['remote read of store-2 failed'];
      expect(expectError(await answer(200, JSON.stringify(body)), 'PARTIAL')).to.include('store-2');
    });

    it('rejects a matrix and a non-numeric value', async function () {
      const matrix = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } });
      expectError(await answer(200, matrix), 'BAD_RESPONSE');
      await server?.close();
      expectError(await answer(200, vector([{ metric: { instance: 'a' }, value: 'twelve' }])), 'BAD_RESPONSE');
    });

    it('stops at the sample cap while the answer streams in, long before the byte cap (TOO_MANY_SAMPLES)', async function () {
      // The attack: ~62 MB and 683,703 samples, inside a 64 MiB byte cap. Parsed whole, three of
      // them cost 2.3 GB; read as a stream, the client stops at the cap and closes the connection.
      const total = 683_703;
      let sentSamples = 0;
      let closedEarly = false;
      server = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"status":"success","data":{"resultType":"vector","result":[');
        const pump = (): void => {
          while (!res.destroyed && sentSamples < total) {
            const batch: string[] = [];
            for (let i = 0; i < 500 && sentSamples < total; i += 1, sentSamples += 1)
              batch.push(
                `${sentSamples === 0 ? '' : ','}{"metric":{"instance":"undeclared-${sentSamples}.example:9236","type":"tcp"},"value":[1,"1"]}`,
              );
            if (!res.write(batch.join(''))) return;
          }
          if (!res.destroyed) res.end(']}}');
        };
        res.on('drain', pump);
        res.on('close', () => (closedEarly = sentSamples < total));
        pump();
      });
      const cfg = { url: server.url, instanceLabel: 'instance' };
      const r = await instantQuery(cfg, 'up', Date.now(), { ...OPTIONS, maxBytes: 64 * 1024 * 1024, maxSamples: 10_000 });
      expect(expectError(r, 'TOO_MANY_SAMPLES')).to.include('more than 10000 samples').and.include('prometheus.selector');
      await waitFor(() => closedEarly, { timeoutMs: 5_000, intervalMs: 20, what: 'the client to close the big answer before its end' });
      expect(sentSamples).to.be.below(total);
    });

    it('counts a matrix answer by its points against the sample cap, and reads one under the cap', async function () {
      const series = (n: number, points: number) =>
        Array.from({ length: n }, (_, i) => ({
          metric: { instance: `gitaly-${i}:9236` },
          values: Array.from({ length: points }, (_, p): [number, string] => [1000 + p, String(p)]),
        }));
      const cfg = { url: '', instanceLabel: 'instance' };
      server = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(matrix(series(3, 40)));
      });
      const over = await matrixQuery({ ...cfg, url: server.url }, 'x[1m:1s]', Date.now(), { ...OPTIONS, maxSamples: 100 });
      expect(expectError(over, 'TOO_MANY_SAMPLES')).to.include('more than 100 samples');
      const under = await matrixQuery({ ...cfg, url: server.url }, 'x[1m:1s]', Date.now(), { ...OPTIONS, maxSamples: 120 });
      expect(under.ok && under.series.map((x) => [x.labels.instance, x.points.length, x.points[39]])).to.deep.equal([
        ['gitaly-0:9236', 40, [1039000, 39]],
        ['gitaly-1:9236', 40, [1039000, 39]],
        ['gitaly-2:9236', 40, [1039000, 39]],
      ]);
    });

    it('reads an answer at the sample cap whole, whatever the key order, and rejects a result that is not a list', async function () {
      const samples = Array.from({ length: 3 }, (_, i) => ({ metric: { instance: `n${i}` }, value: [1, String(i)] }));
      // Keys in an unusual order: the answer is judged when it ends, not by what comes first.
      const reordered = JSON.stringify({ data: { result: samples, resultType: 'vector' }, status: 'success' });
      server = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(reordered);
      });
      const r = await instantQuery({ url: server.url, instanceLabel: 'instance' }, 'up', Date.now(), { ...OPTIONS, maxSamples: 3 });
      expect(r.ok && r.samples.map((s) => [s.labels.instance, s.value])).to.deep.equal([
        ['n0', 0],
        ['n1', 1],
        ['n2', 2],
      ]);
      await server.close();
      const asObject = JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: { a: { metric: {}, value: [1, '1'] } } },
      });
      expect(expectError(await answer(200, asObject), 'BAD_RESPONSE')).to.include('result is not a list');
      await server?.close();
      expect(
        expectError(await answer(200, '{"status":"success","data":{"resultType":"vector","result":[]}} trailing'), 'BAD_RESPONSE'),
      ).to.include('not JSON');
    });

    it('stops reading a body larger than maxBytes, declared or endless', async function () {
      server = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(vector(Array.from({ length: 2_000 }, (_, i) => ({ metric: { instance: `node-${i}` }, value: '1' }))));
      });
      const cfg = { url: server.url, instanceLabel: 'instance' };
      expectError(await instantQuery(cfg, 'up', Date.now(), { ...OPTIONS, maxBytes: 10_000 }), 'TOO_LARGE');
      await server.close();

      let stoppedWriting = false;
      server = await listen((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"status":"success","data":{"resultType":"vector","result":[');
        const chunk = Buffer.alloc(16_384, ' ');
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
        };
        res.on('drain', pump);
        res.on('close', () => (stoppedWriting = true));
        pump();
      });
      expectError(await instantQuery({ ...cfg, url: server.url }, 'up', Date.now(), { ...OPTIONS, maxBytes: 100_000 }), 'TOO_LARGE');
      await waitFor(() => stoppedWriting, { timeoutMs: 5_000, intervalMs: 20, what: 'the endless response to be closed by the client' });
    });

    it('gives up on a server that never answers', async function () {
      server = await listen(() => undefined);
      const r = await instantQuery({ url: server.url, instanceLabel: 'instance' }, 'up', Date.now(), { ...OPTIONS, timeoutMs: 300 });
      expect(expectError(r, 'TIMEOUT')).to.include('300 ms');
    });

    it('reports a refused connection', async function () {
      const port = await freePort();
      expectError(await instantQuery({ url: `http://127.0.0.1:${port}`, instanceLabel: 'instance' }, 'up', Date.now(), OPTIONS), 'CONNECT');
    });

    it('sends the bearer token from its file, re-reads it on rotation, and never shows it', async function () {
      secretsDir = await mkdtemp(join(tmpdir(), 'prom-secret-'));
      const tokenFile = join(secretsDir, 'token');
      await writeFile(tokenFile, 'first-s3cret-token\n');
      const seen: string[] = [];
      server = await listen((req, res) => {
        seen.push(req.headers.authorization ?? '');
        // A proxy that echoes what it got: the message must still not leak it.
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', error: `token ${req.headers.authorization} rejected` }));
      });
      const cfg = { url: server.url, instanceLabel: 'instance', bearerTokenFile: tokenFile };
      const first = expectError(await instantQuery(cfg, 'up', Date.now(), OPTIONS), 'HTTP_STATUS');
      await writeFile(tokenFile, 'second-s3cret-token');
      const second = expectError(await instantQuery(cfg, 'up', Date.now(), OPTIONS), 'HTTP_STATUS');
      expect(seen).to.deep.equal(['Bearer first-s3cret-token', 'Bearer second-s3cret-token']);
      for (const message of [first, second]) {
        expect(message).to.include('401').and.include('rejected');
        expect(message).not.to.include('s3cret');
      }
    });

    it('sends basic auth with the password from its file and never shows it', async function () {
      secretsDir = await mkdtemp(join(tmpdir(), 'prom-secret-'));
      const passwordFile = join(secretsDir, 'password');
      await writeFile(passwordFile, 'pa55:word\n');
      const encoded = Buffer.from('grafana:pa55:word').toString('base64');
      let received = '';
      server = await listen((req, res) => {
        received = req.headers.authorization ?? '';
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'error', error: `denied ${received} (${Buffer.from(received.slice(6), 'base64').toString()})` }));
      });
      const cfg = { url: server.url, instanceLabel: 'instance', basicAuth: { username: 'grafana', passwordFile } };
      const message = expectError(await instantQuery(cfg, 'up', Date.now(), OPTIONS), 'HTTP_STATUS');
      expect(received).to.equal(`Basic ${encoded}`);
      expect(message).to.include('403').and.include('denied');
      expect(message).not.to.include('pa55').and.not.include(encoded);
    });

    it('reports an unreadable secret file by path, without sending a request', async function () {
      let requests = 0;
      server = await listen((_req, res) => {
        requests++;
        res.end(vector([]));
      });
      const r = await instantQuery(
        { url: server.url, instanceLabel: 'instance', bearerTokenFile: '/nonexistent/token' },
        'up',
        Date.now(),
        OPTIONS,
      );
      expect(expectError(r, 'CONFIG')).to.include('/nonexistent/token');
      expect(requests).to.equal(0);
    });

    it('refuses a FIFO as the bearer token file at once, by path, without sending a request', async function () {
      let requests = 0;
      server = await listen((_req, res) => {
        requests++;
        res.end(vector([]));
      });
      const dir = await mkdtemp(join(tmpdir(), 'prometheus-secret-'));
      const fifo = makeFifo(join(dir, 'token'));
      try {
        const r = await within(
          instantQuery({ url: server.url, instanceLabel: 'instance', bearerTokenFile: fifo }, 'up', Date.now(), OPTIONS),
          2_000,
          'a query with a FIFO as its token file',
        );
        expect(expectError(r, 'CONFIG')).to.equal(`prometheus secret file ${fifo} is a FIFO, not a regular file`);
        expect(requests).to.equal(0);
      } finally {
        releaseFifo(fifo);
        await rm(dir, { recursive: true, force: true });
      }
    });

    describe('queryFleetEvidence', function () {
      const endMs = Date.UTC(2026, 0, 10, 12, 0, 0, 500);
      const window = { startMs: endMs - 600_000, endMs };

      interface Received {
        path: string;
        contentType: string;
        form: URLSearchParams;
      }

      async function fakeFleet(respond: (query: string, res: ServerResponse) => void): Promise<Received[]> {
        const received: Received[] = [];
        server = await listen((req, res) => {
          let body = '';
          req.on('data', (chunk: Buffer) => (body += chunk.toString()));
          req.on('end', () => {
            const form = new URLSearchParams(body);
            received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', form });
            res.setHeader('content-type', 'application/json');
            respond(form.get('query') ?? '', res);
          });
        });
        return received;
      }

      it('asks a fixed number of POSTed questions (the window totals at its end, the per-change ones up to now) and assembles the answers', async function () {
        const received = await fakeFleet((query, res) => {
          // Only the per-change range query names the gte_part label.
          if (query.includes('"gte_part"')) {
            res.end(
              matrix([
                { metric: { instance: 'g1:9236', gte_part: 'delta' }, values: [[1768046100, '2']] },
                { metric: { instance: 'g1:9236', gte_part: 'at' }, values: [[1768046100, '1768046099.5']] },
                { metric: { instance: 'g1:9236', gte_part: 'before' }, values: [[1768046100, '1768046080.5']] },
              ]),
            );
          } else if (query.includes('gitaly_tls_exporter_plaintext_dial_timestamp_seconds')) {
            res.end(
              matrix([
                { metric: { prometheus_instance: 'g1:9236', node: 'one' }, values: [[1768046000, '1768045999.123']] },
                {
                  metric: { prometheus_instance: 'g1:9236', node: 'one', instance: 'replica-2:9787' },
                  values: [[1768046000, '1768045999.123']],
                },
                { metric: { prometheus_instance: 'unknown:9236' }, values: [[1768046000, '1768045000']] },
                // A dial announced ahead (the next-dial gauge), told apart by gte_dial.
                { metric: { prometheus_instance: 'g1:9236', node: 'one', gte_dial: 'planned' }, values: [[1768046000, '1768046059.123']] },
              ]),
            );
          } else if (query.includes('increase(')) {
            res.end(
              vector([
                { metric: { instance: 'g1:9236', type: 'tcp' }, value: '2.5' },
                { metric: { instance: 'g1:9236', type: 'tls' }, value: '40' },
                { metric: { instance: 'g1:9236', type: 'unix' }, value: '900' },
                { metric: { instance: 'hooks-only:9236', type: 'unix' }, value: '3' },
                // Every exporter's own TLS connections, under the node's instance: no Gitaly counter.
                { metric: { instance: 'g1:9236', prometheus_instance: 'g1:9236', type: 'exporters_tls' }, value: '38.5' },
                {
                  metric: { instance: 'only-exporters:9236', prometheus_instance: 'only-exporters:9236', type: 'exporters_tls' },
                  value: '5',
                },
              ]),
            );
          } else if (query.includes('count_over_time((')) {
            // 601 points for a 600 s window whose edges fall on steps: still full coverage.
            res.end(
              vector([
                { metric: { instance: 'g1:9236' }, value: '601' },
                { metric: { instance: 'exporter:9100' }, value: '300' },
                { metric: { instance: 'g1:9236', gitaly_tls_exporter_signal: 'process_start' }, value: '300' },
              ]),
            );
          } else {
            res.end(vector([{ metric: { instance: 'g1:9236' }, value: '1768046100.25' }]));
          }
        });
        const cfg = { url: `${server!.url}/prom/`, instanceLabel: 'instance', selector: 'job="gitaly", env=~"prod|staging",' };
        const evidence = await queryFleetEvidence(cfg, window, OPTIONS);
        if (!evidence.ok) expect.fail(evidence.error.message);

        expect(received).to.have.length(evidence.queries);
        expect(evidence.queries).to.be.within(7, MAX_FLEET_QUERIES);
        for (const r of received) {
          expect(r.path).to.equal('/prom/api/v1/query');
          expect(r.contentType).to.equal('application/x-www-form-urlencoded');
          // The exporters' dial records are read whatever the Gitaly selector says.
          if (r.form.get('query')!.includes('plaintext_dial_timestamp')) continue;
          expect(r.form.get('query')).to.include('job="gitaly", env=~"prod|staging"');
        }
        // The window totals are evaluated at the window end; the per-change answers up to now.
        expect(received.filter((r) => r.form.get('time') === (endMs / 1000).toFixed(3))).to.have.length(evidence.queries - 2);
        const g1 = evidence.byInstance.get('g1:9236')!;
        expect(g1.tcpChanges, 'with the time of the sample before').to.deep.equal([
          { atMs: 1768046099500, n: 2, prevSampleMs: 1768046080500 },
        ]);
        expect(g1.dialsMs, 'the same dial published twice is one dial').to.deep.equal([1768045999123]);
        expect(evidence.byInstance.has('unknown:9236'), 'a dial record alone is no sign of a scraped node').to.equal(false);
        expect(evidence.instancesSeen).to.deep.equal(['g1:9236', 'hooks-only:9236']);
        expect(evidence.byInstance.get('g1:9236')).to.deep.equal({
          instance: 'g1:9236',
          windowIncrease: { tcp: 2.5, tls: 40 },
          coverage: 1,
          processStartCoverage: 0.5,
          exportersTls: 38.5,
          tcpLastChangeMs: 1768046100250,
          tcpChanges: [{ atMs: 1768046099500, n: 2, prevSampleMs: 1768046080500 }],
          dialsMs: [1768045999123],
          plannedDialsMs: [1768046059123],
        });
        expect(evidence.byInstance.has('only-exporters:9236'), 'exporters’ counters alone are no sign of a scraped node').to.equal(false);
        expect(evidence.byInstance.get('hooks-only:9236')).to.deep.include({
          windowIncrease: { tcp: 0, tls: 0 },
          coverage: 0,
          tcpLastChangeMs: null,
        });
        expect(evidence.byInstance.get('exporter:9100')!.coverage).to.equal(0.5);
        expect(evidence.instancesSeen).not.to.include('exporter:9100');
      });

      // A Prometheus shut down mid-scrape writes staleness markers, so after its restart
      // `timestamp(… offset)` finds no sample before the change that holds the outage's dials.
      const staleGap = (followUp: (query: string, time: string, res: ServerResponse) => void) =>
        fakeFleet((query, res) => {
          if (query.includes('"gte_part"')) {
            res.end(
              matrix([
                { metric: { instance: 'g1:9236', gte_part: 'delta' }, values: [[1768046100, '1']] },
                { metric: { instance: 'g1:9236', gte_part: 'at' }, values: [[1768046100, '1768046099.5']] },
                { metric: { instance: 'g1:9236', gte_part: 'had' }, values: [[1768046100, '3']] },
              ]),
            );
          } else if (query.startsWith('{__name__=~')) followUp(query, '', res);
          else if (query.endsWith('s]')) res.end(matrix([]));
          else res.end(vector([{ metric: { instance: 'g1:9236', type: 'tcp' }, value: '0' }]));
        });

      it('finds the sample before a change from the raw samples when a staleness marker hides it', async function () {
        const received = await staleGap((query, _time, res) => {
          expect(query).to.include('instance="g1:9236"').and.include('type="tcp"');
          res.end(
            matrix([
              {
                metric: { __name__: 'gitaly_connections_total', instance: 'g1:9236', type: 'tcp' },
                values: [
                  [1768046070.25, '3'],
                  [1768046071.25, '3'],
                ],
              },
            ]),
          );
        });
        const evidence = await queryFleetEvidence({ url: server!.url, instanceLabel: 'instance' }, window, OPTIONS);
        if (!evidence.ok) expect.fail(evidence.error.message);
        expect(evidence.byInstance.get('g1:9236')!.tcpChanges).to.deep.equal([{ atMs: 1768046099500, n: 1, prevSampleMs: 1768046071250 }]);
        // Asked just before the change's sample, so that sample itself is not the one before.
        const followUp = received.find((r) => r.form.get('query')!.startsWith('{__name__=~'))!;
        expect(followUp.form.get('time')).to.equal('1768046099.499');
        expect(received.filter((r) => r.form.get('query')!.startsWith('{__name__=~'))).to.have.length(1);
      });

      it('fails as a whole when the look-up of the sample before a change fails', async function () {
        await staleGap((_query, _time, res) => {
          res.statusCode = 503;
          res.end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'TSDB not ready' }));
        });
        const evidence = await queryFleetEvidence({ url: server!.url, instanceLabel: 'instance' }, window, OPTIONS);
        expect(evidence.ok).to.equal(false);
      });

      it('fails as a whole when one of the queries fails, never reporting zero connections', async function () {
        await fakeFleet((query, res) => {
          if (query.includes('count_over_time((')) {
            res.statusCode = 503;
            res.end(JSON.stringify({ status: 'error', errorType: 'unavailable', error: 'TSDB not ready' }));
          } else if (query.endsWith('s]')) res.end(matrix([]));
          else res.end(vector([]));
        });
        const evidence = await queryFleetEvidence({ url: server!.url, instanceLabel: 'instance' }, window, OPTIONS);
        expect(evidence.ok).to.equal(false);
        if (!evidence.ok) {
          expect(evidence.error.code).to.equal('HTTP_STATUS');
          expect(evidence.error.message).to.include('TSDB not ready');
        }
      });

      it('refuses a selector that would break out of its braces, before asking anything', async function () {
        const received = await fakeFleet((_query, res) => res.end(vector([])));
        for (const selector of ['job="gitaly"}) or vector(1) or (up{', 'job="a" or', '__name__="up"', 'job=gitaly']) {
          const evidence = await queryFleetEvidence({ url: server!.url, instanceLabel: 'instance', selector }, window, OPTIONS);
          expect(evidence.ok, selector).to.equal(false);
          if (!evidence.ok) expect(evidence.error.code).to.equal('CONFIG');
        }
        const badLabel = await queryFleetEvidence({ url: server!.url, instanceLabel: 'instance) or vector(1' }, window, OPTIONS);
        expect(badLabel.ok).to.equal(false);
        expect(received).to.have.length(0);
      });
    });
  });

  describe('checkSelector', function () {
    it('accepts label matchers with every operator and quoting, including braces inside strings', function () {
      const r = checkSelector(` job="gitaly" , env!~'dev|test', path=~\`/a}{b\`, note="say \\"hi\\" }" `);
      expect(r).to.deep.equal({ ok: true, matchers: 'job="gitaly", env!~\'dev|test\', path=~`/a}{b`, note="say \\"hi\\" }"' });
      expect(checkSelector('')).to.deep.equal({ ok: true, matchers: '' });
    });
  });
});
