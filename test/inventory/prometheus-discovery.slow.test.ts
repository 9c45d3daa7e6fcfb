// Discovery from the real Prometheus scraping the demo fleet: the nodes Prometheus scrapes under
// the selector become the fleet, with addresses from target labels and roles from the counter
// family; a target added appears within two collections; a target removed stays blocking for the
// soak window.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import { realProbes } from '../../src/collect/probes.ts';
import type { Config, NodeConfig } from '../../src/config/types.ts';
import { demoConfig, demoNodeConfig } from '../../src/demo/demo-config.ts';
import { startDemoFleet, type DemoFleet } from '../../src/demo/fleet.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { Inventory } from '../../src/inventory/inventory.ts';
import { startPrometheus, type PrometheusConfigInput, type RunningPrometheus, type ScrapeJob } from '../helpers/prometheus-server.ts';
import { scaled } from '../helpers/time-factor.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SOAK_MS = 10 * 60_000;
const host = (url: string): string => new URL(url).host;

/** What Prometheus is told about a node: its metrics page, and its name and addresses as target labels. */
function group(n: { name: string; metricsUrl: string; tlsAddress?: string; plaintextAddress?: string }): ScrapeJob['groups'] & object {
  const labels: Record<string, string> = { gitaly_node: n.name };
  if (n.tlsAddress) labels.tls_address = n.tlsAddress;
  if (n.plaintextAddress) labels.plaintext_address = n.plaintextAddress;
  return [{ targets: [host(n.metricsUrl)], labels }];
}

