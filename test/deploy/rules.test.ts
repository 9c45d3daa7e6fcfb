import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { DEFAULT_RULES_CONFIG, configFromArgs, renderRules, runbookAnchor } from '../../scripts/gitaly-tls-rules.ts';
import { realPart } from '../helpers/real-parts.ts';
import { CONTRACT_METRICS, EXTERNAL_METRICS, REPO_ROOT, RULES_FILE, metricNamesIn, readRules, recordingRuleNames } from '../helpers/dashboard-queries.ts';

const RULES_DIR = join(RULES_FILE, '..');
const TEST_FILES = ['gitaly-tls.rules.test.yml', 'gitaly-tls.rules.boundaries.test.yml'];
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
      if (!WITHOUT_NODE.has(name)) {
        expect(rule.annotations?.summary, `${name} summary`).to.contain('$labels.node');
        expect(rule.annotations?.description, `${name} description`).to.contain('$labels.node');
      }
    }
  });

  it('are the output of scripts/gitaly-tls-rules.ts with its defaults', () => {
    expect(readFileSync(RULES_FILE, 'utf8'), 'run: npx tsx scripts/gitaly-tls-rules.ts').to.equal(renderRules());
  });

  it('select the exporter through one configurable selector, and take thresholds from settings', async () => {
    const config = configFromArgs(['--set', 'exporterSelector=job="gitaly-tls", env="prod"', '--set=certWarningDays=21', '--set', 'certCriticalDays=3']);
    const text = renderRules(config);
    expect(text).to.not.contain(DEFAULT_RULES_CONFIG.exporterSelector);
    expect(text).to.contain('up{job="gitaly-tls", env="prod"}').and.contain('< 21 * 86400').and.contain('< 3 * 86400');
    const dir = mkdtempSync(join(tmpdir(), 'gitaly-tls-rules-'));
    try {
      writeFileSync(join(dir, 'custom.rules.yml'), text);
      expectSuccess(await promtool(['check', 'rules', 'custom.rules.yml'], dir), 'promtool check rules on custom rules');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => configFromArgs(['--set', 'certWarningDays=5', '--set', 'certCriticalDays=7'])).to.throw(/smaller than certWarningDays/);
    expect(() => configFromArgs(['--set', 'warningDays=5'])).to.throw(/unknown setting warningDays/);
  });

  it('select the exporter job the compose Prometheus scrapes, and not its /probe job', () => {
    const prometheus = parse(readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string }> };
    const job = /^job="([^"]+)"$/.exec(DEFAULT_RULES_CONFIG.exporterSelector)?.[1];
    expect(prometheus.scrape_configs.map((c) => c.job_name)).to.include(job);
    expect(job).to.not.match(/probe/);
  });

  it('name every alert GitalyTLS* and give each a runbook section (meaning, confirm, fix, silence) and a dashboard link', () => {
    const sections = runbookSections();
    for (const rule of alerts()) {
      const name = rule.alert!;
      expect(name).to.match(/^GitalyTLS[A-Z]/);
      expect(rule.annotations?.runbook_url, name).to.equal(`${DEFAULT_RULES_CONFIG.runbookUrl}#${runbookAnchor(name)}`);
      const subsections = sections.get(runbookAnchor(name));
      expect(subsections, `docs/runbook.md has no section "## ${name}"`).to.not.equal(undefined);
      expect(subsections, `docs/runbook.md ## ${name}`).to.deep.equal(['Meaning', 'How to confirm', 'How to fix', 'How to silence safely']);
      expect(rule.annotations?.dashboard_url, name).to.match(/^http.*\/d\/gitaly-tls-(migration|certificates)/);
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
      'node_position_serial:gitaly_tls_cert_expiry_seconds',
      'node_position:gitaly_tls_cert_expiry_seconds:min',
      'node:gitaly_tls_cert_file_expiry_seconds:min',
      'node:gitaly_tls_migration_phase:ordinal',
    ]);
  });
});
