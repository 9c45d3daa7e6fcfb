// The exporters' own TLS connections are subtracted from Gitaly's TLS count over the same edges.
// Gitaly and each exporter are scraped at moments of their own: a dial made inside the window
// after Gitaly's first sample in it, but before the exporter's first, used to count in Gitaly's
// increase() and not in the exporter's (Prometheus' increase() starts at each series' first sample
// in the range), and an idle node read one TLS connection too many.
import { expect } from 'chai';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PrometheusConfig } from '../../src/config/types.ts';
import type { RunningPrometheus } from '../helpers/prometheus-server.ts';
import { listenLoopback, type LoopbackHttpServer } from '../helpers/http-server.ts';
import { ENGINES, queryVerifiedFleetEvidence, startEngine } from '../helpers/query-engine.ts';
import { scaled } from '../helpers/time-factor.ts';
import { waitFor } from '../helpers/wait-for.ts';

const OPTIONS = { timeoutMs: 5_000, maxBytes: 1_000_000 };

/** A /metrics page whose lines the test sets, and the times it was scraped at. */
interface Page extends LoopbackHttpServer {
  address: string;
  lines: Map<string, number>;
  scrapesMs: number[];
  /** Called right after a scrape was answered, with its time. */
  afterScrape: ((atMs: number) => void) | null;
}

async function startPage(lines: Record<string, number>): Promise<Page> {
  const values = new Map(Object.entries(lines));
  const scrapesMs: number[] = [];
  const page = { lines: values, scrapesMs, afterScrape: null } as Omit<Page, keyof LoopbackHttpServer | 'address'>;
  const server = await listenLoopback((_req: IncomingMessage, res: ServerResponse) => {
    const atMs = Date.now();
    scrapesMs.push(atMs);
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end([...values].map(([name, value]) => `${name} ${value}\n`).join(''));
    page.afterScrape?.(atMs);
  });
  return Object.assign(page, server, { address: new URL(server.url).host });
}

for (const engine of ENGINES)
  describe(`prometheus source: the exporters' own TLS connections (real ${engine})`, function () {
    this.timeout(scaled(120_000));
    let prom: RunningPrometheus | undefined;
    const pages: Page[] = [];

    after(async () => {
      await prom?.stop();
      await Promise.all(pages.map((p) => p.close()));
    });

    it('a dial between Gitaly’s first sample in the window and the exporter’s counts on both sides: the node’s TLS count is 0', async () => {
      const gitaly = await startPage({
        'gitaly_connections_total{type="tcp"}': 0,
        'gitaly_connections_total{type="tls"}': 10,
        process_start_time_seconds: Math.floor(Date.now() / 1000) - 3600,
      });
      const tlsLine = `gitaly_tls_exporter_tls_connections_total{node="n",prometheus_instance="${gitaly.address}"}`;
      const exporter = await startPage({ [tlsLine]: 10 });
      pages.push(gitaly, exporter);
      prom = await startEngine(engine, {
        jobs: [
          { job: 'gitaly', targets: [gitaly.address] },
          { job: 'gitaly-tls-exporter', targets: [exporter.address] },
        ],
      });
      const cfg: PrometheusConfig = { url: prom.url, instanceLabel: 'instance', selector: 'job="gitaly"' };
      await waitFor(() => gitaly.scrapesMs.length >= 3 && exporter.scrapesMs.length >= 3, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'both pages scraped three times',
      });

      // The window starts just before a Gitaly scrape, after the exporter's last one; the dial
      // follows that Gitaly scrape at once, so Gitaly's first sample in the window predates it and
      // the exporter's first one, a scrape interval after its last, already holds it.
      const gaps: number[] = [];
      let dialled: { startMs: number; dialMs: number } | undefined;
      gitaly.afterScrape = (scrapedMs) => {
        const gapMs = scrapedMs - exporter.scrapesMs.at(-1)!;
        gaps.push(gapMs);
        // Both samples' times are the engine's, a few milliseconds before the pages see them.
        if (gapMs < 30 || gapMs > 970) return;
        gitaly.afterScrape = null;
        gitaly.lines.set('gitaly_connections_total{type="tls"}', 11);
        exporter.lines.set(tlsLine, 11);
        dialled = { startMs: scrapedMs - Math.min(100, Math.floor(gapMs / 2)), dialMs: Date.now() };
      };
      const { startMs, dialMs } = await waitFor(() => dialled, {
        timeoutMs: 15_000,
        intervalMs: 5,
        what: 'a Gitaly scrape apart from the exporter’s',
        context: () => `Gitaly's scrapes came this many ms after the exporter's: ${gaps.join(', ')}`,
      });
      const exporterFirst = await waitFor(() => exporter.scrapesMs.find((t) => t > startMs), {
        timeoutMs: 5_000,
        intervalMs: 5,
        what: 'the exporter’s first scrape in the window',
      });
      expect(exporterFirst, 'the exporter’s first scrape in the window comes after the dial').to.be.above(dialMs);

      // A whole number of seconds, as the queries' ranges are.
      const endMs = startMs + 10_000;
      await waitFor(() => Date.now() > endMs + 5_000, { timeoutMs: 20_000, intervalMs: 200, what: 'the window to be in the engine' });
      const evidence = await queryVerifiedFleetEvidence(cfg, { startMs, endMs }, OPTIONS);
      if (!evidence.ok) throw new Error(evidence.error.message);
      expect(evidence.windowStartMs).to.equal(startMs);
      const node = evidence.byInstance.get(gitaly.address);
      expect(node, 'the node').to.not.equal(undefined);
      // What the verdict shows (src/migration/verdict.ts): Gitaly's TLS count less every exporter's.
      expect({ gitaly: node!.windowIncrease.tls, exporters: node!.exportersTls }).to.deep.equal({ gitaly: 1, exporters: 1 });
    });
  });
