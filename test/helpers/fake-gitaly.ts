// An in-memory Gitaly whose counters move exactly as the real one's: every accept, including the
// exporter's own dials, adds to the listener's counter. Probes are fakes bound to it, so collector
// tests run many cycles on a fake clock in milliseconds.
import { PROMETHEUS_ENGINE } from '../../src/sources/prometheus-engine.ts';
import type { ProbeFunctions } from '../../src/collect/probes.ts';
import type { Config, NodeConfig } from '../../src/config/types.ts';
import type {
  ConnectionCounts,
  GitalyScrape,
  PlaintextProbeResult,
  PrometheusFleetEvidence,
  TlsProbeResult,
} from '../../src/evidence/evidence.ts';
import { realProbes } from '../../src/collect/probes.ts';
import { cert, tlsOk } from './evidence.ts';

export class FakeClock {
  constructor(public ms: number) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface FakeNode {
  counts: ConnectionCounts;
  listenerOpen: boolean;
  metricsUp: boolean;
  /** listen_addr's dial gets no answer (a firewall that drops): the check cannot tell. */
  plaintextUnreachable?: boolean;
  /** process_start_time_seconds on the page (null: a page without it); a restart should change it. */
  processStartSeconds: number | null;
  /** Resolves TLS probes only after this promise (a hung listener). */
  hang?: Promise<void>;
}

export class FakeFleet {
  readonly nodes = new Map<string, FakeNode>();
  prometheus: PrometheusFleetEvidence | null = null;
  prometheusCalls = 0;

  constructor(private readonly clock: FakeClock) {}

  add(name: string, init: Partial<FakeNode> = {}): FakeNode {
    const node: FakeNode = {
      counts: { tcp: 0, tls: 0, unix: 0 },
      listenerOpen: true,
      metricsUp: true,
      processStartSeconds: Math.floor(this.clock.now() / 1000) - 86_400,
      ...init,
    };
    this.nodes.set(name, node);
    return node;
  }

  private byUrl(url: string): FakeNode {
    const name = new URL(url).hostname;
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no fake node ${name}`);
    return node;
  }

  private byAddress(address: string): FakeNode {
    const name = address.replace(/^\w+:\/\//, '').split(':')[0]!;
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no fake node ${name}`);
    return node;
  }

  probes(): ProbeFunctions {
    return {
      ...realProbes,
      scrapeGitalyMetrics: async (url): Promise<GitalyScrape> => {
        const node = this.byUrl(url);
        if (!node.metricsUp) return { ok: false, error: { code: 'CONNECT', message: `connection refused (${url})` }, durationMs: 1 };
        return {
          ok: true,
          counts: { ...node.counts },
          family: 'gitaly_connections_total',
          version: '18.6.0',
          processStartSeconds: node.processStartSeconds,
          bytes: 100,
          durationMs: 1,
        };
      },
      probeTls: async (target): Promise<TlsProbeResult> => {
        const node = this.byAddress(target.address);
        if (node.hang) await node.hang;
        node.counts.tls += 1;
        return tlsOk({
          address: target.address,
          chain: [cert({ notAfterMs: this.clock.ms + 200 * 86_400_000, notBeforeMs: this.clock.ms - 86_400_000 })],
          atMs: this.clock.ms,
          durationMs: 2,
        });
      },
      probePlaintext: async (target): Promise<PlaintextProbeResult> => {
        const node = this.byAddress(target.plaintextAddress ?? target.tlsAddress ?? '');
        const made = { tcp: 0, tls: 0 };
        if (target.plaintextAddress && node.plaintextUnreachable)
          return {
            address: target.plaintextAddress,
            open: null,
            grpcHealthServing: null,
            tlsPortRejectsPlaintext: null,
            error: { code: 'TIMEOUT', message: `No TCP connection to ${target.plaintextAddress} within 5000 ms.` },
            durationMs: 5000,
            connectionsMade: made,
            atMs: this.clock.ms,
          };
        if (target.plaintextAddress && node.listenerOpen) {
          node.counts.tcp += 1;
          made.tcp = 1;
        }
        if (target.tlsAddress) {
          node.counts.tls += 1;
          made.tls = 1;
        }
        return {
          address: target.plaintextAddress ?? '',
          open: target.plaintextAddress ? node.listenerOpen : null,
          grpcHealthServing: node.listenerOpen ? true : null,
          tlsPortRejectsPlaintext: true,
          error: null,
          durationMs: 1,
          connectionsMade: made,
          atMs: this.clock.ms,
        };
      },
      // The fake Prometheus below is taken as one (the engine check has its own tests).
      checkQueryEngine: async () => ({ ok: true, ...PROMETHEUS_ENGINE }),
      queryFleetEvidence: async () => {
        this.prometheusCalls += 1;
        return (
          this.prometheus ?? {
            ok: false,
            error: { code: 'CONNECT', message: 'Prometheus at http://prom:9090: connection refused' },
            durationMs: 1,
          }
        );
      },
    };
  }
}

export function fakeNodeConfig(name: string, overrides: Partial<NodeConfig> = {}): NodeConfig {
  return {
    name,
    role: 'gitaly',
    metricsUrl: `http://${name}:9236/metrics`,
    tlsAddress: `${name}:9999`,
    plaintextAddress: `${name}:8075`,
    ...overrides,
  };
}

export function fakeConfig(nodes: NodeConfig[], stateFile: string, overrides: Partial<Config> = {}): Config {
  return {
    source: 'test',
    nodes,
    soakWindowMs: 10 * 60_000,
    collectionIntervalMs: 30_000,
    plaintextCheckIntervalMs: 5 * 60_000,
    tlsVersionCheckIntervalMs: 60 * 60_000,
    expiryWarningMs: 30 * 86_400_000,
    concurrency: 4,
    timeouts: { metricsMs: 5000, tlsMs: 5000, plaintextMs: 5000, prometheusMs: 5000 },
    maxMetricsPageBytes: 16 << 20,
    maxPrometheusResponseBytes: 64 << 20,
    stateFile,
    allowUnlistedTargets: false,
    ...overrides,
  };
}
