#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by npm run build; npm pack builds it first). Never the
// TypeScript source: that needs tsx, a devDependency an installed package does not have.
// In a checkout, npm start runs the source.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const built = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
if (!existsSync(built)) {
  process.stderr.write(`gitaly-tls-exporter: ${built} is missing: run npm run build in the checkout (npm pack does it)\n`);
  process.exit(2);
}
await import(built);
