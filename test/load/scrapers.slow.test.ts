// Fifty concurrent /metrics scrapers against the exporter while collections run: every request gets
// a complete page, scrapes cause no probe (each collection dials the simulated Gitaly nodes exactly
// as often as without scrapers), and memory stays bounded. No timing is asserted.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import pino from 'pino';
import { Pool } from 'undici';
import { realProbes, type ProbeFunctions } from '../../src/collect/probes.ts';
import type { ConnectionCounts } from '../../src/evidence/evidence.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { startTestFleet, type TestFleet } from '../helpers/exporter-process.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';

const logger = pino({ level: 'silent' });
const NAMES = ['gitaly-1', 'gitaly-2', 'gitaly-3'];
const SCRAPERS = 50;
const LOAD_MS = 3_000;
const LONG = 24 * 86_400_000;

/** What parse-prometheus-text-format returns (the package ships no types). */
interface Family {
  name: string;
  metrics: Array<{ labels?: Record<string, string> }>;
}
const parseText = parsePrometheusTextFormat as unknown as (text: string) => Family[];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** What one collection cost the fleet: accepts counted by the nodes, and probe calls made. */
interface Cost {
  accepts: Record<string, ConnectionCounts>;
  calls: Record<string, number>;
}

describe('load: concurrent /metrics scrapers during collections', function () {
  this.timeout(scaled(60_000));
  let dir: string;
  let fleet: TestFleet | undefined;
  let exporter: Exporter | undefined;
  let app: ReturnType<typeof buildApp> | undefined;
  let pool: Pool | undefined;

  after(async () => {
    await pool?.destroy();
    await exporter?.stop();
    await app?.close();
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers every scrape with a complete page, probes no more per collection, and keeps memory bounded', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-load-'));
    fleet = await startTestFleet(dir, NAMES);
    const calls: Record<string, number> = {
      scrapeGitalyMetrics: 0,
      probeTls: 0,
      probePlaintext: 0,
      queryFleetEvidence: 0,
      checkCertFile: 0,
      readEstablished: 0,
    };
    const counted = <K extends 'scrapeGitalyMetrics' | 'probeTls' | 'probePlaintext' | 'queryFleetEvidence'>(
      name: K,
      fn: ProbeFunctions[K],
    ): ProbeFunctions[K] =>
      ((...args: unknown[]) => {
        calls[name]! += 1;
        return (fn as (...a: unknown[]) => unknown)(...args);
      }) as ProbeFunctions[K];
    const probes: ProbeFunctions = {
      ...realProbes,
      scrapeGitalyMetrics: counted('scrapeGitalyMetrics', realProbes.scrapeGitalyMetrics),
      probeTls: counted('probeTls', realProbes.probeTls),
      probePlaintext: counted('probePlaintext', realProbes.probePlaintext),
      queryFleetEvidence: counted('queryFleetEvidence', realProbes.queryFleetEvidence),
    };
    const nodes = NAMES.map((name) => {
      const n = fleet!.node(name);
      return { name, role: 'gitaly' as const, metricsUrl: n.metricsUrl, tlsAddress: n.tlsAddress!, plaintextAddress: n.plaintextAddress! };
    });
    // Plaintext and TLS-version checks only in the first collection, so every later one costs the same.
    const config = fakeConfig(nodes, join(dir, 'state.json'), {
      collectionIntervalMs: 200,
      plaintextCheckIntervalMs: LONG,
      tlsVersionCheckIntervalMs: LONG,
      caFile: fleet.caFile,
      timeouts: { metricsMs: 5_000, tlsMs: 5_000, plaintextMs: 5_000, prometheusMs: 5_000 },
    });
    exporter = new Exporter({ config, logger, probes });
    await exporter.init();
    app = buildApp({ logger, view: exporter });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;

    // The cost of each collection, read when it ends (collections never overlap).
    const costs: Cost[] = [];
    let scrapersRunning = false;
    const costsUnderLoad: Cost[] = [];
    const snapshotCost = (): Cost => ({
      accepts: Object.fromEntries(fleet!.nodes.map((n) => [n.name, { ...n.counts }])),
      calls: { ...calls },
    });
    exporter.collector.onSnapshot(() => {
      (scrapersRunning ? costsUnderLoad : costs).push(snapshotCost());
    });
    exporter.start();
    await waitFor(() => costs.length >= 6, { timeoutMs: 30_000, intervalMs: 50, what: 'six collections without scrapers' });
    const heapBefore = heapUsed();

    pool = new Pool(`http://127.0.0.1:${port}`, { connections: SCRAPERS });
    // Bodies are checked as they come and only distinct ones kept, so the test itself holds little.
    const distinct = new Set<string>();
    const problems: string[] = [];
    let answered = 0;
    scrapersRunning = true;
    const firstUnderLoad = costs.length;
    const until = Date.now() + LOAD_MS;
    await Promise.all(
      Array.from({ length: SCRAPERS }, async () => {
        while (Date.now() < until) {
          const res = await pool!.request({ path: '/metrics', method: 'GET' });
          const body = await res.body.text();
          answered += 1;
          if (res.statusCode !== 200) problems.push(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`);
          else if (Number(res.headers['content-length']) !== Buffer.byteLength(body))
            problems.push(`content-length ${String(res.headers['content-length'])} for ${Buffer.byteLength(body)} bytes`);
          // The process metrics are read at each scrape and differ every time: keep the collection's part.
          distinct.add(body.replace(/^(?:# (?:HELP|TYPE) )?(?:process|nodejs)_.*\n/gm, ''));
        }
      }),
    );
    scrapersRunning = false;
    await exporter.stop();
    const heapAfter = heapUsed();

    expect(answered, 'scrapes made').to.be.greaterThan(SCRAPERS);
    expect(problems, 'every scrape answered 200 with its full length').to.deep.equal([]);
    expect(costsUnderLoad.length, 'collections while scraped').to.be.at.least(2);
    // Every page is whole: it parses, and it has every node and the collection's own metrics.
    for (const body of distinct) {
      const families = new Map(parseText(body).map((f) => [f.name, f]));
      const phases = families.get('gitaly_tls_migration_phase')?.metrics ?? [];
      expect(new Set(phases.map((m) => m.labels?.node))).to.deep.equal(new Set(NAMES));
      expect(families.has('gitaly_tls_exporter_last_collection_timestamp_seconds')).to.equal(true);
      expect(body.endsWith('\n')).to.equal(true);
    }

    // Per collection: one scrape and one TLS handshake per node, nothing else, with or without scrapers.
    const perCollection = (list: Cost[], before: Cost): Array<Record<string, unknown>> =>
      list.map((cost, i) => {
        const prev = i === 0 ? before : list[i - 1]!;
        return {
          accepts: Object.fromEntries(
            NAMES.map((n) => [n, { tcp: cost.accepts[n]!.tcp - prev.accepts[n]!.tcp, tls: cost.accepts[n]!.tls - prev.accepts[n]!.tls }]),
          ),
          calls: Object.fromEntries(Object.keys(calls).map((k) => [k, cost.calls[k]! - prev.calls[k]!])),
        };
      });
    const expected = {
      accepts: Object.fromEntries(NAMES.map((n) => [n, { tcp: 0, tls: 1 }])),
      calls: { scrapeGitalyMetrics: 3, probeTls: 3, probePlaintext: 0, queryFleetEvidence: 0, checkCertFile: 0, readEstablished: 0 },
    };
    const quiet = perCollection(costs.slice(2, firstUnderLoad), costs[1]!);
    const loaded = perCollection(costsUnderLoad, costs[firstUnderLoad - 1]!);
    for (const c of quiet) expect(c, 'a collection without scrapers').to.deep.equal(expected);
    for (const c of loaded) expect(c, 'a collection during 50 concurrent scrapes').to.deep.equal(expected);

    expect(heapAfter, `heap ${Math.round(heapBefore / 1e6)} MB before, ${Math.round(heapAfter / 1e6)} MB after`).to.be.below(
      2 * heapBefore + 32 * 1024 * 1024,
    );
  });
});
