// Section 2: what one TLS probe costs us, against Prometheus's blackbox_exporter probing the same
// targets (tcp prober, tls: true). Blackbox's CPU is read from /proc/<pid>/stat; ours is
// process.cpuUsage() around in-process probeTls calls as a normal cycle makes them: checkVersions
// false, and a session cache, so a probe resumes the session of the previous one (the collector does a
// full handshake with the hourly version check). Full-handshake probes are measured beside them.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { parseAddress } from '../src/base/address.ts';
import type { NodeConfig } from '../src/config/types.ts';
import { mapWithConcurrency } from '../src/base/concurrency.ts';
import { probeTls } from '../src/probes/tls.ts';
import { applyRuntimeFlags } from '../src/base/runtime-flags.ts';
import { TlsSessionCache } from '../src/probes/tls-sessions.ts';
import { clockTicksPerSecond, freePort, processCpuMs, stopProcess, tempDir, track } from './processes.ts';
import { met, notMeasured, type Row } from './report.ts';
import { cpuMsBetween, fmt, median } from './stats.ts';

export const BLACKBOX_BIN = process.env.BLACKBOX_EXPORTER_BIN ?? '/usr/bin/prometheus-blackbox-exporter';
const CONCURRENCY = 8;
const ROUNDS = 5;
const TIMEOUT_MS = 5000;
const WHAT = 'CPU per TLS probe';
const TARGET = '≤ baseline';

