// The single-file install: the esbuild bundle, alone in a directory with no node_modules anywhere
// above it, must run the demo and `check` with nothing but the Node.js running these tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { bundle } from '../../scripts/bundle.ts';
import { freePort } from '../helpers/prometheus-server.ts';
import { waitFor } from '../helpers/wait-for.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface MigrationDoc {
  fleet: { complete: boolean };
  nodes: Array<{ node: string; phase: string; evidence: { tls: { address: string; handshakeOk: boolean } | null } }>;
}

function ancestorsWithNodeModules(dir: string): string[] {
  const found: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(d);
    if (dirname(d) === d) return found;
  }
}

describe('single-file build (npm run bundle)', function () {
  this.timeout(180_000);
  let dir: string;
  let file: string;
  let server: ChildProcess | null = null;
  let output = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-bundle-'));
    // The proof below is only worth something if Node cannot find the checkout's packages from here.
    expect(ancestorsWithNodeModules(dir), 'node_modules above the test directory').to.deep.equal([]);
    file = await bundle(join(dir, 'gitaly-tls-exporter.mjs'));
  });

  after(() => {
    // The exporter runs in its own process group; end all of it.
    if (server?.pid && server.exitCode === null && server.signalCode === null) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => spawnSync(process.execPath, [file, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });

  it('is one file with no import outside Node.js built-ins', () => {
    const source = readFileSync(file, 'utf8');
    const specifiers = [...source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
    expect(specifiers.filter((s) => !isBuiltin(s))).to.deep.equal([]);
  });

  it('answers --version with the package version and --help with the usage', () => {
    const version = run(['--version']);
    expect(version.status, version.stderr).to.equal(0);
    expect(version.stdout).to.equal(`gitaly-tls-exporter ${pkg.version} (Node.js ${process.version})\n`);
    const help = run(['--help']);
    expect(help.status, help.stderr).to.equal(0);
    expect(help.stdout).to.contain('gitaly-tls-exporter check --config.file FILE');
  });

  it('prints the Prometheus rules with the links given (no checkout needed), and refuses without --runbook-url', () => {
    const rules = run(['rules', '--runbook-url', 'https://wiki.corp.test/runbook', '--grafana-url', 'https://grafana.corp.test']);
    expect(rules.status, rules.stderr).to.equal(0);
    expect(rules.stdout).to.contain('runbook_url: https://wiki.corp.test/runbook#gitalytlscertificateexpiry');
    expect(rules.stdout).to.contain('dashboard_url: https://grafana.corp.test/d/gitaly-tls-certificates');
    const refused = run(['rules']);
    expect(refused.status).to.equal(2);
    expect(refused.stdout).to.equal('');
    expect(refused.stderr).to.contain('--runbook-url is required');
  });

  it('runs the demo fleet (ready, /migration) and check against it (exit 1: not complete yet)', async () => {
    const port = await freePort();
    server = spawn(
      process.execPath,
      [file, '--demo', '--web.listen-address', `127.0.0.1:${port}`, '--log.level', 'info', '--log.format', 'json'],
      {
        cwd: dir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    server.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const url = `http://127.0.0.1:${port}`;
    const get = async (path: string) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
    await waitFor(
      async () => {
        if (server!.exitCode !== null) throw new Error(`the bundle exited with ${server!.exitCode}:\n${output.slice(-3000)}`);
        return (await get('/-/ready')).status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: `the bundled exporter's demo to answer /-/ready\n${output.slice(-2000)}` },
    );
    const doc = (await (await get('/migration')).json()) as MigrationDoc;
    expect(doc.nodes.map((n) => n.node)).to.include('gitaly-1');
    expect(doc.fleet.complete).to.equal(false);

    // check, from the same directory, against a demo node over TLS with the demo's CA.
    const logLine = output.split('\n').find((l) => l.includes('built-in demo fleet'));
    const demoDir = (JSON.parse(logLine!) as { dir: string }).dir;
    const gitaly1 = doc.nodes.find((n) => n.node === 'gitaly-1')!;
    expect(gitaly1.evidence.tls?.handshakeOk, 'the demo served TLS').to.equal(true);
    const config = join(dir, 'check.yml');
    writeFileSync(
      config,
      [
        `ca_file: ${join(demoDir, 'ca.pem')}`,
        `state_file: ${join(dir, 'check-state.json')}`,
        'nodes:',
        '  - name: gitaly-1',
        `    tls_address: tls://${gitaly1.evidence.tls!.address}`,
        '',
      ].join('\n'),
    );
    const valid = run(['--config.file', config, '--config.check']);
    expect(valid.status, valid.stderr).to.equal(0);
    const check = run(['check', '--config.file', config, '--log.level', 'error']);
    // Exit codes (README): 0 complete, 1 not complete, 2 bad usage. No history yet: not complete.
    expect(check.status, `${check.stdout}\n${check.stderr}`).to.equal(1);
    expect(check.stdout).to.match(/^NODE\s+ROLE\s+PHASE/);
    // The bundle's TLS probe reached the demo node: days to expiry, then trusted, hostname, h2 all yes.
    expect(check.stdout).to.match(/^gitaly-1\s+gitaly\s+\w+\s+\d+\s+yes\s+yes\s+yes\s/m);
    expect(check.stdout).to.contain('Fleet: NOT COMPLETE');

    process.kill(-server.pid!, 'SIGTERM');
    const exit = await exited;
    expect(exit, output.slice(-2000)).to.equal(0);
    rmSync(demoDir, { recursive: true, force: true });
  });
});
