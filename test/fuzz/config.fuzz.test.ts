// Property-based tests of the config loader: arbitrary text and arbitrary YAML trees only ever give a
// Config or a ConfigError whose problems point into the file, accepted configs keep the documented
// invariants, and generated valid configs parse to what a plain reference computes.
// FUZZ_SEED=<n> replays a run (fast-check prints the seed of a failure); FUZZ_RUNS=<factor> scales the runs.
import { expect } from 'chai';
import path from 'node:path';
import fc from 'fast-check';
import { MIN_DIAL_SPACING_SLACKS, MIN_SOAK_SLACKS, querySlackMs } from '../../src/config/timing-limits.ts';
import { stringify, type ToStringOptions } from 'yaml';
import { ConfigError, parseConfig, type ConfigDeps } from '../../src/config/load.ts';
import { KEYS, MAX_TIMER_MS } from '../../src/config/schema.ts';
import type { Config, NodeConfig } from '../../src/config/types.ts';
import { runs, withDeadline } from '../helpers/fuzz.ts';
import { scaled } from '../helpers/time-factor.ts';

const FILE = 'fuzz.yml';
const CWD = '/fuzz/cwd';
const SECRET = 'Sup3rSecretPassw0rd';

/** Parses; a ConfigError is returned, anything else thrown fails the property. */
function parse(text: string, deps: ConfigDeps): Config | ConfigError {
  try {
    return parseConfig(text, FILE, { cwd: CWD, ...deps });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw new Error(
      `parseConfig threw something other than a ConfigError: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
}

/** A ConfigError names this file, and each problem a place inside it (or none). */
function expectWellFormedError(error: ConfigError, text: string): void {
  expect(error.problems).to.not.be.empty;
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const problem of error.problems) {
    expect(problem.file).to.equal(FILE);
    expect(problem.message).to.be.a('string').and.not.equal('');
    if (problem.line !== null) {
      expect(problem.line, problem.message).to.be.within(1, lines + 1);
      expect(problem.column, problem.message).to.be.at.least(1);
    }
  }
}

/** What every accepted config promises the rest of the exporter. */
function expectInvariants(config: Config): void {
  expect(config.nodes).to.not.be.empty;
  expect(new Set(config.nodes.map((n) => n.name)).size).to.equal(config.nodes.length);
  for (const node of config.nodes) expect(node.metricsUrl ?? node.tlsAddress ?? node.plaintextAddress, node.name).to.be.a('string');
  const tls = config.nodes.flatMap((n) => (n.tlsAddress ? [n.tlsAddress.toLowerCase()] : []));
  expect(new Set(tls).size).to.equal(tls.length);
  expect(config.collectionIntervalMs).to.be.within(1, Math.min(config.soakWindowMs, MAX_TIMER_MS));
  for (const ms of Object.values(config.timeouts)) expect(ms).to.be.within(1, config.collectionIntervalMs);
  for (const ms of [config.plaintextCheckIntervalMs, config.tlsVersionCheckIntervalMs]) expect(ms).to.be.within(1, MAX_TIMER_MS);
  expect(config.concurrency).to.be.within(1, 1024);
}

// Random answers for the file checks, so every branch of them is taken without touching the disk.
const depsArb = fc.record({
  fileExists: fc.func(fc.constantFrom<'file' | 'dir' | 'missing'>('file', 'dir', 'missing')),
  dirWritable: fc.func(fc.boolean()),
});

const TRICKY_SCALARS = [
  '30s',
  '0',
  '-1h',
  '1.5d',
  '1h30m',
  '30m1h',
  '25d',
  '7d',
  '1y',
  '99999999999999999999d',
  '16MiB',
  '1.5MiB',
  '-1',
  '0x10',
  '1e3',
  'tls://gitaly-1:9999',
  'tcp://gitaly-1:8075',
  'gitaly-1:9999',
  '[::1]:9999',
  '::1:9999',
  'dns://x:1',
  'x:0',
  'x:65536',
  'tls://',
  ':',
  'http://gitaly-1:9236/metrics',
  'http://user:pw@gitaly-1:9236/metrics',
  'ftp://x/',
  'http://[::1',
  'job="gitaly"',
  '{job="gitaly", env=~"prod.*"}',
  'job=gitaly',
  'gitaly',
  'praefect',
  'true',
  'null',
  '~',
  '',
  ' ',
  '\t',
  '<<',
  '*a',
  '&a',
  '!!str',
  '%',
  '@',
  '#',
  '-',
  '\0',
  '\u2028',
  '💥',
];
const scalarArb = fc.oneof(
  fc.constantFrom(...TRICKY_SCALARS),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const ALL_KEYS = [...new Set(Object.values(KEYS).flat())];
const keyArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ALL_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const { tree: treeArb } = fc.letrec<{ tree: unknown; map: Record<string, unknown>; list: unknown[] }>((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, scalarArb, tie('map'), tie('list')),
  map: fc.dictionary(keyArb, tie('tree'), { maxKeys: 5 }),
  list: fc.array(tie('tree'), { maxLength: 4 }),
}));
// Shaped like a config, so the tree reaches past the top-level checks into nodes, timeouts, prometheus, local.
const configShapedArb = fc
  .record(
    {
      nodes: fc.oneof(fc.array(fc.dictionary(keyArb, fc.oneof(scalarArb, treeArb), { maxKeys: 6 }), { maxLength: 4 }), treeArb),
      timeouts: fc.dictionary(fc.constantFrom(...KEYS.timeouts), scalarArb, { maxKeys: 4 }),
      prometheus: fc.dictionary(
        fc.constantFrom(...KEYS.prometheus),
        fc.oneof(scalarArb, fc.dictionary(fc.constantFrom(...KEYS.basicAuth), scalarArb, { maxKeys: 2 })),
        { maxKeys: 4 },
      ),
      local: fc.dictionary(fc.constantFrom(...KEYS.local), scalarArb, { maxKeys: 2 }),
      extra: fc.dictionary(keyArb, treeArb, { maxKeys: 4 }),
    },
    { requiredKeys: ['nodes'] },
  )
  .map(({ extra, ...known }) => ({ ...extra, ...known }));

const yamlOptionsArb = fc.record({
  defaultStringType: fc.constantFrom<NonNullable<ToStringOptions['defaultStringType']>>(
    'PLAIN',
    'QUOTE_DOUBLE',
    'QUOTE_SINGLE',
    'BLOCK_LITERAL',
    'BLOCK_FOLDED',
  ),
  collectionStyle: fc.constantFrom<NonNullable<ToStringOptions['collectionStyle']>>('any', 'block', 'flow'),
  indent: fc.integer({ min: 1, max: 4 }),
});

// YAML-looking token soup, for what stringify never writes: anchors, aliases, tags, merge keys, broken flow collections.
const YAML_TOKENS = [
  'nodes:',
  '- name: a',
  '  - name: b',
  '    tls_address: h:1',
  'soak_window: 7d',
  'timeouts:',
  '  tls: 5s',
  'prometheus: {url: http://p:9090}',
  '&a ',
  '*a',
  '<<: *a',
  '!!str ',
  '!!binary ',
  '!custom ',
  '? ',
  ': ',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '|',
  '>',
  '#',
  '---',
  '...',
  '%YAML 1.2',
  '\n',
  '\n  ',
  '\t',
  '\r\n',
  '\uFEFF',
];
const yamlSoupArb = fc
  .array(fc.oneof(fc.constantFrom(...YAML_TOKENS), fc.string({ maxLength: 6 })), { maxLength: 40 })
  .map((parts) => parts.join(''));

describe('config loader, property-based', function () {
  this.timeout(scaled(60_000));

  it('gives a Config or a ConfigError for arbitrary text, never anything else', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), yamlSoupArb),
        depsArb,
        withDeadline((text: string, deps: ConfigDeps) => {
          const result = parse(text, deps);
          if (result instanceof ConfigError) expectWellFormedError(result, text);
          else expectInvariants(result);
        }),
      ),
      runs(400),
    );
  });

  it('gives a Config or a ConfigError for arbitrary YAML trees, and accepted configs keep the invariants', () => {
    fc.assert(
      fc.property(
        fc.oneof(treeArb, configShapedArb),
        yamlOptionsArb,
        depsArb,
        withDeadline((tree: unknown, options: ToStringOptions, deps: ConfigDeps) => {
          const text = stringify(tree, options);
          const result = parse(text, deps);
          if (result instanceof ConfigError) expectWellFormedError(result, text);
          else expectInvariants(result);
        }),
      ),
      runs(300),
    );
  });

  it('never echoes a password from a URL field, valid or not', () => {
    // URLs with credentials, well-formed or broken, each holding the secret in a different place.
    const secretUrlArb = fc.constantFrom(
      `http://user:${SECRET}@gitaly-1:9236/metrics`,
      `https://:${SECRET}@prom:9090/`,
      `HTTP://u:${SECRET}@h:1/`,
      `http://u:${SECRET}@[::1`,
      `ftp://u:${SECRET}@h/`,
      `http://h:9236/metrics?token=${SECRET}`,
      `http://u:${SECRET}@h:99999/`,
      `gitaly-1:9236/${SECRET}`,
      ` http://${SECRET}@h `,
    );
    const nodeArb = fc.record(
      { name: fc.constantFrom('a', 'b', ''), metrics_url: secretUrlArb, tls_address: fc.option(scalarArb, { nil: undefined }) },
      { requiredKeys: ['metrics_url'] },
    );
    const shapeArb = fc
      .record(
        {
          nodes: fc.array(nodeArb, { maxLength: 3 }),
          prometheus: fc.record({ url: secretUrlArb, selector: fc.option(scalarArb, { nil: undefined }) }, { requiredKeys: ['url'] }),
          extra: fc.dictionary(keyArb, treeArb, { maxKeys: 2 }),
        },
        { requiredKeys: ['nodes'] },
      )
      .map(({ extra, ...known }) => ({ ...extra, ...known }));
    fc.assert(
      fc.property(
        shapeArb,
        yamlOptionsArb,
        depsArb,
        withDeadline((tree: unknown, options: ToStringOptions, deps: ConfigDeps) => {
          const text = stringify(tree, options);
          const result = parse(text, deps);
          if (result instanceof ConfigError) {
            expectWellFormedError(result, text);
            expect(result.message).to.not.contain(SECRET);
          }
        }),
      ),
      runs(200),
    );
  });

  it('parses generated valid configs to the values a plain reference computes', () => {
    fc.assert(
      fc.property(
        validConfigArb,
        yamlOptionsArb,
        fc.boolean(),
        withDeadline((generated: Generated, options: ToStringOptions, comment: boolean) => {
          const text = `${comment ? '# generated\n' : ''}${stringify(generated.yaml, options)}`;
          const result = parse(text, { fileExists: (p) => (p === CWD ? 'dir' : 'file'), dirWritable: () => true });
          if (result instanceof ConfigError) throw new Error(`a valid config was rejected:\n${result.message}\n---\n${text}`);
          expect(result).to.deep.equal(generated.expected);
        }),
      ),
      runs(250),
    );
  });
});

