import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import type { NodeConfig } from '../../src/config/types.ts';
import { compileSelector, prometheusTargetsSource } from '../../src/inventory/prometheus-targets.ts';
import type { SourceResult } from '../../src/inventory/types.ts';
import { listenLoopback, type LoopbackHttpServer } from '../helpers/http-server.ts';
import { freePort } from '../helpers/prometheus-server.ts';
import { killGroup, spawnTracked } from '../helpers/processes.ts';
import { scaled } from '../helpers/time-factor.ts';

const TARGETS_MODULE = fileURLToPath(new URL('../../src/inventory/prometheus-targets.ts', import.meta.url));
const MB = 1_000_000;
/** Every 100th target of a generated answer is a Gitaly (job gitaly); the rest are node exporters. */
const GITALY_EVERY = 100;
/** The one Praefect among the generated Gitaly targets: the role query names it. */
const PRAEFECT_INDEX = 500;

const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const isGitaly = (i: number): boolean => i % GITALY_EVERY === 0;
const instanceOf = (i: number): string => `${ip(i)}:${isGitaly(i) ? 9236 : 9100}`;

interface BigLabel {
  /** The target that carries it. */
  index: number;
  /** In the target's labels (sorted in among them, as Prometheus sorts them) or its discovered labels. */
  where: 'labels' | 'discoveredLabels';
  name: string;
  bytes: number;
}

const BIG_VALUE = 'BIG-LABEL-VALUE';

/** One active target as Prometheus renders it, the big label's value left as BIG_VALUE, to be streamed. */
function targetJson(i: number, big?: BigLabel): string {
  const instance = instanceOf(i);
  // A Kubernetes-sized annotation (escaped JSON inside a string), as the discovered labels carry.
  const annotation = JSON.stringify({ spec: { containers: [{ name: `c${i}`, args: Array(60).fill('--flag="on"') }] } });
  const discovered: Record<string, string> = {
    __address__: instance,
    __meta_kubernetes_namespace: 'monitoring',
    __meta_kubernetes_pod_annotation_kubectl_kubernetes_io_last_applied_configuration: annotation,
    __meta_kubernetes_pod_name: `pod-${i}`,
    __metrics_path__: '/metrics',
    __scheme__: 'http',
    job: isGitaly(i) ? 'gitaly' : 'node',
  };
  const labels: Record<string, string> = { instance, job: isGitaly(i) ? 'gitaly' : 'node', namespace: 'monitoring', pod: `pod-${i}` };
  if (isGitaly(i)) Object.assign(labels, { gitaly_node: `gitaly-${i}`, tls_address: `${ip(i)}:9999` });
  if (big?.index === i) (big.where === 'labels' ? labels : discovered)[big.name] = BIG_VALUE;
  const sorted = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return JSON.stringify({
    discoveredLabels: sorted(discovered),
    labels: sorted(labels),
    scrapePool: labels.job,
    scrapeUrl: `http://${instance}/metrics`,
    globalUrl: `http://${instance}/metrics`,
    lastError: '',
    lastScrape: '2026-12-07T23:00:00.123456789Z',
    lastScrapeDuration: 0.012345678,
    health: 'up',
    scrapeInterval: '15s',
    scrapeTimeout: '10s',
  });
}

/**
 * A targets answer of at least `totalBytes`, produced piece by piece as the client reads it, so the
 * test process never holds it (nor the big label) whole.
 */
function* targetsAnswer(totalBytes: number, big?: BigLabel, stats = { targets: 0 }): Generator<string> {
  let sent = 0;
  const out = (text: string): string => ((sent += text.length), text);
  yield out('{"status":"success","data":{"activeTargets":[');
  for (let i = 0; sent < totalBytes || (big !== undefined && i <= big.index); i += 1) {
    const json = (i === 0 ? '' : ',') + targetJson(i, big);
    stats.targets = i + 1;
    if (big?.index !== i) {
      yield out(json);
      continue;
    }
    const [before, after] = json.split(`"${BIG_VALUE}"`) as [string, string];
    yield out(`${before}"`);
    const piece = 'x'.repeat(64 * 1024);
    for (let left = big.bytes; left > 0; left -= piece.length) yield out(piece.slice(0, Math.min(left, piece.length)));
    yield out(`"${after}`);
  }
  yield out('],"droppedTargets":[],"droppedTargetCounts":{"node":0,"gitaly":0}}}');
}

/** A Prometheus HTTP API on loopback: the targets answer streamed with backpressure, and the role query. */
function fakePrometheus(answer: () => Generator<string>): Promise<LoopbackHttpServer> {
  return listenLoopback((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.startsWith('/api/v1/query')) {
      const sample = { metric: { instance: instanceOf(PRAEFECT_INDEX) }, value: [1, '1'] };
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [sample] } }));
      return;
    }
    const pieces = answer();
    const pump = (): void => {
      for (;;) {
        if (res.destroyed) return;
        let batch = '';
        let done = false;
        while (!done && batch.length < 64 * 1024) {
          const next = pieces.next();
          if (next.done) done = true;
          else batch += next.value;
        }
        if (done) {
          res.end(batch);
          return;
        }
        if (!res.write(batch)) return;
      }
    };
    res.on('drain', pump);
    pump();
  });
}

