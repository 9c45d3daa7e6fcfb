import { expect } from 'chai';
import fc from 'fast-check';
import type { Role } from '../../src/config/types.ts';
import { ConnectionCounterExtractor, extractConnectionCounters, type ExtractResult } from '../../src/sources/metrics-parser.ts';
import { buildGitalyPage } from '../fixtures/metrics/gitaly-page.ts';

const PRAEFECT = 'gitaly_praefect_connections_total';

function lines(...text: string[]): string {
  return text.join('\n') + '\n';
}

/** A small page with build info, so only the lines under test decide the outcome. */
function smallPage(...text: string[]): string {
  return lines('# HELP gitlab_build_info Current build info', 'gitlab_build_info{version="v17.0.0"} 1', ...text);
}

function feed(page: Buffer, sizes: number[], role: Role, maxLineBytes?: number): ExtractResult {
  const extractor = new ConnectionCounterExtractor(role, maxLineBytes === undefined ? {} : { maxLineBytes });
  let pos = 0;
  for (let i = 0; pos < page.length; i++) {
    const size = sizes.length > 0 ? sizes[i % sizes.length]! : page.length;
    extractor.push(page.subarray(pos, pos + size));
    pos += size;
  }
  return extractor.end();
}

function expectError(result: ExtractResult, code: string, messagePart?: string): void {
  expect(result.ok, JSON.stringify(result)).to.equal(false);
  if (result.ok) return;
  expect(result.error.code).to.equal(code);
  if (messagePart !== undefined) expect(result.error.message).to.contain(messagePart);
}

function lineNumberOf(page: string, line: string): number {
  const index = page.split('\n').indexOf(line);
  expect(index, `${line} is on the page`).to.be.at.least(0);
  return index + 1;
}