// ---- Generated valid configs and their reference values ----

interface Generated {
  yaml: Record<string, unknown>;
  expected: Config;
}

const UNIT_MS: Array<[string, number]> = [
  ['y', 31_536_000_000],
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/** A duration written with some of `units` (largest first, each once), and its milliseconds. */
function durationArb(units: string[], maxCount: number): fc.Arbitrary<{ text: string; ms: number }> {
  return fc
    .array(fc.nat({ max: maxCount }), { minLength: units.length, maxLength: units.length })
    .map((counts) => {
      const parts = UNIT_MS.filter(([unit]) => units.includes(unit)).map(([unit, size], i) => ({ unit, size, count: counts[i]! }));
      const used = parts.filter((part, i) => part.count > 0 || (i === 0 && counts.every((c) => c === 0)));
      return { text: used.map((p) => `${p.count}${p.unit}`).join(''), ms: used.reduce((sum, p) => sum + p.count * p.size, 0) };
    })
    .filter(({ ms }) => ms > 0);
}

// Built once: constructing a regex-based arbitrary is costly, and nodes are generated in a chain.
const dnsLabelArb = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const nodeNameArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/);
const certFileArb = fc.stringMatching(/^[a-z0-9]{1,8}\.crt$/);
const instanceArb = fc.stringMatching(/^[a-z0-9.:-]{1,20}$/);

