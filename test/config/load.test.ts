import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, parseConfig, type ConfigDeps } from '../../src/config/load.ts';
import { KEYS } from '../../src/config/schema.ts';
import type { Config } from '../../src/config/types.ts';
import { makeFifo, releaseFifo } from '../helpers/fifo.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAY = 86_400_000;

/** Expected messages for test/fixtures/config/invalid/*.yml; `<tmp>` is the directory the fixture is loaded from. */
const INVALID: Record<string, { lines: string[]; deps?: ConfigDeps }> = {
  'empty.yml': { lines: ['empty.yml: the file is empty: it needs at least a nodes: list'] },
  'dials-too-close-for-prometheus.yml': {
    lines: [
      'dials-too-close-for-prometheus.yml:1:14: soak_window: 2m is too short for prometheus.scrape_interval 30s: it must be at least 6m30s (12 scrape intervals + 30s)',
      "dials-too-close-for-prometheus.yml:2:27: plaintext_check_interval: 1m is too short for prometheus.scrape_interval 30s: it must be at least 3m15s (6 scrape intervals + 15s) so the exporter's own dials can be told apart in Prometheus's data",
    ],
  },
  'discovery.yml': {
    lines: [
      'discovery.yml:3:5: discovery.prometheus: needs the top-level prometheus: section (url and credentials)',
      'discovery.yml:3:15: discovery.prometheus.tls_port: give either tls_port or tls_address, not both',
      'discovery.yml:5:21: discovery.prometheus.plaintext_port: must be an integer from 1 to 65535',
      'discovery.yml:7:13: discovery.file_sd[0].file: <tmp>/no-such-file_sd.json does not exist or cannot be read',
      'discovery.yml:8:13: discovery.file_sd[0].name: "{host" has a brace that is not part of a {label} placeholder',
      'discovery.yml:10:7: discovery.gitaly_config[0].path: unknown key',
      'discovery.yml:10:7: discovery.gitaly_config[0].file: is required',
      'discovery.yml:13:13: discovery.overrides[0].role: must be gitaly or praefect',
      'discovery.yml:15:20: discovery.overrides[1].tls_address: "nowhere" has no port (expected host:port)',
    ],
  },
  'comments-only.yml': { lines: ['comments-only.yml: the file is empty: it needs at least a nodes: list'] },
  'top-level-list.yml': {
    lines: ['top-level-list.yml:1:1: the top level must be a mapping of keys (soak_window:, nodes:, ...), not a single value or a list'],
  },
  'yaml-syntax-error.yml': {
    lines: ['yaml-syntax-error.yml:4:3: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  'yaml-multiple-documents.yml': {
    lines: ['yaml-multiple-documents.yml:4:1: invalid YAML: the file holds more than one YAML document (a second ---); keep one'],
  },
  'yaml-unknown-tag.yml': { lines: ['yaml-unknown-tag.yml:1:14: invalid YAML: Unresolved tag: !days'] },
  'yaml-aliases.yml': {
    lines: [
      'yaml-aliases.yml:1:14: concurrency: refers to an unknown anchor *workers',
      'yaml-aliases.yml:6:5: nodes[1].<<: merge keys (<<) are not supported: write the keys out',
      'yaml-aliases.yml:6:5: nodes[1]: needs at least one of metrics_url, tls_address or plaintext_address',
    ],
  },
  'duplicate-keys.yml': {
    lines: [
      'duplicate-keys.yml:3:1: soak_window: duplicate key (first set at line 1)',
      'duplicate-keys.yml:7:5: nodes[0].tls_address: duplicate key (first set at line 6)',
    ],
  },
  'unknown-keys.yml': {
    lines: [
      'unknown-keys.yml:1:1: soak_windw: unknown key (did you mean soak_window?)',
      'unknown-keys.yml:2:1: collectionInterval: unknown key (did you mean collection_interval?)',
      'unknown-keys.yml:4:3: timeouts.metric: unknown key (did you mean metrics?)',
      'unknown-keys.yml:5:3: timeouts.handshake: unknown key',
      'unknown-keys.yml:6:1: listen_address: unknown key',
      'unknown-keys.yml:8:5: nodes[0]: needs at least one of metrics_url, tls_address or plaintext_address',
      'unknown-keys.yml:9:5: nodes[0].tls_addr: unknown key (did you mean tls_address?)',
      'unknown-keys.yml:10:5: nodes[0].storage: unknown key',
    ],
  },
  'wrong-types.yml': {
    lines: [
      'wrong-types.yml:1:14: concurrency: must be an integer from 1 to 1024',
      'wrong-types.yml:2:25: allow_unlisted_targets: must be true or false',
      'wrong-types.yml:3:14: soak_window: must be a duration with a unit, e.g. 30s, 5m or 7d',
      'wrong-types.yml:4:11: timeouts: must be a mapping (metrics:, tls:, plaintext:, prometheus:), not a single value',
      'wrong-types.yml:5:25: max_metrics_page_bytes: must be a size in bytes, e.g. 1048576 or 16MiB',
      'wrong-types.yml:7:3: nodes: must be a list (at least one node, each starting with "- name:"), not a mapping',
    ],
  },
  'concurrency-out-of-range.yml': { lines: ['concurrency-out-of-range.yml:1:14: concurrency: must be an integer from 1 to 1024'] },
  'bad-durations.yml': {
    lines: [
      'bad-durations.yml:1:14: soak_window: "1.5d" is not a valid duration: fractions are not allowed, combine units instead (e.g. 1h30m, 1500ms)',
      'bad-durations.yml:2:22: collection_interval: "30sec" is not a valid duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m',
      'bad-durations.yml:3:27: plaintext_check_interval: "30m1h" is not a valid duration: units must go from largest to smallest, each once (e.g. 1h30m)',
      'bad-durations.yml:4:29: tls_version_check_interval: "-1h" is negative: durations must be positive',
      'bad-durations.yml:5:17: expiry_warning: empty duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m',
    ],
  },
  'zero-durations.yml': {
    lines: [
      'zero-durations.yml:1:22: collection_interval: must be longer than 0',
      'zero-durations.yml:2:17: expiry_warning: must be a duration with a unit, e.g. 30s, 5m or 7d',
      'zero-durations.yml:4:8: timeouts.tls: must be longer than 0',
    ],
  },
  'interval-too-long.yml': { lines: ['interval-too-long.yml:2:22: collection_interval: must be at most 24d'] },
  'interval-longer-than-soak.yml': {
    lines: ['interval-longer-than-soak.yml:2:22: collection_interval: 2h is longer than soak_window (1h)'],
  },
  'soak-shorter-than-default-interval.yml': {
    lines: ['soak-shorter-than-default-interval.yml:1:14: soak_window: 10s is shorter than collection_interval (30s)'],
  },
  'timeouts-longer-than-interval.yml': {
    lines: [
      'timeouts-longer-than-interval.yml:4:8: timeouts.tls: 20s is longer than collection_interval (15s)',
      'timeouts-longer-than-interval.yml:5:15: timeouts.prometheus: 1m is longer than collection_interval (15s)',
    ],
  },
  'bad-byte-sizes.yml': {
    lines: [
      'bad-byte-sizes.yml:1:25: max_metrics_page_bytes: "16mb" has an unknown unit "mb": use B, kB, MB, GB, KiB, MiB or GiB',
      'bad-byte-sizes.yml:2:32: max_prometheus_response_bytes: "1.5GiB" is not a valid size: fractions are not allowed, use a smaller unit (e.g. 1536KiB)',
    ],
  },
  'zero-byte-size.yml': {
    lines: [
      'zero-byte-size.yml:1:25: max_metrics_page_bytes: must be larger than 0',
      'zero-byte-size.yml:2:32: max_prometheus_response_bytes: -1 is negative: sizes must be positive',
    ],
  },
  'null-values.yml': {
    lines: [
      'null-values.yml:1:1: soak_window: has no value (remove the key to use the default)',
      'null-values.yml:2:1: ca_file: has no value (remove the key to use the default)',
      'null-values.yml:3:1: prometheus: has no value (fill it in or remove the key)',
      'null-values.yml:6:5: nodes[0].tls_address: has no value (give one or remove the key)',
    ],
  },
  'nodes-missing.yml': { lines: ['nodes-missing.yml:1:1: nodes: is required'] },
  'nodes-empty.yml': { lines: ['nodes-empty.yml:1:8: nodes: must list at least one node'] },
  'node-not-a-mapping.yml': {
    lines: [
      'node-not-a-mapping.yml:2:5: nodes[0]: must be a mapping (name:, metrics_url:, tls_address:, ...), not a single value',
      'node-not-a-mapping.yml:3:4: nodes[1]: must be a mapping (name:, metrics_url:, tls_address:, ...), not empty',
    ],
  },
  'bad-node-names.yml': {
    lines: [
      'bad-node-names.yml:2:11: nodes[0].name: must be 1 to 128 characters from A-Z a-z 0-9 _ . : -',
      'bad-node-names.yml:4:11: nodes[1].name: must be a string (put it in quotes)',
      'bad-node-names.yml:6:5: nodes[2].name: is required',
      'bad-node-names.yml:7:11: nodes[3].name: must not be empty',
      'bad-node-names.yml:9:11: nodes[4].name: must be 1 to 128 characters from A-Z a-z 0-9 _ . : -',
    ],
  },
  'duplicate-node-names.yml': {
    lines: ['duplicate-node-names.yml:6:11: nodes[2].name: "gitaly-1" is already the name of nodes[0] (line 2)'],
  },
  'duplicate-addresses.yml': {
    lines: [
      'duplicate-addresses.yml:7:18: nodes[1].metrics_url: is already the metrics_url of nodes[0] ("gitaly-1", line 3)',
      'duplicate-addresses.yml:8:18: nodes[1].tls_address: Gitaly-1.internal:9999 is already the tls_address of nodes[0] ("gitaly-1", line 4)',
      'duplicate-addresses.yml:9:24: nodes[1].plaintext_address: gitaly-1.internal:8075 is already the plaintext_address of nodes[0] ("gitaly-1", line 5)',
    ],
  },
  'node-without-targets.yml': {
    lines: [
      'node-without-targets.yml:4:5: nodes[1]: needs at least one of metrics_url, tls_address or plaintext_address',
      'node-without-targets.yml:6:18: nodes[1].server_name: is only used for the TLS probe: add tls_address or remove server_name',
    ],
  },
  'unknown-role.yml': { lines: ['unknown-role.yml:3:11: nodes[0].role: must be gitaly or praefect'] },
  'bad-addresses.yml': {
    lines: [
      'bad-addresses.yml:3:18: nodes[0].tls_address: "gitaly-1.internal" has no port (expected host:port)',
      'bad-addresses.yml:4:24: nodes[0].plaintext_address: scheme tls:// is not allowed here (use tcp:// or host:port)',
      'bad-addresses.yml:6:18: nodes[1].tls_address: scheme tcp:// is not allowed here (use tls:// or host:port)',
      'bad-addresses.yml:7:24: nodes[1].plaintext_address: "gitaly-2.internal:70000" has no valid port (1-65535)',
      'bad-addresses.yml:9:18: nodes[2].tls_address: must be host:port, without credentials',
      'bad-addresses.yml:10:24: nodes[2].plaintext_address: "fd00::3:8075": write IPv6 addresses as [addr]:port',
    ],
  },
  'bad-plaintext-none.yml': {
    lines: [
      'bad-plaintext-none.yml:4:24: nodes[0].plaintext_address: "removed" is not an address: write plaintext_address: none to declare that listen_addr is removed',
      'bad-plaintext-none.yml:7:24: nodes[1].plaintext_address: "None" is not an address: write plaintext_address: none to declare that listen_addr is removed',
      'bad-plaintext-none.yml:9:24: nodes[2].plaintext_address: is none, so the node needs metrics_url or tls_address: there is nothing else to watch',
      'bad-plaintext-none.yml:12:24: nodes[3].plaintext_address: must be a string (put it in quotes)',
    ],
  },
  'bad-urls.yml': {
    lines: [
      'bad-urls.yml:2:8: prometheus.url: must be an http:// or https:// URL, e.g. http://prometheus:9090',
      'bad-urls.yml:5:18: nodes[0].metrics_url: must be an http:// or https:// URL, e.g. http://gitaly-1.internal:9236/metrics',
      'bad-urls.yml:7:18: nodes[1].metrics_url: must be an http:// or https:// URL, e.g. http://gitaly-1.internal:9236/metrics',
      'bad-urls.yml:9:18: nodes[2].metrics_url: is not a valid URL (expected e.g. http://gitaly-1.internal:9236/metrics)',
    ],
  },
  'url-credentials.yml': {
    lines: [
      'url-credentials.yml:2:8: prometheus.url: must not contain a user name or password (URLs end up in logs): put credentials in basic_auth (with password_file) or bearer_token_file',
      "url-credentials.yml:5:18: nodes[0].metrics_url: must not contain a user name or password (URLs end up in logs): Gitaly's metrics page needs none",
    ],
  },
  'server-name-without-tls.yml': {
    lines: [
      'server-name-without-tls.yml:4:18: nodes[0].server_name: is only used for the TLS probe: add tls_address or remove server_name',
      'server-name-without-tls.yml:7:18: nodes[1].server_name: must be a host name or IP address, without scheme or port',
    ],
  },
  'missing-files.yml': {
    lines: [
      'missing-files.yml:1:10: ca_file: <tmp>/no-such-ca.pem does not exist or cannot be read',
      'missing-files.yml:6:20: prometheus.basic_auth.password_file: <tmp>/secrets/no-such-password does not exist or cannot be read',
      'missing-files.yml:10:23: nodes[0].certificate_file: /nonexistent/gitaly-1.crt does not exist or cannot be read',
      'missing-files.yml:13:23: nodes[1].certificate_file: <tmp>/certs is a directory, not a file',
    ],
  },
  'bearer-and-basic-auth.yml': {
    lines: ['bearer-and-basic-auth.yml:3:22: prometheus.bearer_token_file: cannot be used together with basic_auth: choose one'],
  },
  'prometheus-invalid.yml': {
    lines: [
      'prometheus-invalid.yml:2:3: prometheus.url: is required',
      'prometheus-invalid.yml:2:13: prometheus.selector: "job=gitaly" is not a list of label matchers like job="gitaly" or job="gitaly", env=~"prod.*" (problem at character 1)',
      'prometheus-invalid.yml:3:19: prometheus.instance_label: must be a Prometheus label name, e.g. instance',
      'prometheus-invalid.yml:4:20: prometheus.scrape_interval: must be a duration with a unit, e.g. 30s, 5m or 7d',
      'prometheus-invalid.yml:6:5: prometheus.basic_auth.username: is required',
    ],
  },
  'state-dir-missing.yml': { lines: ['state-dir-missing.yml:1:13: state_file: directory <tmp>/no-such-dir does not exist'] },
  'state-file-is-dir.yml': { lines: ['state-file-is-dir.yml:1:13: state_file: <tmp>/state is a directory, not a file'] },
  'state-dir-not-writable.yml': {
    lines: ['state-dir-not-writable.yml:1:13: state_file: directory <tmp>/readonly is not writable by this user'],
    // Tests may run as root, for whom every directory is writable.
    deps: { dirWritable: (dir) => path.basename(dir) !== 'readonly' },
  },
  'local-unknown-node.yml': {
    lines: ['local-unknown-node.yml:2:9: local.node: "gitaly-l" is not the name of any node in nodes (did you mean gitaly-1?)'],
  },
  'local-node-without-listeners.yml': {
    lines: [
      'local-node-without-listeners.yml:2:9: local.node: node "gitaly-1" has neither tls_address nor plaintext_address, so there is no listener to watch',
      'local-node-without-listeners.yml:3:14: local.proc_root: <tmp>/no-such-proc does not exist or cannot be read',
    ],
  },
};

describe('config loader', () => {
  let tmp: string;

  before(() => {
    // The files and directories the fixtures name with relative paths.
    tmp = mkdtempSync(path.join(tmpdir(), 'gitaly-tls-exporter-config-'));
    for (const dir of ['certs', 'state', 'proc', 'readonly', 'secrets']) mkdirSync(path.join(tmp, dir));
    for (const file of ['ca.pem', 'certs/ca.pem', 'gitaly-1.crt', 'token', 'password']) writeFileSync(path.join(tmp, file), 'x\n');
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  function parseFixture(kind: 'valid' | 'invalid', name: string, deps: ConfigDeps = {}): Config {
    return parseConfig(readFileSync(path.join(FIXTURES, kind, name), 'utf8'), name, { cwd: tmp, ...deps });
  }

  function configError(run: () => unknown): ConfigError {
    try {
      run();
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    expect.fail('the configuration was accepted');
  }

  describe('rejects each invalid fixture, naming file:line:column and field', () => {
    for (const [fixture, { lines, deps }] of Object.entries(INVALID)) {
      it(fixture, () => {
        const error = configError(() => parseFixture('invalid', fixture, deps));
        expect(error.message).to.equal(lines.map((line) => line.replaceAll('<tmp>', tmp)).join('\n'));
        expect(error.problems).to.have.length(lines.length);
      });
    }

    it('has an expected message for every fixture in the directory', () => {
      expect(readdirSync(path.join(FIXTURES, 'invalid')).sort()).to.deep.equal(Object.keys(INVALID).sort());
    });
  });

  it('exposes each problem as data', () => {
    const error = configError(() => parseFixture('invalid', 'duplicate-node-names.yml'));
    expect(error.name).to.equal('ConfigError');
    expect(error.problems).to.deep.equal([
      {
        file: 'duplicate-node-names.yml',
        line: 6,
        column: 11,
        field: 'nodes[2].name',
        message: '"gitaly-1" is already the name of nodes[0] (line 2)',
      },
    ]);
  });

  it('never echoes a password from a URL', () => {
    const error = configError(() => parseFixture('invalid', 'url-credentials.yml'));
    expect(error.message).not.to.match(/hunter2|s3cret|admin|scraper/);
  });

  it('applies every default to a minimal config', () => {
    expect(parseFixture('valid', 'minimal.yml')).to.deep.equal({
      source: path.join(tmp, 'minimal.yml'),
      nodes: [{ name: 'gitaly-1', role: 'gitaly', tlsAddress: 'gitaly-1.internal:9999' }],
      soakWindowMs: 7 * DAY,
      collectionIntervalMs: 30_000,
      plaintextCheckIntervalMs: 3_600_000,
      tlsVersionCheckIntervalMs: 3_600_000,
      expiryWarningMs: 30 * DAY,
      concurrency: 16,
      timeouts: { metricsMs: 10_000, tlsMs: 5_000, plaintextMs: 5_000, prometheusMs: 30_000 },
      maxMetricsPageBytes: 16 * 1024 ** 2,
      maxPrometheusResponseBytes: 64 * 1024 ** 2,
      stateFile: path.join(tmp, 'gitaly-tls-exporter.state.json'),
      allowUnlistedTargets: false,
    } satisfies Config);
  });

  it('reads every key of a full config, resolving relative paths against its directory', () => {
    expect(parseFixture('valid', 'full.yml')).to.deep.equal({
      source: path.join(tmp, 'full.yml'),
      soakWindowMs: 14 * DAY,
      collectionIntervalMs: 60_000,
      plaintextCheckIntervalMs: 6 * 3_600_000,
      tlsVersionCheckIntervalMs: 2.5 * 3_600_000,
      expiryWarningMs: 21 * DAY,
      concurrency: 4,
      stateFile: path.join(tmp, 'state/exporter.json'),
      caFile: path.join(tmp, 'certs'),
      allowUnlistedTargets: true,
      maxMetricsPageBytes: 8 * 1024 ** 2,
      maxPrometheusResponseBytes: 100_000_000,
      timeouts: { metricsMs: 20_000, tlsMs: 3_000, plaintextMs: 2_500, prometheusMs: 60_000 },
      prometheus: {
        url: 'https://prometheus.internal:9090/prom',
        selector: 'job="gitaly", env=~"prod|staging"',
        instanceLabel: 'host',
        scrapeIntervalMs: 15_000,
        basicAuth: { username: 'exporter', passwordFile: path.join(tmp, 'password') },
      },
      local: { node: 'gitaly-1', procRoot: path.join(tmp, 'proc'), reverseDns: false, peerMetricLimit: 10 },
      nodes: [
        {
          name: 'gitaly-1',
          role: 'gitaly',
          metricsUrl: 'http://gitaly-1.internal:9236/metrics',
          tlsAddress: 'gitaly-1.internal:9999',
          plaintextAddress: 'gitaly-1.internal:8075',
          certificateFile: path.join(tmp, 'gitaly-1.crt'),
          serverName: 'gitaly.example.com',
          prometheusInstance: 'gitaly-1',
        },
        {
          name: 'praefect-1',
          role: 'praefect',
          metricsUrl: 'https://praefect-1.internal/metrics',
          tlsAddress: '[fd00::10]:3305',
          prometheusInstance: 'praefect-1.internal:443',
        },
        {
          name: 'gitaly-2',
          role: 'gitaly',
          metricsUrl: 'http://[fd00::2]:9236/metrics',
          plaintextAddress: '10.0.0.2:8075',
          prometheusInstance: '[fd00::2]:9236',
        },
      ],
    } satisfies Config);
  });

  it('reads plaintext_address: none as a declared removed listener, never a missing key as one', () => {
    const text = [
      'nodes:',
      '  - name: done',
      '    tls_address: gitaly-1.internal:9999',
      '    plaintext_address: none',
      '  - name: silent',
      '    tls_address: gitaly-2.internal:9999',
      '  - name: open',
      '    tls_address: gitaly-3.internal:9999',
      '    plaintext_address: tcp://gitaly-3.internal:8075',
    ].join('\n');
    const config = parseConfig(text, 'none.yml', { cwd: tmp });
    const [done, silent, open] = config.nodes;
    expect(done).to.include({ plaintextListenerRemoved: true });
    expect(done).not.to.have.property('plaintextAddress');
    expect(silent).not.to.have.property('plaintextListenerRemoved');
    expect(open).to.include({ plaintextAddress: 'gitaly-3.internal:8075' });
    expect(open).not.to.have.property('plaintextListenerRemoved');
  });

  it('defaults the Prometheus settings around a bearer token file', () => {
    expect(parseFixture('valid', 'bearer-token.yml').prometheus).to.deep.equal({
      url: 'http://prometheus.internal:9090',
      instanceLabel: 'instance',
      scrapeIntervalMs: 60_000,
      bearerTokenFile: path.join(tmp, 'token'),
    });
  });

  it('shrinks default timeouts to a shorter collection_interval', () => {
    expect(parseFixture('valid', 'short-interval.yml').timeouts).to.deep.equal({
      metricsMs: 8_000,
      tlsMs: 5_000,
      plaintextMs: 5_000,
      prometheusMs: 8_000,
    });
  });

  it('says when the default state file location is not writable', () => {
    const error = configError(() => parseFixture('valid', 'minimal.yml', { dirWritable: () => false }));
    expect(error.message).to.equal(
      `minimal.yml: state_file: directory ${tmp} is not writable by this user (state_file defaults to a file next to the config file; set it to a writable path)`,
    );
  });

  it('says when the default proc_root is missing', () => {
    const text = 'local:\n  node: gitaly-1\nnodes:\n  - name: gitaly-1\n    tls_address: gitaly-1.internal:9999\n';
    const error = configError(() => parseConfig(text, 'local.yml', { cwd: tmp, fileExists: (p) => (p === tmp ? 'dir' : 'missing') }));
    expect(error.message).to.equal('local.yml: local.proc_root: /proc does not exist or cannot be read (the default)');
  });

  describe('loadConfigFile', () => {
    it('reads a file relative to cwd and records its absolute path', () => {
      writeFileSync(path.join(tmp, 'relative.yml'), readFileSync(path.join(FIXTURES, 'valid', 'minimal.yml')));
      const config = loadConfigFile('relative.yml', { cwd: tmp });
      expect(config.source).to.equal(path.join(tmp, 'relative.yml'));
      expect(config.nodes.map((node) => node.name)).to.deep.equal(['gitaly-1']);
    });

    it('names a missing file without a stack trace', () => {
      const error = configError(() => loadConfigFile('no-such-config.yml', { cwd: tmp }));
      expect(error.message).to.equal('no-such-config.yml: cannot read the config file: no such file');
    });

    it('names a directory given as the file', () => {
      const error = configError(() => loadConfigFile(path.join(tmp, 'certs')));
      expect(error.message).to.equal(`${path.join(tmp, 'certs')}: cannot read the config file: is a directory, not a regular file`);
    });

    it('refuses a FIFO given as the file at once (a blocking read would stop start and SIGHUP for ever)', () => {
      const fifo = makeFifo(path.join(tmp, 'config.fifo'));
      try {
        const error = configError(() => loadConfigFile(fifo));
        expect(error.message).to.equal(`${fifo}: cannot read the config file: is a FIFO, not a regular file`);
      } finally {
        releaseFifo(fifo);
      }
    });
  });

  describe('config.example.yml', () => {
    const example = path.join(REPO_ROOT, 'config.example.yml');

    it('loads as shipped', () => {
      const config = loadConfigFile(example);
      expect(config.nodes.map((node) => [node.name, node.role])).to.deep.equal([
        ['gitaly-1', 'gitaly'],
        ['gitaly-2', 'gitaly'],
        ['praefect-1', 'praefect'],
      ]);
      expect(config.prometheus?.url).to.equal('http://prometheus.internal:9090');
      expect(config.soakWindowMs).to.equal(7 * DAY);
    });

    it('mentions every key, and so does docs/configuration.md', () => {
      const exampleText = readFileSync(example, 'utf8');
      const docs = readFileSync(path.join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
      for (const key of new Set(Object.values(KEYS).flat())) {
        expect(exampleText, `config.example.yml lacks ${key}`).to.include(`${key}:`);
        expect(docs, `docs/configuration.md lacks ${key}`).to.include(`\`${key}\``);
      }
    });
  });
});
