import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeTs } from '../helpers/processes.ts';
import { scaled } from '../helpers/time-factor.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures', 'inventory');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [node, argv] = nodeTs(join(ROOT, 'src', 'main.ts'), args);
  const r = spawnSync(node, argv, { cwd: ROOT, encoding: 'utf8', timeout: scaled(60_000) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('command line: --config.check with discovery', function () {
  this.timeout(scaled(90_000));
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-cli-discovery-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the discovery files and says how many nodes they give', () => {
    copyFileSync(join(FIXTURES, 'file_sd.json'), join(dir, 'gitaly.json'));
    const file = join(dir, 'ok.yml');
    writeFileSync(file, 'state_file: state.json\ndiscovery:\n  file_sd:\n    - file: gitaly.json\n');
    const r = run(['--config.file', file, '--config.check']);
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.equal(`${file}: valid, 0 node(s) listed by hand, 3 from 1 discovery file(s)\n`);
    expect(r.status).to.equal(0);
  });

  it('an invalid discovery file is an invalid configuration: its error with file and line, exit 2', () => {
    copyFileSync(join(FIXTURES, 'invalid', 'syntax.toml'), join(dir, 'config.toml'));
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'state_file: state.json\ndiscovery:\n  gitaly_config:\n    - file: config.toml\n');
    const r = run(['--config.file', file, '--config.check']);
    expect(r.stderr).to.equal(
      `gitaly-tls-exporter: invalid configuration:\n${join(dir, 'config.toml')}:2:22: invalid TOML: illegal character in numeric literal\n`,
    );
    expect(r.status).to.equal(2);
  });
});
