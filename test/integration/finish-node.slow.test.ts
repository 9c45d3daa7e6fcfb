// Issue 29's last step with the real Prometheus: a node at tls_only_traffic, then Gitaly restarted
// without listen_addr while a Prometheus scrape fails. The node is complete within one
// plaintext_check_interval plus two collections of the restart, and never goes back to dual_listen.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import { chainPem, createCa, createLeaf } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import type { NodeVerdict } from '../../src/migration/verdict.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus-server.ts';
import { realPrometheusConfig } from '../helpers/real-prometheus-config.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SOAK_MS = 45_000;
const INTERVAL_MS = 1_000;
const CHECK_MS = 24_000;
const HOST = '127.0.0.1';

describe('integration: finishing a node through a restart while Prometheus misses a scrape (real Prometheus)', function () {
  this.timeout(300_000);
  let dir: string;
  let node: SimulatedNode;
  let prometheus: RunningPrometheus;
  let collector: Collector;
  const record: Array<{ atMs: number; verdict: NodeVerdict }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-finish-'));
    const ca = await createCa();
    const leaf = await createLeaf(ca, HOST);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    node = await startSimulatedNode({
      name: 'finish',
      role: 'gitaly',
      host: HOST,
      tls: { certChainPem: chainPem(leaf), keyPem: leaf.keyPem },
      metricsBulk: 'small',
    });
    const host = new URL(node.metricsUrl).host;
    prometheus = await startPrometheus({ scrapeInterval: '1s', jobs: [{ job: 'gitaly', targets: [host] }] });
    const config = realPrometheusConfig({
      dir,
      caFile,
      nodes: [
        {
          name: 'finish',
          role: 'gitaly',
          metricsUrl: node.metricsUrl,
          tlsAddress: node.tlsAddress!,
          plaintextAddress: node.plaintextAddress!,
        },
      ],
      prometheusUrl: prometheus.url,
      soakWindowMs: SOAK_MS,
    });
    collector = new Collector({ config, logger: pino({ level: 'silent' }), probes: realProbes });
    collector.onSnapshot((snap) => {
      for (const n of snap.nodes) record.push({ atMs: snap.atMs, verdict: n.verdict });
    });
    collector.start();
  });

  after(async () => {
    await collector?.stop();
    await prometheus?.stop();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is complete within one plaintext_check_interval plus two collections of the restart, never dual_listen again', async () => {
    const safe = await waitFor(() => record.find((r) => r.verdict.phase === 'tls_only_traffic'), {
      timeoutMs: 150_000,
      intervalMs: 500,
      what: 'the node in tls_only_traffic',
    });
    // Remove listen_addr and restart, while Prometheus' scrapes fail (the exporter's own go on).
    node.setMetricsDown(true, /Prometheus/);
    await node.closePlaintextListener();
    await node.restart();
    const restartedMs = Date.now();
    await waitFor(() => Date.now() - restartedMs > 2_500, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'a failed Prometheus scrape or two',
    });
    node.setMetricsDown(false);
    const complete = await waitFor(() => record.find((r) => r.atMs > restartedMs && r.verdict.phase === 'complete'), {
      timeoutMs: CHECK_MS + 60_000,
      intervalMs: 250,
      what: 'the node complete',
    });
    expect(complete.atMs - restartedMs, JSON.stringify(complete.verdict.details)).to.be.at.most(CHECK_MS + 2 * INTERVAL_MS);
    expect(complete.verdict.details.join(' ')).to.contain('the soak window no longer matters');
    // It stays complete while the failed scrapes are inside the window, and was never dual_listen since.
    await waitFor(() => Date.now() - restartedMs > 15_000, { timeoutMs: 30_000, intervalMs: 500, what: '15 s after the restart' });
    const since = record.filter((r) => r.atMs >= safe.atMs).map((r) => r.verdict.phase);
    expect(
      since.filter((p) => p === 'dual_listen' || p === 'plaintext_only'),
      since.join(','),
    ).to.deep.equal([]);
    expect(record.filter((r) => r.atMs >= complete.atMs).every((r) => r.verdict.phase === 'complete')).to.equal(true);
  });
});
