import { expect } from 'chai';
import { compileSelector, prometheusTargetsSource } from '../../src/inventory/prometheus-targets.ts';
import { freePort } from '../helpers/prometheus-server.ts';

function matches(selector: string, labels: Record<string, string>): boolean {
  const compiled = compileSelector(selector);
  if (!compiled.ok) throw new Error(compiled.message);
  return compiled.matchers.every((m) => m.test(labels[m.name] ?? ''));
}

describe('inventory: Prometheus targets', () => {
  it('evaluates the selector on target labels as PromQL does (anchored regexes, absent label = empty)', () => {
    expect(matches('job=~"gitaly|praefect"', { job: 'praefect' })).to.equal(true);
    expect(matches('job=~"gitaly"', { job: 'gitaly-canary' })).to.equal(false);
    expect(matches(`job="gitaly", env!~'dev.*'`, { job: 'gitaly', env: 'prod' })).to.equal(true);
    expect(matches(`job="gitaly", env!~'dev.*'`, { job: 'gitaly', env: 'dev-1' })).to.equal(false);
    expect(matches('zone!="b"', { job: 'gitaly' })).to.equal(true);
    expect(matches('zone=""', { job: 'gitaly' })).to.equal(true);
    expect(matches('path=`a\\b`', { path: 'a\\b' })).to.equal(true);
    expect(compileSelector('job=~"("')).to.deep.equal({
      ok: false,
      message: 'selector: "(" is not a regular expression this exporter can evaluate',
    });
  });

  it('a Prometheus that does not answer fails the source (the fleet then cannot be complete)', async () => {
    const port = await freePort();
    const source = prometheusTargetsSource(
      { url: `http://127.0.0.1:${port}`, instanceLabel: 'instance' },
      { selector: 'job="gitaly"', templates: { name: '{instance}' } },
      { timeoutMs: 2_000, maxBytes: 1 << 20 },
    );
    const result = await source.discover();
    expect(result.ok).to.equal(false);
    expect(!result.ok && result.error.code).to.equal('CONNECT');
    expect(!result.ok && result.error.message).to.contain(`127.0.0.1:${port}`);
  });
});