/** Written with random scheme case, leading zeros in the port and blanks around; normalised is host:port with IPv6 in brackets. */
function addressArb(index: number, scheme: string): fc.Arbitrary<{ text: string; normalised: string }> {
  const host = fc.oneof(
    dnsLabelArb.map((label) => ({ host: `G${index}-${label}.Example.internal`, v6: false })),
    fc.nat({ max: 255 }).map((last) => ({ host: `10.${index}.0.${last}`, v6: false })),
    fc.nat({ max: 0xffff }).map((last) => ({ host: `fd00::${index + 1}:${last.toString(16)}`, v6: true })),
  );
  return fc
    .tuple(
      host,
      fc.integer({ min: 1, max: 65535 }),
      fc.nat({ max: 2 }),
      fc.constantFrom('', scheme, scheme.toUpperCase()),
      fc.constantFrom('', ' '),
    )
    .map(([{ host: h, v6 }, port, zeros, prefix, blank]) => {
      const portText = `${'0'.repeat(Math.min(zeros, 5 - String(port).length))}${port}`;
      const hostText = v6 ? `[${h}]` : h;
      return { text: `${blank}${prefix}${hostText}:${portText}${blank}`, normalised: `${hostText}:${port}` };
    });
}

/** A metrics URL whose host URL parsing leaves alone, and the `instance` Prometheus would give it. */
function metricsUrlArb(index: number): fc.Arbitrary<{ text: string; instance: string }> {
  const host = fc.constantFrom(`g${index}.metrics.internal`, `10.${index}.1.1`, `[fd00::${(index + 1).toString(16)}]`);
  return fc
    .tuple(
      host,
      fc.constantFrom('http', 'https'),
      fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null }),
      fc.constantFrom('/metrics', '/', '/metrics?token=x'),
    )
    .map(([h, scheme, port, suffix]) => ({
      text: `${scheme}://${h}${port === null ? '' : `:${port}`}${suffix}`,
      instance: `${h}:${port ?? (scheme === 'https' ? 443 : 80)}`,
    }));
}

