import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { renderRules } from '../../src/rules/build.ts';
import { rulesConfigFromArgs } from '../../src/rules/command.ts';
import { DEFAULT_RULES_CONFIG } from '../../src/rules/config.ts';
import { runbookAnchor } from '../../src/rules/context.ts';
import { realPart } from '../helpers/real-parts.ts';
import { CONTRACT_METRICS, EXTERNAL_METRICS, REPO_ROOT, RULES_FILE, metricNamesIn, readRules, recordingRuleNames, type RuleFile } from '../helpers/dashboard-queries.ts';

const RULES_DIR = join(RULES_FILE, '..');
const TEST_FILES = ['gitaly-tls.rules.test.yml', 'gitaly-tls.rules.boundaries.test.yml', 'gitaly-tls.rules.pages.test.yml'];
const RUNBOOK = join(REPO_ROOT, 'docs', 'runbook.md');

const REQUIRED_ALERTS = [
  'GitalyTLSCertificateExpiry',
  'GitalyTLSCertificateFileExpiry',
  'GitalyTLSProbeFailing',
  'GitalyTLSHostnameMismatch',
  'GitalyTLSCertificateUntrusted',
  'GitalyTLSNoALPNh2',
  'GitalyTLSGRPCHealthFailing',
  'GitalyTLSRestartNeeded',
  'GitalyTLSPlaintextStillUsed',
  'GitalyTLSReadyToRemoveListenAddr',
  'GitalyTLSMigrationRegressed',
  'GitalyTLSListenAddrReopened',
  'GitalyTLSCounterNotCountingExporter',
  'GitalyTLSUndeclaredInstance',
  'GitalyTLSExporterDown',
  'GitalyTLSExporterCollectionStuck',
  'GitalyTLSExporterConfigReloadFailed',
  'GitalyTLSExporterSourceDown',
];
/** Alerts about the exporter or the fleet as a whole: their series carry no node label. */
const WITHOUT_NODE = new Set([
  'GitalyTLSExporterDown',
  'GitalyTLSExporterCollectionStuck',
  'GitalyTLSExporterConfigReloadFailed',
  'GitalyTLSUndeclaredInstance',
]);
/** One alert per certificate, however many nodes serve it: the text names the serial and lists the nodes. */
const PER_CERTIFICATE = new Set(['GitalyTLSCertificateExpiry']);

/** Level-2 headings of docs/runbook.md by anchor, with the level-3 headings under each. */
function runbookSections(): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of readFileSync(RUNBOOK, 'utf8').split('\n')) {
    const h2 = /^## (.+)$/.exec(line);
    const h3 = /^### (.+)$/.exec(line);
    if (h2) sections.set(runbookAnchor(h2[1]!.trim()), (current = []));
    else if (h3) current?.push(h3[1]!.trim());
  }
  return sections;
}

interface PromtoolResult {
  code: number;
  output: string;
}

async function promtool(args: string[], cwd: string, program: 'promtool' | 'vmalert' = 'promtool'): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(realPart(program), args, { cwd, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

function expectSuccess(result: PromtoolResult, what: string): void {
  expect(result.code, `${what} failed:\n${result.output}`).to.equal(0);
}

interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[] | null;
}
interface TestFile {
  tests: Array<{ alert_rule_test?: AlertTest[] }>;
}

function alertTests(): AlertTest[] {
  return TEST_FILES.flatMap((name) => (parse(readFileSync(join(RULES_DIR, name), 'utf8')) as TestFile).tests)
    .flatMap((group) => group.alert_rule_test ?? []);
}

const alerts = () => readRules().groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);