describe('inventory: discovery from the real Prometheus scraping the demo fleet', function () {
  this.timeout(scaled(120_000));
  const logger = pino({ level: 'silent' });
  let dir: string;
  let fleet: DemoFleet;
  let extra: SimulatedNode;
  let prometheus: RunningPrometheus;
  let config: Config;

  function scrapeConfig(withExtra: boolean, without?: string): PrometheusConfigInput {
    const nodes = fleet.nodes.filter((n) => n.name !== without);
    const gitaly = nodes.filter((n) => n.role === 'gitaly').flatMap(group);
    if (withExtra)
      gitaly.push(
        ...group({
          name: 'gitaly-5',
          metricsUrl: extra.metricsUrl,
          tlsAddress: extra.tlsAddress,
          plaintextAddress: extra.plaintextAddress,
        }),
      );
    return {
      jobs: [
        { job: 'gitaly', targets: [], groups: gitaly },
        { job: 'praefect', targets: [], groups: nodes.filter((n) => n.role === 'praefect').flatMap(group) },
        // Scraped by the same Prometheus, outside the selector: never a node.
        { job: 'prometheus', targets: [`127.0.0.1:${prometheus?.port ?? 9}`] },
      ],
    };
  }

  async function listed(): Promise<string[]> {
    const res = (await (await fetch(`${prometheus.url}/api/v1/targets?state=active`)).json()) as {
      data: { activeTargets: Array<{ labels: Record<string, string> }> };
    };
    return res.data.activeTargets
      .map((t) => t.labels.gitaly_node ?? '')
      .filter(Boolean)
      .sort();
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-discovery-'));
    fleet = await startDemoFleet({ dir, migrationMs: 16_000, logger });
    extra = await startSimulatedNode({ name: 'gitaly-5', role: 'gitaly', host: '127.0.0.1', plaintext: true, metricsBulk: 'small' });
    prometheus = await startPrometheus({ scrapeInterval: '1s', jobs: [] });
    await prometheus.reload(scrapeConfig(false));
    const demo = demoConfig(fleet, { stateFile: join(dir, 'state.json') });
    config = {
      ...demo,
      nodes: [],
      soakWindowMs: SOAK_MS,
      prometheus: { url: prometheus.url, selector: 'job=~"gitaly|praefect"', instanceLabel: 'instance', scrapeIntervalMs: 1000 },
      discovery: {
        prometheus: {
          selector: 'job=~"gitaly|praefect"',
          templates: { name: '{gitaly_node}', tlsAddress: '{tls_address}', plaintextAddress: '{plaintext_address}' },
        },
        fileSd: [],
        toml: [],
        // The certificate files are on this host, under names Prometheus does not know.
        overrides: fleet.nodes.flatMap((n) => (n.certificateFile ? [{ name: n.name, certificateFile: n.certificateFile }] : [])),
        fileTimeoutMs: 5_000,
        maxFileBytes: 1 << 20,
      },
    };
  });

  after(async () => {
    await prometheus?.stop();
    await extra?.stop();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds every node under the selector with the addresses a hand-written list gives, and roles from the counter family', async () => {
    const inventory = new Inventory(config);
    // Praefect's role shows once Prometheus has scraped its counter family.
    const view = await waitFor(
      async () => {
        const v = await inventory.refresh();
        return v.nodes.length === fleet.nodes.length && v.nodes.some((n) => n.role === 'praefect') ? v : undefined;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: 'every demo node discovered, praefect-1 as a Praefect',
        context: () => JSON.stringify(inventory.latest),
      },
    );
    expect(view.sources.map((s) => [s.kind, s.ok])).to.deep.equal([['prometheus', true]]);
    const byHand: NodeConfig[] = fleet.nodes.map((n) => ({ ...demoNodeConfig(n), prometheusInstance: host(n.metricsUrl) }));
    const sortByName = (a: NodeConfig, b: NodeConfig) => a.name.localeCompare(b.name);
    expect([...view.nodes].sort(sortByName)).to.deep.equal(byHand.sort(sortByName));
  });

  it('a node added to Prometheus appears within two collections; one removed stays unknown and blocking for the soak window', async () => {
    let offsetMs = 0;
    const collector = new Collector({ config, logger, probes: realProbes, now: () => Date.now() + offsetMs });
    let s = await collector.collect();
    expect(s.nodes.map((n) => n.verdict.node)).to.not.include('gitaly-5');

    await prometheus.reload(scrapeConfig(true));
    await waitFor(async () => (await listed()).includes('gitaly-5'), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'Prometheus scraping gitaly-5',
    });
    const seen: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      s = await collector.collect();
      seen.push(s.nodes.some((n) => n.verdict.node === 'gitaly-5'));
    }
    expect(seen.includes(true), 'gitaly-5 in one of the next two collections').to.equal(true);
    const added = s.nodes.find((n) => n.verdict.node === 'gitaly-5')!;
    expect(added.observation.node).to.deep.include({
      plaintextAddress: extra.plaintextAddress,
      role: 'gitaly',
      metricsUrl: extra.metricsUrl,
    });

    await prometheus.reload(scrapeConfig(true, 'gitaly-2'));
    await waitFor(async () => !(await listed()).includes('gitaly-2'), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'Prometheus no longer scraping gitaly-2',
    });
    s = await collector.collect();
    const gone = s.nodes.find((n) => n.verdict.node === 'gitaly-2')!;
    expect(gone.verdict.phase).to.equal('unknown');
    expect(gone.verdict.reasons).to.deep.equal(['missing_from_inventory']);
    expect(s.fleet.complete).to.equal(false);
    expect(s.inventory?.sources.every((x) => x.ok)).to.equal(true);

    // Still there, and blocking, just before the soak window has passed since it was last listed...
    const lastListed = s.inventory!.missing[0]!.lastListedMs;
    offsetMs = lastListed + SOAK_MS - 5_000 - Date.now();
    s = await collector.collect();
    expect(s.nodes.find((n) => n.verdict.node === 'gitaly-2')?.verdict.reasons).to.deep.equal(['missing_from_inventory']);
    // ...and gone once it has.
    offsetMs += 10_000;
    s = await collector.collect();
    expect(s.nodes.map((n) => n.verdict.node)).to.not.include('gitaly-2');
    await collector.stop();
  });
});
