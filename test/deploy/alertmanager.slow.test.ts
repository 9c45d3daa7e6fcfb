// The Alertmanager configuration, checked by Alertmanager's own tool (Debian prometheus-alertmanager)
// and against the alert rules it routes and inhibits.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { parse } from 'yaml';
import { REPO_ROOT, readRules } from '../helpers/dashboard-queries.ts';

const AMTOOL = process.env.AMTOOL_BIN ?? '/usr/bin/amtool';
const CONFIG = join(REPO_ROOT, 'deploy', 'alertmanager', 'alertmanager.yml');

async function amtool(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(AMTOOL, args, { timeout: 30_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`amtool not found at ${AMTOOL}: apt-get install -y prometheus-alertmanager`);
    throw new Error(`amtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`);
  }
}

interface InhibitRule {
  source_matchers: string[];
  target_matchers: string[];
  equal?: string[];
}

const alertRules = () =>
  readRules()
    .groups.flatMap((g) => g.rules)
    .filter((r) => r.alert !== undefined);

/** Matchers of the form name="value" or name=~"regex", as the config uses them. */
function matches(matcher: string, labels: Record<string, string>): boolean {
  const m = /^(\w+)(=~|=)"(.*)"$/.exec(matcher);
  if (!m) throw new Error(`unsupported matcher ${matcher}`);
  const value = labels[m[1]!] ?? '';
  return m[2] === '=' ? value === m[3] : new RegExp(`^(?:${m[3]})$`).test(value);
}

/** Whether Alertmanager's inhibit rules (as configured) mute target while source fires. */
function mutes(source: Record<string, string>, target: Record<string, string>): boolean {
  const inhibit = (parse(readFileSync(CONFIG, 'utf8')) as { inhibit_rules: InhibitRule[] }).inhibit_rules;
  return inhibit.some(
    (r) =>
      r.source_matchers.every((m) => matches(m, source)) &&
      r.target_matchers.every((m) => matches(m, target)) &&
      (r.equal ?? []).every((l) => (source[l] ?? '') === (target[l] ?? '')),
  );
}

describe('deploy/alertmanager', () => {
  it('passes amtool check-config, inhibit rules included', async () => {
    const out = await amtool(['check-config', CONFIG]);
    expect(out).to.contain('SUCCESS');
    const inhibit = (parse(readFileSync(CONFIG, 'utf8')) as { inhibit_rules: InhibitRule[] }).inhibit_rules;
    expect(out).to.contain(`${inhibit.length} inhibit rules`);
  });

  it('routes critical alerts to on-call, info to the migration channel and the rest to the team (amtool config routes test)', async () => {
    const route = async (labels: string[]) => (await amtool(['config', 'routes', 'test', `--config.file=${CONFIG}`, ...labels])).trim().split('\n')[0];
    expect(await route(['alertname=GitalyTLSCertificateExpiry', 'severity=critical'])).to.equal('gitaly-oncall');
    expect(await route(['alertname=GitalyTLSReadyToRemoveListenAddr', 'severity=info'])).to.equal('gitaly-migration');
    expect(await route(['alertname=GitalyTLSNoALPNh2', 'severity=warning'])).to.equal('gitaly-team');
  });

  it('inhibits the warning of a certificate by its critical, and nothing across certificates', () => {    const cert = { alertname: 'GitalyTLSCertificateExpiry', node: 'gitaly-1', position: 'leaf', serial: '0a' };
    expect(mutes({ ...cert, severity: 'critical' }, { ...cert, severity: 'warning' })).to.equal(true);
    expect(mutes({ ...cert, severity: 'critical' }, { ...cert, serial: '0b', severity: 'warning' })).to.equal(false);
    expect(mutes({ ...cert, severity: 'warning' }, { ...cert, severity: 'critical' })).to.equal(false);
    const shared = { alertname: 'GitalyTLSCertificateExpiry', position: 'intermediate', serial: '1a' };
    expect(mutes({ ...shared, severity: 'critical' }, { ...shared, severity: 'warning' })).to.equal(true);
    // A node's critical of one kind never mutes another alert's warning.
    expect(mutes({ alertname: 'GitalyTLSProbeFailing', node: 'gitaly-1', severity: 'critical' }, { alertname: 'GitalyTLSNoALPNh2', node: 'gitaly-1', severity: 'warning' })).to.equal(false);
  });

  it('inhibits the ALPN warning of a listener by its critical (it carries traffic), and nothing across addresses or clusters', () => {
    const alpn = { alertname: 'GitalyTLSNoALPNh2', node: 'gitaly-1', address: 'gitaly-1:9999' };
    expect(mutes({ ...alpn, severity: 'critical' }, { ...alpn, severity: 'warning' })).to.equal(true);
    expect(mutes({ ...alpn, severity: 'critical' }, { ...alpn, address: '10.0.0.1:9999', severity: 'warning' })).to.equal(false);
    expect(mutes({ ...alpn, cluster: 'prod', severity: 'critical' }, { ...alpn, cluster: 'staging', severity: 'warning' })).to.equal(false);
    const cert = { alertname: 'GitalyTLSCertificateExpiry', position: 'intermediate', serial: '1a' };
    expect(mutes({ ...cert, cluster: 'prod', severity: 'critical' }, { ...cert, cluster: 'staging', severity: 'warning' })).to.equal(false);
  });

  it('lets a failing handshake mute the source alerts of its node, in its own cluster only', () => {
    const probe = { alertname: 'GitalyTLSProbeFailing', node: 'gitaly-1', address: 'gitaly-1:9999', severity: 'critical' };
    const source = { alertname: 'GitalyTLSExporterSourceDown', node: 'gitaly-1', source: 'gitaly_metrics', severity: 'warning' };
    expect(mutes({ ...probe, cluster: 'prod' }, { ...source, cluster: 'prod' })).to.equal(true);
    expect(mutes({ ...probe, cluster: 'prod' }, { ...source, cluster: 'staging' })).to.equal(false);
    expect(mutes({ ...probe, cluster: 'prod' }, { ...source, cluster: 'prod', node: 'gitaly-2' })).to.equal(false);
  });

  it('inhibits only with alert names and severities the rules define', () => {
    const names = new Set(alertRules().map((r) => r.alert!));
    const severities = new Set(alertRules().map((r) => r.labels?.severity ?? ''));
    const inhibit = (parse(readFileSync(CONFIG, 'utf8')) as { inhibit_rules: InhibitRule[] }).inhibit_rules;
    for (const rule of inhibit) {
      for (const matcher of [...rule.source_matchers, ...rule.target_matchers]) {
        const m = /^(\w+)(=~|=)"(.*)"$/.exec(matcher)!;
        const pool = m[1] === 'alertname' ? names : m[1] === 'severity' ? severities : undefined;
        if (!pool) continue;
        const hit = [...pool].some((v) => matches(matcher, { [m[1]!]: v }));
        expect(hit, `${matcher} matches no ${m[1]} of the rules`).to.equal(true);
        if (m[2] === '=~') for (const part of m[3]!.split('|')) expect(pool.has(part), `${matcher}: ${part}`).to.equal(true);
      }
    }
  });
});
