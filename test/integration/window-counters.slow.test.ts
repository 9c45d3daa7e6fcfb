// Issue 10 with real parts: the real Prometheus scraping simulated Gitaly nodes, two exporters (one
// reading Prometheus, one scraping directly) probing them, and the two ways a counter used to give a
// false "no plaintext": a series that appears inside the window (lazily created, or again after a
// restart) and a counter that does not count this node's listeners at all.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { chainPem, createCa, createLeaf } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import type { RunningPrometheus } from '../helpers/prometheus-server.ts';
import { ENGINES, startEngine } from '../helpers/query-engine.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { realPrometheusConfig } from '../helpers/real-prometheus-config.ts';

// What the configuration demands for 1 s scrapes: a soak window of at least 42 s.
const SOAK_MS = 45_000;
const HOST = '127.0.0.1';

/** Opens a plaintext connection that stays open (a long-lived gRPC channel). */
function dial(address: string): Promise<Socket> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST, () => resolve(socket)).once('error', reject);
  });
}

/** A metrics page served through a "proxy" that drops the connection counter families. */
async function strippedPage(of: SimulatedNode): Promise<{ url: string; host: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    fetch(of.metricsUrl, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.text())
      .then((text) => {
        const kept = text.split('\n').filter((line) => !/connections_total/.test(line));
        res.setHeader('content-type', 'text/plain; version=0.0.4');
        res.end(kept.join('\n'));
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const host = `${HOST}:${(server.address() as AddressInfo).port}`;
  return {
    url: `http://${host}/metrics`,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

for (const engine of ENGINES)
  describe(`integration: counters that appear inside the window, and counters that do not count us (real ${engine})`, function () {
    this.timeout(300_000);
    const logger = pino({ level: 'silent' });
    let dir: string;
    const nodes: SimulatedNode[] = [];
    const sockets: Socket[] = [];
    const closers: Array<() => Promise<void>> = [];
    let prometheus: RunningPrometheus;
    let viaPrometheus: Collector;
    let direct: Collector;
    let plaintextClients: NodeJS.Timeout;
    let lazy: SimulatedNode, restarted: SimulatedNode, control: SimulatedNode, unsignalled: SimulatedNode;
    /** Every collection's verdict of `unsignalled`, read through Prometheus. */
    const unsignalledRecord: Array<{ phase: string; reasons: string[]; details: string[] }> = [];
    /** Every collection's verdict of the directly scraped nodes. */
    const record = new Map<string, Array<{ atMs: number; phase: string; reasons: string[] }>>();

    const verdicts = (c: Collector) => new Map((c.latest?.nodes ?? []).map((n) => [n.verdict.node, n.verdict]));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gte-window-counters-'));
      const ca = await createCa();
      const leaf = await createLeaf(ca, HOST);
      const caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, ca.certPem);
      const tls = { certChainPem: chainPem(leaf), keyPem: leaf.keyPem };
      const start = async (name: string, role: 'gitaly' | 'praefect' = 'gitaly') => {
        const node = await startSimulatedNode({ name, role, host: HOST, tls, metricsBulk: 'small' });
        nodes.push(node);
        return node;
      };

      // Read through Prometheus. `lazy` has had no plaintext client yet: no tcp series at all.
      lazy = await start('lazy');
      // `restarted` has three long-lived plaintext clients from before: a tcp series at 3.
      restarted = await start('restarted');
      for (let i = 0; i < 3; i++) sockets.push(await dial(restarted.plaintextAddress!));
      // `control`: the same listeners, no plaintext client, and the exporter dials its listen_addr.
      control = await start('control');
      // `unsignalled`: as `restarted`, but Prometheus drops its process_* series (metric_relabel_configs,
      // as many setups do to save cardinality), so a restart its clients hide is invisible there.
      unsignalled = await start('unsignalled');
      for (let i = 0; i < 3; i++) sockets.push(await dial(unsignalled.plaintextAddress!));
      // A Gitaly whose page Prometheus gets through a proxy that drops the counters.
      const hidden = await start('hidden');
      const hiddenPage = await strippedPage(hidden);
      closers.push(() => hiddenPage.close());

      // Scraped directly: a Praefect configured without `role: praefect`, a page without the
      // counter family, and a control Gitaly with the same plaintext client.
      const praefect = await start('praefect', 'praefect');
      const bare = await start('bare');
      const barePage = await strippedPage(bare);
      closers.push(() => barePage.close());
      const directControl = await start('direct-control');
      // A plaintext client hitting listen_addr every 3 s on each.
      plaintextClients = setInterval(() => {
        for (const n of [praefect, bare, directControl])
          void dial(n.plaintextAddress!).then(
            (s) => s.destroy(),
            () => undefined,
          );
      }, 3000);

      const metricsHost = (n: SimulatedNode) => new URL(n.metricsUrl).host;
      prometheus = await startEngine(engine, {
        scrapeInterval: '1s',
        jobs: [
          {
            job: 'gitaly',
            targets: [lazy, restarted, control, unsignalled].map(metricsHost).concat(hiddenPage.host),
            metricRelabel: [
              { source_labels: ['__name__', 'instance'], regex: `(process|go)_.*;${metricsHost(unsignalled)}`, action: 'drop' },
            ],
          },
        ],
      });
      const viaPrometheusNodes: NodeConfig[] = [
        // Only tls_address and prometheus_instance, as in the issue.
        { name: 'lazy', role: 'gitaly', tlsAddress: lazy.tlsAddress!, prometheusInstance: metricsHost(lazy) },
        { name: 'restarted', role: 'gitaly', tlsAddress: restarted.tlsAddress!, prometheusInstance: metricsHost(restarted) },
        {
          name: 'control',
          role: 'gitaly',
          tlsAddress: control.tlsAddress!,
          plaintextAddress: control.plaintextAddress!,
          prometheusInstance: metricsHost(control),
        },
        { name: 'hidden', role: 'gitaly', tlsAddress: hidden.tlsAddress!, prometheusInstance: hiddenPage.host },
        { name: 'unsignalled', role: 'gitaly', tlsAddress: unsignalled.tlsAddress!, prometheusInstance: metricsHost(unsignalled) },
      ];
      viaPrometheus = new Collector({
        config: realPrometheusConfig({
          dir,
          caFile,
          nodes: viaPrometheusNodes,
          prometheusUrl: prometheus.url,
          soakWindowMs: SOAK_MS,
          stateName: 'prometheus',
        }),
        logger,
        probes: realProbes,
      });
      viaPrometheus.onSnapshot((snap) => {
        const v = snap.nodes.find((n) => n.verdict.node === 'unsignalled')?.verdict;
        if (v) unsignalledRecord.push({ phase: v.phase, reasons: v.reasons, details: v.details });
      });
      const directNodes: NodeConfig[] = [
        {
          name: 'praefect',
          role: 'gitaly',
          metricsUrl: praefect.metricsUrl,
          tlsAddress: praefect.tlsAddress!,
          plaintextAddress: praefect.plaintextAddress!,
        },
        { name: 'bare', role: 'gitaly', metricsUrl: barePage.url, tlsAddress: bare.tlsAddress!, plaintextAddress: bare.plaintextAddress! },
        {
          name: 'direct-control',
          role: 'gitaly',
          metricsUrl: directControl.metricsUrl,
          tlsAddress: directControl.tlsAddress!,
          plaintextAddress: directControl.plaintextAddress!,
        },
      ];
      direct = new Collector({
        config: realPrometheusConfig({ dir, caFile, nodes: directNodes, prometheusUrl: null, soakWindowMs: SOAK_MS, stateName: 'direct' }),
        logger,
        probes: realProbes,
      });
      direct.onSnapshot((snap) => {
        for (const { verdict } of snap.nodes) {
          const list = record.get(verdict.node) ?? [];
          list.push({ atMs: snap.atMs, phase: verdict.phase, reasons: verdict.reasons });
          record.set(verdict.node, list);
        }
      });
      viaPrometheus.start();
      direct.start();
    });

    after(async () => {
      clearInterval(plaintextClients);
      await viaPrometheus?.stop();
      await direct?.stop();
      for (const s of sockets) s.destroy();
      await prometheus?.stop();
      await Promise.all(closers.map((close) => close()));
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    });

    it('reaches tls_only_traffic for the nodes read through Prometheus once it covers the window', async () => {
      await waitFor(
        () => {
          const v = verdicts(viaPrometheus);
          return ['lazy', 'restarted', 'control'].every((n) => v.get(n)?.phase === 'tls_only_traffic');
        },
        { timeoutMs: 120_000, intervalMs: 500, what: 'lazy, restarted and control to reach tls_only_traffic' },
      );
    });

    it('blocks a series that appears inside the window, and one that comes back after a restart, for the whole soak window', async () => {
      // Three clients connect at once to `lazy` and stay: its tcp series is created at 3. `restarted`
      // restarts (to enable TLS, say) and its three clients reconnect: the series comes back at 3.
      for (let i = 0; i < 3; i++) sockets.push(await dial(lazy.plaintextAddress!));
      await restarted.restart();
      for (let i = 0; i < 3; i++) sockets.push(await dial(restarted.plaintextAddress!));
      const connectedAt = Date.now();
      expect(lazy.counts.tcp).to.equal(3);
      expect(restarted.counts.tcp).to.equal(3);

      const blocked = (name: string) => {
        const v = verdicts(viaPrometheus).get(name);
        return v !== undefined && v.reasons.includes('plaintext_connections_in_window') && v.phase === 'dual_listen';
      };
      // As soon as Prometheus has scraped the new series and a collection has asked about it.
      await waitFor(() => blocked('lazy') && blocked('restarted'), {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: 'lazy and restarted blocked',
      }).catch((err: Error) => {
        const state = JSON.stringify(
          [
            ['lazy', 'restarted'].map((n) => verdicts(viaPrometheus).get(n)),
            viaPrometheus.latest?.prometheus,
            viaPrometheus.latest?.queryWindow,
          ],
          (_k: string, v: unknown): unknown => (v instanceof Map ? Object.fromEntries(v) : v instanceof Set ? [...v] : v),
        );
        throw new Error(`${err.message}: ${state}`);
      });
      const blockedAt = Date.now();
      expect(blockedAt - connectedAt).to.be.below(15_000);
      // Until the connections leave the window (a collection's margin before it).
      while (Date.now() < connectedAt + SOAK_MS - 3_000) {
        const v = verdicts(viaPrometheus);
        for (const name of ['lazy', 'restarted']) {
          const n = v.get(name)!;
          expect(n.phase, `${name}: ${JSON.stringify([n.reasons, n.details, n.window])}`).to.equal('dual_listen');
          expect(n.reasons).to.include('plaintext_connections_in_window');
          expect(n.window?.tcp, name).to.be.at.least(3);
        }
        // The control node, with the exporter's own dials and TLS probes only, stays as it was.
        const c = v.get('control')!;
        expect(c.phase, JSON.stringify([c.reasons, c.details, c.window])).to.equal('tls_only_traffic');
        expect(c.window?.tcp).to.equal(0);
        await new Promise((r) => setTimeout(r, 1000));
      }
    });

    it('never calls a node safe when Prometheus drops its process_start_time_seconds, across a restart its clients hide, and names the fix', async () => {
      // The restart falls between two scrapes and the three clients bring the tcp counter back to 3:
      // the series never moves, so only the restart signal could show it.
      const before = unsignalled.counts.tcp;
      await unsignalled.restart();
      for (let i = 0; i < 3; i++) sockets.push(await dial(unsignalled.plaintextAddress!));
      expect(unsignalled.counts.tcp).to.equal(before);
      const seen = unsignalledRecord.length;
      await waitFor(() => unsignalledRecord.length >= seen + 8, { timeoutMs: 60_000, intervalMs: 200, what: 'eight more collections' });
      expect(unsignalledRecord.length, 'collections judged').to.be.above(20);
      const safe = unsignalledRecord.filter((r) => r.phase === 'tls_only_traffic' || r.phase === 'complete');
      expect(safe, JSON.stringify(safe[0])).to.deep.equal([]);
      const latest = unsignalledRecord.at(-1)!;
      expect(latest.reasons).to.include('insufficient_history');
      expect(latest.details.join(' ')).to.contain('keep process_start_time_seconds for the Gitaly job');
    });

    it('never calls a node whose counter does not count us tls_only_traffic: unknown, counter_not_counting_us', async () => {
      const v = verdicts(direct);
      for (const name of ['praefect', 'bare']) {
        const n = v.get(name)!;
        expect(n.phase, `${name}: ${JSON.stringify(n.reasons)}`).to.equal('unknown');
        expect(n.reasons).to.include('counter_not_counting_us');
        expect(n.window).to.equal(null);
      }
      expect(v.get('praefect')!.details.join(' ')).to.match(/made \d+ TLS and \d+ plaintext connection\(s\)/);
      // The control Gitaly with the same plaintext client: dual_listen, as before.
      const c = v.get('direct-control')!;
      expect(c.phase).to.equal('dual_listen');
      expect(c.reasons).to.include('plaintext_connections_in_window');
      expect(c.reasons).not.to.include('counter_not_counting_us');
      // Through Prometheus: an instance scraped without any connection counter series. Its canary is
      // checked only while Prometheus covers the window, and on a busy machine some 1 s scrapes through
      // the proxy time out: wait for the check, and until then it must never be more than unknown.
      const hidden = await waitFor(
        () => {
          const h = verdicts(viaPrometheus).get('hidden')!;
          return h.phase !== 'unknown' || h.reasons.includes('counter_not_counting_us') ? h : false;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'hidden to be unknown with counter_not_counting_us' },
      );
      expect(hidden.phase, JSON.stringify([hidden.reasons, hidden.details])).to.equal('unknown');
      expect(hidden.details.join(' ')).to.match(/did not count the exporter's own connections/);
    });

    it('kept them blocked on every collection since the first check, for more than a soak window, and never called them done', () => {
      for (const name of ['praefect', 'bare']) {
        const history = record.get(name)!;
        const first = history.findIndex((h) => h.reasons.includes('counter_not_counting_us'));
        expect(first, name).to.be.within(0, 5);
        const since = history.slice(first);
        expect(
          since.every((h) => h.reasons.includes('counter_not_counting_us') && h.phase === 'unknown'),
          name,
        ).to.equal(true);
        expect(since[since.length - 1]!.atMs - since[0]!.atMs, name).to.be.above(SOAK_MS);
        expect(
          history.some((h) => h.phase === 'tls_only_traffic' || h.phase === 'complete'),
          name,
        ).to.equal(false);
      }
    });
  });
