// The benchmark's pure parts: how figures are read from /proc and summarised, and how the table
// says whether a target was met. The measurements themselves run only in `npm run bench`.
import { expect } from 'chai';
import { markdownTable, met, notesList, notMeasured, type Row } from '../../bench/report.ts';
import { cpuTicksFromStat, fmt, median, openFileLimit, percentile, statusFieldBytes } from '../../bench/stats.ts';

describe('bench report', () => {
  const row = (over: Partial<Row> = {}): Row => ({
    section: '1',
    what: 'x',
    ours: '1 ms',
    baseline: '2 ms',
    target: '≤ 1.5×',
    met: 'yes',
    ...over,
  });

  it('prints one Markdown row per result, in the order given, with the met column last', () => {
    const table = markdownTable([row({ what: 'first' }), row({ section: '2', what: 'second', met: 'no' })]);
    const lines = table.split('\n');
    expect(lines[0]).to.equal('| # | what | ours | baseline | target | met |');
    expect(lines[2]).to.equal('| 1 | first | 1 ms | 2 ms | ≤ 1.5× | yes |');
    expect(lines[3]).to.match(/^\| 2 \| second \|.*\| no \|$/);
  });

  it('escapes pipes so a figure cannot break the table', () => {
    expect(markdownTable([row({ ours: 'a | b' })]).split('\n')[2]).to.contain('a \\| b');
  });

  it('marks a row that could not be measured as such, with the reason in the notes, never as met', () => {
    const r = notMeasured('2', 'CPU per TLS probe', '≤ baseline', 'blackbox_exporter is not installed');
    expect(r.met).to.equal('not measured');
    expect(notesList([r])).to.equal('- 2, CPU per TLS probe: blackbox_exporter is not installed');
  });

  it('says yes only when the target holds', () => {
    expect(met(true)).to.equal('yes');
    expect(met(false)).to.equal('no');
  });
});

describe('bench stats', () => {
  it('takes nearest-rank percentiles, so p99 of 100 samples is the 99th smallest', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 99)).to.equal(99);
    expect(percentile(values, 100)).to.equal(100);
    expect(median([5, 1, 3])).to.equal(3);
    expect(percentile([], 50)).to.be.NaN;
  });

  it('reads utime + stime from /proc/<pid>/stat even when the command name has spaces and parentheses', () => {
    const stat = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 8 0 100 0 0';
    expect(cpuTicksFromStat(stat)).to.equal(1234 + 567);
  });

  it('reads VmHWM from /proc/<pid>/status in bytes, and null when absent', () => {
    const status = 'Name:\tnode\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(statusFieldBytes(status, 'VmHWM')).to.equal(204800 * 1024);
    expect(statusFieldBytes(status, 'VmSwap')).to.equal(null);
  });

  it('reads the soft open-file limit, and null when unlimited', () => {
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(openFileLimit(limits)).to.equal(1024);
    expect(openFileLimit(limits.replace('1024 ', 'unlimited '))).to.equal(null);
  });

  it('prints three significant digits without exponents', () => {
    expect(fmt(1234.5)).to.equal('1235');
    expect(fmt(1.23456)).to.equal('1.23');
    expect(fmt(0.004567)).to.equal('0.00457');
  });
});
