// The demo fleet: simulated Gitaly and Praefect nodes, certificates on disk, and Rails-like traffic,
// telling a migration story an operator recognises (one node at each stage) within `migrationMs`.
// Scale mode starts N quiet nodes for the benchmark instead.
//
// Ports with basePort (deterministic, for docker-compose): node i (0-based, in the order of `nodes`)
// gets metrics = basePort + 3i, TLS = basePort + 3i + 1, plaintext = basePort + 3i + 2.
// Without basePort every port is ephemeral.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Role } from '../config/types.ts';
import { formatHostPort, isIpLiteral } from '../base/address.ts';
import { chainPem, createCa, createIntermediate, createLeaf, DAY_MS, type Issued } from './certs.ts';
import { startSimulatedNode, type NodeTls, type SimulatedNode } from './gitaly-node.ts';
import { startTrafficDriver, type TrafficClientPlan, type TrafficDriver } from './clients.ts';

export interface DemoFleetOptions {
  /** Address the listeners bind to. Default 127.0.0.1. */
  host?: string;
  /** Host the exporter dials (and the certificates name), e.g. a docker-compose service name. Default: host, or 127.0.0.1 when host is a wildcard. */
  advertiseHost?: string;
  /** Certificates and keys are written here. */
  dir: string;
  /** How long the story takes. Default 120000. */
  migrationMs?: number;
  logger?: Logger;
  /** Bench mode: this many quiet Gitaly nodes, no traffic. */
  scale?: number;
  basePort?: number;
  /** Bench mode: pad each /metrics page to about this many bytes. */
  metricsPageBytes?: number;
  /** Time between two health checks of one demo client. Default 3000. */
  trafficIntervalMs?: number;
}

export interface DemoNodeInfo {
  name: string;
  role: Role;
  metricsUrl: string;
  tlsAddress?: string;
  plaintextAddress?: string;
  /** The certificate_path the exporter compares with what is served. */
  certificateFile?: string;
  serverName?: string;
  node: SimulatedNode;
}

export interface DemoFleet {
  nodes: DemoNodeInfo[];
  /** The root CA (PEM) that signed every demo certificate. */
  caFile: string;
  stop(): Promise<void>;
}

interface NodePlan {
  name: string;
  role: Role;
  tls: boolean;
  clients: TrafficClientPlan[];
  /** Close listen_addr at this fraction of migrationMs. */
  closePlaintextAt?: number;
  /** Serve a certificate expiring in 20 days while the file on disk already holds its renewal. */
  renewedOnDiskOnly?: boolean;
}

/** The story; times are fractions of migrationMs. */
function storyPlans(migrationMs: number): NodePlan[] {
  // Rails processes get recycled; a client still on plaintext then makes new plaintext accepts.
  const reconnectEveryMs = Math.max(500, migrationMs / 8);
  const at = (...fractions: Array<number | null>): TrafficClientPlan[] =>
    fractions.map((f) => ({ switchToTlsAtMs: f === null ? null : f * migrationMs, reconnectEveryMs }));
  return [
    // Clients move over the first half, then listen_addr goes: dual_listen -> complete.
    { name: 'gitaly-1', role: 'gitaly', tls: true, clients: at(0.1, 0.2, 0.3, 0.4), closePlaintextAt: 0.5 },
    // Clients move early, listen_addr stays: tls_only_traffic once the soak window has passed.
    { name: 'gitaly-2', role: 'gitaly', tls: true, clients: at(0.05, 0.15, 0.25) },
    // One client was never reconfigured: stuck in dual_listen.
    { name: 'gitaly-3', role: 'gitaly', tls: true, clients: at(0.1, 0.2, 0.3, null) },
    // Migrated, but serves a certificate that expires in 20 days: restart_needed and an expiry warning.
    { name: 'gitaly-4', role: 'gitaly', tls: true, clients: at(0.05, 0.1, 0.2), renewedOnDiskOnly: true },
    // No tls_listen_addr yet: plaintext_only.
    { name: 'praefect-1', role: 'praefect', tls: false, clients: at(null, null, null) },
  ];
}

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';

