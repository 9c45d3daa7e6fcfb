// Entry point: runs the CLI and turns its answer into the process exit code. No top-level await:
// the same file is bundled as CommonJS for the single executable (Node's SEA runs CommonJS only).
import { main } from './cli.ts';
import { applyRuntimeFlags } from './base/runtime-flags.ts';

applyRuntimeFlags();
void main(process.argv.slice(2)).then((code) => {
  // -1: the server runs until a signal; close-with-grace ends the process then.
  if (code >= 0) process.exit(code);
});
