import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { checkRemote } from '../../src/report/remote-check.ts';

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
    expect(r.text).to.match(/gitaly-2\s+gitaly\s+dual_listen\s+plaintext_connections_in_window/);
    expect(r.text).to.contain('fleet: dual_listen, not complete: 1 of 2 node(s) not complete: gitaly-2');
    expect(r.text).to.contain('Next steps:\n  gitaly-2: Plaintext client seen 3 min ago — find it before going further.\n');
    expect(r.text, 'no sentence made up for a node without one').to.not.match(/^ {2}gitaly-1: /m);
  });

  it('is complete only when the exporter says the fleet is', async () => {
    answer = { status: 200, body: JSON.stringify({ ...DOC, fleet: { complete: true, phase: 'complete', blocking: [] } }) };
    const r = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 });
    expect(r.ok && r.complete).to.equal(true);
  });

  it('an exporter without a verdict yet, a page that is not /migration, an oversized answer or no server: an error, never complete', async () => {
    answer = { status: 503, body: '{"ready":false}' };
    expect(await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 })).to.deep.equal({
      ok: false,
      message: `${base}/migration has no verdict yet (the exporter has not finished its first collection)`,
    });
    answer = { status: 200, body: '{"fleet":{}}' };
    const other = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 1 << 20 });
    expect(other).to.deep.equal({ ok: false, message: `${base}/migration is not a gitaly-tls-exporter /migration document` });
    answer = { status: 200, body: JSON.stringify(DOC) };
    const big = await checkRemote(base, { timeoutMs: 5_000, maxBytes: 100 });
    expect(big.ok).to.equal(false);
    const none = await checkRemote('http://127.0.0.1:1', { timeoutMs: 5_000, maxBytes: 1 << 20 });
    expect(none.ok).to.equal(false);
    if (!none.ok) expect(none.message).to.match(/^cannot reach http:\/\/127.0.0.1:1\/migration/);
    expect(await checkRemote('http://u:p@exporter:9787', { timeoutMs: 5_000, maxBytes: 1 << 20 })).to.deep.equal({
      ok: false,
      message: '--url must be an http:// or https:// URL without a user name or password',
    });
  });
});
