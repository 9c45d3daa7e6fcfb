// The single executable (npm run build:executable): Node.js 24 and the exporter in one file. It must
// run where there is no Node.js at all: an environment whose PATH finds no node, in a directory with
// no node_modules anywhere above it.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { buildExecutable, SEA_NODE_VERSION } from '../../scripts/build-executable.ts';
import { exerciseDemo, expectRefusesWithoutConfig, nodelessEnv, runProgram } from '../helpers/installed-exporter.ts';
import { scaled } from '../helpers/time-factor.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('single executable (npm run build:executable)', function () {
  this.timeout(scaled(150_000));
  let dir: string;
  let file: string;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    // Building copies and rewrites a 130 MB binary, and may first download Node 24 from npm.
    this.timeout(scaled(600_000));
    dir = mkdtempSync(join(tmpdir(), 'gte-executable-'));
    for (let d = dir; dirname(d) !== d; d = dirname(d)) expect(existsSync(join(d, 'node_modules')), `node_modules in ${d}`).to.equal(false);
    file = await buildExecutable(join(dir, 'gitaly-tls-exporter'));
    env = nodelessEnv(dir);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`is one executable file with Node.js ${SEA_NODE_VERSION} inside, answering --version without node on PATH`, () => {
    expect(statSync(file).mode & 0o111, 'executable bits').to.equal(0o111);
    const r = runProgram(file, ['--version'], { cwd: dir, env });
    expect(r, r.stderr).to.deep.equal({
      status: 0,
      stdout: `gitaly-tls-exporter ${pkg.version} (Node.js v${SEA_NODE_VERSION})\n`,
      stderr: '',
    });
  });

  it('refuses to start without --config.file, naming --demo (exit 2)', () => {
    expectRefusesWithoutConfig(runProgram(file, [], { cwd: dir, env }));
  });

  it('runs the demo: /metrics passes promtool check metrics, and check --url against it prints the verdict', async () => {
    await exerciseDemo(file, { cwd: dir, env });
  });
});
