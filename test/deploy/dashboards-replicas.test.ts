// The dashboards as Grafana runs them against a real Prometheus that scrapes what a production
// setup has: an HA pair of exporters under one job and the optional /probe job of the README, and
// no recording rules. Every variable is resolved from that Prometheus and substituted as Grafana
// does, for "All" and for one chosen job and node; then every panel query must show each node (and
// certificate, address, phase, …) once, and the expiry and phase panels must not be blank.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import { demoConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { instantQuery } from '../../src/sources/prometheus.ts';
import {
  dashboardFiles,
  dashboardQueries,
  grafanaValue,
  readDashboard,
  substituteVariables,
  variableAsPromql,
  variableQuery,
  type Dashboard,
  type DashboardQuery,
} from '../helpers/dashboard-queries.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server.ts';
import { scaled } from '../helpers/time-factor.ts';
import { waitFor } from '../helpers/wait-for.ts';

const EXPORTER_JOB = 'gitaly-tls-exporter';
const PROBE_JOB = 'gitaly-tls-probe';
/** Rows of these panels are per exporter scrape by design: which replica is stuck or failing. */
const PER_REPLICA_ROW = 'Exporter health';
/** Panels (a title, or a title and query) this fleet leaves empty, and why. */
const EMPTY_HERE: Record<string, string> = {
  'Established connections now (local mode)': 'no replica runs in local mode',
  'Undeclared Gitaly instances': 'Prometheus scrapes no Gitaly the configuration lacks',
  'Source errors per second': 'every source answers',
  'Per node [C]': 'new connections in the soak window: no replica has watched a whole window yet',
  'Per node [D]': 'the same, for TLS',
};
const emptyHere = (q: DashboardQuery): boolean =>
  q.type === 'annotation' || EMPTY_HERE[q.panel] !== undefined || EMPTY_HERE[q.panel.replace(/ \[\w+\]$/, '')] !== undefined;

interface Replica {
  exporter: Exporter;
  app: FastifyInstance;
  host: string;
}

type Selection = (variable: string, options: readonly string[]) => readonly string[] | 'All';

