import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { stringify } from 'yaml';
import { DEFAULT_RULES_CONFIG, PHASE_ORDINALS } from '../../scripts/gitaly-tls-rules.ts';
import {
  CONTRACT_METRICS,
  EXTERNAL_METRICS,
  allPanels,
  dashboardFiles,
  dashboardQueries,
  metricNamesIn,
  readDashboard,
  recordingRuleNames,
  substituteVariables,
  variableQuery,
  type Dashboard,
} from '../helpers/dashboard-queries.ts';
import { realPart } from '../helpers/real-parts.ts';
import { REASONS } from '../../src/migration/types.ts';
import { METRICS } from '../../src/metrics/definitions.ts';

const EXPECTED = [
  { file: 'gitaly-tls-certificates.json', uid: 'gitaly-tls-certificates', title: 'Gitaly TLS certificates' },
  { file: 'gitaly-tls-migration.json', uid: 'gitaly-tls-migration', title: 'Gitaly TLS migration' },
];

interface FieldConfigPart {
  thresholds?: { steps: Array<{ value: number | null }> };
  unit?: string;
}
interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { type?: string; uid?: string } }>;
  fieldConfig?: { defaults?: FieldConfigPart; overrides?: Array<{ properties: Array<{ id: string; value: unknown }> }> };
}

const panelsOf = (dashboard: Dashboard) => allPanels(dashboard) as PanelJson[];
const exprsOf = (panel: PanelJson) => (panel.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : []));

/** The argument lists of every call to fn(...), balanced parentheses included. */
function callArguments(expr: string, fn: string): string[] {
  const out: string[] = [];
  for (const match of expr.matchAll(new RegExp(`\\b${fn}\\s*\\(`, 'g'))) {
    let depth = 1;
    let i = match.index + match[0].length;
    const start = i;
    for (; i < expr.length && depth > 0; i++) {
      if (expr[i] === '(') depth++;
      else if (expr[i] === ')') depth--;
    }
    out.push(expr.slice(start, i - 1));
  }
  return out;
}

/** Threshold values of a panel, from its defaults and its overrides. */
function thresholdValues(panel: PanelJson): number[] {
  const steps = [
    ...(panel.fieldConfig?.defaults?.thresholds?.steps ?? []),
    ...(panel.fieldConfig?.overrides ?? []).flatMap((o) => o.properties)
      .filter((p) => p.id === 'thresholds')
      .flatMap((p) => (p.value as { steps: Array<{ value: number | null }> }).steps),
  ];
  return steps.flatMap((s) => (s.value === null ? [] : [s.value]));
}

