// The Debian package (npm run build:deb), built with dpkg-deb from a fresh single executable. Its
// contents are read with dpkg-deb; then it is installed on this machine with dpkg -i (CI runs as
// root in a throwaway machine), its program run from /usr/bin without node on PATH, and removed:
// dpkg -r leaves only the admin's config, dpkg --purge nothing at all.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { buildExecutable } from '../../scripts/build-executable.ts';
import { buildDeb, debFileName, packagedUnit, PACKAGE_NAME } from '../../scripts/build-deb.ts';
import { exerciseDemo, expectRefusesWithoutConfig, nodelessEnv, runProgram } from '../helpers/installed-exporter.ts';
import { scaled } from '../helpers/time-factor.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const CONFIG = `/etc/${PACKAGE_NAME}/config.yml`;

function sh(command: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: scaled(120_000) });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const installed = (): boolean => sh('dpkg-query', ['-W', '-f=${Status}', PACKAGE_NAME]).out.includes('installed');

/** What the package may leave on the machine: its files, its user and group, its systemd links. */
function traces(): string[] {
  const found: string[] = [];
  for (const path of [
    '/usr/bin/gitaly-tls-exporter',
    '/usr/lib/systemd/system/gitaly-tls-exporter.service',
    '/lib/systemd/system/gitaly-tls-exporter.service',
    CONFIG,
    `/etc/${PACKAGE_NAME}`,
    `/var/lib/${PACKAGE_NAME}`,
    `/etc/systemd/system/multi-user.target.wants/${PACKAGE_NAME}.service`,
    `/etc/systemd/system/${PACKAGE_NAME}.service`,
  ]) {
    if (existsSync(path)) found.push(path);
  }
  for (const dir of ['/var/lib/systemd/deb-systemd-helper-enabled', '/var/lib/systemd/deb-systemd-helper-masked']) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir, { recursive: true }) as string[]) if (f.includes(PACKAGE_NAME)) found.push(join(dir, f));
  }
  if (sh('getent', ['passwd', PACKAGE_NAME]).status === 0) found.push(`user ${PACKAGE_NAME}`);
  if (sh('getent', ['group', PACKAGE_NAME]).status === 0) found.push(`group ${PACKAGE_NAME}`);
  return found;
}

