// Files that never answer, with the real exporter as a child process: a FIFO in place of every file
// it reads while running, and an open() really blocked in the kernel (as on a hung NFS mount).
// Collections must still finish, and SIGTERM must save the state and end the process in its grace.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadState } from '../../src/migration/state.ts';
import {
  startExporter,
  startTestFleet,
  writeExporterConfig,
  type Exit,
  type ExporterProcess,
  type TestFleet,
} from '../helpers/exporter-process.ts';
import { makeFifo, releaseFifo } from '../helpers/fifo.ts';
import { scaled } from '../helpers/time-factor.ts';
import { waitFor } from '../helpers/wait-for.ts';

const BLOCKING_OPEN = fileURLToPath(new URL('../helpers/blocking-open.ts', import.meta.url));
/** cli.ts's SHUTDOWN_GRACE_MS: close-with-grace's limit for a stop. */
const GRACE_MS = 25_000;

describe('files that never answer (real process)', function () {
  this.timeout(scaled(120_000));
  let dir: string;
  let fleet: TestFleet | null = null;
  const exporters: ExporterProcess[] = [];
  const fifos: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-stuck-files-'));
    fleet = await startTestFleet(dir, ['gitaly-1', 'gitaly-2']);
  });
  afterEach(async () => {
    await Promise.all(exporters.splice(0).map((e) => e.stop(2_000)));
    for (const fifo of fifos.splice(0)) releaseFifo(fifo);
  });
  after(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const fifo = (name: string): string => {
    const path = makeFifo(join(dir, name));
    fifos.push(path);
    return path;
  };

  /** SIGTERM, then how the process ended, or 'still running' once the grace period is over. */
  async function sigterm(ex: ExporterProcess): Promise<Exit | 'still running'> {
    ex.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), scaled(GRACE_MS))));
    try {
      return await Promise.race([ex.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The state file holds what /migration showed after a completed collection. */
  async function expectStateOf(
    stateFile: string,
    before: { generatedAt: string; nodes: Array<{ node: string; evidence: { observedSince: string | null } }> },
  ) {
    const state = await loadState(stateFile);
    if (!state.ok) throw new Error(state.error.message);
    for (const n of before.nodes) {
      const saved = state.nodes.get(n.node);
      expect(saved, `${n.node} in the state file`).to.not.equal(undefined);
      expect(saved!.firstObservedMs, `${n.node} observed since`).to.equal(Date.parse(n.evidence.observedSince!));
    }
    expect(state.savedAtMs, 'saved at or after that collection').to.be.at.least(Date.parse(before.generatedAt));
  }

  it('a FIFO for every file read while running: each refused by name, collections finish, SIGTERM exits 0 with the state saved', async () => {
    const files = {
      cert: fifo('gitaly-1.crt'),
      gitlabYml: fifo('gitlab.yml'),
      praefect: fifo('praefect.toml'),
      fileSd: fifo('file_sd.json'),
      gitalyToml: fifo('gitaly.toml'),
    };
    const stateFile = join(dir, 'fifo-state.json');
    const configFile = join(dir, 'fifo.yml');
    await writeExporterConfig(configFile, {
      ca_file: fleet!.caFile,
      state_file: stateFile,
      nodes: [{ ...fleet!.yamlNode('gitaly-1'), certificate_file: files.cert }, fleet!.yamlNode('gitaly-2')],
      clients: [
        { name: 'puma', gitlab_yml: files.gitlabYml },
        { name: 'praefect', praefect_config: files.praefect },
      ],
      discovery: { file_sd: [{ file: files.fileSd }], gitaly_config: [{ file: files.gitalyToml }] },
    });
    const ex = await startExporter({ configFile, readyTimeoutMs: scaled(30_000) });
    exporters.push(ex);
    const before = await ex.migration();
    const seen = `${JSON.stringify(before)}\n${ex.output()}`;
    for (const path of Object.values(files)) expect(seen, `an error naming ${path}`).to.include(`${path} is a FIFO, not a regular file`);

    const exit = await sigterm(ex);
    expect(exit, `exit after SIGTERM; output:\n${ex.output().slice(-3000)}`).to.deep.equal({ code: 0, signal: null });
    await expectStateOf(stateFile, before);
  });

  it('an open() blocked in the kernel (a hung mount): collections finish at its deadline, and SIGTERM saves the state and ends the process in its grace', async () => {
    const cert = fifo('hung.crt');
    const stateFile = join(dir, 'hung-state.json');
    const configFile = join(dir, 'hung.yml');
    await writeExporterConfig(configFile, {
      ca_file: fleet!.caFile,
      state_file: stateFile,
      nodes: [{ ...fleet!.yamlNode('gitaly-1'), certificate_file: cert }, fleet!.yamlNode('gitaly-2')],
    });
    const ex = await startExporter({
      configFile,
      readyTimeoutMs: scaled(30_000),
      nodeArgs: ['--import', BLOCKING_OPEN],
      env: { GTE_TEST_BLOCKING_OPEN: cert },
    });
    exporters.push(ex);
    // A second collection: the read still blocked is joined, not opened again beside it.
    await waitFor(() => ex.logs().filter((l) => l.msg === 'collection finished').length >= 2, {
      timeoutMs: scaled(30_000),
      intervalMs: 100,
      what: 'a second finished collection while the certificate file stays blocked',
    });
    expect(ex.output()).to.match(/hung\.crt was not read within 5000 ms: a read of it has been blocked in the kernel for \d+ s/);
    const before = await ex.migration();

    const exit = await sigterm(ex);
    // process.exit() would join the blocked pool thread for ever: the signal's default action ends it.
    expect(exit, `exit after SIGTERM; output:\n${ex.output().slice(-3000)}`).to.deep.equal({ code: null, signal: 'SIGTERM' });
    expect(ex.logs().some((l) => l.level === 'warn' && l.msg.startsWith(`file reads still blocked in the kernel: ${cert} (for `))).to.equal(
      true,
    );
    await expectStateOf(stateFile, before);
  });
});
