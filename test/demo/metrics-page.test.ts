import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { metricsPageTemplate, renderGitalyMetricsPage, renderLargeMetricsPage } from '../../src/demo/metrics-page.ts';
import { realPart } from '../helpers/real-parts.ts';

const zero = { tcp: 0, tls: 0, unix: 0 };

function promtoolCheck(page: string): { status: number | null; output: string } {
  const run = spawnSync(realPart('promtool'), ['check', 'metrics'], { input: page, encoding: 'utf8', timeout: 15000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function sampleLines(page: string, family: string): string[] {
  return page.split('\n').filter((line) => line.startsWith(`${family}{`) || line.startsWith(`${family} `));
}

describe('demo/metrics-page', function () {
  it('renders a realistic Gitaly page of about 1 MB (measured: 992,055 bytes, 6,909 lines)', function () {
    const page = renderGitalyMetricsPage({ role: 'gitaly', counts: { tcp: 3, tls: 4, unix: 9 }, version: '17.11.2' });
    expect(page.length).to.be.within(800_000, 1_200_000);
    expect(page.split('\n').length).to.be.within(6_000, 10_000);
    // ~165 methods x 17 codes, pre-created before any traffic.
    expect(sampleLines(page, 'grpc_server_handled_total').length).to.be.within(160 * 17, 170 * 17);
    expect(page).to.contain('grpc_server_handling_seconds_bucket{');
    expect(page).to.match(/^go_goroutines \d+$/m);
    expect(page).to.match(/^process_start_time_seconds /m);
  });

  it('passes promtool check metrics for every role and variant', function () {
    for (const role of ['gitaly', 'praefect'] as const) {
      for (const bulk of ['realistic', 'small'] as const) {
        const result = promtoolCheck(renderGitalyMetricsPage({ role, counts: { tcp: 1, tls: 2, unix: 3 }, version: '17.11.2', bulk }));
        expect(result, `${role} ${bulk}`).to.deep.equal({ status: 0, output: '' });
      }
    }
    expect(promtoolCheck(renderLargeMetricsPage(3_000_000, zero, 'gitaly'))).to.deep.equal({ status: 0, output: '' });
  });

  it('promtool rejects a broken page (the check above can fail)', function () {
    const page = renderGitalyMetricsPage({ role: 'gitaly', counts: zero, version: '1', bulk: 'small' });
    expect(promtoolCheck(`${page}broken{label="x" 1\n`).status).to.not.equal(0);
  });

  it('has no duplicate series', function () {
    const page = renderGitalyMetricsPage({ role: 'praefect', counts: { tcp: 1, tls: 1, unix: 1 }, version: '17.11.2' });
    const series = page
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.slice(0, l.lastIndexOf(' ')));
    expect(new Set(series).size).to.equal(series.length);
  });

  it('writes a connection series only for types with a non-zero count', function () {
    const none = renderGitalyMetricsPage({ role: 'gitaly', counts: zero, version: '17.11.2', bulk: 'small' });
    expect(none).not.to.contain('gitaly_connections_total');
    expect(none).not.to.match(/^gitaly_authentications_total/m);
    const some = renderGitalyMetricsPage({ role: 'gitaly', counts: { tcp: 0, tls: 5, unix: 2 }, version: '17.11.2', bulk: 'small' });
    expect(sampleLines(some, 'gitaly_connections_total')).to.deep.equal([
      'gitaly_connections_total{type="tls"} 5',
      'gitaly_connections_total{type="unix"} 2',
    ]);
    expect(some).to.contain('# TYPE gitaly_connections_total counter\n');
    expect(some).to.match(/^gitaly_authentications_total\{enforced="true",status="ok"\} \d+$/m);
  });

  it('uses the Praefect family for role praefect and reports the version', function () {
    const page = renderGitalyMetricsPage({ role: 'praefect', counts: { tcp: 4, tls: 0, unix: 0 }, version: '16.11.0-ee', bulk: 'small' });
    expect(sampleLines(page, 'gitaly_praefect_connections_total')).to.deep.equal(['gitaly_praefect_connections_total{type="tcp"} 4']);
    expect(page).not.to.contain('gitaly_connections_total');
    expect(sampleLines(page, 'gitlab_build_info')).to.deep.equal([
      'gitlab_build_info{built="20250612.101502",git_version="2.48.1.gl1",version="16.11.0-ee"} 1',
    ]);
  });

  it('keeps the small page to a few KB', function () {
    const page = renderGitalyMetricsPage({ role: 'gitaly', counts: { tcp: 1, tls: 1, unix: 1 }, version: '17.11.2', bulk: 'small' });
    expect(page.length).to.be.within(1_000, 16_000);
  });

  it('pads a page to the requested size for the benchmark', function () {
    const page = renderLargeMetricsPage(10_000_000, { tcp: 2, tls: 0, unix: 0 }, 'gitaly');
    expect(page.length).to.be.within(10_000_000, 10_100_000);
    expect(sampleLines(page, 'gitaly_connections_total')).to.deep.equal(['gitaly_connections_total{type="tcp"} 2']);
  });

  it('builds the bulk once and re-renders only the counters', function () {
    const template = metricsPageTemplate('gitaly', 'realistic');
    expect(metricsPageTemplate('gitaly', 'realistic')).to.equal(template);
    const first = template.render({ counts: { tcp: 1, tls: 0, unix: 0 }, version: 'v' });
    const second = template.render({ counts: { tcp: 2, tls: 0, unix: 0 }, version: 'v' });
    // The static chunks are the very same buffers: nothing large is rebuilt per scrape.
    const shared = first.filter((chunk, i) => chunk === second[i]);
    expect(shared.reduce((n, c) => n + c.length, 0)).to.equal(template.staticBytes);
    expect(Buffer.concat(second).toString()).to.contain('gitaly_connections_total{type="tcp"} 2\n');
  });

  it('gzips to exactly the plain page', function () {
    const values = { counts: { tcp: 7, tls: 1, unix: 0 }, version: '17.11.2' };
    const template = metricsPageTemplate('praefect', 'realistic');
    const plain = Buffer.concat(template.render(values));
    const zipped = Buffer.concat(template.renderGzip(values));
    expect(zipped.length).to.be.lessThan(plain.length / 5);
    expect(gunzipSync(zipped).equals(plain)).to.equal(true);
  });
});
