// `npx tsx bench/profile-tls.ts [rounds]`: where a TLS probe's CPU goes. Starts a 100-node simulated
// fleet in a child process, probes it in this process under the V8 CPU profiler (node:inspector),
// and prints the functions with the most self time, grouped, for full and resumed handshakes.
import { readFile } from 'node:fs/promises';
import type { NodeConfig } from '../src/config/types.ts';
import { mapWithConcurrency } from '../src/base/concurrency.ts';
import { probeTls } from '../src/probes/tls.ts';
import { TlsSessionCache } from '../src/probes/tls-sessions.ts';
import type { FleetArgs, FleetInfo } from './fleet-process.ts';
import { cleanupAll, startChild, tempDir } from './processes.ts';
import { startCpuProfile, topSelf } from './profiles.ts';
import { cpuMsBetween, fmt } from './stats.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const TARGETS = 100;

async function main(): Promise<void> {
  const fleet = await startChild<FleetInfo>(
    'fleet-process.ts',
    { dir: await tempDir('fleet'), scale: TARGETS } satisfies FleetArgs,
    120_000,
  );
  const nodes: NodeConfig[] = fleet.ready.nodes.filter((n) => n.tlsAddress);
  const ca = [await readFile(fleet.ready.caFile, 'utf8')];
  for (const mode of ['full', 'resumed'] as const) {
    const sessions = new TlsSessionCache();
    let resumed = 0;
    const round = (): Promise<unknown> =>
      mapWithConcurrency(nodes, 8, async (node) => {
        const r = await probeTls(
          { node: node.name, address: node.tlsAddress! },
          { timeoutMs: 5000, ca, checkVersions: false, fullHandshake: mode === 'full' },
          { sessions },
        );
        if (!r.handshakeOk) throw new Error(`probe of ${node.tlsAddress} failed: ${r.error?.message}`);
        if (r.sessionResumed) resumed++;
      });
    await round(); // warm-up (and the sessions to resume)
    const plain0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) await round();
    const plainMs = cpuMsBetween(plain0, process.cpuUsage()) / (ROUNDS * nodes.length);
    resumed = 0;
    const stop = await startCpuProfile(100);
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) await round();
    const cpuMs = cpuMsBetween(cpu0, process.cpuUsage());
    const profile = await stop();
    process.stdout.write(
      `\n== ${mode} handshakes: ${fmt(cpuMs / (ROUNDS * nodes.length))} ms CPU per probe (profiler on; ${fmt(plainMs)} ms off), ${resumed} of ${ROUNDS * nodes.length} resumed\n`,
    );
    process.stdout.write(`${topSelf(profile, 25).join('\n')}\n`);
  }
  await fleet.stop();
}

try {
  await main();
} finally {
  await cleanupAll();
}