function nodeArb(index: number): fc.Arbitrary<{ yaml: Record<string, unknown>; expected: NodeConfig }> {
  return fc
    .record({
      name: nodeNameArb.map((name) => `${index}${name}`),
      role: fc.option(fc.constantFrom<'gitaly' | 'praefect'>('gitaly', 'praefect'), { nil: null }),
      tls: fc.option(addressArb(index, 'tls://'), { nil: null }),
      plaintext: fc.option(addressArb(index, 'tcp://'), { nil: null }),
      metrics: fc.option(metricsUrlArb(index), { nil: null }),
      certificateFile: fc.option(
        certFileArb.map((file) => `certs/${file}`),
        { nil: null },
      ),
      serverName: fc.option(fc.constantFrom('gitaly.example.com', 'GITALY-1', '10.0.0.1', '::1'), { nil: null }),
      instance: fc.option(instanceArb, { nil: null }),
    })
    .filter(({ tls, plaintext, metrics }) => tls !== null || plaintext !== null || metrics !== null)
    .map(({ name, role, tls, plaintext, metrics, certificateFile, serverName, instance }) => {
      const server = tls ? serverName : null; // server_name is only allowed with tls_address
      const entries: Array<[string, unknown, keyof NodeConfig, unknown]> = [
        ['role', role, 'role', role ?? 'gitaly'],
        ['metrics_url', metrics?.text, 'metricsUrl', metrics?.text],
        ['tls_address', tls?.text, 'tlsAddress', tls?.normalised],
        ['plaintext_address', plaintext?.text, 'plaintextAddress', plaintext?.normalised],
        ['certificate_file', certificateFile, 'certificateFile', certificateFile && path.join(CWD, certificateFile)],
        ['server_name', server, 'serverName', server],
        ['prometheus_instance', instance, 'prometheusInstance', instance ?? metrics?.instance],
      ];
      const yaml = Object.fromEntries<unknown>([
        ['name', name],
        ...entries.filter(([, value]) => value !== null && value !== undefined).map(([key, value]): [string, unknown] => [key, value]),
      ]);
      const expected = Object.fromEntries<unknown>([
        ['name', name],
        ...entries
          .filter(([, , , value]) => value !== null && value !== undefined)
          .map(([, , field, value]): [string, unknown] => [field, value]),
      ]);
      return { yaml, expected: expected as unknown as NodeConfig };
    });
}

const byteSizeArb = fc
  .tuple(
    fc.integer({ min: 1, max: 4096 }),
    fc.constantFrom<[string, number]>(['', 1], ['B', 1], ['kB', 1_000], ['MB', 1_000_000], ['KiB', 1_024], ['MiB', 1_048_576]),
    fc.boolean(),
  )
  .map(([n, [unit, size], asNumber]) => ({ value: unit === '' && asNumber ? n : `${n}${unit}`, bytes: n * size }));

