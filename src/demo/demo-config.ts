// The exporter configuration that goes with a demo fleet: short windows and intervals so the story
// plays out in minutes, as a Config object (for `npm start` with no config) or as the YAML file a
// person would write (for docker-compose and for reading).
import { stringify } from 'yaml';
import type { Config, NodeConfig } from '../config/types.ts';
import type { DemoFleet, DemoNodeInfo } from './fleet.ts';

const SECOND_MS = 1000;
const DAY_MS = 24 * 60 * 60 * SECOND_MS;

export const DEMO_SETTINGS = {
  soakWindowMs: 60 * SECOND_MS,
  collectionIntervalMs: 5 * SECOND_MS,
  plaintextCheckIntervalMs: 20 * SECOND_MS,
  tlsVersionCheckIntervalMs: 60 * SECOND_MS,
  expiryWarningMs: 30 * DAY_MS,
} as const;

/** A demo node as the exporter configures it (also used by the benchmark). */
export function demoNodeConfig(node: DemoNodeInfo): NodeConfig {
  return {
    name: node.name,
    role: node.role,
    metricsUrl: node.metricsUrl,
    ...(node.tlsAddress ? { tlsAddress: node.tlsAddress } : {}),
    ...(node.plaintextAddress ? { plaintextAddress: node.plaintextAddress } : {}),
    ...(node.certificateFile ? { certificateFile: node.certificateFile } : {}),
    ...(node.serverName ? { serverName: node.serverName } : {}),
  };
}

export function demoConfig(fleet: DemoFleet, opts: { stateFile: string }): Config {
  return {
    source: '<demo>',
    nodes: fleet.nodes.map(demoNodeConfig),
    ...DEMO_SETTINGS,
    // A thousand bench nodes on loopback: wide enough to finish a cycle well within the interval.
    concurrency: Math.min(64, Math.max(8, fleet.nodes.length)),
    timeouts: { metricsMs: 5 * SECOND_MS, tlsMs: 5 * SECOND_MS, plaintextMs: 3 * SECOND_MS, prometheusMs: 10 * SECOND_MS },
    // A real page is ~1 MB; leave room for big fleets and the benchmark's padded pages.
    maxMetricsPageBytes: 32 * 1024 * 1024,
    maxPrometheusResponseBytes: 32 * 1024 * 1024,
    stateFile: opts.stateFile,
    caFile: fleet.caFile,
    allowUnlistedTargets: false,
  };
}

const seconds = (ms: number): string => `${ms / SECOND_MS}s`;

/** The same configuration as a YAML file in config.example.yml's format (snake_case keys, durations like 60s). */
export function demoConfigYaml(fleet: DemoFleet): string {
  // The same nodes as demoConfig(), with the file's snake_case keys.
  const nodes = fleet.nodes.map((node) => {
    const { name, role, metricsUrl, tlsAddress, plaintextAddress, certificateFile, serverName } = demoNodeConfig(node);
    const yaml = {
      name,
      role,
      metrics_url: metricsUrl,
      tls_address: tlsAddress,
      plaintext_address: plaintextAddress,
      certificate_file: certificateFile,
      server_name: serverName,
    };
    return Object.fromEntries(Object.entries(yaml).filter(([, v]) => v !== undefined));
  });
  const header = '# Exporter configuration for the demo fleet (written by src/demo/main.ts).\n';
  return (
    header +
    stringify({
      soak_window: seconds(DEMO_SETTINGS.soakWindowMs),
      collection_interval: seconds(DEMO_SETTINGS.collectionIntervalMs),
      plaintext_check_interval: seconds(DEMO_SETTINGS.plaintextCheckIntervalMs),
      tls_version_check_interval: seconds(DEMO_SETTINGS.tlsVersionCheckIntervalMs),
      expiry_warning: `${DEMO_SETTINGS.expiryWarningMs / DAY_MS}d`,
      ca_file: fleet.caFile,
      nodes,
    })
  );
}
