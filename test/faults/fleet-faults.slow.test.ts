// Faults in the fleet while the real exporter runs (a child process) next to a real Prometheus
// scraping simulated Gitaly nodes: Prometheus goes away and comes back, a Gitaly restarts (its
// counters reset mid-window), a node dies for good. Each check states the invariant it guards.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  pollUntil,
  sampleValue,
  samples,
  startExporter,
  startTestFleet,
  writeExporterConfig,
  type ExporterProcess,
  type MigrationDoc,
  type MigrationNode,
  type TestFleet,
} from '../helpers/exporter-process.ts';
import { spawnTracked, type TrackedChild } from '../helpers/processes.ts';
import { freePort, prometheusBinary } from '../helpers/prometheus-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';

const NAMES = ['gitaly-1', 'gitaly-2', 'gitaly-3'] as const;
const ADVANCED = ['tls_only_traffic', 'complete'];
// With 1 s scrapes the loader asks for soak_window >= 42s and plaintext_check_interval >= 21s, so
// that the Prometheus window can keep its edges clear of the exporter's own dials (own-dials.test.ts).
const SOAK_MS = 45_000;
const PLAINTEXT_CHECK = '25s';

/** A Prometheus that can be stopped and started again on the same port and data directory. */
interface RestartablePrometheus {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function restartablePrometheus(dir: string, targets: string[]): Promise<RestartablePrometheus> {
  const port = await freePort();
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(
    configFile,
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s' },
      scrape_configs: [{ job_name: 'gitaly', static_configs: [{ targets }] }],
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  let child: TrackedChild | null = null;
  let output = '';
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c) await c.stop(10_000);
  };
  const start = async (): Promise<void> => {
    const c = spawnTracked(
      prometheusBinary(),
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { what: 'prometheus' },
    );
    child = c;
    c.child.stdout!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    c.child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
    try {
      await waitFor(
        async () => {
          if (c.exitState() !== null) throw new Error(`prometheus exited: ${output}`);
          return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) })).status === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `prometheus ready at ${url}`, context: () => `prometheus output:\n${output}` },
      );
    } catch (err) {
      await stop();
      throw err;
    }
  };
  await start();
  return { url, start, stop };
}

function byName(doc: MigrationDoc, name: string): MigrationNode {
  const node = doc.nodes.find((n) => n.node === name);
  if (!node) throw new Error(`${name} missing from /migration`);
  return node;
}

const reasons = (n: MigrationNode): string[] => n.blockingReasons.map((r) => r.reason).sort();
const summary = (doc: MigrationDoc): string => doc.nodes.map((n) => `${n.node}=${n.phase}[${reasons(n).join(',')}]`).join(' ');
/** The summary with the sentences behind it, for timeout messages. */
const explain = (doc: MigrationDoc): string =>
  `${doc.generatedAt} ${JSON.stringify(doc.fleet.prometheus)} ${doc.nodes.map((n) => `${n.node}=${n.phase} ${JSON.stringify(n.details)} window=${JSON.stringify(n.evidence.windowConnections)} coverage=${n.evidence.prometheusCoverage}`).join(' | ')}`;

/** The exporter's log lines that explain why a node's "plaintext last seen" moved (see collector.ts, observe-node.ts). */
const TRAIL = new Set([
  'plaintext last seen changed',
  'direct scrape: plaintext counter grew beyond own dials',
  'Gitaly counters reset (restart)',
]);

/** No node may have seen plaintext; a failure quotes the exporter's evidence for the node that did. */
function expectNoPlaintextSeen(ex: ExporterProcess, doc: MigrationDoc, what: string): void {
  for (const n of doc.nodes) {
    if (n.evidence.plaintextLastSeen === null) continue;
    const trail = ex
      .logs()
      .filter((l) => l.node === n.node && TRAIL.has(l.msg))
      .map((l) => JSON.stringify(l));
    expect.fail(
      `${n.node}: ${what}, but plaintextLastSeen = ${n.evidence.plaintextLastSeen} at ${doc.generatedAt}; the exporter's trail for ${n.node}:\n${trail.join('\n') || '(none)'}`,
    );
  }
}

