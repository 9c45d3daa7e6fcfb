// Gaps in Prometheus' samples, with the real Prometheus: a run of failed scrapes across which the
// Gitaly process is the same loses no count (Gitaly's counter continues), so it costs the node
// nothing; one that holds a restart may hide what the old process accepted, and blocks the node
// until the soak window has passed it, not longer.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { chainPem, createCa, createLeaf } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import type { NodeVerdict } from '../../src/migration/verdict.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server.ts';
import { realPrometheusConfig } from '../helpers/real-prometheus-config.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SOAK_MS = 45_000;
/** A fifth of the window: far more than the coverage rule forgives (0.2 %). */
const GAP_MS = 9_000;
const HOST = '127.0.0.1';

describe('integration: gaps in Prometheus’ samples (real Prometheus)', function () {
  this.timeout(400_000);
  let dir: string;
  let prometheus: RunningPrometheus;
  let collector: Collector;
  const nodes = new Map<string, SimulatedNode>();
  const record: Array<{ atMs: number; verdict: NodeVerdict }> = [];
  let gapEndMs = 0;

  const of = (name: string, fromMs = 0) => record.filter((r) => r.verdict.node === name && r.atMs >= fromMs);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-gaps-'));
    const ca = await createCa();
    const leaf = await createLeaf(ca, HOST);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    const tls = { certChainPem: chainPem(leaf), keyPem: leaf.keyPem };
    for (const name of ['bridged', 'restarted'])
      nodes.set(name, await startSimulatedNode({ name, role: 'gitaly', host: HOST, tls, metricsBulk: 'small' }));
    const metricsHost = (n: SimulatedNode) => new URL(n.metricsUrl).host;
    prometheus = await startPrometheus({ scrapeInterval: '1s', jobs: [{ job: 'gitaly', targets: [...nodes.values()].map(metricsHost) }] });
    // Read through Prometheus alone: its window is the only traffic evidence.
    const list: NodeConfig[] = [...nodes.values()].map((n) => ({
      name: n.name,
      role: 'gitaly',
      tlsAddress: n.tlsAddress!,
      plaintextAddress: n.plaintextAddress!,
      prometheusInstance: metricsHost(n),
    }));
    const config = realPrometheusConfig({ dir, caFile, nodes: list, prometheusUrl: prometheus.url, soakWindowMs: SOAK_MS });
    collector = new Collector({ config, logger: pino({ level: 'silent' }), probes: realProbes });
    collector.onSnapshot((snap) => {
      for (const n of snap.nodes) record.push({ atMs: snap.atMs, verdict: n.verdict });
    });
    collector.start();
  });

  after(async () => {
    await collector?.stop();
    await prometheus?.stop();
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('both nodes reach tls_only_traffic once Prometheus covers the window', async () => {
    await waitFor(() => ['bridged', 'restarted'].every((n) => of(n).at(-1)?.verdict.phase === 'tls_only_traffic'), {
      timeoutMs: 150_000,
      intervalMs: 500,
      what: 'both nodes in tls_only_traffic',
    });
  });

  it('a fifth of the window without samples: bridged where the process is the same, blocking where Gitaly restarted inside', async () => {
    for (const n of nodes.values()) n.setMetricsDown(true);
    await new Promise((r) => setTimeout(r, GAP_MS / 2));
    await nodes.get('restarted')!.restart();
    await new Promise((r) => setTimeout(r, GAP_MS / 2));
    for (const n of nodes.values()) n.setMetricsDown(false);
    gapEndMs = Date.now();
    // Once Prometheus has the samples after the gap and a collection has asked about them.
    const seen = await waitFor(
      () => {
        const v = of('bridged', gapEndMs + 3_000).at(-1)?.verdict;
        return v && v.details.some((d) => d.includes('bridged')) ? v : false;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the bridged gap in the details' },
    );
    expect(seen.phase, JSON.stringify([seen.reasons, seen.details])).to.equal('tls_only_traffic');
    // While the gap is inside the window: the bridged node never loses its phase for it; the
    // restarted one is blocked and says why.
    while (Date.now() < gapEndMs + SOAK_MS - 5_000) {
      const b = of('bridged', gapEndMs + 3_000).at(-1)!.verdict;
      expect(b.reasons, JSON.stringify(b.details)).not.to.include('insufficient_history');
      const r = of('restarted', gapEndMs + 5_000).at(-1)?.verdict;
      if (r) {
        expect(r.phase, JSON.stringify([r.reasons, r.details])).not.to.be.oneOf(['tls_only_traffic', 'complete']);
        expect(r.details.join(' ')).to.contain('Gitaly restarted inside it');
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
  });

  it('the restarted node is safe again once the window has passed the gap, not later', async () => {
    const back = await waitFor(() => of('restarted', gapEndMs + SOAK_MS).find((r) => r.verdict.phase === 'tls_only_traffic'), {
      timeoutMs: gapEndMs + SOAK_MS + 60_000 - Date.now(),
      intervalMs: 500,
      what: 'restarted back in tls_only_traffic',
    });
    // A collection or two, a scrape and the query window's own margin after the gap leaves the window.
    expect(back.atMs - (gapEndMs + SOAK_MS)).to.be.below(20_000);
  });
});
