// Entry point: runs the CLI and turns its answer into the process exit code.
import { main } from './cli.ts';
import { applyRuntimeFlags } from './base/runtime-flags.ts';

applyRuntimeFlags();
const code = await main(process.argv.slice(2));
// -1: the server runs until a signal; close-with-grace ends the process then.
if (code >= 0) process.exit(code);
