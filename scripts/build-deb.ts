// Builds dist/gitaly-tls-exporter_<version>_amd64.deb with dpkg-deb alone: the single executable
// (build-executable.ts) in /usr/bin, the hardened unit of deploy/systemd/ run as a system user, the
// local-mode config.yml of deploy/systemd/ as a conffile (example nodes, never the demo), and the
// maintainer scripts of deploy/debian/ (user, state directory, unit enablement).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildExecutable, EXECUTABLE_FILE } from './build-executable.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PACKAGE_NAME = 'gitaly-tls-exporter';
const UNIT_SOURCE = join(ROOT, 'deploy', 'systemd', 'gitaly-tls-exporter.service');
const CONFIG_SOURCE = join(ROOT, 'deploy', 'systemd', 'config.yml');
const SCRIPTS = join(ROOT, 'deploy', 'debian');
const BUILD_TIMEOUT_MS = 600_000;

function replaceOnce(text: string, from: string, to: string, what: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${UNIT_SOURCE}: expected exactly one ${what} (${JSON.stringify(from)})`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/**
 * deploy/systemd's unit as the package installs it: the executable in /usr/bin, and the system user
 * the package creates instead of DynamicUser= (a dynamic user could not own the state directory
 * across a reinstall, and postrm needs a name to remove). Its install comments are for the manual
 * install, so they give way to one line about the package.
 */
export function packagedUnit(source = readFileSync(UNIT_SOURCE, 'utf8')): string {
  const body = source.slice(source.indexOf('[Unit]'));
  let unit = replaceOnce(body, '\nExecStart=/usr/local/bin/gitaly-tls-exporter ', '\nExecStart=/usr/bin/gitaly-tls-exporter ', 'ExecStart');
  unit = replaceOnce(unit, '\nDynamicUser=yes\n', `\nUser=${PACKAGE_NAME}\nGroup=${PACKAGE_NAME}\n`, 'DynamicUser=yes');
  return `# Installed by the ${PACKAGE_NAME} Debian package. Edit /etc/${PACKAGE_NAME}/config.yml, then\n# systemctl reload ${PACKAGE_NAME}; local changes to this unit: systemctl edit ${PACKAGE_NAME}.\n${unit}`;
}

function control(version: string, installedKb: number): string {
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${version}`,
    'Architecture: amd64',
    `Maintainer: ${PACKAGE_NAME} maintainers <${PACKAGE_NAME}@users.noreply.github.com>`,
    `Installed-Size: ${installedKb}`,
    // useradd/userdel/groupdel (postinst, postrm); deb-systemd-helper is used where installed.
    'Depends: passwd',
    'Section: net',
    'Priority: optional',
    'Description: Prometheus exporter for a Gitaly fleet moving from plaintext to TLS',
    ' Tells GitLab administrators, with evidence, when their Gitaly fleet has finished',
    ' moving from plaintext (listen_addr) to TLS (tls_listen_addr), and warns before a',
    ' Gitaly certificate breaks. One executable with Node.js inside; runs as a systemd',
    ' service in local mode on a Gitaly host (edit /etc/gitaly-tls-exporter/config.yml).',
    '',
  ].join('\n');
}

function put(root: string, path: string, data: string | Buffer, mode: number): void {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, data);
  chmodSync(file, mode);
}

export function debFileName(version: string): string {
  return `${PACKAGE_NAME}_${version}_amd64.deb`;
}

/** Packages `executable` (a built single executable) into outDir; returns the .deb's path. */
export function buildDeb(executable: string, outDir = join(ROOT, 'dist')): string {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const root = mkdtempSync(join(tmpdir(), 'gte-deb-'));
  try {
    chmodSync(root, 0o755);
    put(root, 'usr/bin/gitaly-tls-exporter', readFileSync(executable), 0o755);
    put(root, 'usr/lib/systemd/system/gitaly-tls-exporter.service', packagedUnit(), 0o644);
    put(root, `etc/${PACKAGE_NAME}/config.yml`, readFileSync(CONFIG_SOURCE), 0o644);
    put(root, `usr/share/doc/${PACKAGE_NAME}/copyright`, `${PACKAGE_NAME}: MIT license (see the project's repository).\n`, 0o644);
    const installedKb = Math.ceil(statSync(executable).size / 1024) + 16;
    put(root, 'DEBIAN/control', control(version, installedKb), 0o644);
    put(root, 'DEBIAN/conffiles', `/etc/${PACKAGE_NAME}/config.yml\n`, 0o644);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      mkdirSync(join(root, 'DEBIAN'), { recursive: true });
      copyFileSync(join(SCRIPTS, script), join(root, 'DEBIAN', script));
      chmodSync(join(root, 'DEBIAN', script), 0o755);
    }
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, debFileName(version));
    // xz, as Debian's own packages: 30 MB where gzip gives 45 MB (the Node binary inside).
    const r = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
    if (r.error)
      throw new Error(
        `dpkg-deb: ${r.error.message}${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (apt-get install -y dpkg)' : ''}`,
      );
    if (r.status !== 0) throw new Error(`dpkg-deb --build failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // The package is built from a fresh executable: a stale one would ship old code under a new version.
  const executable = await buildExecutable(EXECUTABLE_FILE);
  if (!existsSync(executable)) throw new Error(`${executable} was not built`);
  process.stdout.write(`${buildDeb(executable)}\n`);
}
