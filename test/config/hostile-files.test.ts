// Hostile config files: an alias flood, a huge scalar, a huge file, thousands of problems. Each is
// rejected with a short, clear answer (the work and the output are bounded).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, MAX_ALIASES, MAX_CONFIG_BYTES, MAX_PROBLEMS_SHOWN } from '../../src/config/load.ts';

describe('config: hostile files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gte-hostile-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function reject(name: string, text: string): ConfigError {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    try {
      loadConfigFile(file);
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('the config was accepted');
  }

  it('rejects 20,000 aliases in one short sentence, before checking a single node', () => {
    const lines = ['nodes:', "  - &a {name: gitaly-1, tls_address: 'gitaly-1:9999'}", ...Array.from({ length: 20_000 }, () => '  - *a')];
    const err = reject('aliases.yml', `${lines.join('\n')}\n`);
    expect(err.problems).to.have.length(1);
    expect(err.message).to.equal(
      `${path.join(dir, 'aliases.yml')}: the file uses more than ${MAX_ALIASES} YAML aliases (*name); write the values out`,
    );
  });

  it('accepts anchors and aliases in reasonable numbers', () => {
    const file = path.join(dir, 'anchors.yml');
    writeFileSync(file, ['nodes:', '  - name: &n gitaly-1', "    tls_address: 'gitaly-1:9999'", '    server_name: *n', ''].join('\n'));
    expect(loadConfigFile(file).nodes[0]?.serverName).to.equal('gitaly-1');
  });

  it('quotes a 3 MB value by its start and end only', () => {
    const huge = 'x'.repeat(3_000_000);
    const err = reject('scalar.yml', `soak_window: ${huge}\nnodes:\n  - {name: gitaly-1, tls_address: 'gitaly-1:9999'}\n`);
    expect(err.message.length).to.be.below(1_000);
    expect(err.message).to.include('soak_window').and.include('characters in all').and.include('e.g. 30s');
  });

  it('refuses a file larger than the cap without parsing it', () => {
    const err = reject('big.yml', `# ${'x'.repeat(MAX_CONFIG_BYTES)}\nnodes: []\n`);
    expect(err.problems).to.have.length(1);
    expect(err.message).to.match(/the file is \d+ bytes, more than the 4194304 a config may be$/);
  });

  it(`prints the first ${MAX_PROBLEMS_SHOWN} problems and counts the rest`, () => {
    const nodes = Array.from({ length: 300 }, (_, i) => `  - {name: gitaly-${i}, tls_address: 'gitaly-${i}:9999', colour: blue}`);
    const err = reject('many.yml', `nodes:\n${nodes.join('\n')}\n`);
    expect(err.problems).to.have.length(300);
    const lines = err.message.split('\n');
    expect(lines).to.have.length(MAX_PROBLEMS_SHOWN + 1);
    expect(lines.at(-1)).to.equal(`… and ${300 - MAX_PROBLEMS_SHOWN} more problem(s)`);
  });
});