describe('dashboards', () => {
  const dashboards = dashboardFiles().map((file) => ({ name: basename(file), dashboard: readDashboard(file) }));

  it('ship the migration and certificates dashboards with stable uids and a current schema', () => {
    expect(dashboards.map((d) => d.name)).to.deep.equal(EXPECTED.map((e) => e.file));
    for (const { name, dashboard } of dashboards) {
      const expected = EXPECTED.find((e) => e.file === name)!;
      expect(dashboard.uid, name).to.equal(expected.uid);
      expect(dashboard.title, name).to.equal(expected.title);
      expect(dashboard.schemaVersion, name).to.be.at.least(39);
    }
  });

  it('let the viewer choose the Prometheus data source, the jobs, the clusters and the nodes, and set the exporter URL', () => {
    for (const { name, dashboard } of dashboards) {
      const variables = dashboard.templating.list;
      // Grafana resolves variables in this order: each one's query filters by the ones before it.
      expect(variables.map((v) => v.name), name).to.deep.equal(['datasource', 'job', 'cluster', 'node', 'exporter_url']);
      const datasource = variables.find((v) => v.name === 'datasource');
      expect(datasource?.type, `${name}: datasource variable`).to.equal('datasource');
      expect(variableQuery(datasource!), name).to.equal('prometheus');
      const byName = (n: string) => variables.find((v) => v.name === n)!;
      // All is ".*": it matches series without the label too, so a Prometheus without a cluster label still shows everything.
      for (const v of ['job', 'cluster', 'node']) expect(byName(v), `${name}: ${v} variable`).to.include({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
      expect(variableQuery(byName('job')), name).to.equal('label_values(gitaly_tls_probe_success, job)');
      expect(variableQuery(byName('cluster')), name).to.equal('label_values(gitaly_tls_exporter_build_info{job=~"$job"}, cluster)');
      expect(variableQuery(byName('node')), name).to.equal('label_values(gitaly_tls_migration_phase{job=~"$job", cluster=~"$cluster"}, node)');
      const exporterUrl = byName('exporter_url') as { type: string; query?: string; description?: string };
      expect(exporterUrl.type, name).to.equal('textbox');
      expect(exporterUrl.query, name).to.match(/^https?:\/\/[^/]+$/);
      expect(exporterUrl.description, name).to.contain('/node/NAME');
    }
  });

  it('filter every exporter series by job and cluster, and by node where it has one; Gitaly counters by cluster', () => {
    const nodeLabelled = new Set(Object.entries(METRICS).filter(([, def]) => (def.labels as readonly string[]).includes('node')).map(([metric]) => metric));
    let selectors = 0;
    for (const { name, dashboard } of dashboards) {
      const exprs = [...panelsOf(dashboard).flatMap(exprsOf), ...(dashboard.annotations?.list ?? []).flatMap((a) => (a.expr ? [a.expr] : []))];
      for (const expr of exprs) {
        for (const metric of metricNamesIn(expr)) {
          for (const match of expr.matchAll(new RegExp(`\\b${metric}\\b(\\{[^}]*\\})?`, 'g'))) {
            selectors++;
            const matchers = match[1] ?? '';
            const where = `${name}: ${match[0]} in ${expr}`;
            expect(matchers, where).to.contain('cluster=~"$cluster"');
            if (EXTERNAL_METRICS.includes(metric) && metric !== 'up') continue;
            expect(matchers, where).to.contain('job=~"$job"');
            if (nodeLabelled.has(metric)) expect(matchers, where).to.contain('node=~"$node"');
          }
        }
      }
    }
    expect(selectors).to.be.greaterThan(50);
  });

  it('link each node row to the exporter\'s /node page and to the other dashboard, keeping time range and variables', () => {
    const other = { 'gitaly-tls-migration': 'gitaly-tls-certificates', 'gitaly-tls-certificates': 'gitaly-tls-migration' } as Record<string, string>;
    let linked = 0;
    for (const { name, dashboard } of dashboards) {
      for (const panel of panelsOf(dashboard)) {
        const byNode = exprsOf(panel).some((e) => e.includes('node=~"$node"'));
        if (!byNode || !['table', 'state-timeline'].includes(panel.type ?? '')) continue;
        const field = panel.type === 'table' ? '${__data.fields.node' : '${__field.labels.node';
        const links =
          panel.type === 'table'
            ? (panel.fieldConfig?.overrides ?? []).find((o) => (o as { matcher?: { options?: string } }).matcher?.options === 'node')?.properties.find((p) => p.id === 'links')?.value
            : (panel.fieldConfig?.defaults as { links?: unknown } | undefined)?.links;
        const urls = ((links ?? []) as Array<{ url: string }>).map((l) => l.url);
        const where = `${name} / ${panel.title}`;
        expect(urls, where).to.have.length(2);
        expect(urls[0], where).to.equal(`\${exporter_url}/node/${field}:percentencode}`);
        expect(urls[1], where).to.equal(
          `/d/${other[dashboard.uid]}/${other[dashboard.uid]}?\${__url_time_range}&\${job:queryparam}&\${cluster:queryparam}&\${exporter_url:queryparam}&var-node=${field}:percentencode}`,
        );
        linked++;
      }
      const dashboardLinks = dashboard.links as Array<{ type: string; tags: string[]; includeVars: boolean; keepTime: boolean }>;
      expect(dashboardLinks, name).to.deep.include.members([{ ...dashboardLinks[0]!, type: 'dashboards', tags: ['gitaly-tls'], includeVars: true, keepTime: true }]);
    }
    expect(linked).to.be.at.least(8);
  });

  it('mark each phase change with an annotation from the exporter\'s phase metric', () => {
    for (const { name, dashboard } of dashboards) {
      const annotation = (dashboard.annotations?.list ?? []).find((a) => a.name === 'Phase changes') as
        | { datasource?: unknown; expr?: string; enable?: boolean; textFormat?: string }
        | undefined;
      expect(annotation, name).to.include({ enable: true, textFormat: '{{node}} is now {{phase}}' });
      expect(annotation!.datasource, name).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      expect(metricNamesIn(annotation!.expr!), name).to.deep.equal(['gitaly_tls_migration_phase']);
    }
  });

  it('query through ${datasource} in every panel and target, with unique panel ids', () => {
    for (const { name, dashboard } of dashboards) {
      const panels = panelsOf(dashboard);
      expect(panels.length, name).to.be.greaterThan(5);
      const ids = (dashboard.panels as PanelJson[]).map((p) => p.id);
      expect(new Set(ids).size, `${name}: duplicate panel ids`).to.equal(ids.length);
      for (const panel of panels) {
        const where = `${name} / ${panel.title}`;
        expect(panel.title, where).to.be.a('string').and.not.empty;
        expect(panel.description, where).to.be.a('string').and.not.empty;
        expect(panel.datasource, where).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
        expect(panel.targets ?? [], where).to.not.be.empty;
        for (const target of panel.targets ?? []) expect(target.datasource, where).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      }
    }
  });

  it('use $__rate_interval as the range of every rate, irate and increase', () => {
    let calls = 0;
    for (const { name, dashboard } of dashboards) {
      for (const panel of panelsOf(dashboard)) {
        for (const expr of exprsOf(panel)) {
          for (const fn of ['rate', 'irate', 'increase']) {
            for (const args of callArguments(expr, fn)) {
              calls++;
              expect([...args.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]), `${name} / ${panel.title}: ${fn}(${args})`).to.deep.equal(['$__rate_interval']);
            }
          }
        }
      }
    }
    expect(calls).to.be.greaterThan(0);
  });

  it('reference only metrics of the exporter contract, Gitaly and the recording rules', () => {
    const allowed = new Set([...CONTRACT_METRICS, ...EXTERNAL_METRICS, ...recordingRuleNames()]);
    const queries = dashboardQueries();
    for (const query of queries) {
      const names = metricNamesIn(query.expr);
      expect(names, `${query.dashboard} / ${query.panel}`).to.not.be.empty;
      for (const metric of names) expect(allowed.has(metric), `${query.dashboard} / ${query.panel} uses unknown metric ${metric}`).to.be.true;
    }
  });

  it('show the TLS share from Gitaly and Praefect counters without unix sockets', () => {
    const migration = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-migration')!.dashboard;
    const shares = panelsOf(migration).filter((p) => /TLS share/.test(p.title ?? ''));
    expect(shares.map((p) => p.title)).to.have.length(2);
    for (const panel of shares) {
      const expr = exprsOf(panel).join('\n');
      expect(expr, panel.title).to.contain('gitaly_connections_total').and.contain('gitaly_praefect_connections_total');
      expect(expr, panel.title).to.not.contain('unix');
      expect(panel.fieldConfig?.defaults?.unit, panel.title).to.equal('percentunit');
    }
  });

  it('show certificate expiry as the recording rules compute it, without them, coloured at the alert thresholds', () => {
    const certificates = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-certificates')!.dashboard;
    const expiry = panelsOf(certificates).filter((p) => exprsOf(p).some((e) => /not_after_timestamp_seconds\{[^}]*\}\) - time\(\)$/.test(e)));
    expect(expiry.map((p) => p.title)).to.have.members(['Soonest certificate expiry', 'Expiry of served certificates', 'Expiry over time', 'Certificate file on disk']);
    const day = 86400;
    for (const panel of expiry) {
      expect(thresholdValues(panel), panel.title).to.include.members([DEFAULT_RULES_CONFIG.certCriticalDays * day, DEFAULT_RULES_CONFIG.certWarningDays * day]);
    }
    // The rules may not be loaded in the Prometheus a dashboard reads, and they drop the job label.
    const recorded = recordingRuleNames();
    for (const { name, dashboard } of dashboards)
      for (const panel of panelsOf(dashboard)) for (const expr of exprsOf(panel)) for (const rule of recorded) expect(expr, `${name} / ${panel.title}`).to.not.contain(rule);
  });

  it('open the certificates dashboard on the fleet: soonest expiry, certificates expiring within the warning days, expired', () => {
    const certificates = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-certificates')!.dashboard;
    const top = (certificates.panels as Array<PanelJson & { gridPos: { y: number } }>).filter((p) => p.gridPos.y === 0);
    expect(top.map((p) => [p.type, p.title])).to.deep.equal([
      ['stat', 'Soonest certificate expiry'],
      ['stat', `Certificates expiring within ${DEFAULT_RULES_CONFIG.certWarningDays} days`],
      ['stat', 'Certificates expired'],
    ]);
    expect(exprsOf(top[1]!)[0]).to.contain(`- time() < ${DEFAULT_RULES_CONFIG.certWarningDays * 86400} > 0`);
    expect(exprsOf(top[2]!)[0]).to.contain('- time() <= 0');
  });

  it('offer a data-source picker on UI import (__inputs) and still work when provisioned from a file', () => {
    for (const { name, dashboard } of dashboards) {
      const inputs = dashboard.__inputs as Array<Record<string, string>>;
      expect(inputs, `${name}: __inputs`).to.have.length(1);
      expect(inputs[0], name).to.include({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' });
      const requires = dashboard.__requires as Array<{ type: string; id: string }>;
      expect(requires.filter((r) => r.type === 'datasource').map((r) => r.id), name).to.deep.equal(['prometheus']);
      const panelTypes = new Set((allPanels(dashboard) as PanelJson[]).map((p) => p.type));
      for (const type of panelTypes) expect(requires.some((r) => r.type === 'panel' && r.id === type), `${name}: __requires lacks panel ${type}`).to.be.true;
      // The import dialog replaces ${DS_PROMETHEUS}; it is used only as the datasource variable's
      // default, so a provisioned file (no replacement) falls back to the default data source.
      const text = JSON.stringify(dashboard);
      const datasource = dashboard.templating.list.find((v) => v.name === 'datasource') as { current?: { value?: string } };
      expect(datasource.current?.value, name).to.equal('${DS_PROMETHEUS}');
      expect(text.split('${DS_PROMETHEUS}').length - 1, `${name}: \${DS_PROMETHEUS} outside the datasource variable`).to.equal(2);
    }
  });

  it('draw the phase history from the phase metric, numbered as the rules number it', () => {
    const migration = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-migration')!.dashboard;
    const history = panelsOf(migration).find((p) => p.title === 'Phase history')!;
    expect(history.type).to.equal('state-timeline');
    const [expr] = exprsOf(history);
    const terms = expr!.split('\nor\n').map((term) => /^(\d+) \* max by \(cluster, node\) \(gitaly_tls_migration_phase\{[^}]*phase="(\w+)"\} == 1\)$/.exec(term));
    expect(Object.fromEntries(terms.map((t) => [t?.[2], Number(t?.[1])]))).to.deep.equal(PHASE_ORDINALS);
    const mappings = (history.fieldConfig?.defaults as { mappings: Array<{ options: Record<string, { text: string }> }> }).mappings[0]!.options;
    expect(Object.fromEntries(Object.entries(mappings).map(([n, m]) => [m.text, Number(n)]))).to.deep.equal(PHASE_ORDINALS);
  });

  it('explain every blocking reason of the verdict in the Blocking reasons table, and show the gRPC health check', () => {
    const migration = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-migration')!.dashboard;
    const blocking = panelsOf(migration).find((p) => p.title === 'Blocking reasons')!;
    const byReason = blocking.fieldConfig?.overrides?.find((o) => (o as { matcher?: { options?: string } }).matcher?.options === 'reason');
    const mappings = (byReason?.properties.find((p) => p.id === 'mappings')?.value as Array<{ options: Record<string, { text: string }> }>)[0]!.options;
    expect(Object.keys(mappings)).to.have.members([...REASONS]);
    for (const [reason, { text }] of Object.entries(mappings)) expect(text, reason).to.match(new RegExp(`^${reason}: .+`));
    const certificates = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-certificates')!.dashboard;
    const checks = panelsOf(certificates).find((p) => p.title === 'TLS checks')!;
    expect(exprsOf(checks)).to.include('min by (cluster, node, address) (gitaly_tls_grpc_health_ok{job=~"$job", cluster=~"$cluster", node=~"$node"})');
  });

  it('lay panels out without overlaps on the 24-column grid', () => {
    for (const { name, dashboard } of dashboards) {
      const boxes = (dashboard.panels as Array<PanelJson & { gridPos: { x: number; y: number; w: number; h: number } }>).map((p) => ({ title: p.title, ...p.gridPos }));
      for (const [i, a] of boxes.entries()) {
        expect(a.x + a.w, `${name} / ${a.title}`).to.be.at.most(24);
        for (const b of boxes.slice(i + 1)) {
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap, `${name}: ${a.title} overlaps ${b.title}`).to.equal(false);
        }
      }
    }
  });

  it('open on a range at least as long as the default soak window (7 days)', () => {
    for (const { name, dashboard } of dashboards) expect((dashboard.time as { from: string }).from, name).to.equal('now-7d');
  });

  it('show per-node facts as table rows, not one stat tile per node, and take the worst of duplicate checks (min), never max', () => {
    for (const { name, dashboard } of dashboards) {
      for (const panel of panelsOf(dashboard)) {
        const legends = (panel.targets ?? []).map((t) => (t as { legendFormat?: string }).legendFormat ?? '');
        if (panel.type === 'stat' || panel.type === 'bargauge') expect(legends.join(' '), `${name} / ${panel.title}`).to.not.contain('{{node}}');
        for (const expr of exprsOf(panel)) expect(expr, `${name} / ${panel.title}`).to.not.contain('job="gitaly-tls-exporter"');
      }
    }
    const certificates = dashboards.find((d) => d.dashboard.uid === 'gitaly-tls-certificates')!.dashboard;
    const checks = panelsOf(certificates).filter((p) => p.title === 'TLS checks' || p.title === 'TLS probe success');
    // A check that any scrape (replica, /probe job) finds failing shows failing; the negotiated version (G) is a fact, not a check.
    for (const panel of checks)
      for (const [i, expr] of exprsOf(panel).entries())
        if (!expr.includes('gitaly_tls_version_info')) expect(expr, `${panel.title} ${i}`).to.match(/^min by \(cluster, node, address\) \(gitaly_tls_\w+\{[^}]*\}\)$/);
  });

  it('offer every query, with Grafana variables substituted, to the integration test', () => {
    const queries = dashboardQueries();
    const targets = dashboards.reduce((n, d) => n + panelsOf(d.dashboard).reduce((m, p) => m + exprsOf(p).length, 0), 0);
    // Plus the label_values() query of the job, cluster and node variables, and the phase-change annotation.
    expect(queries).to.have.length(targets + dashboards.length * 4);
    for (const query of queries) expect(query.expr, `${query.dashboard} / ${query.panel}`).to.not.match(/\$\{?(__\w+|node|job|cluster|datasource)\b/);
    expect(substituteVariables('rate(x{node=~"$node"}[$__rate_interval]) + y[${__range}] + z{n=~"${node:regex}"}', { templating: { list: [{ name: 'node', type: 'query', includeAll: true, allValue: '.*' }] } }))
      .to.equal('rate(x{node=~".*"}[1m]) + y[1h] + z{n=~".*"}');
  });

  it('find metric names in PromQL the way the checks above rely on', () => {
    expect(metricNamesIn('sum by (node, type) (rate(foo_total{type=~"tcp|tls"}[5m])) / on (node) group_left (role) bar offset 5m'))
      .to.deep.equal(['foo_total', 'bar']);
    expect(metricNamesIn('count(x == 1) or (0 * vector(1)) and time() - y > 1e3')).to.deep.equal(['x', 'y']);
    expect(metricNamesIn('label_replace(up, "a", "$1", "b", "(.*)")')).to.deep.equal(['up']);
  });

  it('hold only PromQL that Prometheus parses (promtool check rules)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-dashboards-'));
    try {
      const queries = dashboardQueries();
      const file = join(dir, 'dashboard-queries.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard-queries', rules: queries.map((q, i) => ({ record: `dashboard_query_${i}`, expr: q.expr })) }] }));
      let output = '';
      try {
        await promisify(execFile)(realPart('promtool'), ['check', 'rules', file], { timeout: 60_000 });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        output = `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
        // Name the panels whose expression promtool reports, by index.
        const bad = [...output.matchAll(/group "dashboard-queries", rule (\d+)/g)].map((m) => queries[Number(m[1]) - 1]);
        output += `\n${bad.map((q) => `${q?.dashboard} / ${q?.panel}: ${q?.expr}`).join('\n')}`;
      }
      expect(output, 'promtool check rules on the dashboard queries').to.equal('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
