import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Collector } from '../../src/cycle/collector.ts';
import type { Config, NodeConfig } from '../../src/config/types.ts';
import { Exporter } from '../../src/exporter.ts';
import { migrationJson } from '../../src/pages/migration-json.ts';
import { renderStatusPage } from '../../src/pages/status-page.ts';
import { renderMetrics } from '../../src/metrics/render.ts';
import { renderTable } from '../../src/report/table.ts';
import { Inventory } from '../../src/inventory/inventory.ts';
import { applyOverrides, mergeNodes } from '../../src/inventory/merge.ts';
import type { InventorySource, SourceResult } from '../../src/inventory/types.ts';
import { loadState } from '../../src/migration/state.ts';
import { FakeClock, FakeFleet, fakeConfig, fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const logger = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 10, 25, 8);
const SOAK = 10 * 60_000;

/** A discovery source whose answer the test sets between cycles. */
class SettableSource implements InventorySource {
  kind = 'file_sd' as const;
  answer: SourceResult = { ok: true, nodes: [] };
  constructor(readonly id: string) {}
  set(nodes: NodeConfig[]): void {
    this.answer = { ok: true, nodes };
  }
  fail(message: string): void {
    this.answer = { ok: false, error: { code: 'READ', message } };
  }
  discover(): Promise<SourceResult> {
    return Promise.resolve(this.answer);
  }
}