/** Whether the collection behind a /metrics page began after `ms` (it began no later than its end minus its duration). */
function beganAfter(metrics: string, ms: number): boolean {
  const end = sampleValue(metrics, 'gitaly_tls_exporter_last_collection_timestamp_seconds');
  const duration = sampleValue(metrics, 'gitaly_tls_exporter_collection_duration_seconds');
  return end !== undefined && duration !== undefined && (end - duration) * 1000 > ms;
}

/** No count the exporter publishes may be negative or NaN, whatever the counters did. */
function expectNoNegativeCounts(doc: MigrationDoc, metrics: string): void {
  for (const n of doc.nodes) {
    const w = n.evidence.windowConnections;
    if (w)
      expect(
        [w.tcp, w.tls].every((v) => Number.isFinite(v) && v >= 0),
        `${n.node} window ${JSON.stringify(w)}`,
      ).to.equal(true);
  }
  for (const s of samples(metrics, 'gitaly_tls_window_connections')) {
    expect(Number.isFinite(s.value) && s.value >= 0, `window gauge ${JSON.stringify(s)}`).to.equal(true);
  }
}

describe('faults: Prometheus and Gitaly nodes fail while the exporter runs', function () {
  this.timeout(scaled(180_000));
  let dir: string;
  let fleet: TestFleet | undefined;
  let prometheus: RestartablePrometheus | undefined;
  let exporter: ExporterProcess | undefined;

  before(async function () {
    this.timeout(scaled(120_000));
    dir = await mkdtemp(join(tmpdir(), 'gte-faults-fleet-'));
    fleet = await startTestFleet(dir, NAMES);
    prometheus = await restartablePrometheus(
      dir,
      fleet.nodes.map((n) => new URL(n.metricsUrl).host),
    );
    const configFile = join(dir, 'config.yml');
    await writeExporterConfig(configFile, {
      soak_window: `${SOAK_MS / 1000}s`,
      plaintext_check_interval: PLAINTEXT_CHECK,
      state_file: join(dir, 'state.json'),
      ca_file: fleet.caFile,
      prometheus: { url: prometheus.url, selector: 'job="gitaly"', scrape_interval: '1s' },
      nodes: NAMES.map((name) => fleet!.yamlNode(name)),
    });
    exporter = await startExporter({ configFile });
    // gitaly-3 drops listen_addr (after every listener of the test is bound, so no one reuses its port).
    await fleet.node('gitaly-3').closePlaintextListener();
  });

  after(async function () {
    this.timeout(scaled(60_000));
    await exporter?.stop();
    await prometheus?.stop();
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a healthy fleet reaches tls_only_traffic / complete, and the exporter’s own dials are never read as plaintext', async () => {
    const ex = exporter!;
    let last = '';
    const doc = await pollUntil(
      async () => {
        const d = await ex.migration();
        last = explain(d);
        for (const n of d.nodes) {
          expect(reasons(n), `${n.node} at ${d.generatedAt}`).to.not.include('plaintext_connections_in_window');
          expect(n.evidence.windowConnections?.tcp ?? 0, n.node).to.equal(0);
        }
        expectNoPlaintextSeen(ex, d, 'own dials are not plaintext');
        const done = ['tls_only_traffic', 'tls_only_traffic', 'complete'].every((phase, i) => byName(d, NAMES[i]!).phase === phase);
        return done && d;
      },
      {
        timeoutMs: SOAK_MS + 60_000,
        intervalMs: 500,
        what: 'gitaly-1, gitaly-2 tls_only_traffic and gitaly-3 complete',
        progress: () => last,
      },
    );
    expect(reasons(byName(doc, 'gitaly-1'))).to.deep.equal(['plaintext_listener_open']);
    expect(reasons(byName(doc, 'gitaly-3'))).to.deep.equal([]);
    // The invariant was tested under fire: the exporter did dial listen_addr.
    const metrics = await ex.metrics();
    expect(sampleValue(metrics, 'gitaly_tls_exporter_probe_connections_total', { node: 'gitaly-1', type: 'tcp' })).to.be.greaterThan(0);
    expect(fleet!.node('gitaly-1').counts.tcp).to.be.greaterThan(0);
  });

  it('a Prometheus outage: source_down and no advanced verdict while it lasts, every page still answers, then it recovers', async () => {
    const ex = exporter!;
    await prometheus!.stop();
    const stoppedAt = Date.now();
    const failedSnapshots = new Set<string>();
    await pollUntil(
      async () => {
        const [doc, metrics, page] = [await ex.migration(), await ex.get('/metrics'), await ex.get('/')];
        expect(metrics.status, '/metrics during the outage').to.equal(200);
        expect(metrics.body).to.contain('gitaly_tls_exporter_last_collection_timestamp_seconds');
        expect(page.status, '/ during the outage').to.equal(200);
        expect(page.body).to.contain('gitaly-1');
        if (beganAfter(metrics.body, stoppedAt)) {
          for (const name of NAMES) {
            expect(
              sampleValue(metrics.body, 'gitaly_tls_exporter_source_up', { node: name, source: 'prometheus' }),
              `${name}: a collection begun after the stop`,
            ).to.equal(0);
            for (const phase of ADVANCED)
              expect(
                sampleValue(metrics.body, 'gitaly_tls_migration_phase', { node: name, phase }),
                `${name} ${phase} in /metrics`,
              ).to.equal(0);
          }
        }
        const prom = doc.fleet.prometheus;
        // A collection whose queries finished before the stop may still say ok.
        if (prom?.ok !== false) return false;
        expect(prom.error.code).to.equal('CONNECT');
        expect(doc.fleet.complete).to.equal(false);
        expect(doc.fleet.blocking.join('\n')).to.contain('Prometheus did not answer');
        for (const n of doc.nodes) {
          expect(ADVANCED, `${n.node} during the outage: ${summary(doc)}`).to.not.include(n.phase);
          expect(reasons(n), n.node).to.include('source_down');
          expect(n.evidence.sourcesDown, n.node).to.include('prometheus');
          expect(
            n.details.some((d) => d.startsWith('prometheus: ') && d.includes(prometheus!.url)),
            `${n.node} names the error`,
          ).to.equal(true);
        }
        failedSnapshots.add(doc.generatedAt);
        return failedSnapshots.size >= 3;
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'three collections that saw Prometheus down' },
    );
    const during = await ex.metrics();
    for (const name of NAMES)
      expect(sampleValue(during, 'gitaly_tls_exporter_source_up', { node: name, source: 'prometheus' }), name).to.equal(0);
    expect(sampleValue(during, 'gitaly_tls_exporter_source_errors_total', { source: 'prometheus', reason: 'CONNECT' })).to.be.at.least(3);

    await prometheus!.start();
    await waitFor(
      async () => {
        const metrics = await ex.metrics();
        return NAMES.every((name) => sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: name, source: 'prometheus' }) === 1);
      },
      { timeoutMs: 30_000, intervalMs: 300, what: 'source_up{source="prometheus"} back to 1 for every node' },
    );
    let last = '';
    const recovered = await pollUntil(
      async () => {
        const d = await ex.migration();
        last = explain(d);
        return ['tls_only_traffic', 'tls_only_traffic', 'complete'].every((phase, i) => byName(d, NAMES[i]!).phase === phase) && d;
      },
      { timeoutMs: SOAK_MS + 30_000, intervalMs: 500, what: 'the verdicts from before the outage to come back', progress: () => last },
    );
    expectNoPlaintextSeen(ex, recovered, 'the outage invented no plaintext');
  });

  it('a Gitaly restart mid-window: the reset is seen, with no negative count, no phantom plaintext, no verdict beyond the evidence', async () => {
    const ex = exporter!;
    const node = fleet!.node('gitaly-2');
    // Restart just after an own plaintext dial: the dial is lost with the reset, and the next one
    // lands on fresh counters. (A restart between a node's scrape and its dial a few ms later is the
    // one case history.ts deliberately reads as plaintext: a false "not yet", never a false "done".)
    const before = node.counts.tcp;
    await waitFor(() => node.counts.tcp > before && node.established().tcp === 0, {
      timeoutMs: 40_000,
      intervalMs: 5,
      what: 'an own plaintext dial to gitaly-2',
    });
    const countsBefore = { ...node.counts };
    await node.restart();
    expect(node.counts.tcp).to.be.below(countsBefore.tcp);
    await ex.waitForLog((l) => l.node === 'gitaly-2' && l.msg === 'Gitaly counters reset (restart)', {
      timeoutMs: 20_000,
      what: 'the exporter to log the reset of gitaly-2',
    });

    // Watch until the exporter has dialled the restarted node again and judged it twice after that.
    let dialledAt: number | null = null;
    const judgedAfter = new Set<number>();
    await pollUntil(
      async () => {
        const [doc, metrics] = [await ex.migration(), await ex.metrics()];
        expectNoNegativeCounts(doc, metrics);
        for (const n of doc.nodes)
          expect(reasons(n), `${n.node} at ${doc.generatedAt}: ${summary(doc)}`).to.not.include('plaintext_connections_in_window');
        expectNoPlaintextSeen(ex, doc, 'a restart invents no plaintext');
        const g2 = byName(doc, 'gitaly-2');
        expect(g2.phase, 'gitaly-2 still has listen_addr open').to.not.equal('complete');
        if (dialledAt === null && node.counts.tcp >= 1) dialledAt = Date.now();
        if (dialledAt !== null && beganAfter(metrics, dialledAt))
          judgedAfter.add(sampleValue(metrics, 'gitaly_tls_exporter_last_collection_timestamp_seconds')!);
        return judgedAfter.size >= 2 && g2.phase === 'tls_only_traffic';
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'gitaly-2 judged twice after an own dial following its restart' },
    );
    const doc = await ex.migration();
    const g2 = byName(doc, 'gitaly-2');
    expect(g2.evidence.metricsScrape?.ok && g2.evidence.metricsScrape.counts.tcp).to.be.below(countsBefore.tcp);
    expect(reasons(g2)).to.deep.equal(['plaintext_listener_open']);
  });

  it('a node that dies for good is source_down and never advanced; the other nodes are unaffected', async () => {
    const ex = exporter!;
    const baseline = await ex.migration();
    const others = ['gitaly-2', 'gitaly-3'].map((name) => ({
      name,
      phase: byName(baseline, name).phase,
      reasons: reasons(byName(baseline, name)),
    }));
    expect(others.map((o) => o.phase)).to.deep.equal(['tls_only_traffic', 'complete']);

    await fleet!.node('gitaly-1').stop();
    const killedAt = Date.now();
    const seen = new Set<string>();
    await pollUntil(
      async () => {
        const [doc, metrics] = [await ex.migration(), await ex.metrics()];
        for (const o of others) {
          const n = byName(doc, o.name);
          // The details name the evidence behind a changed reason (for a canary miss: which counter, how many of ours it counted).
          expect(
            { phase: n.phase, reasons: reasons(n) },
            `${o.name} after gitaly-1 died: ${summary(doc)}; ${JSON.stringify(n.details)}`,
          ).to.deep.equal({
            phase: o.phase,
            reasons: o.reasons,
          });
          expect(n.evidence.sourcesDown, o.name).to.deep.equal([]);
        }
        if (beganAfter(metrics, killedAt)) {
          expect(
            sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: 'gitaly-1', source: 'gitaly_metrics' }),
            'a collection begun after the death',
          ).to.equal(0);
        }
        const dead = byName(doc, 'gitaly-1');
        // A collection that scraped gitaly-1 before it died may still say it answered.
        if (dead.evidence.metricsScrape?.ok !== false) return false;
        expect(dead.evidence.metricsScrape.error.code).to.equal('CONNECT');
        expect(ADVANCED, `gitaly-1 is dead: ${summary(doc)}`).to.not.include(dead.phase);
        expect(reasons(dead)).to.include.members(['source_down', 'tls_handshake_failed']);
        expect(dead.evidence.sourcesDown).to.include('gitaly_metrics');
        expect(
          dead.details.some((d) => d.startsWith('gitaly_metrics: ')),
          'the scrape error is spelled out',
        ).to.equal(true);
        expect(doc.fleet.complete).to.equal(false);
        expect(sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: 'gitaly-1', source: 'gitaly_metrics' })).to.equal(0);
        expect(sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: 'gitaly-1', source: 'tls' })).to.equal(0);
        expect(sampleValue(metrics, 'gitaly_tls_migration_phase', { node: 'gitaly-1', phase: 'tls_only_traffic' })).to.equal(0);
        expect(sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: 'gitaly-2', source: 'gitaly_metrics' })).to.equal(1);
        seen.add(doc.generatedAt);
        return seen.size >= 4;
      },
      { timeoutMs: 40_000, intervalMs: 500, what: 'four collections judging gitaly-1 dead' },
    );
  });
});
