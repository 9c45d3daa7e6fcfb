import { expect } from 'chai';
import { parse } from 'yaml';
import { demoConfig, demoConfigYaml } from '../../src/demo/demo-config.ts';
import type { DemoFleet } from '../../src/demo/fleet.ts';
import type { SimulatedNode } from '../../src/demo/gitaly-node.ts';

const fakeNode = {} as SimulatedNode;
const fleet: DemoFleet = {
  caFile: '/demo/ca.pem',
  stop: () => Promise.resolve(),
  nodes: [
    {
      name: 'gitaly-1',
      role: 'gitaly',
      metricsUrl: 'http://127.0.0.1:10000/metrics',
      tlsAddress: '127.0.0.1:10001',
      plaintextAddress: '127.0.0.1:10002',
      certificateFile: '/demo/gitaly-1.crt',
      serverName: 'localhost',
      node: fakeNode,
    },
    {
      name: 'praefect-1',
      role: 'praefect',
      metricsUrl: 'http://127.0.0.1:10012/metrics',
      plaintextAddress: '127.0.0.1:10014',
      node: fakeNode,
    },
  ],
};

describe('demo/demo-config', function () {
  it('describes the fleet with demo-sized windows and no Prometheus', function () {
    const config = demoConfig(
      fleet,
      { stateFile: '/tmp/state.json' },
      {
        fileExists: (p) => (p === '/tmp' ? 'dir' : p === '/tmp/state.json' ? 'missing' : 'file'),
        dirWritable: () => true,
      },
    );
    expect(config).to.include({
      source: '<demo>',
      soakWindowMs: 60_000,
      collectionIntervalMs: 5_000,
      plaintextCheckIntervalMs: 20_000,
      tlsVersionCheckIntervalMs: 60_000,
      expiryWarningMs: 30 * 24 * 3600 * 1000,
      stateFile: '/tmp/state.json',
      caFile: '/demo/ca.pem',
      allowUnlistedTargets: false,
    });
    expect(config.prometheus).to.equal(undefined);
    expect(config.local).to.equal(undefined);
    expect(config.nodes).to.deep.equal([
      {
        name: 'gitaly-1',
        role: 'gitaly',
        metricsUrl: 'http://127.0.0.1:10000/metrics',
        tlsAddress: '127.0.0.1:10001',
        plaintextAddress: '127.0.0.1:10002',
        certificateFile: '/demo/gitaly-1.crt',
        serverName: 'localhost',
        prometheusInstance: '127.0.0.1:10000',
      },
      {
        name: 'praefect-1',
        role: 'praefect',
        metricsUrl: 'http://127.0.0.1:10012/metrics',
        plaintextAddress: '127.0.0.1:10014',
        prometheusInstance: '127.0.0.1:10012',
      },
    ]);
    expect(config.concurrency).to.be.at.least(1);
    for (const ms of Object.values(config.timeouts)) expect(ms).to.be.within(1_000, config.collectionIntervalMs * 2);
    expect(config.maxMetricsPageBytes).to.be.at.least(10 * 1024 * 1024);
  });

  it('writes the same configuration as snake_case YAML (npm start parses this very text)', function () {
    const yaml = parse(demoConfigYaml(fleet)) as Record<string, unknown>;
    expect(yaml).to.deep.equal({
      soak_window: '60s',
      collection_interval: '5s',
      plaintext_check_interval: '20s',
      tls_version_check_interval: '60s',
      expiry_warning: '30d',
      concurrency: 8,
      timeouts: { metrics: '5s', tls: '5s', plaintext: '3s' },
      max_metrics_page_bytes: '32MiB',
      max_prometheus_response_bytes: '32MiB',
      ca_file: '/demo/ca.pem',
      allow_unlisted_targets: false,
      nodes: [
        {
          name: 'gitaly-1',
          role: 'gitaly',
          metrics_url: 'http://127.0.0.1:10000/metrics',
          tls_address: '127.0.0.1:10001',
          plaintext_address: '127.0.0.1:10002',
          certificate_file: '/demo/gitaly-1.crt',
          server_name: 'localhost',
        },
        { name: 'praefect-1', role: 'praefect', metrics_url: 'http://127.0.0.1:10012/metrics', plaintext_address: '127.0.0.1:10014' },
      ],
    });
  });
});
