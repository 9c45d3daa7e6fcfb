// Local mode names who is still on plaintext: real loopback clients on a simulated node's plaintext
// and TLS listeners, read back from this host's /proc/net/tcp{,6} through the whole exporter.
// Each client binds its own 127.x.y.z source address (all of 127/8 is loopback on Linux), so peers
// are told apart by address as real client hosts are. Local mode is Linux-only, and so is this test.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import { createCa, createLeaf, chainPem } from '../../src/demo/certs.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { parseAddress } from '../../src/base/address.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';

interface PeerJson {
  address: string;
  name: string | null;
  connections: number;
  firstSeen: string;
}

/**
 * A free port below Linux's ephemeral range (32768-60999 by default), as Gitaly's 8075 and 9999 are:
 * a client socket bound to another 127.x address may otherwise be given the listener's port as its
 * own ephemeral port, and its entry would look like an accepted connection from 127.0.0.1.
 */
async function lowFreePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function portOf(address: string | undefined): number {
  const parsed = parseAddress(address ?? '');
  if (!parsed.ok) throw new Error(`bad address ${address}`);
  return parsed.value.port;
}

describe('integration: plaintext peers in local mode (real loopback clients, real /proc)', function () {
  this.timeout(120_000);
  const logger = pino({ level: 'silent' });
  let dir: string;
  let node: SimulatedNode;
  let exporter: Exporter;
  let app: FastifyInstance;
  const clients: net.Socket[] = [];
  const lookups: string[] = [];

  async function plaintextFrom(localAddress: string, count = 1): Promise<void> {
    await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = net.connect({ host: '127.0.0.1', port: portOf(node.plaintextAddress), localAddress });
            clients.push(socket);
            socket.once('connect', () => resolve());
            socket.once('error', reject);
          }),
      ),
    );
  }

  async function tlsFrom(localAddress: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const tcp = net.connect({ host: '127.0.0.1', port: portOf(node.tlsAddress), localAddress });
      clients.push(tcp);
      const socket = tls.connect({ socket: tcp, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
      clients.push(socket);
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
  }

  async function get(url: string): Promise<string> {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode, url).to.equal(200);
    return response.body;
  }

  async function evidence(): Promise<{
    plaintextPeers: PeerJson[] | null;
    plaintextPeersNotListed: { peers: number; connections: number } | null;
  }> {
    const doc = JSON.parse(await get('/migration')) as {
      nodes: Array<{
        evidence: { plaintextPeers: PeerJson[] | null; plaintextPeersNotListed: { peers: number; connections: number } | null };
      }>;
    };
    return doc.nodes[0]!.evidence;
  }

  async function peers(): Promise<PeerJson[]> {
    return (await evidence()).plaintextPeers ?? [];
  }

  async function notListed(): Promise<{ peers: number; connections: number } | null> {
    return (await evidence()).plaintextPeersNotListed;
  }

  /**
   * /proc/net/tcp is read in several chunks and is not a snapshot: a socket opened or closed during
   * the read (the exporter's own TLS probe, say) can hide another entry for that one read. Collect
   * until the listing holds `connections` in total, then the test checks it exactly.
   */
  async function collectUntil(connections: number): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await exporter.collector.collect();
      const listed = (await peers()).reduce((sum, p) => sum + p.connections, 0);
      if (listed + ((await notListed())?.connections ?? 0) === connections) return;
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-peers-'));
    const ca = await createCa();
    const leaf = await createLeaf(ca, 'localhost', { ipAddresses: ['127.0.0.1'] });
    node = await startSimulatedNode({
      name: 'gitaly-1',
      role: 'gitaly',
      host: '127.0.0.1',
      tls: { certChainPem: chainPem(leaf), keyPem: leaf.keyPem },
      metricsBulk: 'small',
      ports: { plaintext: await lowFreePort(), tls: await lowFreePort() },
    });
    const config = fakeConfig(
      [
        {
          name: 'gitaly-1',
          role: 'gitaly',
          metricsUrl: node.metricsUrl,
          tlsAddress: node.tlsAddress,
          plaintextAddress: node.plaintextAddress,
        },
      ],
      join(dir, 'state.json'),
      { local: { node: 'gitaly-1', procRoot: '/proc', reverseDns: true, peerMetricLimit: 5 } },
    );
    // Reverse DNS is a dependency: one client has a PTR record, the others none.
    const reverseLookup = (ip: string): Promise<string[]> => {
      lookups.push(ip);
      return ip === '127.0.0.11'
        ? Promise.resolve(['puma-web-1.internal.'])
        : Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    };
    exporter = new Exporter({ config, logger, probes: { ...realProbes, reverseLookup } });
    await exporter.init();
    app = buildApp({ logger, view: exporter });
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await app?.close();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists exactly the plaintext peers with their counts and names; TLS peers are not plaintext', async () => {
    await plaintextFrom('127.0.0.11', 3);
    await plaintextFrom('127.0.0.12');
    await tlsFrom('127.0.0.21');
    await tlsFrom('127.0.0.21');
    await tlsFrom('127.0.0.11'); // a TLS connection from a plaintext peer adds nothing to its plaintext count
    const before = Date.now();
    await collectUntil(4);
    const first = await peers();
    expect(first.map(({ firstSeen: _, ...p }) => p)).to.deep.equal([
      { address: '127.0.0.11', name: 'puma-web-1.internal', connections: 3 },
      { address: '127.0.0.12', name: null, connections: 1 },
    ]);
    for (const p of first) expect(Date.parse(p.firstSeen)).to.be.within(before - 1000, Date.now());

    const metrics = exporter.metricsText();
    expect(metrics).to.contain('gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.0.11"} 3');
    expect(metrics).to.contain('gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.0.12"} 1');
    expect(metrics).to.not.contain('peer="127.0.0.21"');
    expect(metrics).to.not.contain('{node="gitaly-1",peer="other"}');
    expect(metrics).to.contain('gitaly_tls_established_connections{node="gitaly-1",listener="tls"} 3');

    // Still connected: "since" stays, and names come from the cache.
    await collectUntil(4);
    expect(await peers()).to.deep.equal(first);
    expect(lookups.filter((ip) => ip === '127.0.0.11')).to.have.length(1);

    const page = await get('/');
    expect(page).to.contain('<tr data-peer="127.0.0.11"><td><code>127.0.0.11</code></td><td>puma-web-1.internal</td><td>3</td>');
    expect(page).to.contain('<tr data-peer="127.0.0.12">');
    expect(page).to.not.contain('data-peer="127.0.0.21"');
  });

  it('caps the metric at the top peers with 500 distinct peers, and lists the top 20 in /migration and on the page', async () => {
    const extra = Array.from({ length: 500 }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
    for (let i = 0; i < extra.length; i += 100) await Promise.all(extra.slice(i, i + 100).map((a) => plaintextFrom(a)));
    await collectUntil(504);

    const listed = await peers();
    // Most connections first, then by address (as text).
    expect(listed.map((p) => p.address)).to.deep.equal(['127.0.0.11', '127.0.0.12', ...extra.slice().sort().slice(0, 18)]);
    expect(await notListed()).to.deep.equal({ peers: 482, connections: 482 });

    const series = exporter
      .metricsText()
      .split('\n')
      .filter((line) => line.startsWith('gitaly_tls_plaintext_peer_connections{'));
    // Most connections first, then by address: 127.0.0.11 (3), then the lowest addresses with 1.
    expect(series).to.deep.equal([
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.0.11"} 3',
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.0.12"} 1',
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.1.1"} 1',
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.1.10"} 1',
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="127.0.1.100"} 1',
      'gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="other"} 497',
    ]);

    const page = await get('/');
    expect(page.match(/<tr data-peer="/g)).to.have.length(20);
    expect(page).to.contain('<strong>gitaly-1</strong>: 502 client address(es) hold 504 plaintext connection(s) open');
    expect(page).to.contain('and 482 more client address(es) with 482 plaintext connection(s)');
  });

  it('names nobody once the clients have gone (and the verdict sees the same)', async () => {
    for (const c of clients.splice(0)) c.destroy();
    // The server ends leave ESTABLISHED as the close reaches them; collect until they have.
    await collectUntil(0);
    expect(await peers()).to.deep.equal([]);
    expect(await get('/')).to.contain('no plaintext connections open');
  });
});
