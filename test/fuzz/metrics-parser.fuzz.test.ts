// Property-based tests of the Gitaly /metrics page parser: arbitrary bytes never break it, and for
// generated valid pages it agrees with a plain reference parser written here and with
// parse-prometheus-text-format. FUZZ_SEED=<n> replays a run (fast-check prints the seed of a failure);
// FUZZ_RUNS=<factor> multiplies the number of runs.
import { expect } from 'chai';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import type { Role } from '../../src/config/types.ts';
import type { ConnectionCounts } from '../../src/evidence/evidence.ts';
import {
  ConnectionCounterExtractor,
  extractConnectionCounters,
  GITALY_FAMILY,
  PRAEFECT_FAMILY,
  type ExtractResult,
} from '../../src/sources/metrics-parser.ts';
import { runs, withDeadline } from '../helpers/fuzz.ts';
import { scaled } from '../helpers/time-factor.ts';

interface LibraryFamily {
  name: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}
// The package ships no types; this is the part of its output the tests read.
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => LibraryFamily[];

const BUILD_INFO = 'gitlab_build_info';
const PROCESS_START = 'process_start_time_seconds';
const WANTED_BY_ROLE: Record<Role, string[]> = { gitaly: [GITALY_FAMILY], praefect: [GITALY_FAMILY, PRAEFECT_FAMILY] };
const ERROR_CODES = ['PARSE', 'TRUNCATED', 'NOT_GITALY'];
const WANTED_NAMES = [GITALY_FAMILY, PRAEFECT_FAMILY, BUILD_INFO, PROCESS_START];

/** Feeds the page in chunks of the given sizes (cycled), as a socket would deliver it. */
function feed(page: Buffer, sizes: number[], role: Role): ExtractResult {
  const extractor = new ConnectionCounterExtractor(role);
  for (let pos = 0, i = 0; pos < page.length; i++) {
    const size = sizes[i % sizes.length]!;
    extractor.push(page.subarray(pos, pos + size));
    pos += size;
  }
  return extractor.end();
}

// ---- The reference: split into lines, one regex per sample, no streaming, no byte tricks. ----

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?[ \t]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"/g;

function numberOf(text: string): number {
  const special: Record<string, number> = { '+inf': Infinity, inf: Infinity, '-inf': -Infinity, nan: NaN };
  return special[text.toLowerCase()] ?? Number(text);
}

function referenceExtract(page: string, role: Role): ExtractResult {
  const counts = new Map<string, ConnectionCounts>();
  let sawBuildInfo = false;
  let version: string | null = null;
  let processStartSeconds: number | null = null;
  for (const raw of page.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '# EOF') break;
    const match = SAMPLE_LINE.exec(line);
    if (!match) continue; // comments and blank lines
    const [, name = '', labelText = '', value = ''] = match;
    const labels = new Map(
      [...labelText.matchAll(LABEL)].map(([, key = '', escaped = '']) => [
        key,
        escaped.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
      ]),
    );
    if (name === BUILD_INFO) {
      sawBuildInfo = true;
      version ??= labels.get('version') ?? null;
    } else if (name === PROCESS_START && processStartSeconds === null && Number.isFinite(numberOf(value))) {
      processStartSeconds = numberOf(value);
    } else if (WANTED_BY_ROLE[role].includes(name)) {
      const family = counts.get(name) ?? { tcp: 0, tls: 0, unix: 0 };
      counts.set(name, family);
      const type = labels.get('type');
      if (type === 'tcp' || type === 'tls' || type === 'unix') family[type] = numberOf(value);
    }
  }
  if (counts.size === 0 && !sawBuildInfo) return { ok: false, error: { code: 'NOT_GITALY', message: '' } };
  const family = counts.has(PRAEFECT_FAMILY) ? PRAEFECT_FAMILY : counts.has(GITALY_FAMILY) ? GITALY_FAMILY : null;
  return { ok: true, counts: (family && counts.get(family)) || { tcp: 0, tls: 0, unix: 0 }, family, version, processStartSeconds };
}

/** What parse-prometheus-text-format reads for the same fields. */
function libraryExtract(
  page: string,
  role: Role,
): { counts: Map<string, ConnectionCounts>; version: string | null; processStartSeconds: number | null } {
  const counts = new Map<string, ConnectionCounts>();
  let version: string | null = null;
  let processStartSeconds: number | null = null;
  for (const family of parsePrometheusTextFormat(page)) {
    for (const metric of family.metrics) {
      const value = numberOf(metric.value ?? '');
      if (family.name === BUILD_INFO) version ??= metric.labels?.version ?? null;
      if (family.name === PROCESS_START && Number.isFinite(value)) processStartSeconds ??= value;
      if (!WANTED_BY_ROLE[role].includes(family.name)) continue;
      const tally = counts.get(family.name) ?? { tcp: 0, tls: 0, unix: 0 };
      counts.set(family.name, tally);
      const type = metric.labels?.type;
      if (type === 'tcp' || type === 'tls' || type === 'unix') tally[type] = value;
    }
  }
  return { counts, version, processStartSeconds };
}

