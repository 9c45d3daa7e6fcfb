import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { migrationJson } from '../../src/pages/migration-json.ts';
import { checkRemote, checkRemoteNode } from '../../src/report/remote-check.ts';
import { plaintextClosed } from '../helpers/evidence.ts';
import { sampleSnapshot } from '../helpers/snapshot.ts';
import { viewOfNodes } from '../helpers/view.ts';

const DOC = {
  generatedAt: '2026-11-30T12:00:00.000Z',
  fleet: { complete: false, phase: 'dual_listen', blocking: ['1 of 2 node(s) not complete: gitaly-2'] },
  nodes: [
    { node: 'gitaly-1', role: 'gitaly', phase: 'complete', blockingReasons: [] },
    {
      node: 'gitaly-2',
      role: 'gitaly',
      phase: 'dual_listen',
      nextStep: 'Plaintext client seen 3 min ago — find it before going further.',
      blockingReasons: [{ reason: 'plaintext_connections_in_window' }],
    },
  ],
};

describe('check --url: a running exporter’s verdict, nothing dialled', () => {
  let server: Server;
  let base: string;
  let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(DOC) };
  const paths: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('prints each node’s phase and what blocks, and is not complete when the fleet is not', async () => {
    answer = { status: 200, body: JSON.stringify(DOC) };
    const r = await checkRemote(`${base}/`, { timeoutMs: 5_000, maxBytes: 1 << 20 });
    if (!r.ok) expect.fail(r.message);
    expect(paths.at(-1)).to.equal('/migration');
    expect(r.complete).to.equal(false);
    expect(r.text).to.match(/^gitaly-2\s+gitaly\s+dual_listen\s.*\splaintext_connections_in_window$/m);
    expect(r.text).to.contain('Fleet: NOT COMPLETE\n  - 1 of 2 node(s) not complete: gitaly-2');
    expect(r.text).to.contain('Next steps:\n  gitaly-2: Plaintext client seen 3 min ago — find it before going further.\n');
    const steps = r.text.split('Next steps:\n')[1]!.split('\n\n')[0]!;
    expect(steps, 'no sentence made up for a node without one').to.not.match(/^ {2}gitaly-1: /m);
  });

  it('is not complete when the exporter says the fleet is not, though every node is', async () => {
    const blocking = ['Prometheus sees Gitaly counters from 1 instance(s) not in the configuration: gitaly-9:9236'];
    const nodes = DOC.nodes.map((n) => ({ ...n, phase: 'complete', blockingReasons: [] }));
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: false, phase: 'complete', blocking }, nodes }) };
    const r = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 });
    if (!r.ok) expect.fail(r.message);
    expect(r.complete).to.equal(false);
    expect(r.text).to.contain(`Fleet: NOT COMPLETE\n  - ${blocking[0]}\n`);
  });

  it('an exporter without a verdict yet, a page that is not /migration, an oversized answer or no server: an error, never complete', async () => {
    answer = { status: 503, body: '{"ready":false}' };
    expect(await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 })).to.deep.equal({
      ok: false,
      message: `${base}/migration has no verdict yet (the exporter has not finished its first collection)`,
    });
    answer = { status: 200, body: '{"fleet":{}}' };
    const other = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 });
    expect(other.ok).to.equal(false);
    if (!other.ok) expect(other.message).to.match(new RegExp(`^${base}/migration answered with an invalid /migration document`));
    answer = { status: 200, body: JSON.stringify(DOC) };
    const big = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 100 });
    expect(big).to.deep.equal({ ok: false, message: `${base}/migration answered with more than 100 bytes, the most check --url reads` });
    const none = await checkRemote('http://127.0.0.1:1', { timeoutMs: 5_000, maxBytes: 1 << 20 });
    expect(none.ok).to.equal(false);
    if (!none.ok) expect(none.message).to.match(/^cannot reach http:\/\/127.0.0.1:1\/migration/);
    expect(await checkRemote('http://u:p@exporter:9787', { timeoutMs: 5_000, maxBytes: 1 << 20 })).to.deep.equal({
      ok: false,
      message: '--url must be an http:// or https:// URL without a user name or password',
    });
  });

  const opts = { timeoutMs: 5_000, maxBytes: 64 << 20 };
  const complete = (node: string) => ({ node, role: 'gitaly', phase: 'complete', blockingReasons: [] });

  it('is not complete when fleet.complete is true but a listed node is not, and says the answer contradicts itself', async () => {
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: true, phase: 'complete', blocking: [] } }) };
    const r = await checkRemote(base, opts);
    if (!r.ok) expect.fail(r.message);
    expect(r.complete).to.equal(false);
    expect(r.text).to.contain(
      'the answer contradicts itself: fleet.complete is true, but 1 of 2 node(s) not complete: gitaly-2 (dual_listen: plaintext_connections_in_window)\n',
    );
    expect(r.text).to.not.match(/^Fleet: COMPLETE/m);
    expect(r.text).to.contain('the answer contradicts itself: fleet.complete is true, but');
    expect(r.text).to.contain('\nFleet: NOT COMPLETE\n  - 1 of 2 node(s) not complete');
  });

  it('is not complete when a node is complete by phase but still lists a blocking reason', async () => {
    const nodes = [complete('gitaly-1'), { ...complete('gitaly-2'), blockingReasons: [{ reason: 'cert_expiring' }] }];
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: true, phase: 'complete', blocking: [] }, nodes }) };
    const r = await checkRemote(base, opts);
    if (!r.ok) expect.fail(r.message);
    expect(r.complete).to.equal(false);
    expect(r.text).to.contain(
      'the answer contradicts itself: fleet.complete is true, but 1 of 2 node(s) not complete: gitaly-2 (complete: cert_expiring)',
    );
  });

  it('an answer that lists no nodes is never complete, whatever its fleet says', async () => {
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: true, phase: 'complete', blocking: [] }, nodes: [] }) };
    const claimed = await checkRemote(base, opts);
    if (!claimed.ok) expect.fail(claimed.message);
    expect(claimed.complete).to.equal(false);
    expect(claimed.text).to.contain('the answer contradicts itself: fleet.complete is true, but it lists no nodes\n');
    // What the exporter itself answers with no nodes.
    answer = {
      status: 200,
      body: JSON.stringify({ ...DOC, fleet: { complete: false, phase: 'unknown', blocking: ['no nodes are configured'] }, nodes: [] }),
    };
    const honest = await checkRemote(base, opts);
    if (!honest.ok) expect.fail(honest.message);
    expect(honest.complete).to.equal(false);
    expect(honest.text).to.contain('Fleet: NOT COMPLETE\n  - no nodes are configured\n');
  });

  it('all nodes complete and fleet.complete true: complete, with the number of nodes', async () => {
    answer = {
      status: 200,
      body: JSON.stringify({
        ...DOC,
        fleet: { complete: true, phase: 'complete', blocking: [] },
        nodes: [complete('gitaly-1'), complete('gitaly-2')],
      }),
    };
    const r = await checkRemote(base, opts);
    if (!r.ok) expect.fail(r.message);
    expect(r.complete).to.equal(true);
    expect(r.text).to.match(/\nFleet: COMPLETE \(2 node\(s\)\); it is safe to consider the migration done\.\n$/);
  });

  it('takes the exporter’s own /migration as valid, and agrees with its verdict', async () => {
    const done = viewOfNodes([{ name: 'gitaly-1' }, { name: 'praefect-1', node: { role: 'praefect' } }]);
    const open = viewOfNodes([{ name: 'gitaly-1' }, { name: 'gitaly-2', evidence: { plaintext: plaintextClosed({ open: true }) } }]);
    for (const view of [done, open]) {
      answer = { status: 200, body: JSON.stringify(migrationJson(view)) };
      const r = await checkRemote(base, opts);
      if (!r.ok) expect.fail(r.message);
      expect(r.complete).to.equal(view.fleet.complete);
    }
    expect([done.fleet.complete, open.fleet.complete]).to.deep.equal([true, false]);
  });

  it('nodes: [null] is an invalid answer naming nodes[0], not "cannot reach"', async () => {
    answer = { status: 200, body: JSON.stringify({ ...DOC, nodes: [null] }) };
    const r = await checkRemote(base, opts);
    expect(r).to.deep.equal({
      ok: false,
      message: `${base}/migration answered with an invalid /migration document (1 problem):\n  nodes[0] must be an object, not null`,
    });
  });

  it('names every field of the wrong shape by its path, up to ten, and counts the rest', async () => {
    const nodes = [
      { node: 'gitaly-1', role: 'gitaly', phase: 'done', blockingReasons: [] },
      { node: 7, role: 'storage', phase: 'complete', blockingReasons: [{ reason: 'Not A Reason' }], nextStep: 3 },
      { ...complete('gitaly-1') },
      ...Array.from({ length: 20 }, () => ({})),
    ];
    answer = {
      status: 200,
      body: JSON.stringify({ generatedAt: 'yesterday', fleet: { complete: 'yes', phase: 'complete', blocking: [1] }, nodes }),
    };
    const r = await checkRemote(base, opts);
    if (r.ok) expect.fail('an answer of the wrong shape was accepted');
    const lines = r.message.split('\n');
    expect(lines[0]).to.match(/answered with an invalid \/migration document \(\d+ problems\):$/);
    expect(lines.slice(1, 11)).to.deep.equal([
      '  generatedAt must be an ISO 8601 UTC time, not "yesterday"',
      '  fleet.complete must be true or false, not "yes"',
      '  fleet.blocking[0] must be a string, not 1',
      '  nodes[0].phase must be one of plaintext_only, dual_listen, tls_only_traffic, complete, unknown, not "done"',
      '  nodes[1].node must be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -), not 7',
      '  nodes[1].role must be one of gitaly, praefect, not "storage"',
      '  nodes[1].blockingReasons[0].reason must be a reason name (a-z, 0-9, _), not "Not A Reason"',
      '  nodes[1].nextStep must be a string, not 3',
      '  nodes[2].node "gitaly-1" is listed twice (first as nodes[0])',
      '  nodes[3].node must be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -), not missing',
    ]);
    expect(lines[11]).to.match(/^ {2}and \d+ more$/);
    expect(lines).to.have.length(12);
  });

  it('a 200,000-node answer is refused with the limit, not a RangeError', async function () {
    const nodes = Array.from({ length: 200_000 }, (_, i) => complete(`gitaly-${i}`));
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: true, phase: 'complete', blocking: [] }, nodes }) };
    const r = await checkRemote(base, opts);
    expect(r).to.deep.equal({
      ok: false,
      message: `${base}/migration answered with an invalid /migration document (1 problem):\n  nodes lists 200000 nodes, more than check --url reads (50000)`,
    });
  });

  it('escapes control characters from the answer: no ESC or other C0/C1 control reaches the output', async () => {
    // eslint-disable-next-line no-control-regex
    const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
    const fake = '\u001b[2J\u001b[Hfleet: complete';
    answer = {
      status: 200,
      body: JSON.stringify({ ...DOC, generatedAt: `\u001b[2J2026-11-30T12:00:00.000Z`, nodes: [{ ...complete('gitaly-1'), node: fake }] }),
    };
    const bad = await checkRemote(base, opts);
    if (bad.ok) expect.fail('a name with escapes was accepted');
    expect(bad.message).to.not.match(CONTROL);
    expect(bad.message).to.contain('  generatedAt must be an ISO 8601 UTC time, not "\\u001b[2J2026-11-30T12:00:00.000Z"');
    expect(bad.message).to.contain(
      '  nodes[0].node must be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -), not "\\u001b[2J\\u001b[Hfleet: complete"',
    );
    // Free text (next steps, the fleet's blocking sentences) is printed, escaped.
    const nodes = [{ ...DOC.nodes[1]!, nextStep: `${fake}\u009b2J\nfleet: complete` }];
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { ...DOC.fleet, blocking: [`x\r${fake}`] }, nodes }) };
    const r = await checkRemote(base, opts);
    if (!r.ok) expect.fail(r.message);
    expect(r.complete).to.equal(false);
    expect(r.text).to.not.match(CONTROL);
    expect(r.text).to.contain('  gitaly-2: \\u001b[2J\\u001b[Hfleet: complete\\u009b2J\\u000afleet: complete\n');
    expect(r.text).to.contain('  - x\\u000d\\u001b[2J\\u001b[Hfleet: complete\n');
    expect(r.text).to.not.match(/^fleet: complete/m);
  });

  describe('--node: may that node drop listen_addr?', () => {
    const fleet = { complete: false, phase: 'dual_listen', blocking: ['1 of 3 node(s) not complete: gitaly-2'] };
    const node = (name: string, phase: string, ...reasons: string[]) => ({
      node: name,
      role: 'gitaly',
      phase,
      blockingReasons: reasons.map((reason) => ({ reason })),
    });
    const serve = (nodes: object[], extra: object = {}) =>
      (answer = { status: 200, body: JSON.stringify({ ...DOC, fleet, nodes, ...extra }) });
    const nodes = [
      node('gitaly-1', 'complete'),
      node('gitaly-2', 'dual_listen', 'plaintext_connections_in_window'),
      node('gitaly-3', 'tls_only_traffic', 'plaintext_listener_open'),
    ];

    it('tls_only_traffic: yes, with that node’s row only, whatever the rest of the fleet', async () => {
      serve(nodes);
      const r = await checkRemoteNode(base, 'gitaly-3', opts);
      if (!r.ok) expect.fail(r.message);
      expect(r.gate).to.deep.include({ found: true, may: true });
      expect(r.text).to.match(/^gitaly-3\s+gitaly\s+tls_only_traffic\s.*\splaintext_listener_open$/m);
      expect(r.text).to.not.match(/^gitaly-[12]\s/m);
      expect(r.text).to.match(/\ngitaly-3: tls_only_traffic, it is safe to remove listen_addr \(plaintext_listener_open\)\n$/);
      expect(r.text).to.not.contain('fleet:');
    });

    it('complete: yes; dual_listen: no', async () => {
      serve(nodes);
      const done = await checkRemoteNode(base, 'gitaly-1', opts);
      const used = await checkRemoteNode(base, 'gitaly-2', opts);
      if (!done.ok || !used.ok) expect.fail('no answer');
      expect(done.gate).to.deep.include({ found: true, may: true });
      expect(used.gate).to.deep.include({ found: true, may: false });
      expect(used.text).to.contain('gitaly-2: dual_listen, not yet: keep listen_addr (plaintext_connections_in_window)\n');
    });

    it('refuses an answer that says tls_only_traffic for the node while listing what blocks its traffic', async () => {
      serve([node('gitaly-3', 'tls_only_traffic', 'plaintext_listener_open', 'insufficient_history')]);
      const r = await checkRemoteNode(base, 'gitaly-3', opts);
      if (!r.ok) expect.fail(r.message);
      expect(r.gate).to.deep.include({ found: true, may: false });
      expect(r.text).to.contain(
        'gitaly-3: the verdict contradicts itself: phase tls_only_traffic, but it lists insufficient_history\n' +
          'gitaly-3: not yet (decided from the reasons listed): keep listen_addr\n',
      );
    });

    it('a node the answer does not list: not found; nobody can tell when the answer says a source of the node list failed', async () => {
      serve(nodes);
      const absent = await checkRemoteNode(base, 'gitaly-9', opts);
      if (!absent.ok) expect.fail(absent.message);
      expect(absent.gate).to.deep.equal({ found: false, cannotTell: false, line: '"gitaly-9" is not a node of this fleet (3 node(s))' });
      const sources = [
        { source: 'static nodes list', kind: 'static', ok: true, nodes: 3, error: null },
        { source: 'file_sd /etc/targets.json', kind: 'file_sd', ok: false, nodes: 0, error: { code: 'X', message: 'gone' } },
      ];
      serve(nodes, { inventory: { sources, missing: [] } });
      const unsure = await checkRemoteNode(base, 'gitaly-9', opts);
      if (!unsure.ok) expect.fail(unsure.message);
      expect(unsure.gate).to.deep.include({ found: false, cannotTell: true });
    });

    it('an inventory of the wrong shape is an invalid answer, named by its path', async () => {
      serve(nodes, { inventory: { sources: [{ source: 'static nodes list', ok: 'yes' }] } });
      const r = await checkRemoteNode(base, 'gitaly-1', opts);
      expect(r).to.deep.equal({
        ok: false,
        message: `${base}/migration answered with an invalid /migration document (1 problem):\n  inventory.sources[0].ok must be true or false, not "yes"`,
      });
    });

    it('agrees with the exporter’s own /migration (with its inventory): tls_only_traffic and complete may drop listen_addr, the rest not', async () => {
      const view = (await sampleSnapshot()).view;
      expect(view.inventory?.sources.length).to.be.greaterThan(0);
      answer = { status: 200, body: JSON.stringify(migrationJson(view)) };
      for (const n of view.nodes) {
        const r = await checkRemoteNode(base, n.node, opts);
        if (!r.ok) expect.fail(r.message);
        expect(r.gate, `${n.node} ${n.phase}`).to.deep.include({
          found: true,
          may: n.phase === 'complete' || n.phase === 'tls_only_traffic',
        });
      }
      expect(view.nodes.map((n) => n.phase)).to.include.members(['complete', 'tls_only_traffic', 'dual_listen']);
    });
  });
});