const validConfigArb: fc.Arbitrary<Generated> = fc
  .record({
    nodes: fc.integer({ min: 1, max: 5 }).chain((count) => fc.tuple(...Array.from({ length: count }, (_, i) => nodeArb(i)))),
    soak: fc.option(durationArb(['w', 'd', 'h'], 3), { nil: null }),
    collection: fc.option(durationArb(['m', 's', 'ms'], 59), { nil: null }),
    plaintextCheck: fc.option(durationArb(['d', 'h', 'm', 's'], 5), { nil: null }),
    tlsCheck: fc.option(durationArb(['d', 'h', 'm', 's'], 5), { nil: null }),
    expiry: fc.option(durationArb(['w', 'd', 'h'], 9), { nil: null }),
    timeouts: fc.option(
      fc.dictionary(fc.constantFrom('metrics', 'tls', 'plaintext', 'prometheus'), durationArb(['s', 'ms'], 30), { maxKeys: 4 }),
      { nil: null },
    ),
    concurrency: fc.option(fc.integer({ min: 1, max: 1024 }), { nil: null }),
    allowUnlisted: fc.option(fc.boolean(), { nil: null }),
    maxPage: fc.option(byteSizeArb, { nil: null }),
    prometheus: fc.option(
      fc.record({
        url: fc.constantFrom('http://prometheus:9090', 'https://prom.example.com/prometheus/', 'http://[::1]:9090//'),
        scrape: fc.option(durationArb(['m', 's'], 5), { nil: null }),
        label: fc.option(fc.constantFrom('instance', 'host', '_node'), { nil: null }),
      }),
      { nil: null },
    ),
    order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
  })
  // With Prometheus, dials closer than two query slacks (or a window shorter than four) are
  // refused by design (tested in load.test.ts); the reference only models accepted configs.
  .filter((g) => {
    if (!g.prometheus) return true;
    const slack = querySlackMs(g.prometheus.scrape?.ms ?? 60_000);
    return (
      (g.plaintextCheck?.ms ?? 3_600_000) >= MIN_DIAL_SPACING_SLACKS * slack && (g.soak?.ms ?? 7 * 86_400_000) >= MIN_SOAK_SLACKS * slack
    );
  })
  .map((g) => {
    const collectionMs = g.collection?.ms ?? 30_000;
    // The reference keeps only timeouts within collection_interval (longer ones are errors, tested elsewhere).
    const timeouts = Object.fromEntries(Object.entries(g.timeouts ?? {}).filter(([, d]) => d.ms <= collectionMs));
    const yaml: Array<[string, unknown]> = [
      ['nodes', g.nodes.map((n) => n.yaml)],
      ['soak_window', g.soak?.text],
      ['collection_interval', g.collection?.text],
      ['plaintext_check_interval', g.plaintextCheck?.text],
      ['tls_version_check_interval', g.tlsCheck?.text],
      ['expiry_warning', g.expiry?.text],
      ['timeouts', g.timeouts === null ? undefined : Object.fromEntries(Object.entries(timeouts).map(([k, d]) => [k, d.text]))],
      ['concurrency', g.concurrency ?? undefined],
      ['allow_unlisted_targets', g.allowUnlisted ?? undefined],
      ['max_metrics_page_bytes', g.maxPage?.value],
      [
        'prometheus',
        g.prometheus &&
          Object.fromEntries(
            Object.entries({
              url: g.prometheus.url,
              scrape_interval: g.prometheus.scrape?.text,
              instance_label: g.prometheus.label ?? undefined,
            }).filter(([, v]) => v !== undefined),
          ),
      ],
    ];
    const timeoutMs = (key: string, fallback: number) => timeouts[key]?.ms ?? Math.min(fallback, collectionMs);
    const expected: Config = {
      source: path.join(CWD, FILE),
      nodes: g.nodes.map((n) => n.expected),
      ...(g.prometheus
        ? {
            prometheus: {
              url: g.prometheus.url.replace(/\/+$/, ''),
              instanceLabel: g.prometheus.label ?? 'instance',
              scrapeIntervalMs: g.prometheus.scrape?.ms ?? 60_000,
            },
          }
        : {}),
      soakWindowMs: g.soak?.ms ?? 7 * 86_400_000,
      collectionIntervalMs: collectionMs,
      plaintextCheckIntervalMs: g.plaintextCheck?.ms ?? 3_600_000,
      tlsVersionCheckIntervalMs: g.tlsCheck?.ms ?? 3_600_000,
      expiryWarningMs: g.expiry?.ms ?? 30 * 86_400_000,
      concurrency: g.concurrency ?? 16,
      timeouts: {
        metricsMs: timeoutMs('metrics', 10_000),
        tlsMs: timeoutMs('tls', 5_000),
        plaintextMs: timeoutMs('plaintext', 5_000),
        prometheusMs: timeoutMs('prometheus', 30_000),
      },
      maxMetricsPageBytes: g.maxPage?.bytes ?? 16 * 1024 ** 2,
      maxPrometheusResponseBytes: 64 * 1024 ** 2,
      stateFile: path.join(CWD, 'gitaly-tls-exporter.state.json'),
      allowUnlistedTargets: g.allowUnlisted ?? false,
    };
    const present = yaml.filter(([, value]) => value !== undefined && value !== null);
    return { yaml: Object.fromEntries(shuffle(present, g.order)), expected };
  });

function shuffle<T>(items: T[], keys: number[]): T[] {
  return items
    .map((item, i) => ({ item, key: keys[i % keys.length]! * 31 + i }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);
}