// ---- Generated valid pages ----

/** `loose` pages use whitespace the format allows but parse-prometheus-text-format does not (blanks around = and after commas). */
type Style = 'canonical' | 'loose';

interface Sample {
  name: string;
  labels: Array<[string, string]>;
  value: string;
  timestamp: string | null;
}

const labelNameArb = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,10}$/).filter((name) => name !== 'type' && name !== 'version');
// Raw label values: every character that needs an escape, multi-byte UTF-8, and braces that look like the end of the label set.
const labelValueArb = fc.string({
  unit: fc.constantFrom('a', 'Z', '7', ' ', '\t', '"', '\\', '\n', '{', '}', ',', '=', '#', 'é', '💥'),
  maxLength: 12,
});
const counterValueArb = fc.oneof(
  fc.nat().map(String),
  fc.nat({ max: 1_000_000 }).map((n) => `${n}.0`),
  fc.tuple(fc.nat({ max: 999 }), fc.nat({ max: 6 }), fc.constantFrom('e', 'E', 'e+')).map(([m, e, mark]) => `${m}${mark}${e}`),
  fc.double({ min: 0, max: 1e15, noNaN: true }).map(String),
);
const anyValueArb = fc.oneof(counterValueArb, fc.constantFrom('NaN', '+Inf', '-Inf', '-1', '-0.5', '1.7e9'));
const timestampArb = fc.option(fc.integer({ min: -1_000_000_000_000, max: 2_000_000_000_000 }).map(String), { nil: null });
const extraLabelsArb = fc.uniqueArray(fc.tuple(labelNameArb, labelValueArb), { selector: ([name]) => name, maxLength: 3 });

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function renderSample(sample: Sample, style: Style, blanks: string[]): string {
  const pick = (i: number) => (style === 'loose' ? blanks[i % blanks.length]! : '');
  const pairs = sample.labels.map(([name, value], i) => `${pick(i)}${name}${pick(i + 1)}=${pick(i + 2)}"${escapeLabelValue(value)}"`);
  const labelSet = sample.labels.length === 0 && blanks.length % 2 === 0 ? '' : `${pick(0)}{${pairs.join(`,${pick(1)}`)}${pick(2)}}`;
  const gap = style === 'loose' ? ` ${blanks.join('')}` : ' ';
  return `${sample.name}${labelSet}${gap}${sample.value}${sample.timestamp === null ? '' : `${gap}${sample.timestamp}`}`;
}

/** One counter family as Gitaly writes it: some of tcp/tls/unix once each, plus series the parser must ignore. */
const connectionFamilyArb = (name: string) =>
  fc
    .record({
      typed: fc.uniqueArray(fc.tuple(fc.constantFrom('tcp', 'tls', 'unix'), counterValueArb, extraLabelsArb, timestampArb), {
        selector: ([type]) => type,
        maxLength: 3,
      }),
      // Other type values (case and blanks matter) and series without a type label.
      untyped: fc.array(
        fc.tuple(fc.option(fc.constantFrom('TCP', 'tls ', '', 'udp', 'grpc'), { nil: null }), counterValueArb, extraLabelsArb),
        { maxLength: 2 },
      ),
      order: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    })
    .map(({ typed, untyped, order }) => {
      const samples: Sample[] = [
        ...typed.map(([type, value, extra, timestamp]): Sample => ({
          name,
          labels: insertAt(extra, ['type', type], order[0]!),
          value,
          timestamp,
        })),
        ...untyped.map(([type, value, extra]): Sample => ({
          name,
          labels: type === null ? extra : insertAt(extra, ['type', type], order[1]!),
          value,
          timestamp: null,
        })),
      ];
      return [`# HELP ${name} Total number of connections accepted.`, `# TYPE ${name} counter`, ...shuffle(samples, order)];
    });

function insertAt<T>(list: T[], item: T, at: number): T[] {
  const i = at % (list.length + 1);
  return [...list.slice(0, i), item, ...list.slice(i)];
}

