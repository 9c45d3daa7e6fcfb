// /migration and the status page with client routes and plaintext peers: additive fields, escaped, no tokens.
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { readClientReport } from '../../src/clients/read-clients.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { migrationJson } from '../../src/pages/migration-json.ts';
import { renderStatusPage } from '../../src/pages/status-page.ts';
import { sampleSnapshot } from '../helpers/snapshot.ts';

const DIR = fileURLToPath(new URL('../fixtures/clients/', import.meta.url));
const INVENTORY: NodeConfig[] = [
  { name: 'gitaly-1', role: 'gitaly', tlsAddress: 'gitaly-1.internal:9999', plaintextAddress: 'gitaly-1.internal:8075' },
  { name: 'gitaly-2', role: 'gitaly', tlsAddress: 'gitaly-2.internal:9999', plaintextAddress: 'gitaly-2.internal:8075' },
];

describe('client sections of /migration and the status page', () => {
  it('adds clients and plaintextPeers to /migration without changing what was there', async () => {
    const base = await sampleSnapshot();
    const plain = migrationJson(base.view) as { clients: unknown; nodes: Array<{ evidence: { plaintextPeers: unknown } }> };
    expect(plain.clients).to.equal(null);
    expect(plain.nodes.map((n) => n.evidence.plaintextPeers)).to.deep.equal([null, null, null, null, null]);

    const clients = await readClientReport([{ name: 'puma <web-1>', kind: 'gitlab_yml', path: `${DIR}gitlab.yml` }], INVENTORY);
    const node = base.view.nodes[0]!;
    const snapshot = {
      ...base.view,
      clients,
      nodes: [
        {
          ...node,
          plaintextPeers: {
            peers: [{ address: '10.0.0.16', name: 'web-1.internal', connections: 2, firstSeenMs: base.atMs - 60_000 }],
            notKept: { peers: 0, connections: 0 },
            metricLimit: 10,
          },
        },
        ...base.view.nodes.slice(1),
      ],
    };
    const doc = migrationJson(snapshot) as {
      clients: { routes: Array<{ storage: string; node: string | null; scheme: string | null; flags: string[] }> };
      nodes: Array<{ evidence: { plaintextPeers: unknown } }>;
    };
    expect(doc.nodes[0]!.evidence.plaintextPeers).to.deep.equal([
      { address: '10.0.0.16', name: 'web-1.internal', connections: 2, firstSeen: new Date(base.atMs - 60_000).toISOString() },
    ]);
    expect(doc.clients.routes.find((r) => r.storage === 'default')).to.include({ node: 'gitaly-1', scheme: 'tcp' });
    expect(JSON.stringify(doc)).to.not.contain('do-not-show');

    const page = renderStatusPage(snapshot, { refreshSeconds: 30, source: 'test' });
    expect(page).to.contain('<tr data-peer="10.0.0.16"><td><code>10.0.0.16</code></td><td>web-1.internal</td><td>2</td>');
    expect(page).to.contain('<td>puma &lt;web-1&gt;</td><td>default</td><td>gitaly-1</td><td><span class="bad">tcp</span></td>');
    expect(page).to.contain(
      'puma &lt;web-1&gt; still dials gitaly-1 in plaintext for storage &quot;default&quot;: change gitaly_address to tls://gitaly-1.internal:9999',
    );
    expect(page).to.contain('<td>puma &lt;web-1&gt;</td><td>storage2</td><td>gitaly-2</td><td><span class="ok">tls</span></td>');
    expect(page).to.not.contain('puma <web-1>');
    expect(page).to.not.contain('do-not-show');
  });

  it('leaves the page as it was when there are neither peers nor clients', async () => {
    const page = renderStatusPage((await sampleSnapshot()).view, { refreshSeconds: 30, source: 'test' });
    expect(page).to.not.contain('id="plaintext-peers"');
    expect(page).to.not.contain('id="client-routes"');
  });
});