describe('Debian package (npm run build:deb)', function () {
  this.timeout(scaled(150_000));
  let dir: string;
  let deb: string;

  before(async function () {
    // The executable (130 MB) is built, then compressed with xz: a minute or two.
    this.timeout(scaled(900_000));
    dir = mkdtempSync(join(tmpdir(), 'gte-deb-test-'));
    deb = buildDeb(await buildExecutable(join(dir, 'gitaly-tls-exporter')), dir);
  });

  after(() => {
    // Never leave the package behind on the machine, whatever failed.
    if (installed()) sh('dpkg', ['--purge', PACKAGE_NAME]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is named gitaly-tls-exporter_<version>_amd64.deb and holds the program, the unit, the config (a conffile) and the scripts', () => {
    expect(deb).to.equal(join(dir, debFileName(pkg.version)));
    expect(debFileName(pkg.version)).to.equal(`gitaly-tls-exporter_${pkg.version}_amd64.deb`);
    const contents = sh('dpkg-deb', ['--contents', deb]);
    expect(contents.status, contents.out).to.equal(0);
    const files = contents.out
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => {
        const f = l.split(/\s+/);
        return `${f[0]} ${f[1]} ${f.at(-1)}`;
      });
    expect(files).to.deep.equal([
      '-rw-r--r-- root/root ./etc/gitaly-tls-exporter/config.yml',
      '-rwxr-xr-x root/root ./usr/bin/gitaly-tls-exporter',
      '-rw-r--r-- root/root ./usr/lib/systemd/system/gitaly-tls-exporter.service',
      '-rw-r--r-- root/root ./usr/share/doc/gitaly-tls-exporter/copyright',
    ]);
    const field = (name: string) => sh('dpkg-deb', ['--field', deb, name]).out.trim();
    expect([field('Package'), field('Version'), field('Architecture')]).to.deep.equal([PACKAGE_NAME, pkg.version, 'amd64']);
    const control = join(dir, 'control');
    expect(sh('dpkg-deb', ['--control', deb, control]).status).to.equal(0);
    expect(readFileSync(join(control, 'conffiles'), 'utf8')).to.equal(`${CONFIG}\n`);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      expect(sh('sh', ['-n', join(control, script)]), `${script} is valid sh`).to.deep.equal({ status: 0, out: '' });
    }
  });

  it('configures the local-mode example (never the demo), and runs the hardened unit as its own system user from /usr/bin', () => {
    const config = sh('sh', ['-c', `dpkg-deb --fsys-tarfile "$0" | tar -xO ./etc/${PACKAGE_NAME}/config.yml`, deb]);
    expect(config.out).to.equal(readFileSync(join(ROOT, 'deploy/systemd/config.yml'), 'utf8'));
    expect(config.out).to.match(/^local:\n {2}node: /m);
    const source = readFileSync(join(ROOT, 'deploy/systemd/gitaly-tls-exporter.service'), 'utf8');
    const unit = packagedUnit(source);
    const body = (text: string) => text.slice(text.indexOf('[Unit]')).split('\n');
    const changed = body(unit).filter((line) => !body(source).includes(line));
    expect(changed).to.deep.equal([
      'ExecStart=/usr/bin/gitaly-tls-exporter --config.file=/etc/gitaly-tls-exporter/config.yml --web.listen-address=:9787',
      `User=${PACKAGE_NAME}`,
      `Group=${PACKAGE_NAME}`,
    ]);
    expect(body(source).filter((line) => !body(unit).includes(line))).to.deep.equal([
      'ExecStart=/usr/local/bin/gitaly-tls-exporter --config.file=/etc/gitaly-tls-exporter/config.yml --web.listen-address=:9787',
      'DynamicUser=yes',
    ]);
  });

  it('installs with dpkg -i, runs from /usr/bin without node on PATH, and dpkg -r leaves only the config; --purge leaves nothing', async () => {
    expect(process.getuid?.(), 'dpkg -i needs root (CI runs as root on a throwaway machine)').to.equal(0);
    expect(installed(), `${PACKAGE_NAME} is already installed on this machine: the test would remove it`).to.equal(false);
    expect(traces(), 'before installing').to.deep.equal([]);

    const install = sh('dpkg', ['-i', deb]);
    expect(install.status, install.out).to.equal(0);
    expect(traces()).to.include.members([
      '/usr/bin/gitaly-tls-exporter',
      CONFIG,
      `/var/lib/${PACKAGE_NAME}`,
      `/etc/systemd/system/multi-user.target.wants/${PACKAGE_NAME}.service`,
      `user ${PACKAGE_NAME}`,
    ]);
    // The unit as installed, its program and user present: systemd's checks pass.
    const unitFile = '/usr/lib/systemd/system/gitaly-tls-exporter.service';
    const verify = sh('systemd-analyze', ['verify', unitFile]);
    expect(verify, 'systemd-analyze verify').to.deep.equal({ status: 0, out: '' });
    const security = sh('systemd-analyze', ['security', '--offline=true', unitFile]);
    expect(Number(/Overall exposure level for [^:]+: ([\d.]+)/.exec(security.out)?.[1]), security.out.slice(-500)).to.be.at.most(2.0);

    const work = join(dir, 'run');
    const env = nodelessEnv(work);
    const program = '/usr/bin/gitaly-tls-exporter';
    const version = runProgram(program, ['--version'], { cwd: work, env });
    expect(version.stdout, version.stderr).to.match(
      new RegExp(`^gitaly-tls-exporter ${pkg.version.replaceAll('.', '\\.')} \\(Node\\.js v24\\.`),
    );
    expectRefusesWithoutConfig(runProgram(program, [], { cwd: work, env }));
    await exerciseDemo(program, { cwd: work, env });

    const remove = sh('dpkg', ['-r', PACKAGE_NAME]);
    expect(remove.status, remove.out).to.equal(0);
    expect(traces(), 'after dpkg -r').to.deep.equal([CONFIG, `/etc/${PACKAGE_NAME}`]);

    const purge = sh('dpkg', ['--purge', PACKAGE_NAME]);
    expect(purge.status, purge.out).to.equal(0);
    expect(traces(), 'after dpkg --purge').to.deep.equal([]);
  });
});
