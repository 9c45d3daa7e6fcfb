// gitaly-tls-exporter rules: the links an operator gives end up in every alert, and a missing or
// malformed setting is refused with a message naming the flag, never a stack trace or a placeholder.
import { expect } from 'chai';
import { parse } from 'yaml';
import { rulesCommand } from '../../src/rules/command.ts';
import type { RuleFile } from '../../src/rules/types.ts';

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = rulesCommand(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const alertsOf = (yaml: string) => (parse(yaml) as RuleFile).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

describe('gitaly-tls-exporter rules', () => {
  it('refuses to run without --runbook-url, naming the flag and the way to go without links', () => {
    const r = run([]);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr)
      .to.match(/^gitaly-tls-exporter rules: --runbook-url is required/)
      .and.contain('--no-links');
    expect(r.stderr).to.not.match(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it('links every alert to its runbook section and its dashboard, from the addresses given', () => {
    const r = run(['--runbook-url', 'https://wiki.corp.test/gitaly/runbook.md', '--grafana-url', 'https://grafana.corp.test/']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    const alerts = alertsOf(r.stdout);
    expect(alerts).to.not.be.empty;
    for (const alert of alerts) {
      expect(alert.annotations?.runbook_url).to.equal(`https://wiki.corp.test/gitaly/runbook.md#${alert.alert!.toLowerCase()}`);
      expect(alert.annotations?.dashboard_url).to.match(
        /^https:\/\/grafana\.corp\.test\/d\/gitaly-tls-(migration|certificates)\{\{ with \$labels\.node \}\}\?var-node=\{\{ \. \}\}\{\{ end \}\}$/,
      );
    }
  });

  it('without --grafana-url leaves dashboard_url out and says so', () => {
    const r = run(['--runbook-url', 'https://wiki.corp.test/runbook']);
    expect(r.code).to.equal(0);
    expect(r.stderr).to.contain('no --grafana-url: the alerts carry no dashboard_url');
    for (const alert of alertsOf(r.stdout)) {
      expect(alert.annotations).to.not.have.property('dashboard_url');
      expect(alert.annotations?.runbook_url).to.match(/^https:\/\/wiki\.corp\.test\/runbook#gitalytls/);
    }
  });

  it('--no-links prints the rules without any link (the shipped file)', () => {
    const r = run(['--no-links']);
    expect(r.code).to.equal(0);
    for (const alert of alertsOf(r.stdout)) expect(alert.annotations).to.not.have.any.keys('runbook_url', 'dashboard_url');
  });

  it('takes the selector and the environment labels', () => {
    const r = run(['--no-links', '--selector', '{job="gitaly-tls", env="prod"}', '--cluster-label', 'env']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('up{job="gitaly-tls", env="prod"}').and.contain('min by (env, node, position, serial)');
    const none = run(['--no-links', '--cluster-label', '']);
    expect(none.stdout).to.contain('min by (node, position, serial)').and.not.contain('cluster');
  });

  const refusals: Array<[string, string[], RegExp]> = [
    [
      'a runbook URL that is not a URL',
      ['--runbook-url', 'wiki/runbook'],
      /--runbook-url must be an absolute http:\/\/ or https:\/\/ URL, not "wiki\/runbook"/,
    ],
    [
      'a runbook URL that is not http',
      ['--runbook-url', 'ftp://wiki.corp.test/runbook'],
      /--runbook-url must be an http:\/\/ or https:\/\/ URL/,
    ],
    ['a runbook URL with a fragment', ['--runbook-url', 'https://wiki.corp.test/runbook#top'], /--runbook-url must not have a #fragment/],
    [
      'a Grafana URL with a query',
      ['--runbook-url', 'https://w.test/r', '--grafana-url', 'https://g.test/?orgId=1'],
      /--grafana-url must not have a \?query/,
    ],
    ['links and --no-links together', ['--no-links', '--runbook-url', 'https://w.test/r'], /--no-links leaves out the links/],
    ['a selector that is not label matchers', ['--no-links', '--selector', 'job=gitaly'], /--selector is not a list of label matchers/],
    ['an empty selector', ['--no-links', '--selector', ''], /--selector needs at least one matcher/],
    [
      'a cluster label the rules group by',
      ['--no-links', '--cluster-label', 'cluster,node'],
      /--cluster-label: node is a label the rules group by themselves/,
    ],
    ['a cluster label that is no label name', ['--no-links', '--cluster-label', 'my-env'], /--cluster-label: "my-env" is not a label name/],
    ['an unknown setting', ['--no-links', '--set', 'warningDays=5'], /--set: unknown setting warningDays; known: certWarningDays/],
    [
      'days that are not whole',
      ['--no-links', '--set', 'certCriticalDays=2.5'],
      /--set certCriticalDays must be a whole number above 0, got "2.5"/,
    ],
    ['a bad duration', ['--no-links', '--set', 'readyToRemoveFor=1 hour'], /--set readyToRemoveFor: /],
    [
      'critical days not under warning days',
      ['--no-links', '--set', 'certWarningDays=5'],
      /certCriticalDays \(7\) must be smaller than certWarningDays \(5\)/,
    ],
    ['an unknown flag', ['--no-links', '--grafana'], /Unknown option '--grafana'/],
  ];
  for (const [what, argv, message] of refusals) {
    it(`refuses ${what} (exit 2, the flag named, no stack trace)`, () => {
      const r = run(argv);
      expect(r.code, r.stdout).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr)
        .to.match(/^gitaly-tls-exporter rules: /)
        .and.match(message);
      expect(r.stderr).to.not.match(/^\s+at .+:\d+:\d+\)?$/m);
    });
  }

  it('prints its usage on --help', () => {
    const r = run(['--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('gitaly-tls-exporter rules --runbook-url URL');
  });
});
