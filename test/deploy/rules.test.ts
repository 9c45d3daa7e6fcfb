import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse, stringify } from 'yaml';
import { realPart } from '../helpers/real-parts.ts';
import { CONTRACT_METRICS, EXTERNAL_METRICS, RULES_FILE, metricNamesIn, readRules, recordingRuleNames } from '../helpers/dashboard-queries.ts';

const RULES_DIR = join(RULES_FILE, '..');
const TEST_FILES = ['gitaly-tls.rules.test.yml', 'gitaly-tls.rules.lookback.test.yml'];

const REQUIRED_ALERTS = [
  'GitalyTLSCertificateExpiringSoon',
  'GitalyTLSCertificateExpiringCritical',
  'GitalyTLSCertificateExpired',
  'GitalyTLSProbeFailing',
  'GitalyTLSHostnameMismatch',
  'GitalyTLSCertificateUntrusted',
  'GitalyTLSNoALPNh2',
  'GitalyTLSRestartNeeded',
  'GitalyPlaintextStillUsed',
  'GitalyTLSMigrationRegressed',
  'GitalyTLSExporterDown',
  'GitalyTLSExporterSourceDown',
];
/** Alerts whose series carry no node label (the exporter itself is down). */
const WITHOUT_NODE = new Set(['GitalyTLSExporterDown']);

interface PromtoolResult {
  code: number;
  output: string;
}

async function promtool(args: string[], cwd: string): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(realPart('promtool'), args, { cwd, timeout: 60_000 });
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
        expect(rule.annotations?.summary, `${name} summary`).to.contain('{{ $labels.node }}');
        expect(rule.annotations?.description, `${name} description`).to.contain('{{ $labels.node }}');
      }
    }
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

  it('record the TLS share of new connections per instance and for the fleet, and days to expiry', () => {
    expect(recordingRuleNames()).to.include.members([
      'instance:gitaly_connections_tls_share:ratio_rate5m',
      'gitaly:connections_tls_share:ratio_rate5m',
      'node_position:gitaly_tls_cert_days_to_expiry:min',
    ]);
  });
});