/** Names every demo certificate carries, so a client dialling any advertised form verifies. */
function subjectAltNames(host: string, advertiseHost: string): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(['localhost', '127.0.0.1', advertiseHost]);
  if (!isWildcard(host)) names.add(host);
  return {
    dnsNames: [...names].filter((n) => !isIpLiteral(n)),
    ipAddresses: [...names].filter((n) => isIpLiteral(n)),
  };
}

interface Pki {
  root: Issued;
  intermediate: Issued;
  leaf(commonName: string, options?: { notBeforeOffsetMs?: number; notAfterOffsetMs?: number }): Promise<Issued>;
}

async function createPki(host: string, advertiseHost: string): Promise<Pki> {
  const root = await createCa('Gitaly demo root CA');
  const intermediate = await createIntermediate(root, 'Gitaly demo intermediate CA');
  const sans = subjectAltNames(host, advertiseHost);
  return { root, intermediate, leaf: (commonName, options = {}) => createLeaf(intermediate, commonName, { ...options, ...sans }) };
}

function portsFor(basePort: number | undefined, index: number): { metrics?: number; tls?: number; plaintext?: number } {
  if (basePort === undefined) return {};
  return { metrics: basePort + 3 * index, tls: basePort + 3 * index + 1, plaintext: basePort + 3 * index + 2 };
}

async function writeCertificate(dir: string, name: string, leaf: Issued, intermediate: Issued): Promise<{ file: string; tls: NodeTls }> {
  const file = join(dir, `${name}.crt`);
  const tls = { certChainPem: chainPem(leaf, intermediate), keyPem: leaf.keyPem };
  await writeFile(file, tls.certChainPem);
  await writeFile(join(dir, `${name}.key`), tls.keyPem, { mode: 0o600 });
  return { file, tls };
}

/** Runs `start` for every item, `batch` at a time, stopping what started if one fails. */
async function startInBatches<T>(
  count: number,
  batch: number,
  start: (index: number) => Promise<T>,
  undo: (item: T) => Promise<void>,
): Promise<T[]> {
  const started: T[] = [];
  for (let first = 0; first < count; first += batch) {
    const results = await Promise.allSettled(Array.from({ length: Math.min(batch, count - first) }, (_, k) => start(first + k)));
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map(undo));
      throw failed.reason;
    }
  }
  return started;
}

