// Child process: the exporter as it runs in production (real probes, fastify /metrics), alone in
// its process so its CPU and peak RSS are its own. Beside it, a bare node:http server sends the
// same /metrics bytes: the baseline for scrape latency under the same conditions.
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { realProbes } from '../src/collect/probes.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import type { Config, NodeConfig } from '../src/config/types.ts';
import { Exporter } from '../src/exporter.ts';
import { buildApp, METRICS_CONTENT_TYPE } from '../src/http/app.ts';
import { applyRuntimeFlags } from '../src/base/runtime-flags.ts';
import { startAllocationProfile, startCpuProfile, topSelf } from './profiles.ts';
import { runChild } from './ipc.ts';
import { cpuMsBetween } from './stats.ts';

export interface ExporterArgs {
  nodes: NodeConfig[];
  /** Absent: the system store. */
  caFile?: string;
  /** Holds the state file. */
  dir: string;
  prometheusUrl: string;
  concurrency: number;
  /** prometheus.direct_scrape; absent = true. */
  directScrape?: boolean;
  /** plaintext_check_interval and tls_version_check_interval (default: the config defaults, hourly). */
  checkIntervalMs?: number;
}

export interface ExporterInfo {
  metricsUrl: string;
  bareMetricsUrl: string;
}

export interface CycleResult {
  wallMs: number;
  cpuMs: number;
  nodes: number;
  scrapesOk: number;
  handshakesOk: number;
  metricsBytes: number;
  /** A few failure messages, so a broken run says why. */
  failures: string[];
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/metrics`);
    });
  });
}

// The V8 flags the exporter's entry point sets for itself (src/main.ts).
applyRuntimeFlags();
runChild<ExporterArgs>(async (args) => {
  const logger = pino({ level: 'silent' });
  // The defaults a config file gets, but wider concurrency. The plaintext dial and the
  // pinned-version handshakes run hourly, so a steady-state cycle is scrape + TLS probe +
  // certificate file + verdict + render.
  const config: Config = {
    source: '<bench>',
    nodes: args.nodes,
    prometheus: {
      url: args.prometheusUrl,
      instanceLabel: DEFAULTS.instanceLabel,
      scrapeIntervalMs: DEFAULTS.scrapeIntervalMs,
      ...(args.directScrape === false ? { directScrape: false } : {}),
    },
    soakWindowMs: DEFAULTS.soakWindowMs,
    collectionIntervalMs: DEFAULTS.collectionIntervalMs,
    plaintextCheckIntervalMs: args.checkIntervalMs ?? DEFAULTS.plaintextCheckIntervalMs,
    tlsVersionCheckIntervalMs: args.checkIntervalMs ?? DEFAULTS.tlsVersionCheckIntervalMs,
    expiryWarningMs: DEFAULTS.expiryWarningMs,
    concurrency: args.concurrency,
    timeouts: { ...DEFAULTS.timeouts },
    maxMetricsPageBytes: DEFAULTS.maxMetricsPageBytes,
    maxPrometheusResponseBytes: DEFAULTS.maxPrometheusResponseBytes,
    stateFile: join(args.dir, 'state.json'),
    caFile: args.caFile,
    allowUnlistedTargets: false,
  };
  const exporter = new Exporter({ config, logger, probes: realProbes });
  await exporter.init();
  const app = buildApp({ logger, view: exporter });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const metricsUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/metrics`;
  // The cheapest way to send the same bytes: encoded once per collection, as /metrics does.
  let bareText = '';
  let bareBytes = Buffer.alloc(0);
  const bare = http.createServer((_req, res) => {
    const text = exporter.metricsText();
    if (text !== bareText) {
      bareText = text;
      bareBytes = Buffer.from(text);
    }
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': bareBytes.length }).end(bareBytes);
  });
  const bareMetricsUrl = await listen(bare);

