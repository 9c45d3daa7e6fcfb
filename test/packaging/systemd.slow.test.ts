// The systemd unit for a Gitaly host (deploy/systemd/): systemd's own checker accepts it, it keeps
// the promises docs/deploy.md makes (own user, read-only system, state directory, reload on SIGHUP),
// and the local-mode config.yml beside it is valid for the paths the unit gives it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { bundle } from '../../scripts/bundle.ts';
import { createCa, createLeaf } from '../../src/demo/certs.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNIT = join(ROOT, 'deploy', 'systemd', 'gitaly-tls-exporter.service');
const CONFIG = join(ROOT, 'deploy', 'systemd', 'config.yml');
const INSTALLED_BINARY = '/usr/local/bin/gitaly-tls-exporter';

/** `[Section]` → key → every value (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    expect(current, `a key outside a section: ${line}`).to.not.equal(undefined);
    const key = line.slice(0, eq);
    current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function systemdAnalyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('systemd-analyze not found: apt-get install -y systemd (.ci/run installs it)');
  }
  return r;
}

describe('systemd unit (deploy/systemd/gitaly-tls-exporter.service)', function () {
  this.timeout(120_000);
  const text = readFileSync(UNIT, 'utf8');
  const service = parseUnit(text).get('Service')!;
  const one = (key: string): string | undefined => service.get(key)?.at(-1);
  let dir: string;
  let testUnit: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-systemd-'));
    // systemd-analyze verify insists that ExecStart's program exists and is executable. Nothing is
    // installed on this machine, so verify a copy whose only change is that path: the real single-file
    // build, freshly made.
    const binary = await bundle(join(dir, 'gitaly-tls-exporter'));
    const copy = text.replace(`\nExecStart=${INSTALLED_BINARY} `, `\nExecStart=${binary} `);
    expect(copy.split('\n').filter((line, i) => line !== text.split('\n')[i])).to.have.length(1);
    testUnit = join(dir, 'gitaly-tls-exporter.service');
    writeFileSync(testUnit, copy);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes systemd-analyze verify (ExecStart pointed at a freshly built bundle)', () => {
    const r = systemdAnalyze(['verify', testUnit]);
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
    // verify reports some problems as warnings with exit 0; the unit must have none.
    expect(`${r.stdout}${r.stderr}`.trim()).to.equal('');
  });

  it('keeps systemd-analyze security exposure low (≤ 2.0 of 10)', () => {
    const r = systemdAnalyze(['security', '--offline=true', testUnit]);
    expect(r.status, r.stderr).to.equal(0);
    const level = /Overall exposure level for [^:]+: ([\d.]+)/.exec(r.stdout);
    expect(level, r.stdout.slice(-500)).to.not.equal(null);
    expect(Number(level![1])).to.be.at.most(2.0);
  });

  it('runs as its own user, read-only but for its state directory, and reloads on SIGHUP', () => {
    expect(one('ExecStart')).to.match(new RegExp(`^${INSTALLED_BINARY} --config.file=/etc/gitaly-tls-exporter/config.yml `));
    expect(one('DynamicUser')).to.equal('yes');
    expect(one('ProtectSystem')).to.equal('strict');
    expect(one('StateDirectory')).to.equal('gitaly-tls-exporter');
    expect(one('ExecReload')).to.equal('/bin/kill -HUP $MAINPID');
    expect(one('Restart')).to.equal('on-failure');
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) expect(one(key), key).to.equal('yes');
    expect(one('ReadOnlyPaths')?.split(/\s+/)).to.include.members(['-/etc/gitlab/ssl', '-/var/opt/gitlab/gitaly']);
    expect(one('RestrictAddressFamilies')?.split(/\s+/)).to.include.members(['AF_INET', 'AF_INET6']);
  });

  it('leaves local mode its view of the host: the host network namespace and /proc/net', () => {
    expect(service.has('PrivateNetwork'), 'PrivateNetwork would hide /proc/net/tcp of the host').to.equal(false);
    expect(one('ProcSubset'), 'ProcSubset=pid hides /proc/net').to.not.equal('pid');
    // Node's JIT needs writable executable memory.
    expect(service.has('MemoryDenyWriteExecute')).to.equal(false);
  });

  it('ships a local-mode config.yml that is valid with the paths the unit provides', async () => {
    // The same file with /etc/gitlab and /var/lib rooted in a temp directory (config.check reads the
    // CA, the certificate and the state directory).
    const root = join(dir, 'root');
    const original = readFileSync(CONFIG, 'utf8');
    expect(original).to.contain('state_file: /var/lib/gitaly-tls-exporter/state.json');
    expect(original).to.match(/^local:\n {2}node: /m);
    const ca = await createCa();
    const leaf = await createLeaf(ca, 'gitaly-1.example.com');
    mkdirSync(join(root, 'etc/gitlab/trusted-certs'), { recursive: true });
    mkdirSync(join(root, 'etc/gitlab/ssl'), { recursive: true });
    mkdirSync(join(root, 'var/lib/gitaly-tls-exporter'), { recursive: true });
    writeFileSync(join(root, 'etc/gitlab/trusted-certs/ca.crt'), ca.certPem);
    writeFileSync(join(root, 'etc/gitlab/ssl/gitaly-1.example.com.crt'), leaf.certPem);
    const config = join(dir, 'config.yml');
    writeFileSync(config, original.replaceAll(' /etc/gitlab/', ` ${root}/etc/gitlab/`).replaceAll(' /var/lib/', ` ${root}/var/lib/`));
    const r = spawnSync(process.execPath, [join(dir, 'gitaly-tls-exporter'), '--config.file', config, '--config.check'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('valid, 1 node(s)');
  });
});
