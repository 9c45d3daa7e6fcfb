// Builds the single-file install: dist/gitaly-tls-exporter.mjs, every dependency inlined, runnable
// with nothing but Node.js (`node gitaly-tls-exporter.mjs --version`, or executable through its
// shebang). The only file the exporter reads about itself, package.json, is compiled in as the version.
import { readFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE_FILE = join(ROOT, 'dist', 'gitaly-tls-exporter.mjs');

export async function bundle(outfile = BUNDLE_FILE): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
  const nodeMajor = /(\d+)/.exec(pkg.engines.node)?.[1] ?? '20';
  await build({
    entryPoints: [join(ROOT, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${nodeMajor}`,
    minify: false,
    sourcemap: false,
    legalComments: 'eof',
    logLevel: 'warning',
    define: { BUNDLED_VERSION: JSON.stringify(pkg.version) },
    // CommonJS dependencies (fastify, pino, …) call require() for Node's built-in modules; an ES
    // module has no require, so give the bundle one.
    banner: {
      js: [
        '#!/usr/bin/env node',
        `// gitaly-tls-exporter ${pkg.version}: single-file build (npm run bundle). Needs Node.js ${pkg.engines.node}.`,
        "import { createRequire as __gteCreateRequire } from 'node:module';",
        'const require = __gteCreateRequire(import.meta.url);',
      ].join('\n'),
    },
  });
  await chmod(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await bundle(process.argv[2] ?? BUNDLE_FILE);
  process.stdout.write(`${out}\n`);
}