  // The highest RSS sample and its split, every 20 ms: VmHWM gives the peak, this says what it was made of.
  let atPeak: (NodeJS.MemoryUsage & { stage: string }) | null = null;
  let stage = 'idle';
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    if (!atPeak || m.rss > atPeak.rss) atPeak = { ...m, stage };
  }, 20);
  sampler.unref();

  let loop: Promise<number> | null = null;
  let looping = false;
  const info: ExporterInfo = { metricsUrl, bareMetricsUrl };
  return {
    info,
    handlers: {
      async cycle(): Promise<CycleResult> {
        stage = stage === 'idle' ? 'warm-up cycle' : 'measured cycle';
        // Investigation knobs over the measured cycle, to stderr: BENCH_ALLOC_PROFILE=1 the top
        // allocators (garbage included); BENCH_CPU_PROFILE=1 the main thread's CPU by function
        // (=file.cpuprofile also keeps the profile for Chrome DevTools).
        const measured = stage === 'measured cycle';
        const allocProfiling = process.env.BENCH_ALLOC_PROFILE && measured ? await startAllocationProfile() : null;
        const cpuProfiling = process.env.BENCH_CPU_PROFILE && measured ? await startCpuProfile(1000) : null;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const snapshot = await exporter.collector.collect();
        if (allocProfiling) process.stderr.write(`${(await allocProfiling()).join('\n')}\n`);
        if (cpuProfiling) {
          const profile = await cpuProfiling();
          const file = process.env.BENCH_CPU_PROFILE;
          if (file?.endsWith('.cpuprofile')) await writeFile(file, JSON.stringify(profile));
          process.stderr.write(`CPU in the measured cycle (self time):\n${topSelf(profile, 40).join('\n')}\n`);
        }
        const wallMs = performance.now() - t0;
        const cpuMs = cpuMsBetween(cpu0, process.cpuUsage());
        const failures = snapshot.nodes.flatMap(({ observation: o }) => [
          ...(o.scrape && !o.scrape.ok ? [`${o.node.name} scrape: ${o.scrape.error.message}`] : []),
          ...(o.tls && !o.tls.handshakeOk ? [`${o.node.name} TLS: ${o.tls.error?.message ?? 'no handshake'}`] : []),
        ]);
        return {
          wallMs,
          cpuMs,
          nodes: snapshot.nodes.length,
          scrapesOk: snapshot.nodes.filter((n) => n.observation.scrape?.ok).length,
          handshakesOk: snapshot.nodes.filter((n) => n.observation.tls?.handshakeOk).length,
          metricsBytes: Buffer.byteLength(exporter.metricsText()),
          failures: failures.slice(0, 5),
        };
      },
      // Back-to-back collections while the parent scrapes /metrics.
      loadStart(): Promise<null> {
        stage = 'load test';
        looping = true;
        loop = (async () => {
          let cycles = 0;
          while (looping) {
            await exporter.collector.collect();
            cycles++;
          }
          return cycles;
        })();
        return Promise.resolve(null);
      },
      // Where the memory is: V8 heap vs buffers outside it (after a full GC when --expose-gc is on).
      async memory(): Promise<
        NodeJS.MemoryUsage & {
          afterGc: NodeJS.MemoryUsage | null;
          spaces: Record<string, number>;
          smaps: Record<string, number>;
          atPeak: (NodeJS.MemoryUsage & { stage: string }) | null;
        }
      > {
        const before = process.memoryUsage();
        const gc = (globalThis as { gc?: () => void }).gc;
        if (gc) gc();
        // BENCH_HEAP_SNAPSHOT=file.heapsnapshot: what the live heap holds, for Chrome DevTools' Memory tab.
        if (process.env.BENCH_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.BENCH_HEAP_SNAPSHOT);
        const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
        // The kernel's split of RSS: anonymous (heap, malloc) vs file-backed (the node binary, libraries).
        const rollup = await readFile('/proc/self/smaps_rollup', 'utf8').catch(() => '');
        if (process.env.BENCH_SMAPS) await writeFile(process.env.BENCH_SMAPS, await readFile('/proc/self/smaps', 'utf8'));
        const smaps = Object.fromEntries(
          [...rollup.matchAll(/^(\w+):\s+(\d+) kB$/gm)].map((m) => [m[1]!, Number(m[2]) * 1024] as [string, number]),
        );
        return { ...before, afterGc: gc ? process.memoryUsage() : null, spaces, smaps, atPeak };
      },
      async loadStop(): Promise<{ cycles: number }> {
        looping = false;
        return { cycles: loop ? await loop : 0 };
      },
    },
  };
});
