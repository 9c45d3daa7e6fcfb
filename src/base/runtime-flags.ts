// V8 flags the exporter sets for itself at start, so every way of running it (the image, systemd,
// the bin script, npm start) gets them without a command-line flag to forget.
//
// --optimize-for-size: by default V8 lets the heap grow to several times the live data before it
// collects, and a collection cycle makes a lot of short-lived garbage (a metrics page streamed per
// node, a TLS handshake per node, the rendered /metrics page). At 1,000 nodes the live heap is
// 35-55 MiB, yet peak RSS is 272 MiB on Node 20 without this flag and 162-182 MiB with it
// (188-200 MiB on Node 24). The price is CPU: more GC and slower JavaScript took a 1,000-node
// cycle's main thread from 3.8 s to 8.0 s busy in the same hour (docs/benchmark.md). The flag is
// read at every collection, so setting it after the VM started takes effect (checked on Node 20
// and 24). Naming it on node's command line, either way (`node --no-optimize-for-size dist/main.js`
// trades memory back for CPU), is left alone.
import { setFlagsFromString } from 'node:v8';

export const RUNTIME_V8_FLAGS: readonly string[] = ['--optimize-for-size'];

/** The flags to set: those the command line (node's own options, `execArgv`) does not name either way. */
export function flagsToApply(execArgv: readonly string[]): string[] {
  const named = new Set(
    execArgv.map((arg) =>
      arg
        .split('=')[0]!
        .replace(/_/g, '-')
        .replace(/^--no-/, '--'),
    ),
  );
  return RUNTIME_V8_FLAGS.filter((flag) => !named.has(flag));
}

export function applyRuntimeFlags(execArgv: readonly string[] = process.execArgv): void {
  for (const flag of flagsToApply(execArgv)) setFlagsFromString(flag);
}
