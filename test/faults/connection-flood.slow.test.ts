// Idle connections under a low open-file limit (ulimit -n 256): the HTTP endpoint takes only as
// many as leave the collection its descriptors, closes clients that send no request in time, and
// the collection never meets EMFILE.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  sampleValue,
  startExporter,
  startTestFleet,
  writeExporterConfig,
  type ExporterProcess,
  type TestFleet,
} from '../helpers/exporter-process.ts';
import { waitFor } from '../helpers/wait-for.ts';

describe('faults: a flood of idle connections under ulimit -n 256', function () {
  this.timeout(90_000);
  let dir: string;
  let fleet: TestFleet | undefined;
  let ex: ExporterProcess | undefined;
  const sockets: Socket[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-conn-flood-'));
    fleet = await startTestFleet(dir, ['gitaly-1', 'gitaly-2']);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await ex?.stop(5_000);
    await fleet?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('caps connections below the limit, closes idle ones after the header deadline, and keeps collecting', async () => {
    const configFile = join(dir, 'flood.yml');
    await writeExporterConfig(configFile, {
      ca_file: fleet!.caFile,
      nodes: ['gitaly-1', 'gitaly-2'].map((n) => fleet!.yamlNode(n)),
      state_file: join(dir, 'state.json'),
      collection_interval: '1s',
    });
    ex = await startExporter({ configFile, openFileLimit: 256, logLevel: 'info' });
    const listening = await ex.waitForLog((l) => l.msg.startsWith('listening on'), { timeoutMs: 5_000, what: 'the listening line' });
    const { maxConnections, openFileLimit } = listening as unknown as { maxConnections: number; openFileLimit: number };
    expect(openFileLimit).to.equal(256);
    expect(maxConnections).to.be.within(16, 256 - 100);

    let closed = 0;
    for (let i = 0; i < 230; i += 1) {
      const socket = connect(ex.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => (closed += 1));
      sockets.push(socket);
    }
    // Those past the cap are closed at once; the others when they have sent no request in 10 s.
    await waitFor(() => closed >= 230 - maxConnections, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'connections past the cap to be closed',
    });
    const collectedBefore = sampleValue(await ex.metrics(), 'gitaly_tls_exporter_last_collection_timestamp_seconds') ?? 0;
    await waitFor(() => closed === 230, { timeoutMs: 30_000, intervalMs: 100, what: 'every idle connection to be closed by the exporter' });

    let ok = 0;
    for (let i = 0; i < 50; i += 1) if ((await ex.get('/metrics')).status === 200) ok += 1;
    expect(ok, '/metrics answers once the idle clients are gone').to.equal(50);
    const collectedAfter = sampleValue(await ex.metrics(), 'gitaly_tls_exporter_last_collection_timestamp_seconds') ?? 0;
    expect(collectedAfter, 'collections went on').to.be.above(collectedBefore);
    expect(ex.output()).to.not.include('EMFILE');
  });
});
