// `npx tsx bench/profile-tls.ts [rounds]`: where a TLS probe's CPU goes. Starts a 100-node simulated
// fleet in a child process, probes it in this process under the V8 CPU profiler (node:inspector),
// and prints the functions with the most self time, grouped, for full and resumed handshakes.
import { readFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import type { NodeConfig } from '../src/config/types.ts';
import { mapWithConcurrency } from '../src/concurrency.ts';
import { probeTls } from '../src/probes/tls.ts';
import { TlsSessionCache } from '../src/probes/tls-sessions.ts';
import type { FleetArgs, FleetInfo } from './fleet-process.ts';
import { cleanupAll, startChild, tempDir } from './processes.ts';
import { cpuMsBetween, fmt } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const ROUNDS = Number(process.argv[2] ?? 5);
const TARGETS = 100;

function topSelf(profile: { nodes: ProfileNode[] }, limit: number): string[] {
  const total = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const byFunction = new Map<string, number>();
  for (const n of profile.nodes) {
    const file = n.callFrame.url.replace(/^.*\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, '');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${file ? `${file}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([key, hits]) => `${fmt((100 * hits) / total).padStart(6)} %  ${key}`);
}

async function main(): Promise<void> {
  const fleet = await startChild<FleetInfo>(
    'fleet-process.ts',
    { dir: await tempDir('fleet'), scale: TARGETS } satisfies FleetArgs,
    120_000,
  );
  const nodes: NodeConfig[] = fleet.ready.nodes.filter((n) => n.tlsAddress);
  const ca = [await readFile(fleet.ready.caFile, 'utf8')];
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
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
    await session.post('Profiler.start');
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) await round();
    const cpuMs = cpuMsBetween(cpu0, process.cpuUsage());
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: { nodes: ProfileNode[] } };
    process.stdout.write(
      `\n== ${mode} handshakes: ${fmt(cpuMs / (ROUNDS * nodes.length))} ms CPU per probe (profiler on; ${fmt(plainMs)} ms off), ${resumed} of ${ROUNDS * nodes.length} resumed\n`,
    );
    process.stdout.write(`${topSelf(profile, 25).join('\n')}\n`);
  }
  session.disconnect();
  await fleet.stop();
}

try {
  await main();
} finally {
  await cleanupAll();
}
