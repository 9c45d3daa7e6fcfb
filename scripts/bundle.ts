// Builds the single-file install: dist/gitaly-tls-exporter.mjs, every dependency inlined, runnable
// with nothing but Node.js (`node gitaly-tls-exporter.mjs --version`, or executable through its
// shebang). The only file the exporter reads about itself, package.json, is compiled in as the version.
// The same bundle as CommonJS (format 'cjs') is what the single executable runs (build-executable.ts).
import { readFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE_FILE = join(ROOT, 'dist', 'gitaly-tls-exporter.mjs');

export interface BundleOptions {
  /** 'esm' (default): the single-file install. 'cjs': the single executable's main script. */
  format?: 'esm' | 'cjs';
}

// CommonJS dependencies (fastify, pino, …) call require() for Node's built-in modules; an ES module
// has no require, so the ES module build gets one. The CommonJS build has require but no
// import.meta: its import.meta.url becomes this file's URL (createRequire still resolves from it).
function banner(format: 'esm' | 'cjs', version: string, engines: string): { banner: string[]; define: Record<string, string> } {
  if (format === 'cjs') {
    return {
      banner: [
        `// gitaly-tls-exporter ${version}: the single executable's main script (npm run build:executable).`,
        "const __gteImportMetaUrl = require('node:url').pathToFileURL(__filename).href;",
      ],
      define: { 'import.meta.url': '__gteImportMetaUrl' },
    };
  }
  return {
    banner: [
      '#!/usr/bin/env node',
      `// gitaly-tls-exporter ${version}: single-file build (npm run bundle). Needs Node.js ${engines}.`,
      "import { createRequire as __gteCreateRequire } from 'node:module';",
      'const require = __gteCreateRequire(import.meta.url);',
    ],
    define: {},
  };
}

export async function bundle(outfile = BUNDLE_FILE, options: BundleOptions = {}): Promise<string> {
  const format = options.format ?? 'esm';
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
  const nodeMajor = /(\d+)/.exec(pkg.engines.node)?.[1] ?? '20';
  const head = banner(format, pkg.version, pkg.engines.node);
  await build({
    entryPoints: [join(ROOT, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: `node${nodeMajor}`,
    minify: false,
    sourcemap: false,
    legalComments: 'eof',
    logLevel: 'warning',
    define: { BUNDLED_VERSION: JSON.stringify(pkg.version), ...head.define },
    banner: { js: head.banner.join('\n') },
  });
  await chmod(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await bundle(process.argv[2] ?? BUNDLE_FILE);
  process.stdout.write(`${out}\n`);
}
