// The state file under faults, with the real exporter as a child process: a full disk and a
// read-only directory while it runs, SIGTERM in the middle of a collection, a corrupt file at start.
// History ("observed since", "last plaintext seen") must survive all of it or be set aside loudly.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadState } from '../../src/migration/state.ts';
import {
  pollUntil,
  sampleValue,
  startExporter,
  startTestFleet,
  writeExporterConfig,
  type ExporterProcess,
  type LogLine,
  type MigrationDoc,
  type TestFleet,
} from '../helpers/exporter-process.ts';
import { startStallingServer, type LoopbackServer } from '../helpers/tls-servers.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';

const ERROR = 'error';

function run(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A directory the test can make full or read-only under the running exporter: a 64 KiB tmpfs when it
 * may mount one (root), otherwise read-only only, through chattr +i (root ignores chmod) or chmod.
 */
interface HostileDir {
  canFill: boolean;
  fill(): Promise<void>;
  unfill(): Promise<void>;
  makeReadOnly(): void;
  cleanup(): void;
}

function hostileDir(path: string): HostileDir {
  const filler = join(path, 'filler');
  const isRoot = process.getuid?.() === 0;
  const mounted = isRoot && run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', path]);
  let immutable = false;
  return {
    canFill: mounted,
    async fill() {
      const fd = openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(4096, 0x61);
        for (let written = 0; written < 1024 * 1024; written += chunk.length) writeSync(fd, chunk);
        throw new Error('the 64 KiB tmpfs took 1 MiB: not a small tmpfs');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
    },
    unfill: () => unlink(filler),
    makeReadOnly() {
      if (mounted) {
        if (!run('mount', ['-o', 'remount,ro', path])) throw new Error(`could not remount ${path} read-only`);
      } else if (isRoot) {
        immutable = run('chattr', ['+i', path]);
        if (!immutable) throw new Error(`cannot make ${path} read-only: root needs mount (CAP_SYS_ADMIN) or chattr on this filesystem`);
      } else {
        execFileSync('chmod', ['0555', path]);
      }
    },
    cleanup() {
      if (mounted && !run('umount', [path])) run('umount', ['-l', path]);
      if (immutable) run('chattr', ['-i', path]);
      if (!isRoot) run('chmod', ['0755', path]);
    },
  };
}

const stateErrors = (metrics: string): number =>
  sampleValue(metrics, 'gitaly_tls_exporter_source_errors_total', { source: 'state_file', reason: 'STATE_WRITE' }) ?? 0;

async function validState(file: string): Promise<{ text: string; savedAtMs: number | null }> {
  const text = await readFile(file, 'utf8');
  const loaded = await loadState(file);
  if (!loaded.ok) throw new Error(`state file is not valid: ${loaded.error.message}`);
  return { text, savedAtMs: loaded.savedAtMs };
}

/** The service answers every page while the state cannot be written. */
async function expectServing(ex: ExporterProcess): Promise<void> {
  for (const path of ['/metrics', '/migration', '/', '/-/ready']) expect((await ex.get(path)).status, path).to.equal(200);
}

describe('faults: the state file', function () {
  this.timeout(scaled(120_000));
  let dir: string;
  let fleet: TestFleet | undefined;
  const exporters: ExporterProcess[] = [];
  const cleanups: Array<() => void | Promise<void>> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-faults-state-'));
    fleet = await startTestFleet(dir, ['gitaly-1', 'gitaly-2']);
  });

  afterEach(async function () {
    this.timeout(scaled(60_000));
    for (const ex of exporters.splice(0)) await ex.stop();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  after(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(name: string, settings: Record<string, unknown>): Promise<ExporterProcess> {
    const configFile = join(dir, `${name}.yml`);
    await writeExporterConfig(configFile, {
      ca_file: fleet!.caFile,
      nodes: ['gitaly-1', 'gitaly-2'].map((n) => fleet!.yamlNode(n)),
      ...settings,
    });
    const ex = await startExporter({ configFile });
    exporters.push(ex);
    return ex;
  }

  it('a full disk, then a read-only directory: a clear error, counted, the service keeps serving, the old file intact', async () => {
    const stateDir = join(dir, 'hostile');
    await mkdir(stateDir);
    const hostile = hostileDir(stateDir);
    cleanups.push(() => hostile.cleanup());
    const stateFile = join(stateDir, 'state.json');
    const ex = await start('hostile', { collection_interval: '1s', state_file: stateFile });
    await waitFor(() => validState(stateFile), { timeoutMs: 15_000, intervalMs: 100, what: 'a first valid state file' });

    /** Waits for `code` in a logged error after `fromLine`, then checks the file stays as it was. */
    const expectWriteFailures = async (fromLine: number, code: RegExp): Promise<string> => {
      const isFailure = (l: LogLine): boolean =>
        l.level === ERROR && l.msg.startsWith(`cannot write state file ${stateFile}: `) && code.test(l.msg);
      await waitFor(() => ex.logs().slice(fromLine).find(isFailure), {
        timeoutMs: 15_000,
        intervalMs: 100,
        what: `a logged ${code.source} error writing the state file`,
      });
      const kept = await validState(stateFile);
      const errorsThen = stateErrors(await ex.metrics());
      expect(errorsThen).to.be.at.least(1);
      await pollUntil(
        async () => {
          await expectServing(ex);
          return stateErrors(await ex.metrics()) >= errorsThen + 2;
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'two more failed saves, counted in source_errors_total{source="state_file"}' },
      );
      expect((await validState(stateFile)).text, 'the last good state file is left as it was').to.equal(kept.text);
      expect(
        (await readdir(stateDir)).filter((f) => f.endsWith('.tmp')),
        'no temporary file is left behind',
      ).to.deep.equal([]);
      return kept.text;
    };

    if (hostile.canFill) {
      const linesBefore = ex.logs().length;
      await hostile.fill();
      const kept = await expectWriteFailures(linesBefore, /ENOSPC/);
      // Space comes back: so does saving.
      await hostile.unfill();
      await waitFor(async () => (await validState(stateFile)).text !== kept, {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: 'a successful save once the disk has room',
      });
    }
    const linesBefore = ex.logs().length;
    hostile.makeReadOnly();
    await expectWriteFailures(linesBefore, /EROFS|EPERM|EACCES/);
  });

  it('SIGTERM during a collection: exit 0 within the grace period, a valid state file, and no history lost on restart', async () => {
    const stalling: LoopbackServer = await startStallingServer();
    cleanups.push(() => stalling.close());
    const stateFile = join(dir, 'sigterm-state.json');
    const settings = {
      state_file: stateFile,
      // A node whose TLS listener stalls mid-handshake keeps every collection busy for its full deadline.
      nodes: [...['gitaly-1', 'gitaly-2'].map((n) => fleet!.yamlNode(n)), { name: 'stalling', tls_address: stalling.address }],
      // 10 s per stalled handshake: the SIGTERM below must land inside the collection even when this
      // test process, starved on a busy machine, sees the stalled connection seconds late (with 5 s
      // it once landed after the collection had ended: nothing left to finish), and what is left of
      // it (at most 10 s) still fits the 20 s a stop gives a collection.
      collection_interval: '12s',
      timeouts: { tls: '10s' },
    };
    const ex = await start('sigterm', settings);

    // A real plaintext client: this is the history that must survive. The fleet is shared with the
    // test before, whose exporter dialled gitaly-1: a first scrape of a Gitaly that started inside
    // the soak window counts those dials as plaintext (it cannot tell them from clients), so wait
    // for a last seen at or after this client, not for any last seen.
    const connectedAtMs = Date.now();
    const client = connect(Number(fleet!.node('gitaly-1').plaintextAddress!.split(':')[1]), '127.0.0.1');
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    client.destroy();
    const before: MigrationDoc = await waitFor(
      async () => {
        const doc = await ex.migration();
        const lastSeen = doc.nodes.find((n) => n.node === 'gitaly-1')?.evidence.plaintextLastSeen;
        return lastSeen && Date.parse(lastSeen) >= connectedAtMs ? doc : false;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the exporter to see the plaintext client on gitaly-1' },
    );
    const seen = (doc: MigrationDoc, node: string): { observedSince: string | null; plaintextLastSeen: string | null } => {
      const n = doc.nodes.find((x) => x.node === node)!;
      return { observedSince: n.evidence.observedSince, plaintextLastSeen: n.evidence.plaintextLastSeen };
    };
    expect(seen(before, 'gitaly-1').observedSince).to.be.a('string');

    const probes = stalling.connections;
    await waitFor(() => stalling.connections > probes, {
      timeoutMs: 20_000,
      intervalMs: 10,
      what: 'a collection stuck in a stalled TLS handshake',
    });
    ex.signal('SIGTERM');
    const exit = await Promise.race([
      ex.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), scaled(25_000))),
    ]);
    expect(exit, `exit after SIGTERM; output:\n${ex.output().slice(-3000)}`).to.deep.equal({ code: 0, signal: null });
    const logs = ex.logs();
    const signalled = logs.findIndex((l) => /^SIGTERM: stopping collection/.test(l.msg));
    expect(signalled, 'the shutdown is logged').to.be.at.least(0);
    // On failure, the log from the signal on says whether the stop gave up waiting or found no collection running.
    expect(
      logs.slice(signalled).some((l) => l.msg === 'collection finished'),
      `the collection in progress was finished (and saved) before exit; log from the signal:\n${logs
        .slice(signalled)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
    ).to.equal(true);

    const state = await loadState(stateFile);
    if (!state.ok) throw new Error(state.error.message);
    expect([...state.nodes.keys()].sort()).to.deep.equal(['gitaly-1', 'gitaly-2', 'stalling']);
    const g1 = state.nodes.get('gitaly-1')!;
    expect(g1.plaintextLastSeenMs).to.equal(Date.parse(seen(before, 'gitaly-1').plaintextLastSeen!));
    expect(g1.firstObservedMs).to.equal(Date.parse(seen(before, 'gitaly-1').observedSince!));
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);

    const again = await start('sigterm', settings);
    const after = await again.migration();
    for (const node of ['gitaly-1', 'gitaly-2']) expect(seen(after, node), `${node} after the restart`).to.deep.equal(seen(before, node));
  });

  it('a corrupt state file at start: a clear error, the file kept beside, the service runs and writes a fresh one', async () => {
    const stateFile = join(dir, 'corrupt-state.json');
    // Cut off mid-write, as after a crash on a filesystem without atomic rename.
    const corrupt = '{"version":1,"savedAtMs":1764000000000,"nodes":{"gitaly-1":{"firstObservedMs":17640';
    await writeFile(stateFile, corrupt);
    const ex = await start('corrupt', { state_file: stateFile });
    const logged = await ex.waitForLog((l) => l.level === ERROR && l.msg.includes(stateFile), {
      timeoutMs: 5_000,
      what: 'an error about the state file',
    });
    expect(logged.msg).to.contain('is not valid JSON');
    const aside = (await readdir(dir)).filter((f) => f.startsWith('corrupt-state.json.corrupt-'));
    expect(aside, 'one copy set aside').to.have.length(1);
    expect(logged.msg).to.contain(`kept as ${join(dir, aside[0]!)}`);
    expect(logged.msg).to.contain('insufficient_history');
    expect(await readFile(join(dir, aside[0]!), 'utf8'), 'the corrupt file is kept byte for byte').to.equal(corrupt);

    await expectServing(ex);
    const doc = await ex.migration();
    for (const n of doc.nodes)
      expect(
        n.blockingReasons.map((r) => r.reason),
        n.node,
      ).to.include('insufficient_history');
    await waitFor(() => validState(stateFile), { timeoutMs: 15_000, intervalMs: 200, what: 'a fresh, valid state file' });
  });

  for (const [what, history] of [
    ['directBuckets: [5]', { directBuckets: [5] }],
    ['pendingOwn: null', { pendingOwn: null }],
  ] as const) {
    it(`valid JSON of the wrong shape (${what}): set aside at start like a corrupt file, never a failure on every cycle`, async () => {
      const stateFile = join(dir, 'shape-state.json');
      const wrong = JSON.stringify({ version: 1, savedAtMs: 1764000000000, nodes: { 'gitaly-1': history } });
      await writeFile(stateFile, wrong);
      const ex = await start('shape', { state_file: stateFile });
      const logged = await ex.waitForLog((l) => l.level === ERROR && l.msg.includes(stateFile), {
        timeoutMs: 5_000,
        what: 'an error about the state file',
      });
      expect(logged.msg).to.contain(`node "gitaly-1" has a bad ${what.split(':')[0]!}`);
      const aside = (await readdir(dir)).filter((f) => f.startsWith('shape-state.json.corrupt-'));
      expect(aside, 'one copy set aside').to.have.length(1);
      expect(await readFile(join(dir, aside[0]!), 'utf8')).to.equal(wrong);
      // The collection runs (ready, /migration answers) and a fresh file is written.
      await expectServing(ex);
      await waitFor(() => validState(stateFile), { timeoutMs: 15_000, intervalMs: 200, what: 'a fresh, valid state file' });
      await rm(stateFile, { force: true });
      for (const f of aside) await rm(join(dir, f), { force: true });
    });
  }
});
