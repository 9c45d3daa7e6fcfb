// Each certificate and listener scenario through the whole exporter: real TLS servers on loopback,
// real probes, one collection, then the gauges on /metrics and /probe and the reason on /migration.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { chainPem, createCa, createIntermediate, createLeaf, DAY_MS, type Issued } from '../../src/demo/certs.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { closedPort, startResetServer, startSilentServer, startTlsServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { scaled } from '../helpers/time-factor.ts';

interface Scenario {
  name: string;
  /** Builds the server; returns it and, optionally, the node's certificate file content. */
  start(ca: Issued, intermediate: Issued): Promise<{ server: LoopbackServer; certificateFile?: string; node?: Partial<NodeConfig> }>;
  gauges: Record<string, number | null>;
  reasons: string[];
}

const G = (name: string): string => `gitaly_tls_${name}`;

const SCENARIOS: Scenario[] = [
  {
    name: 'valid-chain',
    async start(_ca, int) {
      const leaf = await createLeaf(int, 'localhost', { ipAddresses: ['127.0.0.1'] });
      return {
        server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }),
        certificateFile: chainPem(leaf, int),
        node: { serverName: 'localhost' },
      };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, hostname_match: 1, alpn_h2: 1, probe_success: 1, cert_file_matches_served: 1 },
    reasons: [],
  },
  {
    name: 'expired-leaf',
    async start(_ca, int) {
      const leaf = await createLeaf(int, 'localhost', { notBeforeOffsetMs: -100 * DAY_MS, notAfterOffsetMs: -DAY_MS });
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 0, hostname_match: 1, alpn_h2: 1, probe_success: 0 },
    reasons: ['cert_expired'],
  },
  {
    name: 'not-yet-valid',
    async start(_ca, int) {
      const leaf = await createLeaf(int, 'localhost', { notBeforeOffsetMs: DAY_MS, notAfterOffsetMs: 90 * DAY_MS });
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 0, probe_success: 0 },
    reasons: ['cert_expired'],
  },
  {
    name: 'intermediate-expiring-first',
    async start(ca) {
      const shortInt = await createIntermediate(ca, 'short-lived intermediate', { notAfterOffsetMs: 10 * DAY_MS });
      const leaf = await createLeaf(shortInt, 'localhost', { notAfterOffsetMs: 300 * DAY_MS });
      return { server: await startTlsServer({ cert: chainPem(leaf, shortInt), key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, probe_success: 1 },
    reasons: ['cert_expiring'],
  },
  {
    name: 'wrong-san',
    async start(_ca, int) {
      const leaf = await createLeaf(int, 'gitaly-elsewhere.internal');
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, hostname_match: 0, probe_success: 0 },
    reasons: ['hostname_mismatch'],
  },
  {
    name: 'ip-san-by-ip',
    async start(_ca, int) {
      const leaf = await createLeaf(int, '127.0.0.1');
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }) };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, hostname_match: 1, probe_success: 1 },
    reasons: [],
  },
  {
    name: 'common-name-only',
    async start(_ca, int) {
      const leaf = await createLeaf(int, 'localhost', { dnsNames: [], ipAddresses: [] });
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, hostname_match: 0 },
    reasons: ['hostname_mismatch'],
  },
  {
    name: 'self-signed',
    async start() {
      const leaf = await createLeaf(null, 'localhost');
      return { server: await startTlsServer({ cert: leaf.certPem, key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 0, hostname_match: 1 },
    reasons: ['cert_untrusted'],
  },
  {
    name: 'unknown-ca',
    async start() {
      const otherCa = await createCa('someone else’s CA');
      const leaf = await createLeaf(otherCa, 'localhost');
      return { server: await startTlsServer({ cert: leaf.certPem, key: leaf.keyPem }), node: { serverName: 'localhost' } };
    },
    gauges: { handshake_ok: 1, cert_trusted: 0 },
    reasons: ['cert_untrusted'],
  },
  {
    name: 'tls12-only',
    async start(_ca, int) {
      const leaf = await createLeaf(int, '127.0.0.1');
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem, maxVersion: 'TLSv1.2' }) };
    },
    gauges: {
      handshake_ok: 1,
      'version_accepted{version="TLSv1.2"}': 1,
      'version_accepted{version="TLSv1.3"}': 0,
      'version_info{version="TLSv1.2"}': 1,
    },
    reasons: [],
  },
  {
    name: 'tls13-only',
    async start(_ca, int) {
      const leaf = await createLeaf(int, '127.0.0.1');
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem, minVersion: 'TLSv1.3' }) };
    },
    gauges: { handshake_ok: 1, 'version_accepted{version="TLSv1.2"}': 0, 'version_accepted{version="TLSv1.3"}': 1 },
    reasons: [],
  },
  {
    name: 'no-alpn',
    async start(_ca, int) {
      const leaf = await createLeaf(int, '127.0.0.1');
      return { server: await startTlsServer({ cert: chainPem(leaf, int), key: leaf.keyPem, alpn: null }) };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, alpn_h2: 0, probe_success: 0 },
    reasons: ['alpn_not_h2'],
  },
  {
    name: 'silent-listener',
    async start() {
      return { server: await startSilentServer() };
    },
    gauges: { handshake_ok: 0, probe_success: 0, cert_trusted: null },
    reasons: ['tls_handshake_failed'],
  },
  {
    name: 'reset-on-connect',
    async start() {
      return { server: await startResetServer() };
    },
    gauges: { handshake_ok: 0, probe_success: 0 },
    reasons: ['tls_handshake_failed'],
  },
  {
    name: 'connection-refused',
    async start() {
      const port = await closedPort();
      return { server: { host: '127.0.0.1', port, address: `127.0.0.1:${port}`, connections: 0, close: async () => undefined } };
    },
    gauges: { handshake_ok: 0, probe_success: 0 },
    // A port that refuses and was never seen serving TLS: the node is not on TLS yet.
    reasons: ['tls_not_configured'],
  },
  {
    name: 'renewed-file-not-served',
    async start(_ca, int) {
      const served = await createLeaf(int, '127.0.0.1');
      const renewed = await createLeaf(int, '127.0.0.1', { notAfterOffsetMs: 365 * DAY_MS });
      return { server: await startTlsServer({ cert: chainPem(served, int), key: served.keyPem }), certificateFile: chainPem(renewed, int) };
    },
    gauges: { handshake_ok: 1, cert_trusted: 1, cert_file_matches_served: 0 },
    reasons: ['restart_needed'],
  },
];