describe('inventory', () => {
  let clock: FakeClock;
  let dir: string;
  let sd: SettableSource;

  beforeEach(() => {
    clock = new FakeClock(T0);
    dir = mkdtempSync(join(tmpdir(), 'gte-inventory-'));
    sd = new SettableSource('file_sd /etc/prometheus/gitaly.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function inventory(config: Config): Inventory {
    return new Inventory(config, {
      now: clock.now,
      sources: (c) => [
        ...(c.nodes.length
          ? [{ id: 'static', kind: 'static' as const, discover: () => Promise.resolve({ ok: true as const, nodes: c.nodes }) }]
          : []),
        sd,
      ],
    });
  }

  it('a discovered node that leaves its source stays, missing, for exactly one soak window', async () => {
    const inv = inventory(fakeConfig([], join(dir, 's.json'), { soakWindowMs: SOAK }));
    sd.set([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')]);
    let view = await inv.refresh();
    expect(view.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1', 'gitaly-2']);
    sd.set([fakeNodeConfig('gitaly-1')]);
    clock.advance(1000);
    view = await inv.refresh();
    expect(view.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1']);
    expect(view.missing.map((m) => [m.node.name, m.lastListedMs, m.untilMs])).to.deep.equal([['gitaly-2', T0, T0 + SOAK]]);
    expect(inv.nodes().map((n) => n.name)).to.deep.equal(['gitaly-1', 'gitaly-2']);
    clock.advance(SOAK - 1001);
    expect((await inv.refresh()).missing).to.have.length(1);
    clock.advance(1);
    view = await inv.refresh();
    expect(view.missing).to.deep.equal([]);
    expect(inv.nodes().map((n) => n.name)).to.deep.equal(['gitaly-1']);
  });

  it('a node listed again is no longer missing, and its window starts again when it next leaves', async () => {
    const inv = inventory(fakeConfig([], join(dir, 's.json'), { soakWindowMs: SOAK }));
    sd.set([fakeNodeConfig('gitaly-1')]);
    await inv.refresh();
    sd.set([]);
    clock.advance(60_000);
    expect((await inv.refresh()).missing).to.have.length(1);
    sd.set([fakeNodeConfig('gitaly-1')]);
    clock.advance(60_000);
    expect((await inv.refresh()).missing).to.deep.equal([]);
    sd.set([]);
    clock.advance(60_000);
    expect((await inv.refresh()).missing[0]!.untilMs).to.equal(T0 + 120_000 + SOAK);
  });

  it('a source that fails keeps its nodes as they were, observed, and says it failed', async () => {
    const inv = inventory(fakeConfig([], join(dir, 's.json'), { soakWindowMs: SOAK }));
    sd.set([fakeNodeConfig('gitaly-1')]);
    await inv.refresh();
    sd.fail('cannot read /etc/prometheus/gitaly.json: permission denied');
    clock.advance(2 * SOAK);
    const view = await inv.refresh();
    expect(view.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1']);
    expect(view.missing).to.deep.equal([]);
    expect(view.sources.find((s) => s.id === sd.id)).to.deep.include({ ok: false, nodes: 0 });
  });

  it('a node removed from the static list leaves at once: the operator removed it in so many words', async () => {
    const inv = inventory(fakeConfig([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')], join(dir, 's.json')));
    await inv.refresh();
    inv.setConfig(fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 's.json')));
    const view = await inv.refresh();
    expect(view.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1']);
    expect(view.missing).to.deep.equal([]);
  });

  it('the same Gitaly found by two sources is one node; the earlier source’s settings win', () => {
    const merged = mergeNodes([
      {
        source: 'static',
        nodes: [fakeNodeConfig('gitaly-1', { metricsUrl: undefined, prometheusInstance: 'gitaly-1:9236', serverName: 'g1' })],
      },
      {
        source: 'prometheus',
        nodes: [
          { name: 'gitaly-1:9236', role: 'gitaly', metricsUrl: 'https://gitaly-1:9236/metrics', prometheusInstance: 'gitaly-1:9236' },
        ],
      },
      { source: 'praefect', nodes: [{ name: 'storage-a', role: 'gitaly', tlsAddress: 'GITALY-1:9999' }] },
    ]);
    expect(merged).to.have.length(1);
    expect(merged[0]!.sources).to.deep.equal(['static', 'prometheus', 'praefect']);
    expect(merged[0]!.node).to.deep.include({ name: 'gitaly-1', serverName: 'g1', metricsUrl: 'https://gitaly-1:9236/metrics' });
  });

  it('an override takes a discovered TLS address away from one node (tls_address: none), or replaces it', () => {
    const discovered = fakeNodeConfig('gitaly-7', { serverName: 'g7' });
    const none = applyOverrides(discovered, [{ name: 'gitaly-7', tlsAddress: 'none' }]);
    expect([none.tlsAddress, none.serverName, none.plaintextAddress]).to.deep.equal([undefined, undefined, 'gitaly-7:8075']);
    expect(applyOverrides(discovered, [{ name: 'gitaly-7', tlsAddress: 'gitaly-7.internal:3305' }]).tlsAddress).to.equal(
      'gitaly-7.internal:3305',
    );
    expect(applyOverrides(discovered, [{ name: 'gitaly-8', tlsAddress: 'none' }])).to.equal(discovered);
  });

  describe('identity: entries that share a key but disagree are never merged', () => {
    it('two Gitalys behind one instance label are two nodes, each blocked with a sentence naming both and the field', () => {
      const merged = mergeNodes([
        {
          source: 'file_sd /etc/prometheus/gitaly.json',
          nodes: [
            fakeNodeConfig('gitaly-a', { prometheusInstance: 'gitaly-host' }),
            fakeNodeConfig('gitaly-b', { prometheusInstance: 'gitaly-host' }),
          ],
        },
      ]);
      expect(merged.map((m) => m.node.name)).to.deep.equal(['gitaly-a', 'gitaly-b']);
      for (const m of merged) {
        expect(m.conflicts).to.have.length(1);
        expect(m.conflicts[0]).to.equal(
          'identity conflict: node "gitaly-a" (file_sd /etc/prometheus/gitaly.json) and node "gitaly-b" (file_sd /etc/prometheus/gitaly.json) ' +
            'share prometheus_instance "gitaly-host" but disagree on tls_address: "gitaly-a:9999" vs "gitaly-b:9999". ' +
            'They are not merged, and neither can advance until the sources tell them apart (a distinct name, address or instance label) or agree',
        );
      }
    });

    it('one name for two addresses in two sources: one node (the name is the label), blocked, naming both sources', () => {
      const merged = mergeNodes([
        { source: 'static', nodes: [fakeNodeConfig('gitaly-1')] },
        { source: 'praefect_config /etc/praefect/config.toml', nodes: [{ name: 'gitaly-1', role: 'gitaly', tlsAddress: 'gitaly-9:9999' }] },
      ]);
      expect(merged).to.have.length(1);
      expect(merged[0]!.node.tlsAddress).to.equal('gitaly-1:9999');
      expect(merged[0]!.sources).to.deep.equal(['static']);
      expect(merged[0]!.conflicts.join(' ')).to.contain('(praefect_config /etc/praefect/config.toml)');
      expect(merged[0]!.conflicts.join(' ')).to.contain('disagree on tls_address: "gitaly-1:9999" vs "gitaly-9:9999"');
    });

    it('each field a Gitaly is told by: role, metrics_url, certificate_file, plaintext_address conflict; plaintext_address: none does not', () => {
      const base = fakeNodeConfig('gitaly-1');
      const cases: Array<[Partial<NodeConfig>, string | null]> = [
        [{ role: 'praefect' }, 'role'],
        [{ metricsUrl: 'http://gitaly-1:9237/metrics' }, 'metrics_url'],
        [{ metricsUrl: 'http://GITALY-1:9236/metrics' }, null],
        [{ certificateFile: '/b.crt' }, 'certificate_file'],
        [{ plaintextAddress: 'gitaly-1:8076' }, 'plaintext_address'],
        [{ plaintextAddress: undefined }, null],
      ];
      for (const [change, field] of cases) {
        const merged = mergeNodes([
          { source: 'static', nodes: [{ ...base, certificateFile: '/a.crt' }] },
          { source: 'file_sd f', nodes: [{ ...base, certificateFile: '/a.crt', ...change }] },
        ]);
        const conflicts = merged.flatMap((m) => m.conflicts);
        if (field === null) expect(conflicts, JSON.stringify(change)).to.deep.equal([]);
        else expect(conflicts.join(' '), JSON.stringify(change)).to.contain(`disagree on ${field}:`);
      }
      const removed = mergeNodes([
        { source: 'static', nodes: [{ ...base, plaintextAddress: undefined, plaintextListenerRemoved: true }] },
        { source: 'file_sd f', nodes: [base] },
      ]);
      expect(removed.map((m) => [m.conflicts, m.node.plaintextAddress])).to.deep.equal([[[], undefined]]);
    });
  });

  describe('in a collection', () => {
    let fleet: FakeFleet;
    beforeEach(() => {
      fleet = new FakeFleet(clock);
    });

    function collector(config: Config): Collector {
      return new Collector({ config, logger, probes: fleet.probes(), now: clock.now, inventorySources: () => [sd] });
    }

    it('a node gone from its source is unknown and blocks the fleet, and the page says until when', async () => {
      fleet.add('gitaly-1');
      fleet.add('gitaly-2');
      const stateFile = join(dir, 'state.json');
      const c = collector(fakeConfig([], stateFile, { soakWindowMs: SOAK }));
      sd.set([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')]);
      await c.collect();
      sd.set([fakeNodeConfig('gitaly-1')]);
      clock.advance(30_000);
      const s = await c.collect();
      const gone = s.nodes.find((n) => n.verdict.node === 'gitaly-2')!;
      expect(gone.verdict.phase).to.equal('unknown');
      expect(gone.verdict.reasons).to.deep.equal(['missing_from_inventory']);
      expect(gone.verdict.details[0]).to.contain(new Date(T0 + SOAK).toISOString());
      expect(s.fleet.complete).to.equal(false);
      expect(s.fleet.blocking.join(' ')).to.contain('no longer listed by their source');
      // Its history is kept (it follows the name) while it is in the fleet.
      const saved = await loadState(stateFile);
      expect(saved.ok && [...saved.nodes.keys()].sort()).to.deep.equal(['gitaly-1', 'gitaly-2']);
      // Every rendering shows it, unknown and blocking, and why.
      const metrics = await renderMetrics(s.view, { version: 'test', configReloadSuccessful: true, soakWindowMs: SOAK });
      expect(metrics).to.contain('gitaly_tls_migration_blocked{node="gitaly-2",reason="missing_from_inventory"} 1');
      expect(metrics).to.contain('gitaly_tls_migration_phase{node="gitaly-2",role="gitaly",phase="unknown"} 1');
      expect(metrics).to.contain('gitaly_tls_migration_complete 0');
      const page = renderStatusPage(s.view, { refreshSeconds: 30, source: 'test' });
      expect(page).to.contain('<code>missing_from_inventory</code>');
      expect(page).to.contain(`gitaly-2 (until ${new Date(T0 + SOAK).toISOString()})`);
      expect(JSON.stringify(migrationJson(s.view))).to.contain('no longer list(s) this node');
      expect((migrationJson(s.view) as { inventory: unknown }).inventory).to.deep.equal({
        sources: [{ source: sd.id, kind: 'file_sd', ok: true, nodes: 1, error: null }],
        missing: [
          { node: 'gitaly-2', sources: [sd.id], lastListed: new Date(T0).toISOString(), keptUntil: new Date(T0 + SOAK).toISOString() },
        ],
      });
      expect(renderTable(s.view)).to.match(/gitaly-2\s.*missing_from_inventory/);
      clock.advance(SOAK);
      const later = await c.collect();
      expect(later.nodes.map((n) => n.verdict.node)).to.deep.equal(['gitaly-1']);
      const after = await loadState(stateFile);
      expect(after.ok && [...after.nodes.keys()]).to.deep.equal(['gitaly-1']);
    });

    it('the fleet is not complete while a source of the inventory failed this cycle', async () => {
      fleet.add('gitaly-1');
      const c = collector(fakeConfig([], join(dir, 'state.json'), { soakWindowMs: SOAK }));
      sd.fail('file_sd /etc/prometheus/gitaly.json: no such file');
      const s = await c.collect();
      expect(s.fleet.complete).to.equal(false);
      expect(s.fleet.blocking.join(' ')).to.contain('inventory source file_sd /etc/prometheus/gitaly.json failed this cycle');
      expect(s.sourceErrors.get('inventory_file_sd\u0000READ')).to.equal(1);
    });

    it('a restart does not let a node leave: one no source lists after it stays missing, from the state file', async () => {
      fleet.add('gitaly-1');
      fleet.add('gitaly-2');
      const stateFile = join(dir, 'state.json');
      const discovery = { fileSd: [], toml: [], overrides: [], fileTimeoutMs: 5_000, maxFileBytes: 1 << 20 };
      const config = fakeConfig([], stateFile, { soakWindowMs: SOAK, discovery });
      sd.set([fakeNodeConfig('gitaly-1'), fakeNodeConfig('gitaly-2')]);
      await collector(config).collect();
      // The exporter restarts; meanwhile gitaly-2 left the file.
      sd.set([fakeNodeConfig('gitaly-1')]);
      clock.advance(60_000);
      const loaded = await loadState(stateFile);
      if (!loaded.ok) throw new Error(loaded.error.message);
      const restarted = new Collector({
        config,
        logger,
        probes: fleet.probes(),
        now: clock.now,
        histories: loaded.nodes,
        inventorySources: () => [sd],
      });
      const s = await restarted.collect();
      const gone = s.nodes.find((n) => n.verdict.node === 'gitaly-2')!;
      expect(gone.verdict.reasons).to.deep.equal(['missing_from_inventory']);
      expect(gone.verdict.details[0]).to.contain('the state file');
      // Kept until a soak window after its last scrape, not after the restart.
      expect(s.inventory!.missing[0]!.untilMs).to.equal(T0 + SOAK);
      expect(s.fleet.complete).to.equal(false);
    });

    it('two Gitalys whose file_sd groups carry one instance label are both judged, blocked, and the fleet never completes', async () => {
      // The second Gitaly demands client certificates and keeps listen_addr open: merged into the
      // first, it was never judged and the fleet read complete once the first was done.
      fleet.add('gitaly-a');
      fleet.add('gitaly-b');
      const file = join(dir, 'gitaly.yml');
      writeFileSync(
        file,
        '- targets: [gitaly-a:9236]\n  labels: {instance: gitaly-host}\n- targets: [gitaly-b:9236]\n  labels: {instance: gitaly-host}\n',
      );
      const templates = { name: '{host}', tlsAddress: '{host}:9999', plaintextAddress: '{host}:8075' };
      const config = fakeConfig([], join(dir, 'state.json'), {
        soakWindowMs: SOAK,
        discovery: { fileSd: [{ file, templates }], toml: [], overrides: [], fileTimeoutMs: 5_000, maxFileBytes: 1 << 20 },
      });
      const c = new Collector({ config, logger, probes: fleet.probes(), now: clock.now });
      let s = await c.collect();
      for (let t = 0; t < 3; t += 1) {
        clock.advance(SOAK / 2);
        s = await c.collect();
      }
      expect(s.inventory!.sources[0]).to.deep.include({ ok: true, nodes: 2 });
      expect(s.nodes.map((n) => [n.verdict.node, n.verdict.phase, n.verdict.reasons.includes('identity_conflict')])).to.deep.equal([
        ['gitaly-a', 'unknown', true],
        ['gitaly-b', 'unknown', true],
      ]);
      expect(s.fleet.complete).to.equal(false);
      expect(s.fleet.blocking.join(' ')).to.contain('2 node(s) share an identity with another discovered entry');
      const json = JSON.stringify(migrationJson(s.view));
      expect(json).to.contain('share prometheus_instance \\"gitaly-host\\" but disagree on tls_address');
      const metrics = await renderMetrics(s.view, { version: 'test', configReloadSuccessful: true, soakWindowMs: SOAK });
      expect(metrics).to.contain('gitaly_tls_migration_blocked{node="gitaly-b",reason="identity_conflict"} 1');
      expect(metrics).to.contain('gitaly_tls_migration_complete 0');
      expect(renderStatusPage(s.view, { refreshSeconds: 30, source: 'test' })).to.contain('<code>identity_conflict</code>');
    });

    it('a reload that changes the sources takes effect at the next collection; nodes of the old source are kept as missing', async () => {
      fleet.add('gitaly-1');
      fleet.add('gitaly-2');
      const a = join(dir, 'a.yml');
      const b = join(dir, 'b.yml');
      writeFileSync(a, '- targets: [gitaly-1:9236]\n  labels: {tls_address: "gitaly-1:9999", plaintext_address: "gitaly-1:8075"}\n');
      writeFileSync(b, '- targets: [gitaly-2:9236]\n  labels: {tls_address: "gitaly-2:9999", plaintext_address: "gitaly-2:8075"}\n');
      const templates = { name: '{host}', tlsAddress: '{tls_address}', plaintextAddress: '{plaintext_address}', role: '{role}' };
      const withFile = (file: string): Config =>
        fakeConfig([], join(dir, 'state.json'), {
          soakWindowMs: SOAK,
          discovery: { fileSd: [{ file, templates }], toml: [], overrides: [], fileTimeoutMs: 5_000, maxFileBytes: 1 << 20 },
        });
      const c = new Collector({ config: withFile(a), logger, probes: fleet.probes(), now: clock.now });
      let s = await c.collect();
      expect(s.nodes.map((n) => n.verdict.node)).to.deep.equal(['gitaly-1']);
      c.setConfig(withFile(b));
      clock.advance(30_000);
      s = await c.collect();
      expect(s.nodes.map((n) => [n.verdict.node, n.verdict.reasons.includes('missing_from_inventory')])).to.deep.equal([
        ['gitaly-2', false],
        ['gitaly-1', true],
      ]);
    });

    it('a reload logs and answers the inventory’s count, listed and discovered nodes, not the nodes: list alone', async () => {
      const lines: Array<{ msg: string; nodes?: number; listed?: number; discovered?: number }> = [];
      const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
      sd.set([fakeNodeConfig('gitaly-2'), fakeNodeConfig('gitaly-3'), fakeNodeConfig('gitaly-4')]);
      const config = fakeConfig([fakeNodeConfig('gitaly-1')], join(dir, 'state.json'));
      const exporter = new Exporter({
        config,
        logger: capture,
        probes: fleet.probes(),
        now: clock.now,
        loadConfig: () => config,
        inventorySources: (c) => [{ id: 'static', kind: 'static', discover: () => Promise.resolve({ ok: true, nodes: c.nodes }) }, sd],
      });
      const answer = await exporter.reload();
      expect(answer).to.deep.equal({ ok: true, message: 'Configuration reloaded: 4 node(s) (1 listed, 3 discovered).' });
      const line = lines.find((l) => l.msg.startsWith('configuration reloaded'));
      expect(line).to.deep.include({ nodes: 4, listed: 1, discovered: 3 });
      sd.fail('gitaly.json: no such file');
      const down = await exporter.reload();
      expect(down.message).to.equal(
        'Configuration reloaded: 1 node(s) (1 listed, 0 discovered); 1 source of the node list failed: file_sd /etc/prometheus/gitaly.json.',
      );
    });

    it('/probe allows the nodes the inventory holds, discovered ones included', async () => {
      fleet.add('gitaly-7');
      sd.set([fakeNodeConfig('gitaly-7')]);
      const config = fakeConfig([], join(dir, 'state.json'));
      const exporter = new Exporter({ config, logger, probes: fleet.probes(), now: clock.now, inventorySources: () => [sd] });
      await exporter.collector.collect();
      const allowed = await exporter.probe('tls://gitaly-7:9999');
      expect(allowed.kind).to.equal('probed');
      const denied = await exporter.probe('tls://gitaly-8:9999');
      expect(denied.kind).to.equal('not_allowed');
    });
  });
});