function shuffle<T>(items: T[], keys: number[]): T[] {
  return items
    .map((item, i) => ({ item, key: keys[i % keys.length]! * 31 + i }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);
}

const buildInfoArb = fc
  .record({
    version: fc.option(fc.string({ unit: fc.constantFrom('v', '1', '7', '.', '-', 'e', '"', '\\', '\n'), maxLength: 10 }), { nil: null }),
    extra: extraLabelsArb,
  })
  .map(({ version, extra }): Array<string | Sample> => [
    `# HELP ${BUILD_INFO} Current build info for this GitLab Service`,
    `# TYPE ${BUILD_INFO} gauge`,
    { name: BUILD_INFO, labels: version === null ? extra : [...extra, ['version', version]], value: '1', timestamp: null },
  ]);
const processStartArb = anyValueArb.map((value): Array<string | Sample> => [
  `# TYPE ${PROCESS_START} gauge`,
  { name: PROCESS_START, labels: [], value, timestamp: null },
]);

// Names next to the wanted ones (prefixes, longer names) stress the first-bytes classification.
const otherNameArb = fc
  .oneof(
    fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,30}$/),
    fc.constantFrom(
      'gitaly_connections',
      'gitaly_connections_total_created',
      'gitaly_connections_totalx',
      'gitaly_praefect_connections',
      'gitlab_build',
      'gitlab_build_info_x',
      'process_start_time',
      'process_start_time_seconds_x',
      'g',
      'p',
      'grpc_server_handled_total',
    ),
  )
  .filter((name) => ![GITALY_FAMILY, PRAEFECT_FAMILY, BUILD_INFO, PROCESS_START].includes(name));
const otherFamilyArb = fc
  .tuple(
    otherNameArb,
    fc.array(fc.tuple(extraLabelsArb, anyValueArb, timestampArb), { minLength: 1, maxLength: 3 }),
    fc.constantFrom('counter', 'gauge', 'untyped'),
  )
  .map(([name, samples, type]): Array<string | Sample> => [
    `# HELP ${name} Something else.`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, value, timestamp]) => ({ name, labels, value, timestamp })),
  ]);
// Comments never start with "HELP " or "TYPE " (those are metadata) nor "EOF" (the OpenMetrics end).
const commentArb = fc
  .string({ maxLength: 20 })
  .filter((text) => !/^(HELP |TYPE |EOF)/.test(text) && !/[\n\r]/.test(text))
  .map((text) => `# ${text}`);

interface Page {
  text: string;
  style: Style;
  /** The samples of wanted families, build info and process start time, by line number (1-based). */
  wanted: Map<number, Sample>;
  /** The same page with one sample's value replaced. */
  withValue(lineNo: number, value: string): string;
}

const pageArb: fc.Arbitrary<Page> = fc
  .record({
    gitaly: fc.option(connectionFamilyArb(GITALY_FAMILY), { nil: null }),
    praefect: fc.option(connectionFamilyArb(PRAEFECT_FAMILY), { nil: null }),
    buildInfo: fc.option(buildInfoArb, { nil: null }),
    processStart: fc.option(processStartArb, { nil: null }),
    others: fc.array(otherFamilyArb, { maxLength: 6 }),
    comments: fc.array(fc.oneof(commentArb, fc.constant('')), { maxLength: 4 }),
    order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    style: fc.constantFrom<Style>('canonical', 'loose'),
    blanks: fc.array(fc.constantFrom(' ', '\t', '  '), { minLength: 1, maxLength: 3 }),
    crlf: fc.boolean(),
    openMetricsEof: fc.boolean(),
  })
  .map(({ gitaly, praefect, buildInfo, processStart, others, comments, order, style, blanks, crlf, openMetricsEof }) => {
    const groups = [gitaly, praefect, buildInfo, processStart, ...others, ...comments.map((comment) => [comment])].filter(
      (group) => group !== null,
    );
    const lines = shuffle(groups, order).flat();
    const render = (replace?: { lineNo: number; value: string }) =>
      [
        ...lines.map((line, i) =>
          typeof line === 'string'
            ? line
            : renderSample(replace?.lineNo === i + 1 ? { ...line, value: replace.value } : line, style, blanks),
        ),
        ...(openMetricsEof ? ['# EOF'] : []),
      ]
        .map((line) => `${line}${crlf ? '\r\n' : '\n'}`)
        .join('');
    const wanted = new Map(
      lines.flatMap((line, i) => (typeof line === 'string' || !WANTED_NAMES.includes(line.name) ? [] : [[i + 1, line] as const])),
    );
    return { text: render(), style, wanted, withValue: (lineNo: number, value: string) => render({ lineNo, value }) };
  });

const roleArb = fc.constantFrom<Role>('gitaly', 'praefect');
const chunkSizesArb = fc.oneof(fc.constant<number[]>([1]), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }));

