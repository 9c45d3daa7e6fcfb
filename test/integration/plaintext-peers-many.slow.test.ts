// Local mode with 150,000 distinct plaintext peers in /proc/net/tcp (a fake proc root written here):
// every output lists the top peers only and counts the rest, and reverse DNS asks only about the
// listed ones. The exporter runs in this process with a simulated node, as local mode runs it.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import { startSimulatedNode, type SimulatedNode } from '../../src/demo/gitaly-node.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { closedPort } from '../helpers/tls-servers.ts';

const PEERS = 150_000;
/** Peers 0..24 hold 26..2 connections (a clear top), every other peer holds one. */
const connectionsOf = (i: number): number => (i < 25 ? 26 - i : 1);
const TOTAL = PEERS + 325;
const LISTED = 20;
/** Peers 0..19 hold 26..7 connections: 330 together. */
const LISTED_CONNECTIONS = 330;

/** 10.a.b.c for peer i, and the same address as /proc prints it (each 32-bit word in host order). */
function peerAddress(i: number): { text: string; hex: string } {
  const bytes = [10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff];
  const hex = (endianness() === 'LE' ? [...bytes].reverse() : bytes).map((b) => b.toString(16).padStart(2, '0')).join('');
  return { text: bytes.join('.'), hex: hex.toUpperCase() };
}

/** A net/tcp file: every connection ESTABLISHED to the plaintext port, and one to the TLS port. */
function procNetTcp(plaintextPort: number, tlsPort: number): string {
  const port = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');
  const lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'];
  let n = 0;
  const entry = (localPort: number, remote: string, remotePort: number): void => {
    lines.push(
      `${String(n).padStart(6)}: 0100007F:${port(localPort)} ${remote}:${port(remotePort)} 01 00000000:00000000 00:00000000 00000000   998        0 ${100_000 + n} 1 0 20 4 30 10 -1`,
    );
    n += 1;
  };
  for (let i = 0; i < PEERS; i++) {
    const { hex } = peerAddress(i);
    for (let c = 0; c < connectionsOf(i); c++) entry(plaintextPort, hex, 40_000 + c);
  }
  entry(tlsPort, peerAddress(PEERS + 1).hex, 40_000);
  return `${lines.join('\n')}\n`;
}

describe('integration: 150,000 plaintext peers in local mode (fake /proc/net/tcp)', function () {
  this.timeout(120_000);
  const logger = pino({ level: 'silent' });
  const lookups: string[] = [];
  let dir: string;
  let node: SimulatedNode;
  let exporter: Exporter;
  let app: FastifyInstance;

  async function get(url: string): Promise<string> {
    const response = await app.inject({ method: 'GET', url });
    expect(response.statusCode, url).to.equal(200);
    return response.body;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gte-many-peers-'));
    node = await startSimulatedNode({ name: 'gitaly-1', role: 'gitaly', host: '127.0.0.1', metricsBulk: 'small' });
    const procRoot = join(dir, 'proc');
    mkdirSync(join(procRoot, 'net'), { recursive: true });
    // Nothing listens on the TLS port: the TLS probe fails fast, and the TLS listener's peer is not plaintext.
    const tlsPort = await closedPort();
    writeFileSync(join(procRoot, 'net', 'tcp'), procNetTcp(Number(node.plaintextAddress!.split(':').pop()), tlsPort));
    const config = fakeConfig(
      [
        {
          name: 'gitaly-1',
          role: 'gitaly',
          metricsUrl: node.metricsUrl,
          plaintextAddress: node.plaintextAddress,
          tlsAddress: `127.0.0.1:${tlsPort}`,
        },
      ],
      join(dir, 'state.json'),
      { local: { node: 'gitaly-1', procRoot, reverseDns: true } },
    );
    const reverseLookup = (ip: string): Promise<string[]> => {
      lookups.push(ip);
      return Promise.resolve([`host-${ip.replaceAll('.', '-')}.internal.`]);
    };
    exporter = new Exporter({ config, logger, probes: { ...realProbes, reverseLookup } });
    await exporter.init();
    app = buildApp({ logger, view: exporter });
    await exporter.collector.collect();
  });

  after(async () => {
    await app?.close();
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const top = Array.from({ length: LISTED }, (_, i) => ({ address: peerAddress(i).text, connections: connectionsOf(i) }));

  it('lists the top 20 peers in /migration and counts the others, with every connection accounted for', async () => {
    const body = await get('/migration');
    const evidence = (
      JSON.parse(body) as {
        nodes: Array<{
          evidence: {
            plaintextPeers: Array<{ address: string; name: string | null; connections: number }>;
            plaintextPeersNotListed: { peers: number; connections: number };
          };
        }>;
      }
    ).nodes[0]!.evidence;
    expect(evidence.plaintextPeers.map(({ address, connections }) => ({ address, connections }))).to.deep.equal(top);
    expect(evidence.plaintextPeersNotListed).to.deep.equal({ peers: PEERS - LISTED, connections: TOTAL - LISTED_CONNECTIONS });
    expect(body.length, 'bytes of /migration').to.be.below(50_000);
  });

  it('shows the top 20 on the status page with the count of the rest', async () => {
    const page = await get('/');
    expect(page.match(/<tr data-peer="/g)).to.have.length(LISTED);
    expect(page).to.contain(`<tr data-peer="10.0.0.0"><td><code>10.0.0.0</code></td><td>host-10-0-0-0.internal</td><td>26</td>`);
    expect(page).to.contain(`<strong>gitaly-1</strong>: ${PEERS} client address(es) hold ${TOTAL} plaintext connection(s) open`);
    expect(page).to.contain(`and ${PEERS - LISTED} more client address(es) with ${TOTAL - LISTED_CONNECTIONS} plaintext connection(s)`);
    expect(page.length, 'bytes of the status page').to.be.below(50_000);
  });

  it('shows the top 20 on the node page with the count of the rest', async () => {
    const page = await get('/node/gitaly-1');
    expect(page.match(/<tr data-peer="/g)).to.have.length(LISTED);
    expect(page).to.contain(`<tr data-peer="10.0.0.19"><td><code>10.0.0.19</code></td><td>host-10-0-0-19.internal</td><td>7</td>`);
    expect(page).to.contain(`and ${PEERS - LISTED} more client address(es) with ${TOTAL - LISTED_CONNECTIONS} plaintext connection(s)`);
    expect(page.length, 'bytes of the node page').to.be.below(50_000);
  });

  it('names the top peer_metric_limit peers in the metric and sums all the others into peer="other"', async () => {
    const series = exporter
      .metricsText()
      .split('\n')
      .filter((line) => line.startsWith('gitaly_tls_plaintext_peer_connections{'));
    // The default limit, 10: peers 0..9 hold 26..17 connections (215).
    expect(series).to.have.length(11);
    expect(series[0]).to.equal('gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="10.0.0.0"} 26');
    expect(series[10]).to.equal(`gitaly_tls_plaintext_peer_connections{node="gitaly-1",peer="other"} ${TOTAL - 215}`);
  });

  it('looks up reverse DNS for the listed peers only', async () => {
    expect([...new Set(lookups)].sort()).to.deep.equal(top.map((p) => p.address).sort());
  });
});
