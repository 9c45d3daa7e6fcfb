import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { nodeTs, spawnTracked, type Exit, type TrackedChild } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait-for.ts';

const MAIN = fileURLToPath(new URL('../../src/demo/main.ts', import.meta.url));

interface Run {
  child: TrackedChild;
  output: () => string;
  exit: Promise<Exit>;
}

function run(args: string[]): Run {
  const [node, argv] = nodeTs(MAIN, args);
  const child = spawnTracked(node, argv, { what: 'the demo fleet (demo/main)' });
  let output = '';
  child.child.stdout!.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.child.stderr!.on('data', (c: Buffer) => {
    output += c.toString();
  });
  return { child, output: () => output, exit: child.closed };
}

function until(what: string, run: Run, check: () => boolean, deadlineMs = 15000): Promise<true> {
  return waitFor(() => check(), { timeoutMs: deadlineMs, intervalMs: 20, what, context: () => `output:\n${run.output().slice(-2000)}` });
}

describe('demo/main', function () {
  let dir: string;
  let current: Run | undefined;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'demo-main-'));
  });

  afterEach(async function () {
    await current?.child.stop(5_000);
    current = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the node table, writes an exporter config, and stops on SIGTERM', async function () {
    current = run(['--dir', dir, '--migration-ms', '60000', '--log-level', 'info']);
    await until('the config to be written', current, () => current!.output().includes('Exporter config:'));
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
    current.child.signal('SIGTERM');
    expect(await current.exit).to.deep.equal({ code: 0, signal: null });
    // Logged as the exporter logs: logfmt with an ISO time, so the compose stack's two logs read alike.
    expect(current.output()).to.match(/^time=\d{4}-\d\d-\d\dT[\d:.]+Z level=info msg="stopping the demo fleet" signal=SIGTERM$/m);
  });

  it('refuses a bad flag value with a clear message', async function () {
    current = run(['--dir', dir, '--base-port', 'ten']);
    expect(await current.exit).to.deep.equal({ code: 1, signal: null });
    expect(current.output()).to.contain('--base-port must be a whole number, got "ten"');
  });

  it('refuses an unknown log level or format, naming the choices', async function () {
    current = run(['--dir', dir, '--log-level', 'loud']);
    expect(await current.exit).to.deep.equal({ code: 1, signal: null });
    expect(current.output()).to.contain('--log-level must be one of debug, info, warn, error, got "loud"');
    current = run(['--dir', dir, '--log-format', 'xml']);
    expect(await current.exit).to.deep.equal({ code: 1, signal: null });
    expect(current.output()).to.contain('--log-format must be one of logfmt, json, got "xml"');
  });
});
