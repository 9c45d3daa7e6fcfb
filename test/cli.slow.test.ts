import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { createCa, createLeaf } from '../src/demo/certs.ts';
import { nodeTs, spawnTracked, type TrackedChild } from './helpers/processes.ts';
import { freePort } from './helpers/prometheus-server.ts';
import { scaled } from './helpers/time-factor.ts';
import { waitFor } from './helpers/wait-for.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src', 'main.ts');

// Node itself with the tsx loader, not the tsx wrapper: the wrapper relays a signal to its child
// only if the child confirms it within 30 ms, and otherwise SIGKILLs it and exits 143. On a busy
// machine that turned "stops cleanly on SIGTERM" into exit code 143.
function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [node, argv] = nodeTs(MAIN, args);
  const r = spawnSync(node, argv, { cwd: ROOT, encoding: 'utf8', timeout: scaled(60_000) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The exporter serving, in its own process group; `log()` is all it wrote so far. */
function serve(args: string[], dir: string): { child: TrackedChild; log: () => string } {
  const [node, argv] = nodeTs(MAIN, args);
  const child = spawnTracked(node, argv, { cwd: ROOT, env: { ...process.env, TMPDIR: dir }, what: 'the exporter (CLI test)' });
  let log = '';
  child.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}

describe('command line', function () {
  this.timeout(scaled(90_000));
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints usage for --help and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.contain('gitaly-tls-exporter check --config.file FILE');
  });

  it('rejects an unknown flag with exit code 2 and the usage', () => {
    const r = run(['--web.listen-adress', ':1']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/^gitaly-tls-exporter: Unknown option '--web.listen-adress'/);
    expect(r.stderr).to.contain('Usage:');
  });

  for (const [args, message] of [
    [['--log.format', 'text'], '--log.format must be one of logfmt, json, not "text"'],
    [['--log.level', 'verbose'], '--log.level must be one of debug, info, warn, error, not "verbose"'],
    [['--log.repeat-interval', '15'], '--log.repeat-interval: "15" has no unit: write e.g. 15s or 15m'],
    [['--log.repeat-interval', '10s'], '--log.repeat-interval must be at least 1m, not "10s"'],
  ] as const) {
    it(`rejects ${args.join(' ')} with exit code 2, naming the flag and what it accepts`, () => {
      const r = run([...args]);
      expect(r.status).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(`gitaly-tls-exporter: ${message}`);
      expect(r.stderr).to.contain('Usage:');
    });
  }

  it('--config.check accepts a valid file and exits 0', () => {
    const file = join(dir, 'ok.yml');
    writeFileSync(file, 'nodes:\n  - name: gitaly-1\n    metrics_url: http://127.0.0.1:9236/metrics\n    tls_address: 127.0.0.1:9999\n');
    const r = run(['--config.file', file, '--config.check']);
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.equal(`${file}: valid, 1 node(s)\n`);
    expect(r.status).to.equal(0);
  });

  it('--config.check names the file, line and field of a bad value, exits 2, and prints no stack trace', () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'concurrency: ten\nnodes:\n  - name: gitaly-1\n    tls_address: 127.0.0.1:9999\n');
    const r = run(['--config.file', file, '--config.check']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(
      new RegExp(`^gitaly-tls-exporter: invalid configuration:\\n${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:14: concurrency: `),
    );
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('check exits 2 on a missing config file', () => {
    const r = run(['check', '--config.file', join(dir, 'nope.yml')]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('nope.yml');
    expect(r.stderr).to.not.match(/\n\s+at /);
  });

  it('check runs one collection, prints the table, and exits 1 while the fleet is not complete', () => {
    const file = join(dir, 'fleet.yml');
    // Nothing listens on these ports: the node cannot be complete, and check must say why.
    writeFileSync(
      file,
      `state_file: ${join(dir, 'state.json')}\ntimeouts: { metrics: 2s, tls: 2s, plaintext: 2s }\nnodes:\n  - name: gitaly-1\n    metrics_url: http://127.0.0.1:1/metrics\n    tls_address: 127.0.0.1:1\n    plaintext_address: 127.0.0.1:1\n`,
    );
    const r = run(['check', '--config.file', file, '--log.level', 'error']);
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/^NODE\s+ROLE\s+PHASE/);
    expect(r.stdout).to.match(/gitaly-1\s+gitaly\s+unknown/);
    expect(r.stdout).to.contain('source_down');
    expect(r.stdout).to.contain('Fleet: NOT COMPLETE');
  });

  describe('check --config.file --node', () => {
    // Nothing listens on these ports: the nodes cannot be done, and check must say so per node.
    const fleet = (extra = '') =>
      `state_file: ${join(dir, 'state.json')}\ntimeouts: { metrics: 2s, tls: 2s, plaintext: 2s }\n${extra}nodes:\n` +
      [1, 2]
        .map(
          (i) =>
            `  - name: gitaly-${i}\n    metrics_url: http://127.0.0.${i}:1/metrics\n    tls_address: 127.0.0.${i}:1\n    plaintext_address: 127.0.0.${i}:1\n`,
        )
        .join('');

    it('exits 1 for a node that may not drop listen_addr, printing its row only', () => {
      const file = join(dir, 'fleet.yml');
      writeFileSync(file, fleet());
      const r = run(['check', '--config.file', file, '--node', 'gitaly-2', '--log.level', 'error']);
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stdout).to.match(/^gitaly-2\s+gitaly\s+unknown\s/m);
      expect(r.stdout).to.not.match(/^gitaly-1\s/m);
      expect(r.stdout).to.match(/\ngitaly-2: unknown, not yet: keep listen_addr \(source_down,/);
    });

    it('exits 2 for a node the fleet does not have', () => {
      const file = join(dir, 'fleet.yml');
      writeFileSync(file, fleet());
      const r = run(['check', '--config.file', file, '--node', 'gitaly-9', '--log.level', 'error']);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.equal('gitaly-tls-exporter: check: "gitaly-9" is not a node of this fleet (2 node(s))\n');
      expect(r.stdout).to.equal('');
    });

    it('exits 3 for a node not found while a discovery file could not be read', () => {
      const file = join(dir, 'fleet.yml');
      writeFileSync(join(dir, 'targets.json'), 'not json');
      writeFileSync(file, fleet(`discovery:\n  file_sd:\n    - file: targets.json\n`));
      const r = run(['check', '--config.file', file, '--node', 'gitaly-9', '--log.level', 'error']);
      expect(r.status, r.stderr).to.equal(3);
      expect(r.stderr).to.match(
        /^gitaly-tls-exporter: check: "gitaly-9" is not among the 2 node\(s\) found, but a source of the node list failed \(file_sd .*targets\.json\): it may be one of them\n$/,
      );
    });
  });

  describe('check --url', () => {
    // The answer /migration gives, changed by each test; served from this process, so the CLI runs
    // as a child that does not block the event loop (spawnSync would).
    let answer = '';
    let status = 200;
    let server: Server;
    let base: string;
    let child: TrackedChild | undefined;
    before(async () => {
      server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(answer));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    afterEach(async () => {
      await child?.stop(5_000);
      child = undefined;
      status = 200;
    });

    async function checkUrl(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
      const [node, argv] = nodeTs(MAIN, ['check', '--url', base, ...args]);
      child = spawnTracked(node, argv, { cwd: ROOT, what: 'check --url (CLI test)' });
      let stdout = '';
      let stderr = '';
      child.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
      child.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
      const exit = await child.closed;
      return { status: exit.code, stdout, stderr };
    }
    const complete = (node: string) => ({ node, role: 'gitaly', phase: 'complete', blockingReasons: [] });
    const claimed = { complete: true, phase: 'complete', blocking: [] };
    const at = '2026-11-30T12:00:00.000Z';

    it('exits 0 when the fleet is complete', async () => {
      answer = JSON.stringify({ generatedAt: at, fleet: claimed, nodes: [complete('gitaly-1'), complete('gitaly-2')] });
      const r = await checkUrl();
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/\nFleet: COMPLETE \(2 node\(s\)\); it is safe to consider the migration done\.\n$/);
    });

    it('exits 1 when the fleet is not complete yet', async () => {
      const nodes = [
        complete('gitaly-1'),
        { ...complete('gitaly-2'), phase: 'tls_only_traffic', blockingReasons: [{ reason: 'plaintext_listener_open' }] },
      ];
      answer = JSON.stringify({
        generatedAt: at,
        fleet: { complete: false, phase: 'tls_only_traffic', blocking: ['1 of 2 node(s) not complete: gitaly-2'] },
        nodes,
      });
      const r = await checkUrl();
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stdout).to.contain('Fleet: NOT COMPLETE\n  - 1 of 2 node(s) not complete: gitaly-2\n');
    });

    it('exits 2, with the usage, for a --url that is not a URL: a broken gate, not "not yet"', () => {
      const r = run(['check', '--url', '127.0.0.1:19787']);
      expect(r.status).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(
        'gitaly-tls-exporter: --url "127.0.0.1:19787" is not a URL (expected e.g. http://exporter:9787)',
      );
      expect(r.stderr).to.contain('Usage:');
      const scheme = run(['check', '--url', 'exporter:9787']);
      expect(scheme.status).to.equal(2);
      expect(scheme.stderr.split('\n')[0]).to.equal(
        'gitaly-tls-exporter: --url must be an http:// or https:// URL without a user name or password',
      );
    });

    it('exits 3, could not determine, when /migration answers 404', async () => {
      status = 404;
      answer = '404 page not found';
      const r = await checkUrl();
      expect(r.status, r.stderr).to.equal(3);
      expect(r.stderr).to.equal(`gitaly-tls-exporter: check: could not determine: ${base}/migration answered HTTP 404\n`);
      expect(r.stdout).to.equal('');
    });

    it('exits 3, could not determine, when the exporter cannot be reached', () => {
      const r = run(['check', '--url', 'http://127.0.0.1:1']);
      expect(r.status).to.equal(3);
      expect(r.stderr).to.match(
        /^gitaly-tls-exporter: check: could not determine: cannot reach http:\/\/127\.0\.0\.1:1\/migration \(ECONNREFUSED\)\n$/,
      );
    });

    describe('--node', () => {
      const nodes = [
        complete('gitaly-1'),
        { ...complete('gitaly-2'), phase: 'dual_listen', blockingReasons: [{ reason: 'plaintext_connections_in_window' }] },
        { ...complete('gitaly-3'), phase: 'tls_only_traffic', blockingReasons: [{ reason: 'plaintext_listener_open' }] },
      ];
      const fleet = { complete: false, phase: 'dual_listen', blocking: ['2 of 3 node(s) not complete: gitaly-2, gitaly-3'] };
      beforeEach(() => (answer = JSON.stringify({ generatedAt: at, fleet, nodes })));

      it('exits 0 when the node may drop listen_addr (tls_only_traffic), though the fleet is not complete', async () => {
        const r = await checkUrl('--node', 'gitaly-3');
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.match(/\ngitaly-3: tls_only_traffic, it is safe to remove listen_addr \(plaintext_listener_open\)\n$/);
      });

      it('exits 1 when the node still takes plaintext', async () => {
        const r = await checkUrl('--node', 'gitaly-2');
        expect(r.status, r.stderr).to.equal(1);
        expect(r.stdout).to.contain('gitaly-2: dual_listen, not yet: keep listen_addr (plaintext_connections_in_window)\n');
      });

      it('exits 1 when the answer says tls_only_traffic for the node but lists what blocks its traffic', async () => {
        const odd = [{ ...complete('gitaly-3'), phase: 'tls_only_traffic', blockingReasons: [{ reason: 'insufficient_history' }] }];
        answer = JSON.stringify({ generatedAt: at, fleet, nodes: odd });
        const r = await checkUrl('--node', 'gitaly-3');
        expect(r.status, r.stderr).to.equal(1);
        expect(r.stdout).to.contain(
          'gitaly-3: the verdict contradicts itself: phase tls_only_traffic, but it lists insufficient_history\n',
        );
      });

      it('exits 2 for a node that is not in the fleet, and for a --node that is no node name', async () => {
        const r = await checkUrl('--node', 'gitaly-9');
        expect(r.status, r.stderr).to.equal(2);
        expect(r.stderr).to.equal('gitaly-tls-exporter: check: "gitaly-9" is not a node of this fleet (3 node(s))\n');
        const bad = run(['check', '--url', base, '--node', 'gitaly 1']);
        expect(bad.status).to.equal(2);
        expect(bad.stderr.split('\n')[0]).to.equal(
          'gitaly-tls-exporter: --node "gitaly 1" must be 1 to 128 characters from A-Z a-z 0-9 _ . : -',
        );
      });

      it('exits 3 for a node not listed while a source of the node list failed', async () => {
        const sources = [
          { source: 'file_sd /etc/targets.json', kind: 'file_sd', ok: false, nodes: 0, error: { code: 'X', message: 'gone' } },
        ];
        answer = JSON.stringify({ generatedAt: at, fleet, nodes, inventory: { sources, missing: [] } });
        const r = await checkUrl('--node', 'gitaly-9');
        expect(r.status, r.stderr).to.equal(3);
        expect(r.stderr).to.contain('a source of the node list failed (file_sd /etc/targets.json): it may be one of them');
      });
    });

    it('exits 1 and says the answer contradicts itself when fleet.complete is true but a node is dual_listen', async () => {
      const nodes = [
        complete('gitaly-1'),
        { ...complete('gitaly-2'), phase: 'dual_listen', blockingReasons: [{ reason: 'plaintext_connections_in_window' }] },
      ];
      answer = JSON.stringify({ generatedAt: at, fleet: claimed, nodes });
      const r = await checkUrl();
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stdout).to.contain('the answer contradicts itself: fleet.complete is true, but 1 of 2 node(s) not complete: gitaly-2');
      expect(r.stdout).to.not.match(/^Fleet: COMPLETE/m);
    });

    it('exits 1 for an answer that lists no nodes', async () => {
      answer = JSON.stringify({ generatedAt: at, fleet: claimed, nodes: [] });
      const r = await checkUrl();
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stdout).to.contain('fleet.complete is true, but it lists no nodes');
    });

    it('writes no ESC or other control character from the answer to the terminal', async () => {
      // eslint-disable-next-line no-control-regex
      const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
      const fake = '\u001b[2J\u001b[Hfleet: complete';
      answer = JSON.stringify({ generatedAt: `\u001b[2J${at}`, fleet: claimed, nodes: [{ ...complete('gitaly-1'), node: fake }] });
      const bad = await checkUrl();
      expect(bad.status).to.equal(3);
      expect(bad.stdout + bad.stderr).to.not.match(CONTROL);
      expect(bad.stderr).to.contain(
        'nodes[0].node must be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -), not "\\u001b[2J\\u001b[Hfleet: complete"',
      );
      expect(bad.stderr).to.contain('generatedAt must be an ISO 8601 UTC time, not "\\u001b[2J2026-11-30T12:00:00.000Z"');
      const nodes = [{ ...complete('gitaly-1'), nextStep: `${fake}\u009b2J` }];
      answer = JSON.stringify({ generatedAt: at, fleet: { complete: false, phase: 'complete', blocking: [fake] }, nodes });
      const text = await checkUrl();
      expect(text.status).to.equal(1);
      expect(text.stdout + text.stderr).to.not.match(CONTROL);
      expect(text.stdout).to.contain('  gitaly-1: \\u001b[2J\\u001b[Hfleet: complete\\u009b2J\n');
    });

    it('nodes: [null] is a malformed answer naming nodes[0], not "cannot reach": exit 3, could not determine', async () => {
      answer = JSON.stringify({ generatedAt: at, fleet: claimed, nodes: [null] });
      const r = await checkUrl();
      expect(r.status).to.equal(3);
      expect(r.stderr).to.equal(
        `gitaly-tls-exporter: check: could not determine: ${base}/migration answered with an invalid /migration document (1 problem):\n  nodes[0] must be an object, not null\n`,
      );
    });
  });

  describe('without a configuration', () => {
    it('refuses to start: exit 2, a sentence naming --config.file and --demo, nothing served', () => {
      const r = run([]);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(
        'gitaly-tls-exporter: no --config.file given: pass --config.file FILE to watch your Gitaly fleet (see config.example.yml), or --demo to run against the built-in demo fleet (npm start does that in a checkout)',
      );
      expect(r.stdout).to.equal('');
    });

    it('refuses --demo together with a configuration (exit 2): the demo is never mixed with a real fleet', () => {
      const r = run(['--demo', '--config.file', join(dir, 'config.yml')]);
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(
        'gitaly-tls-exporter: --demo runs the exporter against the demo fleet: it takes no --config.file, --config.check or check',
      );
    });
  });

  describe('--demo (the demo fleet)', () => {
    let child: TrackedChild | undefined;
    afterEach(async () => {
      await child?.stop(5_000);
      child = undefined;
    });

    const ready = async (base: string, log: () => string) =>
      waitFor(async () => (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(5_000) }).catch(() => null))?.ok, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the demo exporter to be ready',
        context: () => `log:\n${log().slice(-2000)}`,
      });

    it('listens on loopback only (127.0.0.1:9787) unless --web.listen-address says otherwise', async () => {
      const exporter = serve(['--demo'], dir);
      child = exporter.child;
      await ready('http://127.0.0.1:9787', exporter.log);
      expect(exporter.log()).to.match(/msg="listening on http:\/\/127\.0\.0\.1:9787\/"/);
    });

    it('npm start runs it, as the README says (npm start -- FLAGS passes flags on)', async () => {
      const port = await freePort();
      const npm = spawnTracked('npm', ['start', '--', '--web.listen-address', `127.0.0.1:${port}`], {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: dir },
        what: 'npm start',
      });
      child = npm;
      let log = '';
      npm.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      npm.child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      await ready(`http://127.0.0.1:${port}`, () => log);
      expect(log).to.contain('running against the built-in demo fleet');
      const migration = (await (await fetch(`http://127.0.0.1:${port}/migration`)).json()) as { nodes: Array<{ node: string }> };
      expect(migration.nodes.map((n) => n.node)).to.include('gitaly-1');
    });

    it('serves /, /migration and /metrics with demo data, says so in its log, and stops cleanly on SIGTERM', async () => {
      const port = await freePort();
      const exporter = serve(['--demo', '--web.listen-address', `127.0.0.1:${port}`], dir);
      child = exporter.child;
      const { log } = exporter;
      const base = `http://127.0.0.1:${port}`;
      await ready(base, log);
      expect(log()).to.contain('built-in demo fleet');
      // The default log format is logfmt, one record a line, with an ISO-8601 UTC time first.
      expect(log()).to.match(
        /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg="--demo: running against the built-in demo fleet /m,
      );
      const demoDir = / dir=(\S*gitaly-tls-exporter-demo-\S*)/.exec(log())![1]!;
      expect(existsSync(demoDir), 'the demo directory exists while it runs').to.equal(true);

      const migration = (await (await fetch(`${base}/migration`)).json()) as { nodes: Array<{ node: string; phase: string }> };
      expect(migration.nodes.map((n) => n.node)).to.include.members(['gitaly-1', 'gitaly-2', 'gitaly-3', 'gitaly-4', 'praefect-1']);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).to.contain('gitaly_tls_migration_phase{node="gitaly-1"');
      expect(metrics).to.contain('gitaly_tls_cert_not_after_timestamp_seconds{node="gitaly-4"');
      const page = await (await fetch(`${base}/`)).text();
      expect(page).to.contain('Gitaly TLS migration');

      child.signal('SIGTERM');
      expect(await child.closed, `exit after SIGTERM; log:\n${log().slice(-2000)}`).to.deep.equal({ code: 0, signal: null });
      expect(log()).to.contain('SIGTERM');
      expect(existsSync(demoDir), `the demo's temporary directory ${demoDir} (private keys, state) is removed on exit`).to.equal(false);
    });

    it('serves HTTPS with basic auth from --web.config.file, leaving /-/healthy open when configured', async () => {
      const ca = await createCa();
      const leaf = await createLeaf(ca, '127.0.0.1');
      writeFileSync(join(dir, 'web.crt'), leaf.certPem);
      writeFileSync(join(dir, 'web.key'), leaf.keyPem);
      const hash = bcrypt.hashSync('s3cret-pass', 4);
      writeFileSync(
        join(dir, 'web.yml'),
        `tls_server_config:\n  cert_file: web.crt\n  key_file: web.key\nbasic_auth_users:\n  prometheus: '${hash}'\nunauthenticated_paths: ['/-/healthy']\n`,
      );
      const port = await freePort();
      const exporter = serve(['--demo', '--web.listen-address', `127.0.0.1:${port}`, '--web.config.file', join(dir, 'web.yml')], dir);
      child = exporter.child;
      const { log } = exporter;
      const dispatcher = new Agent({ connect: { ca: ca.certPem } });
      const get = async (path: string, auth?: string) => {
        const res = await request(`https://127.0.0.1:${port}${path}`, {
          dispatcher,
          signal: AbortSignal.timeout(scaled(5_000)),
          headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {},
        });
        await res.body.text();
        return res.statusCode;
      };
      await waitFor(async () => (await get('/-/healthy').catch(() => 0)) === 200, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'the HTTPS exporter to answer /-/healthy',
        context: () => `log:\n${log().slice(-2000)}`,
      });
      expect(await get('/metrics')).to.equal(401);
      expect(await get('/metrics', 'prometheus:wrong')).to.equal(401);
      expect(await get('/metrics', 'nobody:s3cret-pass')).to.equal(401);
      expect(await get('/metrics', 'prometheus:s3cret-pass')).to.equal(200);
      expect(log()).to.contain(`listening on https://127.0.0.1:${port}/`);
      expect(log()).to.not.contain('s3cret-pass');
      await dispatcher.close();
    });
  });
});