describe('dashboards on a real Prometheus scraping two exporter replicas and the /probe job', function () {
  this.timeout(scaled(180_000));
  const logger = pino({ level: 'silent' });
  let dir: string;
  let fleet: DemoFleet;
  const replicas: Replica[] = [];
  let prometheus: RunningPrometheus;
  let tlsNodes: string[];

  async function query(expr: string, at: number) {
    const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, expr, at, { timeoutMs: 10_000, maxBytes: 16 << 20 });
    if (!r.ok) throw new Error(`${expr}: ${r.error.message}`);
    return r.samples;
  }

  /** What Grafana lists for label_values(selector, label): the label's values on matching series. */
  async function labelValues(selector: string, label: string): Promise<string[]> {
    const url = `${prometheus.url}/api/v1/series?${new URLSearchParams({ 'match[]': selector, start: String(Date.now() / 1000 - 3600) }).toString()}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data?: Array<Record<string, string>>; error?: string };
    if (body.status !== 'success') throw new Error(`series ${selector}: ${body.error}`);
    return [...new Set((body.data ?? []).flatMap((s) => (s[label] ? [s[label]] : [])))].sort();
  }

  /** Each query variable resolved in order (later ones filter by earlier ones), as Grafana does on load. */
  async function resolveVariables(dashboard: Dashboard, select: Selection): Promise<Record<string, string>> {
    const chosen: Record<string, string> = {};
    for (const variable of dashboard.templating.list) {
      const text = variable.type === 'query' ? variableQuery(variable) : undefined;
      const labelValuesCall = text === undefined ? null : /^\s*label_values\((.+),\s*(\w+)\s*\)\s*$/.exec(text);
      if (!labelValuesCall) continue;
      const selector = substituteVariables(variableAsPromql(text!)!, dashboard, chosen);
      const options = await labelValues(selector, labelValuesCall[2]!);
      chosen[variable.name] = grafanaValue(variable, options, select(variable.name, options));
    }
    return chosen;
  }

  async function queriesFor(select: Selection): Promise<DashboardQuery[]> {
    const chosen = new Map<string, Record<string, string>>();
    for (const file of dashboardFiles()) {
      const dashboard = readDashboard(file);
      chosen.set(dashboard.uid, await resolveVariables(dashboard, select));
    }
    return dashboardQueries((d) => chosen.get(d.uid)!).filter((q) => q.type !== 'variable');
  }

  /**
   * A row's identity: its labels without the ones that only say which scrape reported it (job and
   * instance of the exporter and /probe jobs). Gitaly's own series keep their instance: that is the
   * Gitaly. Panels of the exporter-health row keep both: they are per replica by design.
   */
  function rowKey(q: DashboardQuery, labels: Record<string, string>): string {
    const { __name__: _name, ...rest } = labels;
    const scrapeLabels = q.row !== PER_REPLICA_ROW && (labels.job === EXPORTER_JOB || labels.job === PROBE_JOB);
    const kept = Object.entries(rest).filter(([name]) => !(scrapeLabels && (name === 'job' || name === 'instance')));
    return JSON.stringify(Object.fromEntries(kept.sort(([a], [b]) => a.localeCompare(b))));
  }

  async function duplicatedRows(select: Selection): Promise<string[]> {
    const at = Date.now();
    const out: string[] = [];
    for (const q of await queriesFor(select)) {
      const counts = new Map<string, number>();
      for (const sample of await query(q.expr, at)) {
        const key = rowKey(q, sample.labels);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const [key, n] of counts) if (n > 1) out.push(`${q.dashboard} / ${q.panel}: ${key} ×${n}`);
    }
    return out;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-dashboard-replicas-'));
    fleet = await startDemoFleet({ dir, logger });
    tlsNodes = fleet.nodes.flatMap((n) => (n.tlsAddress ? [n.tlsAddress] : []));
    for (const name of ['a', 'b']) {
      const config = { ...demoConfig(fleet, { stateFile: join(dir, `state-${name}.json`) }), collectionIntervalMs: 1000 };
      const exporter = new Exporter({ config, logger, probes: realProbes });
      await exporter.init();
      const app = buildApp({ logger, view: exporter });
      await app.listen({ host: '127.0.0.1', port: 0 });
      replicas.push({ exporter, app, host: `127.0.0.1:${(app.server.address() as { port: number }).port}` });
      exporter.start();
    }
    const role = (r: string) => fleet.nodes.filter((n) => n.role === r).map((n) => new URL(n.metricsUrl).host);
    prometheus = await startPrometheus({
      scrapeInterval: '1s',
      jobs: [
        { job: 'gitaly', targets: role('gitaly') },
        { job: 'praefect', targets: role('praefect') },
        { job: EXPORTER_JOB, targets: replicas.map((r) => r.host) },
        // The README's /probe job, pointed at one replica.
        {
          job: PROBE_JOB,
          metricsPath: '/probe',
          targets: tlsNodes.map((address) => `tls://${address}`),
          relabel: [
            { source_labels: ['__address__'], target_label: '__param_target' },
            { source_labels: ['__param_target'], target_label: 'instance' },
            { target_label: '__address__', replacement: replicas[0]!.host },
          ],
        },
      ],
    });
    // Both replicas' collections, with certificates, and every /probe target, in Prometheus.
    await waitFor(
      async () => {
        const at = Date.now();
        const scrapes = async (expr: string) => new Set((await query(expr, at)).map((s) => `${s.labels.job} ${s.labels.instance}`)).size;
        return (
          (await scrapes(`gitaly_tls_cert_not_after_timestamp_seconds{job="${EXPORTER_JOB}"}`)) === 2 &&
          (await scrapes(`gitaly_tls_migration_phase{job="${EXPORTER_JOB}"}`)) === 2 &&
          (await scrapes(`gitaly_tls_probe_success{job="${PROBE_JOB}"}`)) === tlsNodes.length
        );
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'Prometheus to scrape both replicas and every /probe target' },
    );
  });

  after(async () => {
    await prometheus?.stop();
    for (const r of replicas) {
      await r.exporter.stop();
      await r.app.close();
    }
    await fleet?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('show each node, certificate and address once with every variable at All', async () => {
    expect(await duplicatedRows(() => 'All')).to.deep.equal([]);
  });

  it('show each row once with the exporter job and one node chosen', async () => {
    const rows = await duplicatedRows((variable, options) => {
      if (variable === 'job') return [EXPORTER_JOB];
      if (variable === 'node') return [options.includes('gitaly-1') ? 'gitaly-1' : options[0]!];
      return 'All';
    });
    expect(rows).to.deep.equal([]);
  });

  // Annotations mark events (phase changes), not state: none is expected from a fleet that just started.
  it('fill the expiry, phase and every other panel without the recording rules loaded', async () => {
    const at = Date.now();
    const empty: string[] = [];
    for (const q of await queriesFor(() => 'All')) {
      if (emptyHere(q)) continue;
      if ((await query(q.expr, at)).length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty, 'panels without data').to.deep.equal([]);
  });
});
