// The dashboards as Grafana runs them against a real Prometheus that scrapes what a production
// setup has: an HA pair of exporters under one job and the optional /probe job of the README, and
// no recording rules. Every variable is resolved from that Prometheus and substituted as Grafana
// does, for "All" and for one chosen job and node; then every panel query must show each node (and
// certificate, address, phase, …) once, and the expiry and phase panels must not be blank.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import { createCa } from '../../src/demo/certs.ts';
import { demoConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { PHASES } from '../../src/migration/types.ts';
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
import { listenLoopback, type LoopbackHttpServer } from '../helpers/http-server.ts';
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

/** The demo fleet, exporter replicas a and b, and a Prometheus scraping them, Gitaly and the /probe job (through replica a). */
interface Scene {
  prometheus: RunningPrometheus;
  tlsNodes: string[];
  stop(): Promise<void>;
}

async function startScene(o: { logger: Logger; caFileOfB?: (dir: string) => Promise<string> }): Promise<Scene> {
  const dir = mkdtempSync(join(tmpdir(), 'gte-dashboard-replicas-'));
  const replicas: Replica[] = [];
  let fleet: DemoFleet | undefined;
  let prometheus: RunningPrometheus | undefined;
  const stop = async (): Promise<void> => {
    await prometheus?.stop();
    for (const r of replicas) {
      await r.exporter.stop();
      await r.app.close();
    }
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    fleet = await startDemoFleet({ dir, logger: o.logger });
    const tlsNodes = fleet.nodes.flatMap((n) => (n.tlsAddress ? [n.tlsAddress] : []));
    for (const name of ['a', 'b']) {
      const demo = demoConfig(fleet, { stateFile: join(dir, `state-${name}.json`) });
      const caFile = name === 'b' && o.caFileOfB ? await o.caFileOfB(dir) : demo.caFile;
      const config = { ...demo, caFile, collectionIntervalMs: 1000 };
      const exporter = new Exporter({ config, logger: o.logger, probes: realProbes });
      await exporter.init();
      const app = buildApp({ logger: o.logger, view: exporter });
      await app.listen({ host: '127.0.0.1', port: 0 });
      replicas.push({ exporter, app, host: `127.0.0.1:${(app.server.address() as { port: number }).port}` });
      exporter.start();
    }
    const role = (r: string) => fleet!.nodes.filter((n) => n.role === r).map((n) => new URL(n.metricsUrl).host);
    prometheus = await startPrometheus({
      scrapeInterval: '1s',
      jobs: [
        { job: 'gitaly', targets: role('gitaly') },
        { job: 'praefect', targets: role('praefect') },
        { job: EXPORTER_JOB, targets: replicas.map((r) => r.host) },
        // The README's /probe job, pointed at replica a.
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
    const running = prometheus;
    // Both replicas' collections, with certificates and their own connections, and every /probe target, in Prometheus.
    await waitFor(
      async () => {
        const at = Date.now();
        const scrapes = async (expr: string) => new Set((await query(running, expr, at)).map((s) => `${s.labels.job} ${s.labels.instance}`)).size;
        return (
          (await scrapes(`gitaly_tls_cert_not_after_timestamp_seconds{job="${EXPORTER_JOB}"}`)) === 2 &&
          (await scrapes(`gitaly_tls_migration_phase{job="${EXPORTER_JOB}"}`)) === 2 &&
          (await scrapes(`gitaly_tls_probe_success{job="${PROBE_JOB}"}`)) === tlsNodes.length &&
          // A rate needs two scrapes of the counter.
          (await scrapes(`rate(gitaly_tls_exporter_probe_connections_total{job="${EXPORTER_JOB}"}[1m])`)) === 2 &&
          (await scrapes('rate(gitaly_connections_total{job="gitaly", type="tls"}[1m])')) > 0
        );
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'Prometheus to scrape both replicas and every /probe target' },
    );
    return { prometheus: running, tlsNodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function query(prometheus: RunningPrometheus, expr: string, at: number) {
  const r = await instantQuery({ url: prometheus.url, instanceLabel: 'instance' }, expr, at, { timeoutMs: 10_000, maxBytes: 16 << 20 });
  if (!r.ok) throw new Error(`${expr}: ${r.error.message}`);
  return r.samples;
}

/** What Grafana lists for label_values(selector, label): the label's values on matching series. */
async function labelValues(prometheus: RunningPrometheus, selector: string, label: string): Promise<string[]> {
  const params = new URLSearchParams({ 'match[]': selector, start: String(Date.now() / 1000 - 3600) });
  const res = await fetch(`${prometheus.url}/api/v1/series?${params.toString()}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; data?: Array<Record<string, string>>; error?: string };
  if (body.status !== 'success') throw new Error(`series ${selector}: ${body.error}`);
  return [...new Set((body.data ?? []).flatMap((s) => (s[label] ? [s[label]] : [])))].sort();
}

/** Each query variable resolved in order (later ones filter by earlier ones), as Grafana does on load. */
async function resolveVariables(prometheus: RunningPrometheus, dashboard: Dashboard, select: Selection): Promise<Record<string, string>> {
  const chosen: Record<string, string> = {};
  for (const variable of dashboard.templating.list) {
    const text = variable.type === 'query' ? variableQuery(variable) : undefined;
    const labelValuesCall = text === undefined ? null : /^\s*label_values\((.+),\s*(\w+)\s*\)\s*$/.exec(text);
    if (!labelValuesCall) continue;
    const selector = substituteVariables(variableAsPromql(text!)!, dashboard, chosen);
    const options = await labelValues(prometheus, selector, labelValuesCall[2]!);
    chosen[variable.name] = grafanaValue(variable, options, select(variable.name, options));
  }
  return chosen;
}

/** Every panel and annotation query, with the variables Grafana would substitute for this selection. */
async function queriesFor(prometheus: RunningPrometheus, select: Selection): Promise<DashboardQuery[]> {
  const chosen = new Map<string, Record<string, string>>();
  for (const file of dashboardFiles()) {
    const dashboard = readDashboard(file);
    chosen.set(dashboard.uid, await resolveVariables(prometheus, dashboard, select));
  }
  return dashboardQueries((d) => chosen.get(d.uid)!).filter((q) => q.type !== 'variable');
}

function panelQuery(queries: DashboardQuery[], dashboard: string, panel: string): string {
  const q = queries.find((x) => x.dashboard === dashboard && x.panel === panel);
  if (!q) throw new Error(`dashboard ${dashboard} has no query "${panel}"`);
  return q.expr;
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

describe('dashboards on a real Prometheus scraping two exporter replicas and the /probe job', function () {
  this.timeout(scaled(180_000));
  let scene: Scene;

  async function duplicatedRows(select: Selection): Promise<string[]> {
    const at = Date.now();
    const out: string[] = [];
    for (const q of await queriesFor(scene.prometheus, select)) {
      const counts = new Map<string, number>();
      for (const sample of await query(scene.prometheus, q.expr, at)) {
        const key = rowKey(q, sample.labels);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      for (const [key, n] of counts) if (n > 1) out.push(`${q.dashboard} / ${q.panel}: ${key} ×${n}`);
    }
    return out;
  }

  before(async () => {
    scene = await startScene({ logger: pino({ level: 'silent' }) });
  });

  after(async () => {
    await scene?.stop();
  });

  it('show each node, certificate and address once with every variable at All', async () => {
    expect(await duplicatedRows(() => 'All')).to.deep.equal([]);
  });

  it('offer the exporter and /probe jobs, and show each row once with either job and one node chosen', async () => {
    for (const job of [EXPORTER_JOB, PROBE_JOB]) {
      const offered: string[][] = [];
      const rows = await duplicatedRows((variable, options) => {
        if (variable === 'job') {
          offered.push([...options]);
          return [job];
        }
        if (variable === 'node') return [options.includes('gitaly-1') ? 'gitaly-1' : (options[0] ?? 'gitaly-1')];
        return 'All';
      });
      expect(rows, job).to.deep.equal([]);
      for (const options of offered) expect(options, 'the Job variable').to.deep.equal([EXPORTER_JOB, PROBE_JOB]);
    }
  });

  it('count each certificate once in the fleet stats, and the soonest expiry as the raw series say', async () => {
    const queries = await queriesFor(scene.prometheus, () => 'All');
    const at = Date.now();
    const raw = await query(scene.prometheus, 'gitaly_tls_cert_not_after_timestamp_seconds', at);
    const left = new Map<string, number>();
    for (const s of raw) left.set(s.labels.serial!, Math.min(left.get(s.labels.serial!) ?? Infinity, s.value - at / 1000));
    const day = 86_400;
    const stat = async (title: string) => (await query(scene.prometheus, panelQuery(queries, 'gitaly-tls-certificates', `${title} [A]`), at)).map((s) => s.value);
    expect(await stat('Certificates expiring within 30 days')).to.deep.equal([[...left.values()].filter((v) => v > 0 && v < 30 * day).length]);
    expect(await stat('Certificates expired')).to.deep.equal([[...left.values()].filter((v) => v <= 0).length]);
    const soonest = await stat('Soonest certificate expiry');
    expect(soonest).to.have.length(1);
    expect(soonest[0]).to.be.closeTo(Math.min(...left.values()), 1);
    // The demo fleet's gitaly-4 serves a certificate that expires within days.
    expect([...left.values()].some((v) => v > 0 && v < 30 * day)).to.equal(true);
  });

  // Annotations mark events (phase changes), not state: none is expected from a fleet that just started.
  it('fill the expiry, phase and every other panel without the recording rules loaded', async () => {
    const at = Date.now();
    const empty: string[] = [];
    for (const q of await queriesFor(scene.prometheus, () => 'All')) {
      if (emptyHere(q)) continue;
      if ((await query(scene.prometheus, q.expr, at)).length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty, 'panels without data').to.deep.equal([]);
  });
});

describe('dashboards on a real Prometheus: a replica that cannot trust the chain the other trusts', function () {
  this.timeout(scaled(180_000));
  let scene: Scene;

  before(async () => {
    // Replica b checks the chain against a CA that signed none of it.
    const caFileOfB = async (dir: string) => {
      const file = join(dir, 'other-ca.pem');
      writeFileSync(file, (await createCa('some other CA')).certPem);
      return file;
    };
    scene = await startScene({ logger: pino({ level: 'silent' }), caFileOfB });
  });

  after(async () => {
    await scene?.stop();
  });

  it('show every address untrusted and its probe failing, once, though replica a and the /probe job find it trusted', async () => {
    const queries = await queriesFor(scene.prometheus, () => 'All');
    const at = Date.now();
    for (const panel of ['TLS checks [B]', 'TLS probe success [A]']) {
      const rows = await query(scene.prometheus, panelQuery(queries, 'gitaly-tls-certificates', panel), at);
      expect(rows.map((r) => r.labels.address).sort(), panel).to.deep.equal([...scene.tlsNodes].sort());
      expect(rows.map((r) => r.value), panel).to.deep.equal(scene.tlsNodes.map(() => 0));
    }
    // What replica a (of the exporter job) and the /probe job report on their own: trusted.
    const trusted = await query(scene.prometheus, 'count by (job) (gitaly_tls_cert_trusted == 1)', at);
    const n = scene.tlsNodes.length;
    expect(Object.fromEntries(trusted.map((r) => [r.labels.job, r.value]))).to.deep.equal({ [EXPORTER_JOB]: n, [PROBE_JOB]: n });
  });
});

describe('dashboards on a real Prometheus: the phase-change annotation', function () {
  this.timeout(scaled(120_000));
  let page: LoopbackHttpServer;
  let prometheus: RunningPrometheus;
  // A stand-in for the exporter's page: only the series the annotation and the variables read.
  let phases: Record<string, string> = { 'gitaly-1': 'dual_listen' };
  const text = () =>
    [
      '# TYPE gitaly_tls_exporter_build_info gauge',
      'gitaly_tls_exporter_build_info{version="test",nodejs_version="test"} 1',
      '# TYPE gitaly_tls_migration_phase gauge',
      ...Object.entries(phases).flatMap(([node, current]) =>
        PHASES.map((phase) => `gitaly_tls_migration_phase{node="${node}",role="gitaly",phase="${phase}"} ${phase === current ? 1 : 0}`),
      ),
      '',
    ].join('\n');
  const annotations = async () => {
    const queries = await queriesFor(prometheus, () => 'All');
    const rows = await query(prometheus, panelQuery(queries, 'gitaly-tls-migration', 'annotation Phase changes'), Date.now());
    return rows.map((r) => `${r.labels.node} ${r.labels.phase}`).sort();
  };

  before(async () => {
    page = await listenLoopback((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(text());
    });
    prometheus = await startPrometheus({ scrapeInterval: '1s', jobs: [{ job: EXPORTER_JOB, targets: [new URL(page.url).host] }] });
  });

  after(async () => {
    await prometheus?.stop();
    await page?.close();
  });

  it('marks a node entering a new phase, not a node seen for the first time', async () => {
    await waitFor(
      async () => ((await query(prometheus, 'count_over_time(gitaly_tls_migration_phase{phase="dual_listen"}[1m])', Date.now()))[0]?.value ?? 0) >= 3,
      { timeoutMs: 30_000, intervalMs: 500, what: 'three scrapes of gitaly-1 in dual_listen' },
    );
    expect(await annotations()).to.deep.equal([]);
    phases = { 'gitaly-1': 'tls_only_traffic', 'gitaly-2': 'plaintext_only' };
    const marked = await waitFor(
      async () => {
        const now = await annotations();
        return now.length > 0 ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'the phase-change annotation' },
    );
    expect(marked).to.deep.equal(['gitaly-1 tls_only_traffic']);
  });
});