describe('deploy/prometheus/rules', () => {
  it('pass promtool check rules', async () => {
    expectSuccess(await promtool(['check', 'rules', RULES_FILE], RULES_DIR), 'promtool check rules');
  });

  it('pass vmalert -dryRun (VictoriaMetrics parses every expression as MetricsQL), which refuses a broken one', async () => {
    expectSuccess(await promtool(['-dryRun', `-rule=${RULES_FILE}`], RULES_DIR, 'vmalert'), 'vmalert -dryRun');
    const dir = mkdtempSync(join(tmpdir(), 'vmalert-rules-'));
    try {
      writeFileSync(join(dir, 'broken.yml'), 'groups:\n- name: x\n  rules:\n  - record: a:b\n    expr: sum(rate(foo[5m]) by\n');
      const broken = await promtool(['-dryRun', '-rule=broken.yml'], dir, 'vmalert');
      expect(broken.code, broken.output).to.not.equal(0);
      expect(broken.output).to.include('bad prometheus expr');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pass their promtool unit tests', async () => {
    expectSuccess(await promtool(['test', 'rules', ...TEST_FILES], RULES_DIR), 'promtool test rules');
  });

  it('define every alert the runbook expects, each with a severity and a summary and description that name the node', () => {
    const byName = new Map(alerts().map((rule) => [rule.alert!, rule]));
    expect([...byName.keys()]).to.include.members(REQUIRED_ALERTS);
    for (const [name, rule] of byName) {
      expect(rule.labels?.severity, name).to.be.oneOf(['critical', 'warning', 'info']);
      expect(rule.annotations?.summary, `${name} summary`).to.be.a('string').and.not.empty;
      expect(rule.annotations?.description, `${name} description`).to.be.a('string').and.not.empty;
      if (PER_CERTIFICATE.has(name)) {
        expect(rule.annotations?.summary, `${name} summary`).to.contain('$labels.serial');
        expect(rule.annotations?.description, `${name} description`).to.contain('$s.Labels.node');
      } else if (!WITHOUT_NODE.has(name)) {
        expect(rule.annotations?.summary, `${name} summary`).to.contain('$labels.node');
        expect(rule.annotations?.description, `${name} description`).to.contain('$labels.node');
      }
    }
  });

  it('are the output of src/rules with its defaults (scripts/gitaly-tls-rules.ts writes them)', () => {
    expect(readFileSync(RULES_FILE, 'utf8'), 'run: npx tsx scripts/gitaly-tls-rules.ts').to.equal(renderRules());
  });

  it('select the exporter through one configurable selector, keep the environment labels, and take thresholds from settings', async () => {
    const config = rulesConfigFromArgs([
      '--no-links',
      '--selector',
      'job="gitaly-tls", env="prod"',
      '--cluster-label',
      'region,env',
      '--set=certWarningDays=21',
      '--set',
      'certCriticalDays=3',
    ]);
    const text = renderRules(config);
    expect(text).to.not.contain(DEFAULT_RULES_CONFIG.exporterSelector);
    expect(text).to.contain('up{job="gitaly-tls", env="prod"}').and.contain('< 21 * 86400').and.contain('< 3 * 86400').and.contain('[3d]');
    // Every aggregation and join keeps both environment labels, and none names the default cluster.
    const rules = (parse(text) as RuleFile).groups.flatMap((g) => g.rules);
    for (const rule of rules) {
      for (const clause of rule.expr.match(/\b(by|on) \([^)]*\)/g) ?? []) expect(clause, `${rule.alert ?? rule.record}`).to.match(/^(by|on) \(region, env\b/);
      expect(rule.expr, `${rule.alert ?? rule.record}`).to.not.match(/\bcluster\b/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-rules-'));
    try {
      writeFileSync(join(dir, 'custom.rules.yml'), text);
      expectSuccess(await promtool(['check', 'rules', 'custom.rules.yml'], dir), 'promtool check rules on custom rules');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ship no link: no runbook_url or dashboard_url, and no placeholder address in the rules or the PrometheusRule', () => {
    for (const rule of alerts()) {
      expect(rule.annotations, rule.alert).to.not.have.any.keys('runbook_url', 'dashboard_url');
    }
    for (const file of [RULES_FILE, join(REPO_ROOT, 'deploy', 'kubernetes', 'prometheusrule.yaml')]) {
      const urls = readFileSync(file, 'utf8').match(/https?:\/\/[^\s"'`]+/g) ?? [];
      for (const url of urls) expect(url, file).to.not.match(/^https?:\/\/([^/]*\.)?(example\.(com|org|net)|localhost|127\.0\.0\.1)([:/]|$)/);
    }
  });

  it('select the exporter job the compose Prometheus scrapes, and not its /probe job', () => {
    const prometheus = parse(readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string }> };
    const job = /^job="([^"]+)"$/.exec(DEFAULT_RULES_CONFIG.exporterSelector)?.[1];
    expect(prometheus.scrape_configs.map((c) => c.job_name)).to.include(job);
    expect(job).to.not.match(/probe/);
  });

  it('name every alert GitalyTLS* and, generated with links, give each its runbook section (meaning, confirm, fix, silence) and its dashboard', () => {
    const sections = runbookSections();
    const runbook = 'https://wiki.corp.test/gitaly-tls/runbook';
    const linked = renderRules(rulesConfigFromArgs(['--runbook-url', runbook, '--grafana-url', 'https://grafana.corp.test/']));
    for (const rule of (parse(linked) as RuleFile).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined)) {
      const name = rule.alert!;
      expect(name).to.match(/^GitalyTLS[A-Z]/);
      expect(rule.annotations?.runbook_url, name).to.equal(`${runbook}#${runbookAnchor(name)}`);
      const subsections = sections.get(runbookAnchor(name));
      expect(subsections, `docs/runbook.md has no section "## ${name}"`).to.not.equal(undefined);
      expect(subsections, `docs/runbook.md ## ${name}`).to.deep.equal(['Meaning', 'How to confirm', 'How to fix', 'How to silence safely']);
      expect(rule.annotations?.dashboard_url, name).to.match(/^https:\/\/grafana\.corp\.test\/d\/gitaly-tls-(migration|certificates)(\{\{|$)/);
    }
    // No section for an alert that does not exist.
    const names = new Set(alerts().map((rule) => runbookAnchor(rule.alert!)));
    for (const anchor of sections.keys()) expect(names.has(anchor), `docs/runbook.md section ${anchor} has no alert`).to.be.true;
  });

  it('tell the operator to restart Gitaly when a renewed certificate is not loaded', () => {
    const rule = alerts().find((r) => r.alert === 'GitalyTLSRestartNeeded');
    expect(rule?.annotations?.description).to.contain('gitlab-ctl restart gitaly');
  });

  it('have a firing and a not-firing unit test for every alert', () => {
    const tests = alertTests();
    for (const rule of alerts()) {
      const mine = tests.filter((t) => t.alertname === rule.alert);
      expect(mine.some((t) => (t.exp_alerts ?? []).length > 0), `${rule.alert}: no FIRING test`).to.be.true;
      expect(mine.some((t) => (t.exp_alerts ?? []).length === 0), `${rule.alert}: no NOT-FIRING test`).to.be.true;
    }
  });

  it('have unit tests that fail for every alert that can never fire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-rules-'));
    try {
      // The main test file has a firing case for every alert; promtool reports every failing case.
      copyFileSync(join(RULES_DIR, TEST_FILES[0]!), join(dir, TEST_FILES[0]!));
      const rules = readRules();
      for (const rule of rules.groups.flatMap((group) => group.rules)) if (rule.alert) rule.expr = 'vector(1) == 0';
      writeFileSync(join(dir, 'gitaly-tls.rules.yml'), stringify(rules));
      const result = await promtool(['test', 'rules', TEST_FILES[0]!], dir);
      expect(result.code, 'promtool test rules passes with every alert disabled').to.not.equal(0);
      for (const rule of alerts()) expect(result.output, `no failing case for ${rule.alert}`).to.contain(`alertname: ${rule.alert},`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leave unix sockets out of the TLS share and use only contract, Gitaly or recorded metrics', () => {
    const allowed = new Set([...CONTRACT_METRICS, ...EXTERNAL_METRICS, ...recordingRuleNames()]);
    for (const rule of readRules().groups.flatMap((group) => group.rules)) {
      const name = rule.alert ?? rule.record;
      expect(rule.expr, `${name}`).to.not.contain('unix');
      for (const metric of metricNamesIn(rule.expr)) expect(allowed.has(metric), `${name} uses unknown metric ${metric}`).to.be.true;
    }
  });

  it('record the TLS share of new connections, expiry in seconds and the phase ordinal', () => {
    expect(recordingRuleNames()).to.include.members([
      'instance:gitaly_connections_tls_share:ratio_rate5m',
      'gitaly:connections_tls_share:ratio_rate5m',
      'node_position_serial:gitaly_tls_cert_not_after_timestamp_seconds:min',
      'node_position_serial:gitaly_tls_cert_expiry_seconds',
      'node_position:gitaly_tls_cert_expiry_seconds:min',
      'node:gitaly_tls_cert_file_expiry_seconds:min',
      'node:gitaly_tls_migration_phase:ordinal',
    ]);
  });
});
