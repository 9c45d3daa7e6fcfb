// The GitLab CI job of docs/ci-gate.md, run as GitLab's runner would run its script (sh), with a stub
// gitaly-tls-exporter that exits with each of check's codes: the job passes only on 0, and says
// which failure it is.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/dashboard-queries.ts';

interface Job {
  image: { name: string; entrypoint: string[] };
  rules: Array<{ if: string }>;
  variables: Record<string, string>;
  parallel: { matrix: Array<{ NODE: string[] }> };
  script: string[];
  allow_failure?: unknown;
}

function documentedJob(): Job {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'ci-gate.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks, 'one yaml block in docs/ci-gate.md').to.have.length(1);
  const parsed = parse(blocks[0]!) as Record<string, Job>;
  return parsed['gitaly-listen-addr-gate']!;
}

describe('docs/ci-gate.md: the GitLab CI job guarding the removal of listen_addr', () => {
  let dir: string;
  const job = documentedJob();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-ci-gate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The job's script under sh, with `name` on PATH as a stub that records its arguments and exits `code`. */
  function runJob(name: string, code: number): { status: number | null; stdout: string; args: string } {
    const bin = join(dir, 'bin');
    const stub = join(bin, name);
    mkdirSync(bin, { recursive: true });
    writeFileSync(stub, `#!/bin/sh\necho "$@" > "${join(dir, 'args')}"\necho "(the check's table)"\nexit ${code}\n`);
    chmodSync(stub, 0o755);
    const env = { PATH: `${bin}:/usr/bin:/bin`, EXPORTER_URL: job.variables.EXPORTER_URL!, NODE: job.parallel.matrix[0]!.NODE[0]! };
    const r = spawnSync('sh', ['-e', '-c', job.script.join('\n')], { env, encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, stdout: r.stdout, args: readFileSync(join(dir, 'args'), 'utf8').trim() };
  }

  it('runs in merge request pipelines, and never lets a failure through', () => {
    expect(job.rules).to.deep.include({ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' });
    expect(job.allow_failure).to.equal(undefined);
    expect(job.image.entrypoint, 'the image’s own entrypoint would swallow the script').to.deep.equal(['']);
  });

  for (const [code, message] of [
    [0, 'PASS: gitaly-1 may drop listen_addr.'],
    [1, 'NOT YET: gitaly-1 still needs listen_addr'],
    [2, 'GATE MISCONFIGURED (exit 2)'],
    [3, 'GATE BROKEN (exit 3): no verdict could be had from http://gitaly-tls-exporter.monitoring.svc:9787'],
  ] as const) {
    it(`check exits ${code}: the job exits ${code} and says "${message.split(':')[0]}"`, () => {
      const r = runJob('gitaly-tls-exporter', code);
      expect(r.args).to.equal('check --url http://gitaly-tls-exporter.monitoring.svc:9787 --node gitaly-1');
      expect(r.status).to.equal(code);
      expect(r.stdout).to.contain("(the check's table)\n");
      expect(r.stdout).to.contain(message);
    });
  }

  it('in the exporter’s image, without gitaly-tls-exporter on PATH, runs node /app/dist/main.js', () => {
    const r = runJob('node', 1);
    expect(r.args).to.equal('/app/dist/main.js check --url http://gitaly-tls-exporter.monitoring.svc:9787 --node gitaly-1');
    expect(r.status).to.equal(1);
    expect(r.stdout).to.contain('NOT YET');
  });
});
