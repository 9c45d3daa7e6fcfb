// Local mode against a hostile proc root: net/tcp is a FIFO nobody writes to. The first collection
// must still end (sockets source down, said), and SIGTERM must stop the process promptly.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startExporter, startTestFleet, writeExporterConfig, type ExporterProcess, type TestFleet } from '../helpers/exporter-process.ts';

describe('faults: local mode with a FIFO as /proc/net/tcp', function () {
  this.timeout(60_000);
  let dir: string;
  let fleet: TestFleet | undefined;
  let ex: ExporterProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-local-fifo-'));
    fleet = await startTestFleet(dir, ['gitaly-1']);
  });
  after(async () => {
    await ex?.stop(5_000);
    await fleet?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('finishes the first collection with the sockets source down, and exits 0 on SIGTERM within the grace period', async () => {
    const procRoot = join(dir, 'proc');
    await mkdir(join(procRoot, 'net'), { recursive: true });
    execFileSync('mkfifo', [join(procRoot, 'net', 'tcp')]);
    const configFile = join(dir, 'local.yml');
    await writeExporterConfig(configFile, {
      ca_file: fleet!.caFile,
      nodes: [fleet!.yamlNode('gitaly-1')],
      local: { node: 'gitaly-1', proc_root: procRoot },
      state_file: join(dir, 'state.json'),
    });
    // startExporter waits for /-/ready, i.e. for the first collection to end.
    ex = await startExporter({ configFile, readyTimeoutMs: 20_000 });
    const doc = (await (await fetch(`${ex.url}/migration`)).json()) as {
      nodes: Array<{ node: string; evidence: { sourcesDown: string[] }; blockingReasons: Array<{ reason: string }> }>;
    };
    const node = doc.nodes.find((n) => n.node === 'gitaly-1')!;
    expect(node.evidence.sourcesDown).to.include('sockets');
    expect(node.blockingReasons.map((r) => r.reason)).to.include('source_down');
    const metrics = await (await fetch(`${ex.url}/metrics`)).text();
    expect(metrics).to.match(/gitaly_tls_exporter_source_up\{node="gitaly-1",source="sockets"\} 0/);

    const exit = await ex.stop(10_000);
    expect(exit, 'stopped by its own SIGTERM handling, not by SIGKILL').to.deep.equal({ code: 0, signal: null });
    ex = undefined;
  });
});
