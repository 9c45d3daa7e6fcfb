// An installed exporter as an admin runs it (the single executable, the .deb's /usr/bin program,
// the npm package's bin): in a directory of its own, with an environment the test chooses, started
// as a process group that the test stops.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { spawnTracked, type Exit } from './processes.ts';
import { promtoolCheckMetrics } from './promtool.ts';
import { freePort } from './prometheus-server.ts';
import { scaled } from './time-factor.ts';
import { waitFor } from './wait-for.ts';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * An environment with no Node.js to find: PATH is an empty directory under `dir`, nothing else is
 * inherited. Checked with the shell's own lookup, so the proof does not rest on the test's reading.
 */
export function nodelessEnv(dir: string): NodeJS.ProcessEnv {
  const bin = join(dir, 'empty-bin');
  mkdirSync(bin, { recursive: true });
  const env = { PATH: bin, HOME: dir, LANG: 'C.UTF-8' };
  const lookup = spawnSync('/bin/sh', ['-c', 'command -v node'], { env, encoding: 'utf8' });
  expect(lookup.status, `node found on PATH=${bin}: ${lookup.stdout}`).to.not.equal(0);
  return env;
}

export function runProgram(program: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Run {
  const r = spawnSync(program, args, { ...options, encoding: 'utf8', timeout: scaled(60_000) });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The refusal every installed program gives without a configuration (src/cli.ts). */
export function expectRefusesWithoutConfig(r: Run): void {
  expect(r.status, r.stderr).to.equal(2);
  expect(r.stderr.split('\n')[0]).to.match(
    /^gitaly-tls-exporter: no --config\.file given: .* or --demo to run against the built-in demo fleet/,
  );
}

/**
 * Runs `program --demo` until it is ready, then checks what an admin trying it would: /metrics is a
 * page promtool accepts, with the demo's nodes; `check --url` against it prints the verdict table
 * and exits 1 (the demo's fleet is never complete at its start); SIGTERM stops it with exit 0.
 */
export async function exerciseDemo(program: string, options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawnTracked(program, ['--demo', '--web.listen-address', `127.0.0.1:${port}`], { ...options, what: `${program} --demo` });
  let log = '';
  server.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  server.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    await waitFor(
      async () => {
        if (server.exitState()) throw new Error(`${program} exited: ${JSON.stringify(server.exitState())}`);
        return (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(5_000) })).ok;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `${program} --demo to answer /-/ready`, context: () => log.slice(-2000) },
    );
    const metrics = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    expect(metrics).to.contain('gitaly_tls_migration_phase{node="gitaly-1"');
    const promtool = promtoolCheckMetrics(metrics);
    expect(promtool, 'promtool check metrics').to.deep.equal({ status: 0, output: '' });

    const check = runProgram(program, ['check', '--url', base], options);
    expect(check.status, `${check.stdout}${check.stderr}`).to.equal(1);
    expect(check.stdout).to.match(/^NODE\s+ROLE\s+PHASE/m);
    expect(check.stdout).to.match(/^gitaly-1\s+gitaly\s/m);
  } finally {
    const exit: Exit = await server.stop(10_000);
    expect(exit, `stopped by SIGTERM; log:\n${log.slice(-2000)}`).to.deep.equal({ code: 0, signal: null });
  }
}
