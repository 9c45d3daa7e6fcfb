import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const MAIN = fileURLToPath(new URL('../../src/demo/main.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exit };
}

async function until(what: string, check: () => boolean, deadlineMs = 15000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('demo/main', function () {
  let dir: string;
  let current: Run | undefined;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'demo-main-'));
  });

  afterEach(async function () {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exit;
    }
    current = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the node table, writes an exporter config, and stops on SIGTERM', async function () {
    current = run(['--dir', dir, '--migration-ms', '60000', '--log-level', 'warn']);
    await until('the config to be written', () => current!.output().includes('Exporter config:'));
    const output = current.output();
    expect(output).to.match(/^NAME\s+ROLE\s+METRICS URL\s+TLS\s+PLAINTEXT$/m);
    expect(output).to.match(/^praefect-1\s+praefect\s+http:\/\/127\.0\.0\.1:\d+\/metrics\s+-\s+127\.0\.0\.1:\d+$/m);
    const config = parse(await readFile(join(dir, 'exporter.yml'), 'utf8')) as {
      ca_file: string;
      nodes: Array<{ name: string; metrics_url: string }>;
    };
    expect(config.ca_file).to.equal(join(dir, 'ca.pem'));
    expect(config.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1', 'gitaly-2', 'gitaly-3', 'gitaly-4', 'praefect-1']);
    const page = await (await fetch(config.nodes[0]!.metrics_url)).text();
    expect(page).to.contain('gitlab_build_info{');
    current.child.kill('SIGTERM');
    expect(await current.exit).to.deep.equal({ code: 0, signal: null });
  });

  it('refuses a bad flag value with a clear message', async function () {
    current = run(['--dir', dir, '--base-port', 'ten']);
    expect(await current.exit).to.deep.equal({ code: 1, signal: null });
    expect(current.output()).to.contain('--base-port must be a whole number, got "ten"');
  });
});