describe('metrics parser, property-based', function () {
  this.timeout(scaled(60_000));

  it('never throws on arbitrary bytes, and answers ok or an error with a known code, whatever the chunking', () => {
    const token = fc.constantFrom(
      GITALY_FAMILY,
      PRAEFECT_FAMILY,
      BUILD_INFO,
      PROCESS_START,
      '{type="tcp"}',
      '{type="tls",',
      'version="',
      ' 1',
      ' -1',
      ' NaN',
      '\n',
      '\r\n',
      '"',
      '\\',
      '}',
      '# EOF',
      '# HELP ',
      '\0',
      '\x7f',
      '\xff',
    );
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc
        .array(
          fc.oneof(
            token,
            fc.string({ maxLength: 8 }),
            fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString('latin1')),
          ),
          { maxLength: 40 },
        )
        .map((parts) => Buffer.from(parts.join(''))),
    );
    fc.assert(
      fc.property(
        bytesArb,
        roleArb,
        chunkSizesArb,
        withDeadline((bytes: Buffer, role: Role, sizes: number[]) => {
          const whole = extractConnectionCounters(bytes, role);
          if (whole.ok) {
            for (const value of Object.values(whole.counts)) expect(Number.isFinite(value) && value >= 0, `count ${value}`).to.equal(true);
            expect(whole.family).to.be.oneOf([null, GITALY_FAMILY, PRAEFECT_FAMILY]);
          } else {
            expect(whole.error.code).to.be.oneOf(ERROR_CODES);
            expect(whole.error.message).to.be.a('string').and.not.equal('');
          }
          expect(feed(bytes, sizes, role), 'chunked the same as whole').to.deep.equal(whole);
        }),
      ),
      runs(400),
    );
  });

  it('reads generated valid pages exactly as the reference parser and parse-prometheus-text-format do', () => {
    fc.assert(
      fc.property(
        pageArb,
        roleArb,
        chunkSizesArb,
        withDeadline((page: Page, role: Role, sizes: number[]) => {
          const expected = referenceExtract(page.text, role);
          const actual = extractConnectionCounters(page.text, role);
          if (expected.ok) expect(actual).to.deep.equal(expected);
          else expect(actual.ok ? actual : actual.error.code).to.equal('NOT_GITALY');
          expect(feed(Buffer.from(page.text), sizes, role), 'chunked the same as whole').to.deep.equal(actual);
          if (page.style === 'canonical' && actual.ok) {
            const library = libraryExtract(page.text, role);
            expect({ version: actual.version, processStartSeconds: actual.processStartSeconds }).to.deep.equal({
              version: library.version,
              processStartSeconds: library.processStartSeconds,
            });
            expect(actual.family === null ? null : library.counts.get(actual.family)).to.deep.equal(
              actual.family === null ? null : actual.counts,
            );
          }
        }),
      ),
      runs(300),
    );
  });

  it('reports a generated page cut anywhere but at a line end as TRUNCATED', () => {
    fc.assert(
      fc.property(
        pageArb,
        roleArb,
        fc.nat(),
        withDeadline((page: Page, role: Role, at: number) => {
          const bytes = Buffer.from(page.text);
          const cut = bytes.subarray(0, at % (bytes.length + 1));
          const tail = cut.subarray(-7).toString('latin1');
          // Cut between the CR and LF of a final "# EOF": complete or not, either answer is defensible; not pinned here.
          fc.pre(!/(^|\n)# EOF\r$/.test(tail));
          const atLineEnd = cut.length === 0 || cut[cut.length - 1] === 0x0a || /(^|\n)# EOF$/.test(tail);
          const result = extractConnectionCounters(cut, role);
          if (!atLineEnd) expect(result.ok ? result : result.error.code).to.equal('TRUNCATED');
          else {
            // A page cut at a line end is a shorter valid page.
            const expected = referenceExtract(cut.toString('utf8'), role);
            if (expected.ok) expect(result).to.deep.equal(expected);
            else expect(result.ok ? result : result.error.code).to.equal('NOT_GITALY');
          }
        }),
      ),
      runs(200),
    );
  });

  it('reports a corrupt wanted sample as PARSE naming its line', () => {
    const corruptionArb = fc.constantFrom('-1', 'NaN', '+Inf', 'abc', '0x10', '1,5');
    fc.assert(
      fc.property(
        pageArb,
        roleArb,
        fc.nat(),
        corruptionArb,
        withDeadline((page: Page, role: Role, pick: number, bad: string) => {
          const wanted = [...page.wanted].filter(
            ([, { name }]) => name === BUILD_INFO || name === PROCESS_START || WANTED_BY_ROLE[role].includes(name),
          );
          fc.pre(wanted.length > 0);
          const [lineNo, { name }] = wanted[pick % wanted.length]!;
          // Counters reject negative, NaN and infinite values; every family rejects what is not a number.
          fc.pre(!['-1', 'NaN', '+Inf'].includes(bad) || (name !== BUILD_INFO && name !== PROCESS_START));
          const result = extractConnectionCounters(page.withValue(lineNo, bad), role);
          expect(result.ok ? result : result.error.code).to.equal('PARSE');
          if (!result.ok) expect(result.error.message).to.match(new RegExp(`^line ${lineNo}\\b`));
        }),
      ),
      runs(200),
    );
  });
});
