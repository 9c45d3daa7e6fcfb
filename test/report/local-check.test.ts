import { expect } from 'chai';
import { localCheck } from '../../src/report/local-check.ts';
import type { CollectionView } from '../../src/view/collection-view.ts';
import { sampleSnapshot } from '../helpers/snapshot.ts';

// The collector's own view over a fake fleet: gitaly-1 complete, gitaly-2 tls_only_traffic,
// gitaly-3 dual_listen (a legacy client), gitaly-4 unknown (metrics down).
describe('check --config.file: the exit code and what is printed, for the fleet or one node', () => {
  let view: CollectionView;
  before(async () => {
    view = (await sampleSnapshot()).view;
    expect(view.nodes.map((n) => `${n.node} ${n.phase}`)).to.include.members([
      'gitaly-1 complete',
      'gitaly-2 tls_only_traffic',
      'gitaly-3 dual_listen',
    ]);
  });

  it('the fleet: exit 1 while it is not complete', () => {
    const r = localCheck(view);
    expect(r.exit).to.equal(1);
    expect(r.stdout).to.contain('Fleet: NOT COMPLETE');
  });

  it('--node gitaly-2 (tls_only_traffic): exit 0, its row only, and that listen_addr may go', () => {
    const r = localCheck(view, 'gitaly-2');
    expect(r.exit).to.equal(0);
    expect(r.stdout).to.match(/^gitaly-2\s+gitaly\s+tls_only_traffic\s/m);
    expect(r.stdout).to.not.match(/^gitaly-[134]\s/m);
    expect(r.stdout).to.not.contain('Fleet:');
    expect(r.stdout).to.match(/\ngitaly-2: tls_only_traffic, it is safe to remove listen_addr \(plaintext_listener_open\)\n$/);
  });

  it('--node gitaly-1 (complete): exit 0', () => {
    const r = localCheck(view, 'gitaly-1');
    expect(r.exit).to.equal(0);
    expect(r.stdout).to.match(/\ngitaly-1: complete, listen_addr is removed\n$/);
  });

  it('--node gitaly-3 (dual_listen) and gitaly-4 (unknown): exit 1, saying to keep listen_addr', () => {
    const legacy = localCheck(view, 'gitaly-3');
    expect(legacy.exit).to.equal(1);
    expect(legacy.stdout).to.contain(
      'gitaly-3: dual_listen, not yet: keep listen_addr (plaintext_connections_in_window,plaintext_listener_open)',
    );
    const down = localCheck(view, 'gitaly-4');
    expect(down.exit).to.equal(1);
    expect(down.stdout).to.contain('gitaly-4: unknown, not yet: keep listen_addr');
    expect(down.stdout).to.contain('Sources down and unknowns:\n  gitaly-4: gitaly_metrics down');
  });

  it('--node with a name the fleet does not have: exit 2, said on standard error', () => {
    const r = localCheck(view, 'gitaly-9');
    expect(r).to.deep.equal({
      exit: 2,
      stdout: '',
      stderr: 'gitaly-tls-exporter: check: "gitaly-9" is not a node of this fleet (5 node(s))\n',
    });
  });

  it('--node with a name not found while a source of the node list failed: exit 3, could not determine', () => {
    const failed = { id: 'file_sd /etc/targets.json', kind: 'file_sd' as const, ok: false, nodes: 0, error: null, durationMs: 1 };
    const inventory = { ...view.inventory!, sources: [...view.inventory!.sources, failed] };
    const r = localCheck({ ...view, inventory }, 'gitaly-9');
    expect(r.exit).to.equal(3);
    expect(r.stderr).to.contain('a source of the node list failed (file_sd /etc/targets.json): it may be one of them');
  });
});