function gaugeValue(text: string, metric: string, node: string): number | null {
  const [name, extra] = metric.includes('{')
    ? [metric.slice(0, metric.indexOf('{')), metric.slice(metric.indexOf('{') + 1, -1)]
    : [metric, ''];
  const line = text.split('\n').find((l) => l.startsWith(`${G(name)}{`) && l.includes(`node="${node}"`) && (!extra || l.includes(extra)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
}

describe('integration: TLS scenarios through /metrics, /probe and /migration', function () {
  this.timeout(scaled(120_000));
  const servers: LoopbackServer[] = [];
  let dir: string;
  let app: FastifyInstance;
  let metrics: string;
  let migration: { nodes: Array<{ node: string; blockingReasons: Array<{ reason: string }> }> };
  const addresses = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-tls-scenarios-'));
    const ca = await createCa();
    const int = await createIntermediate(ca);
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    const nodes: NodeConfig[] = [];
    for (const s of SCENARIOS) {
      const { server, certificateFile, node } = await s.start(ca, int);
      servers.push(server);
      addresses.set(s.name, server.address);
      let file: string | undefined;
      if (certificateFile) writeFileSync((file = join(dir, `${s.name}.crt`)), certificateFile);
      nodes.push({ name: s.name, role: 'gitaly', tlsAddress: server.address, certificateFile: file, ...node });
    }
    const config = fakeConfig(nodes, join(dir, 'state.json'), {
      caFile: join(dir, 'ca.pem'),
      timeouts: { metricsMs: 2000, tlsMs: 2000, plaintextMs: 2000, prometheusMs: 2000 },
      concurrency: 8,
    });
    const logger = pino({ level: 'silent' });
    const exporter = new Exporter({ config, logger, probes: realProbes });
    await exporter.init();
    await exporter.collector.collect();
    app = buildApp({ logger, view: exporter });
    metrics = (await app.inject('/metrics')).body;
    migration = (await app.inject('/migration')).json();
  });

  after(async () => {
    await app?.close();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const s of SCENARIOS) {
    describe(s.name, () => {
      it('shows the right gauges on /metrics', () => {
        for (const [metric, expected] of Object.entries(s.gauges)) {
          expect(gaugeValue(metrics, metric, s.name), `${s.name}: ${metric}`).to.equal(expected);
        }
      });

      it('names the right blocking reason on /migration', () => {
        const reasons = migration.nodes.find((n) => n.node === s.name)!.blockingReasons.map((r) => r.reason);
        for (const r of s.reasons) expect(reasons, s.name).to.include(r);
        const tlsReasons = [
          'tls_not_configured',
          'tls_handshake_failed',
          'cert_untrusted',
          'hostname_mismatch',
          'alpn_not_h2',
          'cert_expiring',
          'cert_expired',
          'restart_needed',
        ];
        expect(reasons.filter((r) => tlsReasons.includes(r)).sort(), s.name).to.deep.equal([...s.reasons].sort());
      });

      it('shows the same TLS gauges on /probe', async () => {
        const res = await app.inject(`/probe?target=${encodeURIComponent(addresses.get(s.name)!)}`);
        expect(res.statusCode).to.equal(200);
        for (const [metric, expected] of Object.entries(s.gauges)) {
          if (metric.startsWith('cert_file')) continue; // /probe probes the listener only
          expect(gaugeValue(res.body, metric, s.name), `${s.name}: ${metric}`).to.equal(expected);
        }
      });
    });
  }

  it('reports an untrusted certificate’s expiry all the same', () => {
    expect(gaugeValue(metrics, 'cert_not_after_timestamp_seconds{position="leaf"}', 'self-signed')).to.be.greaterThan(Date.now() / 1000);
    expect(gaugeValue(metrics, 'cert_not_after_timestamp_seconds{position="intermediate"}', 'intermediate-expiring-first')).to.be.lessThan(
      Date.now() / 1000 + 11 * 86400,
    );
  });
});
