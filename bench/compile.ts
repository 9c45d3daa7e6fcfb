// The exporter runs in production as compiled JavaScript under plain node (Dockerfile: node
// dist/main.js), not under tsx, whose loader alone adds ~30 MB of RSS. So the exporter child is
// compiled with tsc first, into a directory under the repository (its imports find node_modules).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, tempDir } from './processes.ts';

const run = promisify(execFile);

/** Compiles bench/exporter-process.ts and the src/ files it imports; returns the .js entry. */
export async function compileExporterChild(log: (line: string) => void): Promise<string> {
  const parent = join(REPO_ROOT, 'bench-results');
  await mkdir(parent, { recursive: true });
  const outDir = await tempDir('build', parent);
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const entry = join(outDir, 'bench', 'exporter-process.js');
  try {
    await run(process.execPath, [tsc, '-p', join(REPO_ROOT, 'bench', 'tsconfig.exporter.json'), '--outDir', outDir], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
  } catch (err) {
    // tsc still emits when it finds type errors (exit code 2); a half-edited tree elsewhere should not stop the bench.
    if (!existsSync(entry)) throw err;
    log(`tsc reported type errors while compiling the exporter child; running the emitted JavaScript anyway`);
  }
  // The exporter reads its version from the package.json one level above its sources.
  await copyFile(join(REPO_ROOT, 'package.json'), join(outDir, 'package.json'));
  return entry;
}
