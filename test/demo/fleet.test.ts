import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startDemoFleet, type DemoFleet, type DemoNodeInfo } from '../../src/demo/fleet.ts';
import { parseAddress } from '../../src/base/address.ts';
import { DAY_MS } from '../../src/demo/certs.ts';
import { killGroup, spawnTracked } from '../helpers/processes.ts';
import { scaled } from '../helpers/time-factor.ts';

const FLEET_MODULE = fileURLToPath(new URL('../../src/demo/fleet.ts', import.meta.url));

async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 15000): Promise<void> {
  const end = Date.now() + scaled(deadlineMs);
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function hostPort(address: string | undefined): { host: string; port: number } {
  const parsed = parseAddress(address ?? '');
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

/** The served leaf, verified against the fleet's CA file and the dialled IP. */
function servedLeaf(address: string | undefined, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...hostPort(address), ca, ALPNProtocols: ['h2'] }, () => {
      const der = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(der));
    });
    socket.once('error', reject);
  });
}

function connectCode(address: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(hostPort(address));
    socket.once('connect', () => {
      socket.destroy();
      resolve('OPEN');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const byName = (fleet: DemoFleet, name: string): DemoNodeInfo => {
  const node = fleet.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no ${name}`);
  return node;
};

describe('demo/fleet', function () {
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'demo-fleet-'));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  describe('the default story', function () {
    let fleet: DemoFleet;

    beforeEach(async function () {
      fleet = await startDemoFleet({ dir, migrationMs: 1500, trafficIntervalMs: 50 });
    });

    afterEach(async function () {
      await fleet.stop();
    });

    it('has one node at each stage, with certificates on disk', async function () {
      expect(fleet.nodes.map((n) => [n.name, n.role, Boolean(n.tlsAddress), Boolean(n.plaintextAddress)])).to.deep.equal([
        ['gitaly-1', 'gitaly', true, true],
        ['gitaly-2', 'gitaly', true, true],
        ['gitaly-3', 'gitaly', true, true],
        ['gitaly-4', 'gitaly', true, true],
        ['praefect-1', 'praefect', false, true],
      ]);
      const ca = await readFile(fleet.caFile, 'utf8');
      expect(new X509Certificate(ca).subject).to.contain('root');
      for (const node of fleet.nodes.filter((n) => n.tlsAddress)) {
        const served = await servedLeaf(node.tlsAddress, ca);
        expect(served.subjectAltName).to.contain('DNS:localhost').and.contain('IP Address:127.0.0.1');
        expect(node.certificateFile).to.equal(join(dir, `${node.name}.crt`));
      }
      expect(byName(fleet, 'praefect-1').certificateFile).to.equal(undefined);
    });

    it('gitaly-4 serves an old leaf expiring in 20 days while its certificate_file holds the renewal', async function () {
      const node = byName(fleet, 'gitaly-4');
      const served = await servedLeaf(node.tlsAddress, await readFile(fleet.caFile, 'utf8'));
      const onDisk = new X509Certificate(await readFile(node.certificateFile!));
      expect(served.fingerprint256).to.not.equal(onDisk.fingerprint256);
      const daysLeft = (Date.parse(served.validTo) - Date.now()) / DAY_MS;
      expect(daysLeft).to.be.within(19, 21);
      expect((Date.parse(onDisk.validTo) - Date.now()) / DAY_MS).to.be.greaterThan(60);
      // Other nodes serve exactly their file.
      const g2 = byName(fleet, 'gitaly-2');
      const g2Served = await servedLeaf(g2.tlsAddress, await readFile(fleet.caFile, 'utf8'));
      expect(g2Served.fingerprint256).to.equal(new X509Certificate(await readFile(g2.certificateFile!)).fingerprint256);
    });

    it('plays out: gitaly-1 closes listen_addr, gitaly-3 keeps a legacy client, praefect-1 stays plaintext', async function () {
      const g1 = byName(fleet, 'gitaly-1');
      const g2 = byName(fleet, 'gitaly-2');
      const g3 = byName(fleet, 'gitaly-3');
      const p1 = byName(fleet, 'praefect-1');
      await until('gitaly-1 to close its plaintext listener', async () => (await connectCode(g1.plaintextAddress)) === 'ECONNREFUSED');
      await until(
        'clients of gitaly-1 and gitaly-2 to be on TLS',
        () =>
          g1.node.established().tcp === 0 &&
          g1.node.established().tls === 4 &&
          g2.node.established().tcp === 0 &&
          g2.node.established().tls === 3,
      );
      expect(await connectCode(g2.plaintextAddress)).to.equal('OPEN');
      await until(
        'gitaly-3 to settle with one legacy plaintext channel',
        () => g3.node.established().tls === 3 && g3.node.established().tcp === 1,
      );
      const tcpBefore = g3.node.counts.tcp;
      // The legacy client is a recycled process: it keeps adding plaintext accepts.
      await until('gitaly-3 to see new plaintext connections', () => g3.node.counts.tcp > tcpBefore);
      await until('praefect-1 to carry its three plaintext clients', () => p1.node.established().tcp === 3);
      expect(p1.node.counts.tls).to.equal(0);
      expect(p1.metricsUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    });
  });

  it('stops cleanly: a process that ran the fleet exits on its own', async function () {
    const script = `
      const { startDemoFleet } = await import(${JSON.stringify(FLEET_MODULE)});
      const fleet = await startDemoFleet({ dir: ${JSON.stringify(dir)}, migrationMs: 600, trafficIntervalMs: 30 });
      await new Promise((r) => setTimeout(r, 800));
      await fleet.stop();
      console.log('stopped');
    `;
    const tracked = spawnTracked(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      what: 'a demo fleet script',
    });
    let output = '';
    tracked.child.stdout!.on('data', (c: Buffer) => {
      output += c.toString();
    });
    tracked.child.stderr!.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const killer = setTimeout(() => killGroup(tracked.pid, 'SIGKILL'), scaled(15000));
    const exit = await tracked.closed;
    clearTimeout(killer);
    await tracked.stop();
    expect({ ...exit, output: output.trim() }, 'a leaked handle keeps the process alive until killed').to.deep.equal({
      code: 0,
      signal: null,
      output: 'stopped',
    });
  });

  it('scale mode starts and stops 50 quiet nodes with realistic pages', async function () {
    const fleet = await startDemoFleet({ dir, scale: 50 });
    try {
      expect(fleet.nodes).to.have.length(50);
      expect(new Set(fleet.nodes.map((n) => n.name)).size).to.equal(50);
      expect(new Set(fleet.nodes.flatMap((n) => [n.metricsUrl, n.tlsAddress, n.plaintextAddress])).size).to.equal(150);
      const last = fleet.nodes[49]!;
      const page = await (await fetch(last.metricsUrl)).text();
      expect(page.length).to.be.within(800_000, 1_200_000);
      const served = await servedLeaf(last.tlsAddress, await readFile(fleet.caFile, 'utf8'));
      expect(served.fingerprint256).to.equal(new X509Certificate(await readFile(last.certificateFile!)).fingerprint256);
      expect(last.node.counts).to.deep.equal({ tcp: 0, tls: 1, unix: 0 });
    } finally {
      await fleet.stop();
    }
    expect(await connectCode(fleet.nodes[0]!.tlsAddress)).to.equal('ECONNREFUSED');
  });

  it('uses deterministic ports from basePort', async function () {
    const basePort = 20000 + Math.floor(Math.random() * 10000);
    const fleet = await startDemoFleet({ dir, scale: 2, basePort });
    try {
      expect(fleet.nodes.map((n) => [n.metricsUrl, n.tlsAddress, n.plaintextAddress])).to.deep.equal([
        [`http://127.0.0.1:${basePort}/metrics`, `127.0.0.1:${basePort + 1}`, `127.0.0.1:${basePort + 2}`],
        [`http://127.0.0.1:${basePort + 3}/metrics`, `127.0.0.1:${basePort + 4}`, `127.0.0.1:${basePort + 5}`],
      ]);
    } finally {
      await fleet.stop();
    }
  });
});
