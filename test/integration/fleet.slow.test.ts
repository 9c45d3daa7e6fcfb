// The whole chain with real parts: the demo fleet (simulated Gitaly nodes counting connections
// as Gitaly does), the real Prometheus scraping it and the exporter, and the exporter asking that
// Prometheus about the soak window while it probes the same nodes.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import type { Config } from '../../src/config/types.ts';
import { demoConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { Exporter } from '../../src/exporter.ts';
import { PHASES } from '../../src/migration/types.ts';
import { buildApp } from '../../src/http/app.ts';
import { instantQuery } from '../../src/sources/prometheus.ts';
import { dashboardQueries, RULES_FILE, ruleExpressions } from '../helpers/dashboard-queries.ts';
import type { RunningPrometheus } from '../helpers/prometheus-server.ts';
import { ENGINES, startEngine } from '../helpers/query-engine.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';

interface MigrationDoc {
  fleet: { complete: boolean; undeclaredInstances: string[]; prometheus: { ok: boolean } | null };
  nodes: Array<{
    node: string;
    phase: string;
    details: string[];
    blockingReasons: Array<{ reason: string }>;
    evidence: { windowConnections: { tcp: number; tls: number; source: string } | null; sourcesDown: string[] };
  }>;
}

// What the configuration would demand for 1 s scrapes: soak >= 12 s + 30 s, dials >= 6 s + 15 s apart.
const SOAK_MS = 45_000;

for (const engine of ENGINES)
  describe(`integration: demo fleet, real ${engine}, exporter`, function () {
    this.timeout(scaled(240_000));
    const logger = pino({ level: 'silent' });
    let dir: string;
    let fleet: DemoFleet;
    let stranger: SimulatedNode;
    let prometheus: RunningPrometheus;
    let exporter: Exporter;
    let app: FastifyInstance;
    let base: string;
    const seenPhases = new Map<string, Set<string>>();

    async function migration(): Promise<MigrationDoc> {
      const doc = (await (await fetch(`${base}/migration`)).json()) as MigrationDoc;
      for (const n of doc.nodes) {
        const set = seenPhases.get(n.node) ?? new Set<string>();
        set.add(n.phase);
        seenPhases.set(n.node, set);
      }
      return doc;
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gte-integration-'));
      fleet = await startDemoFleet({ dir, migrationMs: 16_000, logger });
      // A Gitaly that Prometheus scrapes but nobody put in the exporter's configuration.
      stranger = await startSimulatedNode({
        name: 'gitaly-stranger',
        role: 'gitaly',
        host: '127.0.0.1',
        plaintext: true,
        metricsBulk: 'small',
      });
      // Gitaly creates its counter series at the first accept: give the stranger one client.
      await new Promise<void>((resolve, reject) => {
        const { hostname, port } = new URL(`tcp://${stranger.plaintextAddress}`);
        const socket = connect(Number(port), hostname, () => {
          socket.destroy();
          resolve();
        }).once('error', reject);
      });
      const gitalyTargets = fleet.nodes.filter((n) => n.role === 'gitaly').map((n) => new URL(n.metricsUrl).host);
      const praefectTargets = fleet.nodes.filter((n) => n.role === 'praefect').map((n) => new URL(n.metricsUrl).host);

      const demo = demoConfig(fleet, { stateFile: join(dir, 'state.json') });
      const config: Config = {
        ...demo,
        soakWindowMs: SOAK_MS,
        collectionIntervalMs: 1000,
        // Dials must stay well apart compared with the scrape interval, as in production (1h vs 15s).
        plaintextCheckIntervalMs: 24_000,
        // gitaly-1's sockets are in this process: local mode reads them from /proc.
        local: { node: 'gitaly-1', procRoot: '/proc' },
        nodes: [
          ...demo.nodes,
          { name: 'gitaly-gone', role: 'gitaly', metricsUrl: 'http://127.0.0.1:1/metrics', tlsAddress: '127.0.0.1:1' },
        ],
      };
      exporter = new Exporter({ config, logger, probes: realProbes });
      await exporter.init();
      app = buildApp({ logger, view: exporter });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      base = `http://127.0.0.1:${port}`;

      prometheus = await startEngine(engine, {
        scrapeInterval: '1s',
        ruleFiles: [RULES_FILE],
        jobs: [
          { job: 'gitaly', targets: [...gitalyTargets, new URL(stranger.metricsUrl).host] },
          { job: 'praefect', targets: praefectTargets },
          { job: 'gitaly-tls-exporter', targets: [`127.0.0.1:${port}`] },
        ],
      });
      exporter.collector.setConfig({
        ...config,
        prometheus: { url: prometheus.url, selector: 'job=~"gitaly|praefect"', instanceLabel: 'instance', scrapeIntervalMs: 1000 },
      });
      exporter.start();
    });

    after(async () => {
      await exporter?.stop();
      await app?.close();
      await prometheus?.stop();
      await stranger?.stop();
      await fleet?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('reads each node’s soak window from Prometheus once it covers the window', async () => {
      const doc = await waitFor(
        async () => {
          const d = await migration();
          const g2 = d.nodes.find((n) => n.node === 'gitaly-2');
          return g2?.evidence.windowConnections?.source === 'prometheus' &&
            !g2.blockingReasons.some((r) => r.reason === 'insufficient_history')
            ? d
            : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 1000, what: 'Prometheus to cover gitaly-2’s soak window' },
      );
      expect(doc.fleet.prometheus?.ok).to.equal(true);
    });

    it('tells each node’s story: complete, tls_only_traffic, a legacy client, restart needed, a Praefect without TLS', async () => {
      const doc = await waitFor(
        async () => {
          const d = await migration();
          const phase = (name: string) => d.nodes.find((n) => n.node === name)?.phase;
          return phase('gitaly-1') === 'complete' && phase('gitaly-2') === 'tls_only_traffic' ? d : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000, what: 'gitaly-1 complete and gitaly-2 tls_only_traffic' },
      );
      const reasons = (name: string) => doc.nodes.find((n) => n.node === name)!.blockingReasons.map((r) => r.reason);
      expect(reasons('gitaly-2')).to.deep.equal(['plaintext_listener_open']);
      expect(doc.nodes.find((n) => n.node === 'gitaly-3')!.phase).to.equal('dual_listen');
      expect(reasons('gitaly-3')).to.include('plaintext_connections_in_window');
      expect(reasons('gitaly-4')).to.include.members(['restart_needed', 'cert_expiring']);
      expect(doc.nodes.find((n) => n.node === 'praefect-1')!.phase).to.equal('plaintext_only');
      expect(reasons('praefect-1')).to.include('tls_not_configured');
      expect(doc.nodes.find((n) => n.node === 'gitaly-gone')!.phase).to.equal('unknown');
    });

    it('the exporter’s own dials never made gitaly-2 look like it still used plaintext after it reached tls_only_traffic', async () => {
      // Watch more plaintext checks (one every 24 s) go by.
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const d = await migration();
        const g2 = d.nodes.find((n) => n.node === 'gitaly-2')!;
        expect(g2.phase, JSON.stringify([g2.details, g2.evidence])).to.equal('tls_only_traffic');
        expect(g2.evidence.windowConnections?.tcp).to.equal(0);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const own = await instantQuery(
        { url: prometheus.url, instanceLabel: 'instance' },
        'gitaly_tls_exporter_probe_connections_total{node="gitaly-2",type="tcp"}',
        Date.now(),
        { timeoutMs: 5000, maxBytes: 1 << 20 },
      );
      expect(own.ok && own.samples[0]!.value).to.be.greaterThan(2);
    });

    it('never called the legacy-client node done', () => {
      expect([...(seenPhases.get('gitaly-3') ?? [])]).to.not.include.members(['tls_only_traffic', 'complete']);
      expect([...(seenPhases.get('praefect-1') ?? [])]).to.not.include.members(['tls_only_traffic', 'complete']);
    });

    it('blocks the fleet on a Gitaly Prometheus sees but the configuration lacks', async () => {
      const doc = await migration();
      expect(doc.fleet.complete).to.equal(false);
      expect(doc.fleet.undeclaredInstances).to.deep.equal([new URL(stranger.metricsUrl).host]);
    });

    it('serves a /metrics page that promtool accepts', async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(promtoolCheckMetrics(text).output).to.equal('');
      expect(text).to.match(/gitaly_tls_established_connections\{node="gitaly-1",listener="tls"\} [1-9]/);
    });

    it('every dashboard panel’s query returns data', async () => {
      await waitFor(
        async () => {
          const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, 'gitaly_tls_migration_complete', Date.now(), {
            timeoutMs: 5000,
            maxBytes: 1 << 20,
          });
          return r.ok && r.samples.length > 0;
        },
        { timeoutMs: 30_000, intervalMs: 1000, what: 'Prometheus to scrape the exporter' },
      );
      const empty: string[] = [];
      for (const q of dashboardQueries()) {
        const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, q.expr, Date.now(), {
          timeoutMs: 10_000,
          maxBytes: 16 << 20,
        });
        expect(r.ok, `${q.dashboard} / ${q.panel}: ${q.expr}: ${r.ok ? '' : r.error.message}`).to.equal(true);
        // An annotation marks an event (a phase change): it may rightly find none now.
        if (r.ok && r.samples.length === 0 && q.type !== 'annotation') empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
      }
      expect(empty, 'panels without data').to.deep.equal([]);
    });

    it('the fleet stat panels show one number each: undeclared instances and sources down, no extra series', async () => {
      // One evaluation time for every query, so the counts compare like with like.
      const at = Date.now();
      const run = async (expr: string) => {
        const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, expr, at, {
          timeoutMs: 10_000,
          maxBytes: 16 << 20,
        });
        expect(r.ok, expr).to.equal(true);
        return r.ok ? r.samples : [];
      };
      const panel = (title: string) =>
        dashboardQueries().find((q) => q.dashboard === 'gitaly-tls-migration' && q.panel === `${title} [A]`)!.expr;
      // The stranger is the one Gitaly Prometheus scrapes that the configuration lacks.
      expect(await run(panel('Undeclared Gitaly instances'))).to.deep.equal([{ labels: {}, value: 1 }]);
      // gitaly-gone's sources are down (and more after Prometheus stops, which a later test does).
      const direct = await run('gitaly_tls_exporter_source_up == 0');
      expect(direct.length).to.be.greaterThan(0);
      const down = await run(panel('Evidence sources down'));
      expect(down).to.have.length(1);
      expect(down[0]!.labels).to.deep.equal({});
      expect(down[0]!.value).to.equal(direct.length);
      // Fleet verdict: one series, 0 (not complete).
      expect((await run(panel('Fleet verdict'))).map((x) => x.value)).to.deep.equal([0]);
      // Nodes per phase: every configured node counted once, in its phase; 0 for the other phases.
      const perPhase = await run(panel('Nodes per phase'));
      const nodes = (await migration()).nodes;
      const expected = new Map<string, number>(PHASES.map((phase) => [phase, 0]));
      for (const n of nodes) expected.set(n.phase, (expected.get(n.phase) ?? 0) + 1);
      expect(new Map(perPhase.map((x) => [x.labels.phase!, x.value]))).to.deep.equal(expected);
    });

    it('every alert and recording rule expression runs against the live data', async () => {
      for (const rule of ruleExpressions()) {
        const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, rule.expr, Date.now(), {
          timeoutMs: 10_000,
          maxBytes: 16 << 20,
        });
        expect(r.ok, `${rule.name}: ${r.ok ? '' : r.error.message}`).to.equal(true);
      }
    });

    it('with Prometheus stopped, says source_down and keeps serving', async () => {
      await prometheus.stop();
      const doc = await waitFor(
        async () => {
          const d = await migration();
          return d.fleet.prometheus?.ok === false ? d : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'the exporter to notice Prometheus is gone' },
      );
      for (const n of doc.nodes.filter((x) => x.node !== 'gitaly-gone')) {
        expect(
          n.blockingReasons.map((r) => r.reason),
          n.node,
        ).to.include('source_down');
        expect(n.evidence.sourcesDown, n.node).to.include('prometheus');
        expect(n.phase, n.node).to.not.be.oneOf(['tls_only_traffic', 'complete']);
      }
      expect((await fetch(`${base}/metrics`)).status).to.equal(200);
      expect((await fetch(`${base}/`)).status).to.equal(200);
    });
  });