const TEMPLATES = { name: '{gitaly_node}', tlsAddress: '{tls_address}' };

/**
 * One discovery in a child process, so its peak memory (maxRSS) is the discovery's alone: the
 * result, and how far the peak rose above what the process had reached before it.
 */
async function discoverInChild(url: string, maxBytes: number): Promise<{ result: SourceResult; growthMb: number }> {
  const script = `
    const { prometheusTargetsSource } = await import(${JSON.stringify(TARGETS_MODULE)});
    const source = prometheusTargetsSource(
      { url: ${JSON.stringify(url)}, instanceLabel: 'instance' },
      { selector: 'job="gitaly"', templates: ${JSON.stringify(TEMPLATES)} },
      { timeoutMs: 120000, maxBytes: ${maxBytes} },
    );
    const before = process.resourceUsage().maxRSS;
    const result = await source.discover();
    const growthMb = (process.resourceUsage().maxRSS - before) / 1024;
    process.stdout.write(JSON.stringify({ result, growthMb }));
  `;
  const tracked = spawnTracked(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    what: 'a discovery of a big targets answer',
  });
  let stdout = '';
  let stderr = '';
  tracked.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  tracked.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => killGroup(tracked.pid, 'SIGKILL'), scaled(60_000));
  const exit = await tracked.closed;
  clearTimeout(killer);
  await tracked.stop();
  expect({ exit, stderr: stderr.slice(0, 2_000) }, 'the discovery process').to.deep.equal({ exit: { code: 0, signal: null }, stderr: '' });
  return JSON.parse(stdout) as { result: SourceResult; growthMb: number };
}

/** The nodes a generated answer of `count` targets holds: its Gitaly targets, one of them the Praefect. */
function expectedNodes(count: number): NodeConfig[] {
  const nodes: NodeConfig[] = [];
  for (let i = 0; i < count; i += GITALY_EVERY)
    nodes.push({
      name: `gitaly-${i}`,
      role: i === PRAEFECT_INDEX ? 'praefect' : 'gitaly',
      metricsUrl: `http://${instanceOf(i)}/metrics`,
      tlsAddress: `${ip(i)}:9999`,
      prometheusInstance: instanceOf(i),
    });
  return nodes;
}

function matches(selector: string, labels: Record<string, string>): boolean {
  const compiled = compileSelector(selector);
  if (!compiled.ok) throw new Error(compiled.message);
  return compiled.matchers.every((m) => m.test(labels[m.name] ?? ''));
}