describe('metrics-parser: ConnectionCounterExtractor', () => {
  describe('reading counts', () => {
    it('reads exact counts and the version from a realistic 1 MB Gitaly page', () => {
      const page = buildGitalyPage({ counts: { tcp: 1234, tls: 98765, unix: 4567 }, version: 'v17.11.2' });
      expect(page.length).to.be.greaterThan(900_000);
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.equal({
        ok: true,
        counts: { tcp: 1234, tls: 98765, unix: 4567 },
        family: 'gitaly_connections_total',
        version: 'v17.11.2',
        processStartSeconds: null,
      });
    });

    it('reads gitaly_praefect_connections_total for a Praefect', () => {
      const page = buildGitalyPage({ family: PRAEFECT, counts: { tcp: 3, tls: 40, unix: 0 } });
      expect(extractConnectionCounters(page, 'praefect')).to.deep.include({
        ok: true,
        counts: { tcp: 3, tls: 40, unix: 0 },
        family: PRAEFECT,
      });
    });

    it('falls back to gitaly_connections_total for a Praefect older than 14.7', () => {
      const page = buildGitalyPage({ family: 'gitaly_connections_total', counts: { tcp: 8, tls: 9, unix: 10 } });
      expect(extractConnectionCounters(page, 'praefect')).to.deep.include({
        ok: true,
        counts: { tcp: 8, tls: 9, unix: 10 },
        family: 'gitaly_connections_total',
      });
    });

    it('prefers the Praefect family when a Praefect page has both', () => {
      const page = buildGitalyPage({ counts: { tcp: 1, tls: 1 }, extraLines: [`${PRAEFECT}{type="tls"} 77`] });
      expect(extractConnectionCounters(page, 'praefect')).to.deep.include({
        ok: true,
        counts: { tcp: 0, tls: 77, unix: 0 },
        family: PRAEFECT,
      });
    });

    it('does not read the Praefect family for a Gitaly node', () => {
      const page = buildGitalyPage({ family: PRAEFECT, counts: { tcp: 5 } });
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.equal({
        ok: true,
        counts: { tcp: 0, tls: 0, unix: 0 },
        family: null,
        version: 'v17.11.2',
        processStartSeconds: null,
      });
    });

    it('counts a missing series as zero, as Gitaly creates series lazily', () => {
      const page = buildGitalyPage({ counts: { tls: 5 } });
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.include({ ok: true, counts: { tcp: 0, tls: 5, unix: 0 } });
    });

    it('answers zero with no family when only gitlab_build_info is there (no connection accepted yet)', () => {
      const page = buildGitalyPage({ family: null });
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.equal({
        ok: true,
        counts: { tcp: 0, tls: 0, unix: 0 },
        family: null,
        version: 'v17.11.2',
        processStartSeconds: null,
      });
    });

    it('parses labels properly: escaped quotes, any order, extra labels, blanks, trailing comma, timestamps', () => {
      const page = smallPage(
        'gitaly_connections_total{ job="a\\"type=\\"tls\\"\\\\" , type = "tcp", } 17 1712345678000',
        'gitaly_connections_total{type="tls",instance="x:1"}\t1.5e+06',
        'gitaly_connections_total {zone="a}b",type="unix"} 9007199254740991',
      );
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.include({
        ok: true,
        counts: { tcp: 17, tls: 1_500_000, unix: 9007199254740991 },
      });
    });

    it('ignores type values other than tcp, tls and unix, and series without a type', () => {
      const page = smallPage(
        'gitaly_connections_total{type="vsock"} 5',
        'gitaly_connections_total 3',
        'gitaly_connections_total{type="tls"} 2',
      );
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.include({
        ok: true,
        counts: { tcp: 0, tls: 2, unix: 0 },
        family: 'gitaly_connections_total',
      });
    });

    it('does not mistake metrics whose names start like a wanted one', () => {
      const page = smallPage(
        'gitaly_connections_total_created{type="tcp"} 1.7e9',
        'gitaly_connections_totals{type="tcp"} 8',
        'gitlab_build_info_x{version="nope"} 1',
      );
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.include({
        ok: true,
        counts: { tcp: 0, tls: 0, unix: 0 },
        version: 'v17.0.0',
      });
    });

    it('reads an escaped version label, and null when the label is absent', () => {
      expect(extractConnectionCounters(lines('gitlab_build_info{version="v1\\"x\\\\y"} 1'), 'gitaly')).to.deep.include({
        ok: true,
        version: 'v1"x\\y',
      });
      expect(extractConnectionCounters(lines('gitlab_build_info{built="now"} 1'), 'gitaly')).to.deep.include({ ok: true, version: null });
    });

    it('accepts an OpenMetrics page ending with # EOF, with or without a final newline, and exemplars', () => {
      const body = [
        '# TYPE gitaly_connections counter',
        'gitaly_connections_total{type="tls"} 4 # {trace_id="abc"} 1.0 1712345678.5',
        'gitlab_build_info{version="v18.0.0"} 1',
        '# EOF',
      ];
      const expected = {
        ok: true,
        counts: { tcp: 0, tls: 4, unix: 0 },
        family: 'gitaly_connections_total',
        version: 'v18.0.0',
        processStartSeconds: null,
      };
      expect(extractConnectionCounters(lines(...body), 'gitaly')).to.deep.equal(expected);
      expect(extractConnectionCounters(body.join('\n'), 'gitaly')).to.deep.equal(expected);
      // Nothing after the end marker is part of the page: not even a counter that would fail it.
      const afterEnd = [...body, 'gitaly_connections_total{type="tls"} 5', 'gitaly_connections_total{type="tcp"} NaN'];
      expect(extractConnectionCounters(lines(...afterEnd), 'gitaly')).to.deep.equal(expected);
    });

    it('skips an unrelated 200 KB line', () => {
      const page = buildGitalyPage({ extraLines: [`huge_metric{blob="${'x'.repeat(200_000)}"} 1`] });
      expect(extractConnectionCounters(page, 'gitaly')).to.deep.include({ ok: true, counts: { tcp: 1234, tls: 98765, unix: 4567 } });
    });
  });

  describe('rejecting bad pages', () => {
    const malformed = [
      'gitaly_connections_total{type="tcp"}',
      'gitaly_connections_total{type="tcp" 5',
      'gitaly_connections_total{type="tcp} 5',
      'gitaly_connections_total{type="t\\x"} 5',
      'gitaly_connections_total{type="tcp"} five',
      'gitaly_connections_total{type="tcp",type="tls"} 5',
      'gitaly_connections_total{type="tcp"} 5 1712345678000 extra',
      'gitaly_connections_total{9type="tcp"} 5',
      'gitaly_connections_total',
      'gitlab_build_info{version=v1} 1',
    ];
    for (const line of malformed) {
      it(`reports PARSE with the line number for: ${line}`, () => {
        const page = buildGitalyPage({ extraLines: [line] });
        expectError(extractConnectionCounters(page, 'gitaly'), 'PARSE', `line ${lineNumberOf(page, line)}:`);
      });
    }

    for (const value of ['-1', 'NaN', '+Inf', '-Inf', 'Inf']) {
      it(`rejects a counter value of ${value}, naming the line`, () => {
        const line = `gitaly_connections_total{type="tls"} ${value}`;
        const page = buildGitalyPage({ counts: { tcp: 1 }, extraLines: [line] });
        expectError(extractConnectionCounters(page, 'gitaly'), 'PARSE', `line ${lineNumberOf(page, line)}:`);
      });
    }

    it('rejects a duplicate series for the same type', () => {
      const page = buildGitalyPage({ counts: { tcp: 1 }, extraLines: ['gitaly_connections_total{type="tcp",pod="b"} 2'] });
      expectError(extractConnectionCounters(page, 'gitaly'), 'PARSE', 'type="tcp"');
    });

    it('reports a page without a final newline as TRUNCATED, whatever its last line is', () => {
      const page = buildGitalyPage();
      expectError(extractConnectionCounters(page.slice(0, -1), 'gitaly'), 'TRUNCATED');
      expectError(extractConnectionCounters(page.slice(0, page.length / 2), 'gitaly'), 'TRUNCATED');
      // "12" may have been "123": a wanted line without its newline is not trusted either.
      expectError(
        extractConnectionCounters(smallPage('go_goroutines 1') + 'gitaly_connections_total{type="tcp"} 12', 'gitaly'),
        'TRUNCATED',
      );
    });

    it('rejects a wanted line longer than the line limit', () => {
      const page = buildGitalyPage({ extraLines: [`gitaly_connections_total{type="tcp",pad="${'x'.repeat(200_000)}"} 1`] });
      expectError(extractConnectionCounters(page, 'gitaly'), 'PARSE', '65536-byte');
      expectError(feed(Buffer.from(page), [4096], 'gitaly', 1000), 'PARSE', '1000-byte');
    });

    it('rejects NUL bytes and invalid UTF-8 in a wanted line, but not in a line it skips', () => {
      expectError(extractConnectionCounters(smallPage('gitaly_connections_total{type="tcp"} 1\0'), 'gitaly'), 'PARSE', 'line 3');
      const garbage = Buffer.concat([
        Buffer.from(smallPage()),
        Buffer.from('gitlab_build_info{version="'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"} 1\n'),
      ]);
      expectError(extractConnectionCounters(garbage, 'gitaly'), 'PARSE', 'UTF-8');
      const skipped = Buffer.concat([Buffer.from('go_info{x="'), Buffer.from([0, 0xff, 1]), Buffer.from(smallPage('"} 1'))]);
      expect(extractConnectionCounters(skipped, 'gitaly')).to.deep.include({ ok: true });
    });

    it('reports NOT_GITALY for a page with neither connection counters nor gitlab_build_info', () => {
      const nodeExporter = lines('# HELP node_load1 1m load average.', '# TYPE node_load1 gauge', 'node_load1 0.21', 'go_goroutines 8');
      for (const page of [nodeExporter, '<html><body>Sign in</body></html>\n', '']) {
        expectError(
          extractConnectionCounters(page, 'gitaly'),
          'NOT_GITALY',
          'no gitaly_connections_total or gitlab_build_info on the page',
        );
      }
    });

    it('keeps the first error and ignores what follows', () => {
      const extractor = new ConnectionCounterExtractor('gitaly');
      extractor.push(Buffer.from(smallPage('gitaly_connections_total{type="tcp"} -5')));
      expect(extractor.failed).to.equal(true);
      extractor.push(Buffer.from('gitaly_connections_total{type="tcp"} NaN\n'));
      expectError(extractor.end(), 'PARSE', 'line 3');
    });
  });

  describe('chunk boundaries', () => {
    const pages: { name: string; page: Buffer; role: Role }[] = [
      { name: 'gitaly', page: Buffer.from(buildGitalyPage({ methods: 6 })), role: 'gitaly' },
      { name: 'praefect', page: Buffer.from(buildGitalyPage({ methods: 6, family: PRAEFECT, counts: { tls: 3 } })), role: 'praefect' },
      { name: 'fallback', page: Buffer.from(buildGitalyPage({ methods: 6, counts: { unix: 3 } })), role: 'praefect' },
      {
        name: 'long lines',
        page: Buffer.from(buildGitalyPage({ methods: 6, extraLines: [`big{a="${'y'.repeat(3000)}"} 1`] })),
        role: 'gitaly',
      },
      {
        name: 'long wanted line',
        page: Buffer.from(smallPage(`gitaly_connections_total{type="tcp",p="${'z'.repeat(3000)}"} 1`)),
        role: 'gitaly',
      },
      {
        name: 'bad value',
        page: Buffer.from(buildGitalyPage({ methods: 6, extraLines: ['gitaly_connections_total{type="tls"} NaN'] })),
        role: 'gitaly',
      },
      { name: 'truncated', page: Buffer.from(buildGitalyPage({ methods: 6 }).slice(0, -20)), role: 'gitaly' },
      { name: 'eof marker', page: Buffer.from(smallPage('gitaly_connections_total{type="tls"} 2') + '# EOF'), role: 'gitaly' },
      // Found by the fuzz suite: "# EOF" then CR arriving in separate chunks was skipped, not taken as the end.
      { name: 'eof marker with CRLF, then more', page: Buffer.from('# EOF\r\ngitaly_connections_total'), role: 'gitaly' },
      {
        name: 'eof marker, then counters',
        page: Buffer.from(smallPage('gitaly_connections_total{type="tls"} 2', '# EOF', 'gitaly_connections_total{type="tls"} 3')),
        role: 'gitaly',
      },
      {
        name: 'eof marker with CRLF, then counters',
        page: Buffer.from(smallPage('gitaly_connections_total{type="tls"} 2', '# EOF\r', 'gitaly_connections_total{type="tls"} 3')),
        role: 'gitaly',
      },
      { name: 'not eof marker', page: Buffer.from(smallPage('gitaly_connections_total{type="tls"} 2') + '# EOFX'), role: 'gitaly' },
      { name: 'not gitaly', page: Buffer.from(lines('gitaly_connections_totals 1', 'gitlab_build_infos 1', 'x 1')), role: 'praefect' },
    ];

    for (const { name, page, role } of pages) {
      it(`gives the whole-page answer when fed 1 byte at a time (${name})`, () => {
        const whole = extractConnectionCounters(page, role);
        expect(feed(page, [1], role, 2000)).to.deep.equal(feed(page, [], role, 2000));
        expect(feed(page, [1], role)).to.deep.equal(whole);
      });
    }

    it('gives the whole-page answer for every split into two chunks (the short pages)', () => {
      for (const { name, page, role } of pages.filter((p) => p.page.length <= 2000)) {
        const whole = feed(page, [], role, 2000);
        for (let cut = 1; cut < page.length; cut++) {
          expect(feed(page, [cut, page.length], role, 2000), `${name}, cut at ${cut}`).to.deep.equal(whole);
        }
      }
    });

    it('gives the whole-page answer for random chunk sizes', () => {
      fc.assert(
        fc.property(
          fc.nat({ max: pages.length - 1 }),
          fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
          (index, sizes) => {
            const { name, page, role } = pages[index]!;
            expect(feed(page, sizes, role, 2000), name).to.deep.equal(feed(page, [], role, 2000));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('gives the same answer for a 1 MB page in 1-byte and random chunks', () => {
      const page = Buffer.from(buildGitalyPage());
      const whole = extractConnectionCounters(page, 'gitaly');
      expect(whole.ok).to.equal(true);
      expect(feed(page, [1], 'gitaly')).to.deep.equal(whole);
      expect(feed(page, [1, 33, 34, 35, 4096, 7, 65_537, 2], 'gitaly')).to.deep.equal(whole);
    });

    it('never throws on arbitrary bytes', () => {
      const wantedish = fc.constantFrom(
        'gitaly_connections_total',
        '{type="tcp"}',
        ' 1',
        '\n',
        '"',
        '\\',
        '# EOF',
        'gitlab_build_info',
        '\0',
      );
      const piece = fc.oneof(
        wantedish,
        fc.string(),
        fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
      );
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 30 }), fc.constantFrom<Role>('gitaly', 'praefect'), (pieces, role) => {
          const extractor = new ConnectionCounterExtractor(role, { maxLineBytes: 64 });
          for (const p of pieces) extractor.push(Buffer.from(p, 'latin1'));
          const result = extractor.end();
          expect(result.ok === true || typeof result.error.code === 'string').to.equal(true);
        }),
        { numRuns: 500 },
      );
    });
  });
});

describe('process start time (restart detection)', () => {
  it('reports process_start_time_seconds when the page has it, and null when not', () => {
    const page = 'process_start_time_seconds 1.7e+09\ngitaly_connections_total{type="tcp"} 3\ngitlab_build_info{version="18.6.0"} 1\n';
    const withStart = extractConnectionCounters(page, 'gitaly');
    expect(withStart.ok && withStart.processStartSeconds).to.equal(1.7e9);
    const without = extractConnectionCounters('gitlab_build_info{version="18.6.0"} 1\n', 'gitaly');
    expect(without.ok && without.processStartSeconds).to.equal(null);
  });

  it('does not mistake other process_ metrics for the start time', () => {
    const page = 'process_start_time_seconds_total 5\nprocess_cpu_seconds_total 9\ngitlab_build_info{version="1"} 1\n';
    const r = extractConnectionCounters(page, 'praefect');
    expect(r.ok && r.processStartSeconds).to.equal(null);
  });
});

describe('indented lines (Prometheus skips leading blanks)', () => {
  it('reads an indented sample instead of reporting zero', () => {
    const page = '  gitaly_connections_total{type="tcp"} 5\n\tgitlab_build_info{version="1"} 1\n   \n  # HELP x y\n  other_metric 3\n';
    const r = extractConnectionCounters(page, 'gitaly');
    expect(r).to.deep.include({ ok: true, counts: { tcp: 5, tls: 0, unix: 0 }, version: '1' });
  });

  it('reads it across chunk boundaries too', () => {
    const page = Buffer.from('gitlab_build_info{version="1"} 1\n    gitaly_connections_total{type="tls"} 7\n');
    const x = new ConnectionCounterExtractor('gitaly');
    for (let i = 0; i < page.length; i++) x.push(page.subarray(i, i + 1));
    expect(x.end()).to.deep.include({ ok: true, counts: { tcp: 0, tls: 7, unix: 0 } });
  });
});
