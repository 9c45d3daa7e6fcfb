// Bad input is isolated: in one collection over several nodes, one node's source misbehaves (a
// hostile /metrics page, a hostile TLS peer) while the others are healthy. The bad node's /migration
// entry names the error and is not advanced; the healthy nodes' verdicts are exactly what they are
// without it. A hostile Prometheus fails every node's Prometheus evidence, loudly, and nothing else.
// (Hostile /probe and query parameters: hostile-params.test.ts.)
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import type { Snapshot } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import type { Config, NodeConfig } from '../../src/config/types.ts';
import { renderGitalyMetricsPage } from '../../src/demo/metrics-page.ts';
import { Exporter } from '../../src/exporter.ts';
import { nodeJson } from '../../src/pages/migration-json.ts';
import { startTestFleet, type MigrationNode, type TestFleet } from '../helpers/exporter-process.ts';
import { FakeClock, fakeConfig } from '../helpers/fake-gitaly.ts';
import { startGarbageServer, startResetServer, startStallingServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

const logger = pino({ level: 'silent' });
const CAP = 256 * 1024;
const TIMEOUT_MS = 1_000;
const ADVANCED = ['tls_only_traffic', 'complete'];

/** The same "random" bytes every run. */
function noise(length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const page = (tcp = 3): string =>
  renderGitalyMetricsPage({ role: 'gitaly', counts: { tcp, tls: 40, unix: 2 }, version: '18.6.0', bulk: 'small' });

/** /metrics pages and Prometheus answers that misbehave, one per path. */
function hostileServer(): Promise<{ url: string; close(): Promise<void> }> {
  const valid = page();
  const routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> = {
    '/metrics/huge': (_q, res) => res.end(valid + `# ${'x'.repeat(200)}\n`.repeat(Math.ceil((CAP * 1.5) / 203))),
    '/metrics/endless': (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = Buffer.from(`gitaly_grpc_filler{method="${'m'.repeat(60)}"} 1\n`.repeat(200));
      const pump = (): void => {
        while (!res.destroyed && res.write(line));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    },
    '/metrics/trickle': (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('# still here\n'), 100);
      res.on('close', () => clearInterval(timer));
    },
    '/metrics/cut-connection': (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(valid) });
      res.write(valid.slice(0, valid.length / 2), () => res.destroy());
    },
    '/metrics/cut-line': (_q, res) => res.end(valid.slice(0, valid.lastIndexOf('gitaly_connections_total') + 30)),
    '/metrics/binary': (_q, res) => res.end(Buffer.concat([noise(64 * 1024), Buffer.from('\n')])),
    '/metrics/binary-in-counter': (_q, res) =>
      res.end(valid.replace('gitaly_connections_total{type="tcp"} 3', 'gitaly_connections_total{type="tcp"} \u0000\u0001\u0002')),
    '/metrics/gzip': (_q, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(valid)),
    '/metrics/gzip-broken': (_q, res) => {
      const body = gzipSync(valid);
      body.fill(0x55, 20, body.length - 20);
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(body);
    },
    '/metrics/negative': (_q, res) =>
      res.end(valid.replace('gitaly_connections_total{type="tcp"} 3', 'gitaly_connections_total{type="tcp"} -3')),
    '/metrics/status': (_q, res) => res.writeHead(503).end('upstream unavailable'),
    '/prom/slow/api/v1/query': () => undefined,
    '/prom/huge/api/v1/query': (_q, res) =>
      res.end(
        JSON.stringify({
          status: 'success',
          data: {
            resultType: 'vector',
            result: Array.from({ length: 5000 }, (_, i) => ({ metric: { instance: `x${i}:9236`, type: 'tcp' }, value: [1, '1'] })),
          },
        }),
      ),
    '/prom/malformed/api/v1/query': (_q, res) => res.end('{"status":"success","data":{"resultType":"vector","result":[{"metric":'),
    '/prom/error/api/v1/query': (_q, res) =>
      res
        .writeHead(422, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: '1:12: parse error: unexpected <by>' })),
    '/prom/warnings/api/v1/query': (_q, res) =>
      res.end(
        JSON.stringify({
          status: 'success',
          warnings: ['PromQL info: some series were dropped by a storage limit'],
          data: { resultType: 'vector', result: [] },
        }),
      ),
  };
  const server = http.createServer((req, res) => {
    req.resume();
    res.on('error', () => undefined);
    const route = routes[(req.url ?? '').split('?')[0] ?? ''];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

interface Judged {
  snapshot: Snapshot;
  /** The node's /migration entry. */
  entry(name: string): MigrationNode;
}

describe('faults: bad input is isolated', function () {
  this.timeout(scaled(60_000));
  let dir: string;
  let fleet: TestFleet;
  let hostile: { url: string; close(): Promise<void> };
  let baseline: Record<string, unknown>;
  const servers: LoopbackServer[] = [];

  const node = (name: string, overrides: Partial<NodeConfig> = {}): NodeConfig => {
    const n = fleet.node(name);
    return {
      name,
      role: 'gitaly',
      metricsUrl: n.metricsUrl,
      tlsAddress: n.tlsAddress!,
      plaintextAddress: n.plaintextAddress!,
      ...overrides,
    };
  };

  /** gitaly-1 and gitaly-2 healthy; `bad` borrows gitaly-3's listeners except what the test breaks. */
  function config(bad: Partial<NodeConfig> | null, overrides: Partial<Config> = {}): Config {
    const nodes = [node('gitaly-1'), node('gitaly-2'), ...(bad ? [node('gitaly-3', { name: 'bad', ...bad })] : [])];
    return fakeConfig(nodes, join(dir, `state-${Math.random().toString(16).slice(2)}.json`), {
      soakWindowMs: 60_000,
      collectionIntervalMs: 5_000,
      caFile: fleet.caFile,
      timeouts: { metricsMs: TIMEOUT_MS, tlsMs: TIMEOUT_MS, plaintextMs: TIMEOUT_MS, prometheusMs: TIMEOUT_MS },
      maxMetricsPageBytes: CAP,
      maxPrometheusResponseBytes: CAP,
      ...overrides,
    });
  }

  /** Two collections a soak window apart (on the exporter's clock), so healthy nodes can advance. */
  async function judge(cfg: Config): Promise<Judged> {
    const clock = new FakeClock(Date.now());
    const exporter = new Exporter({ config: cfg, logger, probes: realProbes, now: clock.now });
    await exporter.collector.collect();
    clock.advance(cfg.soakWindowMs + 1_000);
    const snapshot = await exporter.collector.collect();
    return {
      snapshot,
      entry: (name) => {
        const n = snapshot.view.nodes.find((x) => x.node === name);
        if (!n) throw new Error(`${name} not judged`);
        return nodeJson(n) as MigrationNode;
      },
    };
  }

  /** What must not change for a healthy node because another one misbehaves. */
  const healthy = (j: Judged): Record<string, unknown> =>
    Object.fromEntries(
      ['gitaly-1', 'gitaly-2'].map((name) => {
        const v = j.snapshot.nodes.find((n) => n.verdict.node === name)!.verdict;
        const sourcesDown = v.facts.sources.filter((s) => !s.up).map((s) => s.source);
        return [name, { phase: v.phase, reasons: v.reasons, sourcesDown, window: v.window, tlsUsable: v.facts.checks.tlsUsable.value }];
      }),
    );

  before(async function () {
    this.timeout(scaled(60_000));
    dir = await mkdtemp(join(tmpdir(), 'gte-bad-input-'));
    fleet = await startTestFleet(dir, ['gitaly-1', 'gitaly-2', 'gitaly-3']);
    hostile = await hostileServer();
    baseline = healthy(await judge(config(null)));
  });

  after(async () => {
    await hostile?.close();
    for (const s of servers) await s.close();
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('without a bad node, the healthy nodes reach tls_only_traffic (the baseline the cases compare with)', () => {
    for (const name of ['gitaly-1', 'gitaly-2']) {
      expect(baseline[name], name).to.deep.include({ phase: 'tls_only_traffic', reasons: ['plaintext_listener_open'], sourcesDown: [] });
    }
  });

  const pages: Array<[string, string, string, RegExp]> = [
    ['larger than max_metrics_page_bytes', 'huge', 'TOO_LARGE', /larger than the 262144-byte limit/],
    ['that never ends', 'endless', 'TOO_LARGE', /larger than the 262144-byte limit/],
    ['that trickles and never finishes', 'trickle', 'TIMEOUT', /did not deliver its page within 1000 ms/],
    ['cut off with the connection', 'cut-connection', 'TRUNCATED', /stopped sending before the page was complete/],
    ['cut off mid-line', 'cut-line', 'TRUNCATED', /does not end with a newline/],
    ['of binary noise', 'binary', 'NOT_GITALY', /is this a Gitaly \/metrics page\?/],
    ['with binary bytes in a counter line', 'binary-in-counter', 'PARSE', /contains a NUL or control byte; the page is corrupt/],
    ['gzip-encoded but broken', 'gzip-broken', 'DECODE', /gzip body that does not decompress/],
    ['with a negative counter', 'negative', 'PARSE', /has value -3; a counter must be a finite number >= 0/],
    ['behind an HTTP 503', 'status', 'HTTP_STATUS', /answered HTTP 503/],
  ];

  for (const [what, path, code, sentence] of pages) {
    it(`a /metrics page ${what}: the bad node names the error and is not advanced; the others are unchanged`, async () => {
      const j = await judge(config({ metricsUrl: `${hostile.url}/metrics/${path}` }));
      const bad = j.entry('bad');
      const scrape = bad.evidence.metricsScrape;
      if (scrape?.ok !== false) throw new Error(`expected a failed scrape, got ${JSON.stringify(scrape)}`);
      expect(scrape.error.code).to.equal(code);
      expect(scrape.error.message).to.match(sentence);
      expect(scrape.error.message, 'one sentence, not a dump').to.have.length.below(300);
      expect(bad.details).to.include(`gitaly_metrics: ${scrape.error.message}`);
      expect(ADVANCED).to.not.include(bad.phase);
      expect(bad.blockingReasons.map((r) => r.reason)).to.include('source_down');
      // The bad node's other evidence is still judged.
      expect(bad.evidence.tls?.handshakeOk).to.equal(true);
      expect(healthy(j)).to.deep.equal(baseline);
    });
  }

  it('a gzip-encoded /metrics page that is valid: read like any other', async () => {
    const j = await judge(config({ metricsUrl: `${hostile.url}/metrics/gzip` }));
    const bad = j.entry('bad');
    expect(bad.evidence).to.deep.include({ metricsScrape: { ok: true, counts: { tcp: 3, tls: 40, unix: 2 } } });
    // Read, but a fixed page never counts the exporter's own probes of the node's listeners: the
    // canary says this counter is not the node's (unknown), which is no failure of the page itself.
    expect(bad.blockingReasons.map((r) => r.reason))
      .to.include('counter_not_counting_us')
      .and.not.include('source_down');
    expect(bad.phase).to.equal('unknown');
    expect(healthy(j)).to.deep.equal(baseline);
  });

  const peers: Array<[string, () => Promise<LoopbackServer>, string, RegExp]> = [
    ['sends garbage', startGarbageServer, 'HANDSHAKE', /TLS handshake with .* failed: /],
    ['stalls mid-handshake', startStallingServer, 'TIMEOUT', /accepted the TCP connection but completed no TLS handshake within 1000 ms/],
    ['resets the connection', startResetServer, 'RESET', /closed the connection during the TLS handshake/],
  ];
  for (const [what, start, code, sentence] of peers) {
    it(`a TLS peer that ${what}: the bad node names the error and is not advanced; the others are unchanged`, async () => {
      const peer = await start();
      servers.push(peer);
      const j = await judge(config({ tlsAddress: peer.address }));
      const bad = j.entry('bad');
      const tls = bad.evidence.tls;
      if (!tls?.error) throw new Error(`expected a failed TLS probe, got ${JSON.stringify(tls)}`);
      expect(tls.handshakeOk).to.equal(false);
      expect(tls.error.code).to.equal(code);
      expect(tls.error.message).to.match(sentence);
      expect(bad.details).to.include(`TLS ${peer.address}: ${tls.error.message}`);
      expect(ADVANCED).to.not.include(bad.phase);
      expect(bad.blockingReasons.map((r) => r.reason)).to.include('tls_handshake_failed');
      expect(healthy(j)).to.deep.equal(baseline);
    });
  }

  const proms: Array<[string, string, string, RegExp]> = [
    ['never answers', 'slow', 'TIMEOUT', /did not answer within 1000 ms/],
    ['answers more than max_prometheus_response_bytes', 'huge', 'TOO_LARGE', /answered with more than 262144 bytes/],
    ['answers malformed JSON', 'malformed', 'BAD_RESPONSE', /unusable answer: the body is not JSON/],
    ['answers an error status', 'error', 'HTTP_STATUS', /answered HTTP 422: bad_data: 1:12: parse error/],
    ['answers with warnings', 'warnings', 'PARTIAL', /answered with warnings, so the answer may be incomplete: PromQL info/],
  ];
  for (const [what, path, code, sentence] of proms) {
    it(`a Prometheus that ${what}: every node says so and none is advanced; the direct evidence still stands`, async () => {
      const j = await judge(
        config(null, { prometheus: { url: `${hostile.url}/prom/${path}`, instanceLabel: 'instance', scrapeIntervalMs: 1_000 } }),
      );
      const prom = j.snapshot.prometheus;
      if (!prom || prom.ok) throw new Error(`expected a Prometheus failure, got ${JSON.stringify(prom)}`);
      expect(prom.error.code).to.equal(code);
      expect(prom.error.message).to.match(sentence);
      expect(j.snapshot.fleet.complete).to.equal(false);
      expect(j.snapshot.fleet.blocking.join('\n')).to.contain('Prometheus did not answer');
      for (const name of ['gitaly-1', 'gitaly-2']) {
        const entry = j.entry(name);
        expect(entry.details, name).to.include(`prometheus: ${prom.error.message}`);
        expect(entry.evidence.sourcesDown, name).to.deep.equal(['prometheus']);
        expect(ADVANCED, name).to.not.include(entry.phase);
        expect(entry.evidence.metricsScrape?.ok, name).to.equal(true);
        expect(entry.evidence.tls?.handshakeOk, name).to.equal(true);
      }
    });
  }
});