describe('inventory: Prometheus targets', () => {
  it('evaluates the selector on target labels as PromQL does (anchored regexes, absent label = empty)', () => {
    expect(matches('job=~"gitaly|praefect"', { job: 'praefect' })).to.equal(true);
    expect(matches('job=~"gitaly"', { job: 'gitaly-canary' })).to.equal(false);
    expect(matches(`job="gitaly", env!~'dev.*'`, { job: 'gitaly', env: 'prod' })).to.equal(true);
    expect(matches(`job="gitaly", env!~'dev.*'`, { job: 'gitaly', env: 'dev-1' })).to.equal(false);
    expect(matches('zone!="b"', { job: 'gitaly' })).to.equal(true);
    expect(matches('zone=""', { job: 'gitaly' })).to.equal(true);
    expect(matches('path=`a\\b`', { path: 'a\\b' })).to.equal(true);
    expect(compileSelector('job=~"("')).to.deep.equal({
      ok: false,
      message: 'selector: "(" is not a regular expression this exporter can evaluate',
    });
  });

  it('a Prometheus that does not answer fails the source (the fleet then cannot be complete)', async () => {
    const port = await freePort();
    const source = prometheusTargetsSource(
      { url: `http://127.0.0.1:${port}`, instanceLabel: 'instance' },
      { selector: 'job="gitaly"', templates: { name: '{instance}' } },
      { timeoutMs: 2_000, maxBytes: 1 << 20 },
    );
    const result = await source.discover();
    expect(result.ok).to.equal(false);
    expect(!result.ok && result.error.code).to.equal('CONNECT');
    expect(!result.ok && result.error.message).to.contain(`127.0.0.1:${port}`);
  });

  describe('the targets answer, read as it streams in', function () {
    let prometheus: LoopbackHttpServer | undefined;
    afterEach(async () => {
      await prometheus?.close();
      prometheus = undefined;
    });

    async function discover(body: string, limits: { maxBytes?: number; maxTargets?: number } = {}): Promise<SourceResult> {
      prometheus = await fakePrometheus(function* () {
        yield body;
      });
      const source = prometheusTargetsSource(
        { url: prometheus.url, instanceLabel: 'instance' },
        { selector: 'job="gitaly"', templates: TEMPLATES },
        { timeoutMs: 10_000, maxBytes: limits.maxBytes ?? 1 << 20, ...(limits.maxTargets ? { maxTargets: limits.maxTargets } : {}) },
      );
      return source.discover();
    }
    const answer = (targets: string[]): string => `{"status":"success","data":{"activeTargets":[${targets.join(',')}]}}`;
    const targets = (count: number): string[] => Array.from({ length: count }, (_, i) => targetJson(i * GITALY_EVERY));

    it('a label longer than the string cap on a target the selector leaves out is no concern: the nodes are found', async function () {
      const node = JSON.parse(targetJson(1)) as { labels: Record<string, string> };
      node.labels.gitaly_node = 'x'.repeat(200_000);
      const result = await discover(answer([...targets(3), JSON.stringify(node)]));
      expect(result).to.deep.equal({ ok: true, nodes: expectedNodes(3 * GITALY_EVERY) });
    });

    it('stops at more matching targets than the cap (TOO_MANY_SAMPLES), naming the selector', async function () {
      const result = await discover(answer(targets(5)), { maxTargets: 3 });
      expect(result.ok).to.equal(false);
      expect(!result.ok && result.error).to.deep.include({ code: 'TOO_MANY_SAMPLES' });
      expect(!result.ok && result.error.message).to.include('more than 3 active targets match the selector');
    });

    it('an answer over the byte cap is TOO_LARGE, whatever it holds', async function () {
      const result = await discover(answer(targets(100)), { maxBytes: 50_000 });
      expect(!result.ok && result.error.code).to.equal('TOO_LARGE');
      expect(!result.ok && result.error.message).to.include('more than 50000 bytes');
    });

    it('an answer that is not a targets list is BAD_RESPONSE, saying why', async function () {
      const cases: Array<[string, string]> = [
        ['{"status":"error","errorType":"internal","error":"storage unavailable"}', 'status is "error": storage unavailable'],
        ['{"status":"success","data":{}}', 'no data.activeTargets'],
        ['{"status":"success","data":{"activeTargets":{"a":1}}}', 'data.activeTargets is not a list'],
        [answer(['{"labels":{"job":"gitaly"}}']), 'an active target has no labels, a label that is not a string, or no scrapeUrl'],
        [answer(['{"labels":{"job":"gitaly","n":1},"scrapeUrl":"http://a:1/m"}']), 'a label that is not a string'],
        ['{"status":"success","data":{"activeTargets":[', 'the body is not JSON'],
      ];
      for (const [body, why] of cases) {
        const result = await discover(body);
        await prometheus?.close();
        expect(!result.ok && result.error, body).to.deep.include({ code: 'BAD_RESPONSE' });
        expect(!result.ok && result.error.message, body).to.include(why);
      }
    });
  });

  describe('a big targets answer, read as it streams in (each discovery in a child process, for its peak memory)', function () {
    this.timeout(scaled(120_000));
    let prometheus: LoopbackHttpServer | undefined;
    afterEach(async () => {
      await prometheus?.close();
      prometheus = undefined;
    });

    it('a 60 MB targets answer: its Gitaly targets become the nodes, and the peak memory rises less than 100 MB', async function () {
      const stats = { targets: 0 };
      prometheus = await fakePrometheus(() => targetsAnswer(60 * MB, undefined, stats));
      const { result, growthMb } = await discoverInChild(prometheus.url, 64 * 1024 * 1024);
      expect(stats.targets, 'targets in the answer').to.be.above(20_000);
      expect(result).to.deep.equal({ ok: true, nodes: expectedNodes(stats.targets) });
      expect(growthMb, 'MB the peak memory rose during the discovery').to.be.below(100);
    });

    it('one 50 MB label a template names: an error naming the label and the target, without holding the label', async function () {
      const big: BigLabel = { index: 1_000, where: 'labels', name: 'gitaly_node', bytes: 50 * MB };
      prometheus = await fakePrometheus(() => targetsAnswer(1 * MB, big));
      const { result, growthMb } = await discoverInChild(prometheus.url, 64 * 1024 * 1024);
      expect(result.ok).to.equal(false);
      const error = !result.ok ? result.error : undefined;
      expect(error?.code).to.equal('TOO_LARGE');
      expect(error?.message).to.match(
        /label gitaly_node of Prometheus target 10\.0\.3\.232:9236 \(job gitaly\) is longer than 65536 bytes/,
      );
      expect(error?.message.length, 'the error message length').to.be.below(400);
      expect(growthMb, 'MB the peak memory rose during the discovery').to.be.below(100);
    });

    it('one 50 MB label nothing needs (no template or selector names it): left out, and the nodes are found', async function () {
      const stats = { targets: 0 };
      const big: BigLabel = { index: 1_000, where: 'labels', name: 'annotation', bytes: 50 * MB };
      prometheus = await fakePrometheus(() => targetsAnswer(1 * MB, big, stats));
      const { result, growthMb } = await discoverInChild(prometheus.url, 64 * 1024 * 1024);
      expect(result).to.deep.equal({ ok: true, nodes: expectedNodes(stats.targets) });
      expect(growthMb, 'MB the peak memory rose during the discovery').to.be.below(100);
    });
  });
});