async function startBlackbox(caFile: string): Promise<{ pid: number; url: string; stop: () => Promise<void> }> {
  const dir = await tempDir('blackbox');
  const config = join(dir, 'blackbox.yml');
  await writeFile(
    config,
    [
      'modules:',
      '  tls_connect:',
      '    prober: tcp',
      `    timeout: ${TIMEOUT_MS / 1000}s`,
      '    tcp:',
      '      preferred_ip_protocol: ip4',
      '      tls: true',
      '      tls_config:',
      `        ca_file: ${JSON.stringify(caFile)}`,
      // Like for like with our probe: a handshake and grpc.health.v1.Health/Check over it.
      '  grpc_health_tls:',
      '    prober: grpc',
      `    timeout: ${TIMEOUT_MS / 1000}s`,
      '    grpc:',
      '      preferred_ip_protocol: ip4',
      '      tls: true',
      '      service: ""',
      '      tls_config:',
      `        ca_file: ${JSON.stringify(caFile)}`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(BLACKBOX_BIN, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  track(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`blackbox_exporter exited with code ${child.exitCode}`);
    const up = await request(`${url}/-/healthy`).then(
      async (r) => {
        await r.body.dump();
        return r.statusCode === 200;
      },
      () => false,
    );
    if (up) return { pid: child.pid ?? 0, url, stop: () => stopProcess(child) };
    if (Date.now() > deadline) throw new Error('blackbox_exporter did not become healthy within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

type BlackboxModule = 'tls_connect' | 'grpc_health_tls';

async function blackboxRound(url: string, module: BlackboxModule, targets: string[], dispatcher: Dispatcher): Promise<void> {
  await mapWithConcurrency(targets, CONCURRENCY, async (target) => {
    const res = await request(`${url}/probe?module=${module}&target=${encodeURIComponent(target)}`, { dispatcher });
    const body = await res.body.text();
    if (res.statusCode !== 200 || !/^probe_success 1$/m.test(body))
      throw new Error(`blackbox_exporter (${module}) failed to probe ${target}: ${body.slice(0, 300)}`);
  });
}

/** `sessions` given: as a cycle probes (resuming); absent: full handshakes, as /probe and the hourly check. */
async function ourRound(targets: NodeConfig[], ca: string[], sessions?: TlsSessionCache, warmUp = false): Promise<void> {
  await mapWithConcurrency(targets, CONCURRENCY, async (node) => {
    const result = await probeTls(
      { node: node.name, address: node.tlsAddress! },
      { timeoutMs: TIMEOUT_MS, ca, checkVersions: false },
      sessions ? { sessions } : {},
    );
    if (!result.handshakeOk || result.trusted !== true || result.grpcHealthOk !== true)
      throw new Error(`probeTls failed on ${node.tlsAddress}: ${result.error?.message ?? result.trustError ?? 'gRPC health'}`);
    if (sessions && !warmUp && result.sessionResumed !== true)
      throw new Error(`probeTls did not resume its session with ${node.tlsAddress}`);
  });
}

/** Node's floor: a bare tls.connect handshake with a shared SecureContext, nothing read from the session. */
async function bareHandshakeRound(targets: NodeConfig[], context: tls.SecureContext): Promise<void> {
  await mapWithConcurrency(
    targets,
    CONCURRENCY,
    (node) =>
      new Promise<void>((resolve, reject) => {
        const parsed = parseAddress(node.tlsAddress!, ['tls://']);
        if (!parsed.ok) {
          reject(new Error(parsed.message));
          return;
        }
        const socket = tls.connect({
          host: parsed.value.host,
          port: parsed.value.port,
          secureContext: context,
          ALPNProtocols: ['h2'],
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        });
        socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no handshake with ${node.tlsAddress} within ${TIMEOUT_MS} ms`)));
        socket.once('secureConnect', () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      }),
  );
}

interface Side {
  cpuMs: number;
  wallMs: number;
  /** CPU per probe in each round: the spread is the machine's noise. */
  perRound: number[];
}

const side = (): Side => ({ cpuMs: 0, wallMs: 0, perRound: [] });

async function cpuOfRound(fn: () => Promise<void>, into: Side, probes: number): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  into.wallMs += performance.now() - t0;
  const cpuMs = cpuMsBetween(cpu0, process.cpuUsage());
  into.cpuMs += cpuMs;
  into.perRound.push(cpuMs / probes);
}

/** "1.23 ms (1.10 – 1.40)": the median round and the range over the rounds. */
function spread(s: Side): string {
  return `${fmt(median(s.perRound))} ms (${fmt(Math.min(...s.perRound))} – ${fmt(Math.max(...s.perRound))})`;
}

export async function tlsCostRows(nodes: NodeConfig[], caFile: string, log: (line: string) => void): Promise<Row[]> {
  if (!existsSync(BLACKBOX_BIN)) {
    const how = 'blackbox_exporter is not installed: apt-get install -y prometheus-blackbox-exporter (or set BLACKBOX_EXPORTER_BIN)';
    log(how);
    return [notMeasured('2', WHAT, TARGET, how)];
  }
  // Our probes run in this process: with the V8 flags the exporter sets for itself, as in production.
  applyRuntimeFlags();
  const targets = nodes.filter((n) => n.tlsAddress);
  const addresses = targets.map((n) => n.tlsAddress!);
  const ca = [await readFile(caFile, 'utf8')];
  const ticks = clockTicksPerSecond();
  const blackbox = await startBlackbox(caFile);
  const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
  try {
    log(`TLS probes: ${targets.length} targets, ${ROUNDS} rounds each for us and for blackbox_exporter, concurrency ${CONCURRENCY}`);
    const context = tls.createSecureContext({ ca });
    const sessions = new TlsSessionCache();
    await ourRound(targets, ca, sessions, true); // warm-up, and the sessions the measured rounds resume
    await ourRound(targets, ca);
    await bareHandshakeRound(targets, context);
    await blackboxRound(blackbox.url, 'grpc_health_tls', addresses, dispatcher);
    await blackboxRound(blackbox.url, 'tls_connect', addresses, dispatcher);
    const ours = side();
    const full = side();
    const bare = side();
    const theirs = side();
    const theirsTls = side();
    const n = targets.length;
    const blackboxSide = async (module: BlackboxModule, into: Side): Promise<void> => {
      const b0 = await processCpuMs(blackbox.pid, ticks);
      const t1 = performance.now();
      await blackboxRound(blackbox.url, module, addresses, dispatcher);
      into.wallMs += performance.now() - t1;
      const cpuMs = (await processCpuMs(blackbox.pid, ticks)) - b0;
      into.cpuMs += cpuMs;
      into.perRound.push(cpuMs / n);
    };
    // Alternate rounds so a burst of load on the machine hits every side alike.
    for (let round = 0; round < ROUNDS; round++) {
      await cpuOfRound(() => ourRound(targets, ca, sessions), ours, n);
      await blackboxSide('grpc_health_tls', theirs);
      await cpuOfRound(() => ourRound(targets, ca), full, n);
      await blackboxSide('tls_connect', theirsTls);
      await cpuOfRound(() => bareHandshakeRound(targets, context), bare, n);
    }
    const probes = n * ROUNDS;
    const perProbe = (s: Side): number => s.cpuMs / probes;
    const perSecond = (s: Side): number => probes / (s.wallMs / 1000);
    const data = {
      bareNodeHandshake: { cpuMsPerProbe: perProbe(bare), ...bare },
      fullHandshakeProbe: { cpuMsPerProbe: perProbe(full), ...full },
      targets: targets.length,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      clockTicksPerSecond: ticks,
      ours: { cpuMsPerProbe: perProbe(ours), probesPerSecond: perSecond(ours), ...ours },
      blackbox: { module: 'grpc (tls: true)', cpuMsPerProbe: perProbe(theirs), probesPerSecond: perSecond(theirs), ...theirs },
      blackboxTlsOnly: {
        module: 'tcp (tls: true)',
        cpuMsPerProbe: perProbe(theirsTls),
        probesPerSecond: perSecond(theirsTls),
        ...theirsTls,
      },
    };
    const ratio = (a: Side, b: Side): string => `${fmt(perProbe(a) / perProbe(b))}×`;
    return [
      {
        section: '2',
        what: `${WHAT} as a cycle makes it: session resumed, gRPC health over h2 (${targets.length} nodes × ${ROUNDS} rounds, concurrency ${CONCURRENCY}; median round, range)`,
        ours: `${spread(ours)} (${ratio(ours, theirs)})`,
        baseline: `${spread(theirs)} (blackbox_exporter grpc prober, tls: true)`,
        target: TARGET,
        met: met(perProbe(ours) <= perProbe(theirs)),
        note: `all rounds: ${fmt(perProbe(ours))} vs ${fmt(perProbe(theirs))} ms. Like for like: blackbox_exporter's grpc prober makes a TLS handshake (full, every probe) and grpc.health.v1.Health/Check over it, in a separate process answering /probe over HTTP (its figure includes that HTTP work, as it does when Prometheus uses it)`,
        data,
      },
      {
        section: '2',
        what: 'CPU per TLS probe with a full handshake (hourly per node, with the TLS version check; every /probe request)',
        ours: `${spread(full)} (${ratio(full, theirs)})`,
        baseline: `${spread(theirs)} (blackbox_exporter grpc prober, tls: true)`,
        target: '— (information)',
        met: 'info',
        note: 'chain read and verified, certificate facts, hostname, gRPC health; blackbox also makes a full handshake every probe',
      },
      {
        section: '2',
        what: 'CPU per TLS handshake without gRPC: bare Node.js tls.connect vs blackbox_exporter tcp prober (tls: true)',
        ours: `${spread(bare)} (${ratio(bare, theirsTls)})`,
        baseline: `${spread(theirsTls)} (blackbox_exporter tcp prober, tls: true)`,
        target: '— (information)',
        met: 'info',
        note: 'tls.connect with a shared SecureContext, socket destroyed at secureConnect: the floor for any handshake in Node, against a handshake-only probe',
      },
      {
        section: '2',
        what: 'TLS probes per second, same runs (resumed + gRPC health; blackbox grpc prober)',
        ours: `${fmt(data.ours.probesPerSecond)}/s`,
        baseline: `${fmt(data.blackbox.probesPerSecond)}/s (blackbox_exporter)`,
        target: '— (information)',
        met: 'info',
      },
    ];
  } finally {
    await dispatcher.close();
    await blackbox.stop();
  }
}
