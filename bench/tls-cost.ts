// Section 2: what one TLS probe costs us, against Prometheus's blackbox_exporter probing the same
// targets (tcp prober, tls: true). Blackbox's CPU is read from /proc/<pid>/stat; ours is
// process.cpuUsage() around in-process probeTls calls (checkVersions false, as in a normal cycle).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { parseAddress } from '../src/address.ts';
import type { NodeConfig } from '../src/config/types.ts';
import { mapWithConcurrency } from '../src/concurrency.ts';
import { probeTls } from '../src/probes/tls.ts';
import { clockTicksPerSecond, freePort, processCpuMs, stopProcess, tempDir, track } from './processes.ts';
import { met, notMeasured, type Row } from './report.ts';
import { cpuMsBetween, fmt } from './stats.ts';

export const BLACKBOX_BIN = process.env.BLACKBOX_EXPORTER_BIN ?? '/usr/bin/prometheus-blackbox-exporter';
const CONCURRENCY = 8;
const ROUNDS = 3;
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

async function blackboxRound(url: string, targets: string[], dispatcher: Dispatcher): Promise<void> {
  await mapWithConcurrency(targets, CONCURRENCY, async (target) => {
    const res = await request(`${url}/probe?module=tls_connect&target=${encodeURIComponent(target)}`, { dispatcher });
    const body = await res.body.text();
    if (res.statusCode !== 200 || !/^probe_success 1$/m.test(body)) throw new Error(`blackbox_exporter failed to probe ${target}`);
  });
}

async function ourRound(targets: NodeConfig[], ca: string[]): Promise<void> {
  await mapWithConcurrency(targets, CONCURRENCY, async (node) => {
    const result = await probeTls({ node: node.name, address: node.tlsAddress! }, { timeoutMs: TIMEOUT_MS, ca, checkVersions: false });
    if (!result.handshakeOk || result.trusted !== true)
      throw new Error(`probeTls failed on ${node.tlsAddress}: ${result.error?.message ?? result.trustError}`);
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

async function cpuOfRound(fn: () => Promise<void>, into: { cpuMs: number; wallMs: number }): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  into.wallMs += performance.now() - t0;
  into.cpuMs += cpuMsBetween(cpu0, process.cpuUsage());
}

export async function tlsCostRows(nodes: NodeConfig[], caFile: string, log: (line: string) => void): Promise<Row[]> {
  if (!existsSync(BLACKBOX_BIN)) {
    const how = 'blackbox_exporter is not installed: apt-get install -y prometheus-blackbox-exporter (or set BLACKBOX_EXPORTER_BIN)';
    log(how);
    return [notMeasured('2', WHAT, TARGET, how)];
  }
  const targets = nodes.filter((n) => n.tlsAddress);
  const addresses = targets.map((n) => n.tlsAddress!);
  const ca = [await readFile(caFile, 'utf8')];
  const ticks = clockTicksPerSecond();
  const blackbox = await startBlackbox(caFile);
  const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
  try {
    log(`TLS probes: ${targets.length} targets, ${ROUNDS} rounds each for us and for blackbox_exporter, concurrency ${CONCURRENCY}`);
    const context = tls.createSecureContext({ ca });
    await ourRound(targets, ca); // warm-up
    await bareHandshakeRound(targets, context);
    await blackboxRound(blackbox.url, addresses, dispatcher);
    const ours = { cpuMs: 0, wallMs: 0 };
    const bare = { cpuMs: 0, wallMs: 0 };
    const theirs = { cpuMs: 0, wallMs: 0 };
    // Alternate rounds so a burst of load on the machine hits every side alike.
    for (let round = 0; round < ROUNDS; round++) {
      await cpuOfRound(() => ourRound(targets, ca), ours);
      await cpuOfRound(() => bareHandshakeRound(targets, context), bare);
      const b0 = await processCpuMs(blackbox.pid, ticks);
      const t1 = performance.now();
      await blackboxRound(blackbox.url, addresses, dispatcher);
      theirs.wallMs += performance.now() - t1;
      theirs.cpuMs += (await processCpuMs(blackbox.pid, ticks)) - b0;
    }
    const probes = targets.length * ROUNDS;
    const oursPerProbe = ours.cpuMs / probes;
    const theirsPerProbe = theirs.cpuMs / probes;
    const barePerProbe = bare.cpuMs / probes;
    const data = {
      bareNodeHandshake: { cpuMsPerProbe: barePerProbe, ...bare },
      targets: targets.length,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      clockTicksPerSecond: ticks,
      ours: { cpuMsPerProbe: oursPerProbe, probesPerSecond: probes / (ours.wallMs / 1000), ...ours },
      blackbox: { cpuMsPerProbe: theirsPerProbe, probesPerSecond: probes / (theirs.wallMs / 1000), ...theirs },
    };
    return [
      {
        section: '2',
        what: `${WHAT} (${targets.length} nodes × ${ROUNDS}, concurrency ${CONCURRENCY})`,
        ours: `${fmt(oursPerProbe)} ms`,
        baseline: `${fmt(theirsPerProbe)} ms (blackbox_exporter)`,
        target: TARGET,
        met: met(oursPerProbe <= theirsPerProbe),
        note: 'blackbox_exporter is a separate process answering /probe over HTTP; its figure includes that HTTP work, as it does when Prometheus uses it',
        data,
      },
      {
        section: '2',
        what: 'CPU per bare Node.js TLS handshake, same targets (the floor for any probe in Node)',
        ours: `${fmt(barePerProbe)} ms`,
        baseline: `${fmt(theirsPerProbe)} ms (blackbox_exporter)`,
        target: '— (information)',
        met: 'info',
        note: 'tls.connect with a shared SecureContext, socket destroyed at secureConnect: no certificate read, no facts computed',
      },
      {
        section: '2',
        what: 'TLS probes per second, same runs',
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
