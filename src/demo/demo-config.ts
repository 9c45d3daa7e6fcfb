// The exporter configuration that goes with a demo fleet: short windows and intervals so the story
// plays out in minutes. Written once, as the YAML file a person would write (docker-compose reads
// it); `npm start` with no config parses that same text.
import { stringify } from 'yaml';
import { parseConfig, type ConfigDeps } from '../config/load.ts';
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

/**
 * The configuration `npm start` runs with no config file: the YAML docker-compose runs, read by the
 * same loader, so both run the same exporter and the demo never skips validation.
 */
export function demoConfig(fleet: DemoFleet, opts: { stateFile: string }, deps: ConfigDeps = {}): Config {
  return { ...parseConfig(demoConfigYaml(fleet, opts), DEMO_SOURCE, deps), source: DEMO_SOURCE };
}

const DEMO_SOURCE = '<demo>';
const seconds = (ms: number): string => `${ms / SECOND_MS}s`;

/** The demo configuration as a YAML file in config.example.yml's format (snake_case keys, durations like 60s). */
export function demoConfigYaml(fleet: DemoFleet, opts: { stateFile?: string } = {}): string {
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
      // A thousand bench nodes on loopback: wide enough to finish a cycle well within the interval.
      concurrency: Math.min(64, Math.max(8, fleet.nodes.length)),
      timeouts: { metrics: '5s', tls: '5s', plaintext: '3s' },
      // A real page is ~1 MB; leave room for big fleets and the benchmark's padded pages.
      max_metrics_page_bytes: '32MiB',
      max_prometheus_response_bytes: '32MiB',
      ...(opts.stateFile ? { state_file: opts.stateFile } : {}),
      ca_file: fleet.caFile,
      allow_unlisted_targets: false,
      nodes,
    })
  );
}
