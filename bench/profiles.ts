// V8's sampling profilers through node:inspector, summarised by function: the CPU profiler for
// bench/profile-tls.ts and BENCH_CPU_PROFILE, the heap profiler (garbage included) for
// BENCH_ALLOC_PROFILE. Both are read the same way: where a sample was, as "function file:line".
import { Session } from 'node:inspector/promises';
import { fmt } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
}

interface SampleNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SampleNode[];
}

/** "function file:line", the file relative to node_modules, src or bench (or node's own module name). */
function frameLabel({ functionName, url, lineNumber }: CallFrame): string {
  const file = url.replace(/^.*\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, '');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

/** The `limit` functions with the most samples, as "percent  name file:line" lines. */
export function topSelf(profile: CpuProfile, limit: number): string[] {
  const total = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const byFunction = new Map<string, number>();
  for (const n of profile.nodes) {
    const key = frameLabel(n.callFrame);
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

/**
 * Starts the sampling heap profiler, objects collected later included; the returned function stops
 * it and gives the total and the top allocators (with up to three callers) as printable lines.
 */
export async function startAllocationProfile(): Promise<() => Promise<string[]>> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 32 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as object);
  return async () => {
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SampleNode } };
    session.disconnect();
    const byPath = new Map<string, number>();
    const walk = (n: SampleNode, callers: string[]): void => {
      const path = [frameLabel(n.callFrame), ...callers];
      const key = path.join(' < ');
      if (n.selfSize > 0) byPath.set(key, (byPath.get(key) ?? 0) + n.selfSize);
      for (const c of n.children) walk(c, path.slice(0, 4));
    };
    walk(profile.head, []);
    const total = [...byPath.values()].reduce((a, b) => a + b, 0);
    const top = [...byPath].sort((a, b) => b[1] - a[1]).slice(0, 30);
    return [
      `allocated in the measured cycle (sampled): ${(total / 1048576).toFixed(0)} MiB`,
      ...top.map(([path, bytes]) => `${(bytes / 1048576).toFixed(1).padStart(7)} MiB  ${path.slice(0, 260)}`),
    ];
  };
}