export async function startDemoFleet(opts: DemoFleetOptions): Promise<DemoFleet> {
  const host = opts.host ?? '127.0.0.1';
  const advertiseHost = opts.advertiseHost ?? (isWildcard(host) ? '127.0.0.1' : host);
  const logger = opts.logger ?? pino({ level: 'silent' });
  const migrationMs = opts.migrationMs ?? 120_000;
  await mkdir(opts.dir, { recursive: true });
  const pki = await createPki(host, advertiseHost);
  const caFile = join(opts.dir, 'ca.pem');
  await writeFile(caFile, pki.root.certPem);
  const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
  const advertised = (port: number): string => formatHostPort({ host: advertiseHost, port });
  const info = (node: SimulatedNode, certificateFile: string | undefined): DemoNodeInfo => ({
    name: node.name,
    role: node.role,
    metricsUrl: `http://${advertised(Number(new URL(node.metricsUrl).port))}/metrics`,
    ...(node.tlsAddress ? { tlsAddress: advertised(portOf(node.tlsAddress)), certificateFile } : {}),
    ...(node.plaintextAddress ? { plaintextAddress: advertised(portOf(node.plaintextAddress)) } : {}),
    node,
  });

  if (opts.scale !== undefined) {
    // One shared leaf keeps start-up fast; the exporter still probes each node separately.
    const shared = await writeCertificate(opts.dir, 'gitaly-scale', await pki.leaf('gitaly-scale'), pki.intermediate);
    const scale = opts.scale;
    const width = Math.max(String(scale).length, 4);
    const nodes = await startInBatches(
      scale,
      50,
      (i) =>
        startSimulatedNode({
          name: `gitaly-${String(i + 1).padStart(width, '0')}`,
          role: 'gitaly',
          host,
          tls: shared.tls,
          metricsBulk: 'realistic',
          ...(opts.metricsPageBytes ? { metricsPageBytes: opts.metricsPageBytes } : {}),
          ports: portsFor(opts.basePort, i),
        }),
      (node) => node.stop(),
    ).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EMFILE') throw err;
      // Each node holds three listening sockets, and every scrape or probe one more.
      throw new Error(`too many open files starting ${scale} nodes: raise the limit, e.g. ulimit -n ${scale * 6 + 1024}`, { cause: err });
    });
    logger.info({ nodes: nodes.length }, 'demo fleet (scale mode) started');
    return {
      nodes: nodes.map((n) => info(n, shared.file)),
      caFile,
      stop: async () => {
        await Promise.all(nodes.map((n) => n.stop()));
      },
    };
  }

  const plans = storyPlans(migrationMs);
  const certificateFor = async (plan: NodePlan): Promise<{ file: string; served: NodeTls }> => {
    const current = await pki.leaf(plan.name);
    const { file, tls } = await writeCertificate(opts.dir, plan.name, current, pki.intermediate);
    if (!plan.renewedOnDiskOnly) return { file, served: tls };
    // Issued 70 days ago with a 90-day life; its renewal is already in certificate_path, but
    // Gitaly reads the file only at start, so it keeps serving this one until restarted.
    const old = await pki.leaf(plan.name, { notBeforeOffsetMs: -70 * DAY_MS, notAfterOffsetMs: 20 * DAY_MS });
    return { file, served: { certChainPem: chainPem(old, pki.intermediate), keyPem: old.keyPem } };
  };
  const certificates = await Promise.all(plans.map((plan) => (plan.tls ? certificateFor(plan) : Promise.resolve(undefined))));
  const nodes = await startInBatches(
    plans.length,
    plans.length,
    (i) => {
      const plan = plans[i] as NodePlan;
      const served = certificates[i]?.served;
      return startSimulatedNode({
        name: plan.name,
        role: plan.role,
        host,
        ...(served ? { tls: served } : {}),
        metricsBulk: 'realistic',
        ports: portsFor(opts.basePort, i),
      });
    },
    (node) => node.stop(),
  );

  // Clients run next to the nodes, so they dial loopback when the listeners bind a wildcard.
  const local = (address: string | undefined): string | undefined =>
    address === undefined || !isWildcard(host) ? address : `127.0.0.1:${portOf(address)}`;
  const driver: TrafficDriver = startTrafficDriver({
    caPem: pki.root.certPem,
    intervalMs: opts.trafficIntervalMs ?? 3000,
    logger,
    targets: nodes.map((node, i) => ({
      name: node.name,
      ...(node.tlsAddress ? { tlsAddress: local(node.tlsAddress) } : {}),
      ...(node.plaintextAddress ? { plaintextAddress: local(node.plaintextAddress) } : {}),
      clients: plans[i]?.clients ?? [],
    })),
  });
  const timers = plans.flatMap((plan, i) => {
    const node = nodes[i];
    if (plan.closePlaintextAt === undefined || !node) return [];
    return [
      setTimeout(() => {
        node.closePlaintextListener().then(
          () => logger.info({ node: node.name }, 'demo: plaintext listener closed, as if listen_addr were removed'),
          (err: Error) => logger.warn({ node: node.name, err: err.message }, 'demo: closing the plaintext listener failed'),
        );
      }, plan.closePlaintextAt * migrationMs),
    ];
  });
  logger.info(
    { nodes: nodes.map((n) => n.name), migrationMs },
    'demo fleet started: Rails-like clients move to TLS, one node at each stage of the migration',
  );

  let stopping: Promise<void> | undefined;
  return {
    nodes: nodes.map((node, i) => info(node, certificates[i]?.file)),
    caFile,
    stop() {
      stopping ??= (async () => {
        for (const timer of timers) clearTimeout(timer);
        await driver.stop();
        await Promise.all(nodes.map((n) => n.stop()));
      })();
      return stopping;
    },
  };
}
