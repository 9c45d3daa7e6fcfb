// The npm package: npm pack (its prepack compiles dist/), then npm install -g of the tarball into an
// empty prefix, as an admin with Node.js would install it. The installed bin must run the built
// JavaScript with the runtime dependencies only: no TypeScript source, no tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { exerciseDemo, expectRefusesWithoutConfig, runProgram } from '../helpers/installed-exporter.ts';
import { scaled } from '../helpers/time-factor.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: scaled(300_000),
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (r.error) throw r.error;
  expect(r.status, `npm ${args.join(' ')}:\n${r.stdout}${r.stderr}`).to.equal(0);
  return `${r.stdout}${r.stderr}`;
}

describe('npm package (npm pack, npm install -g into an empty prefix)', function () {
  this.timeout(scaled(150_000));
  let dir: string;
  let prefix: string;
  let program: string;
  let env: NodeJS.ProcessEnv;
  let installOutput: string;

  before(function () {
    // npm pack compiles the TypeScript; the install fetches the runtime dependencies.
    this.timeout(scaled(600_000));
    dir = mkdtempSync(join(tmpdir(), 'gte-npm-pack-'));
    prefix = join(dir, 'prefix');
    npm(['pack', '--pack-destination', dir], ROOT);
    const tarball = join(dir, `gitaly-tls-exporter-${pkg.version}.tgz`);
    installOutput = npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball], dir);
    program = join(prefix, 'bin', 'gitaly-tls-exporter');
    // The Node.js running these tests and the system's tools; nothing from the checkout.
    env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir };
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('installs built JavaScript and the runtime dependencies only, without an engine warning', () => {
    const installed = join(prefix, 'lib', 'node_modules', 'gitaly-tls-exporter');
    expect(existsSync(join(installed, 'dist', 'main.js')), 'dist/main.js').to.equal(true);
    expect(existsSync(join(installed, 'src')), 'src/').to.equal(false);
    const modules = readdirSync(join(installed, 'node_modules'));
    for (const dev of ['tsx', 'typescript', 'esbuild', 'mocha', 'postject']) expect(modules, dev).to.not.include(dev);
    for (const dep of Object.keys(pkg.dependencies)) expect(modules, dep).to.include(dep.split('/')[0]);
    expect(installOutput).to.not.contain('EBADENGINE');
  });

  it('answers --version, and refuses to start without --config.file, naming --demo', () => {
    const version = runProgram(program, ['--version'], { cwd: dir, env });
    expect(version, version.stderr).to.deep.equal({
      status: 0,
      stdout: `gitaly-tls-exporter ${pkg.version} (Node.js ${process.version})\n`,
      stderr: '',
    });
    expectRefusesWithoutConfig(runProgram(program, [], { cwd: dir, env }));
  });

  it('runs the demo: /metrics passes promtool check metrics, and check --url against it prints the verdict', async () => {
    await exerciseDemo(program, { cwd: dir, env });
  });
});
