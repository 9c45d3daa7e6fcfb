// V8's sampling CPU profiler through node:inspector, summarised as the functions with the most self
// time: what bench/profile-tls.ts prints, and BENCH_CPU_PROFILE=1 over the exporter's measured cycle.
import { Session } from 'node:inspector/promises';
import { fmt } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
}

/** The `limit` functions with the most samples, as "percent  name file:line" lines. */
export function topSelf(profile: CpuProfile, limit: number): string[] {
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

/** Starts the profiler (one sample per `intervalUs`); the returned function stops it and gives the profile. */
export async function startCpuProfile(intervalUs: number): Promise<() => Promise<CpuProfile>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    session.disconnect();
    return profile;
  };
}
