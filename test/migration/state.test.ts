import { expect } from 'chai';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadState, saveState, setAsideCorruptState } from '../../src/migration/state.ts';
import { emptyHistory } from '../../src/migration/types.ts';

describe('the state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-state-'));
  });
  afterEach(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts empty when there is no file yet', async () => {
    const loaded = await loadState(join(dir, 'state.json'));
    expect(loaded.ok && loaded.nodes.size).to.equal(0);
  });

  it('round-trips every node’s history, leaving no temporary file behind', async () => {
    const path = join(dir, 'state.json');
    const h = { ...emptyHistory(), firstObservedMs: 1000, plaintextLastSeenMs: 2000, ownTcpTimesMs: [1500], ownTotals: { tcp: 1, tls: 9 } };
    const saved = await saveState(path, new Map([['gitaly-1', h]]), 3000);
    expect(saved.ok).to.be.true;
    expect(readdirSync(dir)).to.deep.equal(['state.json']);
    const loaded = await loadState(path);
    expect(loaded.ok).to.be.true;
    if (loaded.ok) {
      expect(loaded.nodes.get('gitaly-1')).to.deep.equal(h);
      expect(loaded.savedAtMs).to.equal(3000);
    }
  });

  it('says a file that is not JSON is corrupt, naming it', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, '{"version":1,"nodes":{');
    const loaded = await loadState(path);
    expect(loaded.ok).to.be.false;
    if (!loaded.ok) expect(loaded.error).to.deep.equal({ code: 'STATE_CORRUPT', message: `state file ${path} is not valid JSON` });
  });

  it('says a file of another format is corrupt', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, JSON.stringify({ version: 99, nodes: {} }));
    const loaded = await loadState(path);
    expect(!loaded.ok && loaded.error.message).to.equal(`state file ${path} is not a version 1 gitaly-tls-exporter state`);
  });

  it('names the node and field that is wrong', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, JSON.stringify({ version: 1, nodes: { 'gitaly-2': { ...emptyHistory(), plaintextLastSeenMs: 'yesterday' } } }));
    const loaded = await loadState(path);
    expect(!loaded.ok && loaded.error.message).to.equal(`state file ${path}: node "gitaly-2" has a bad plaintextLastSeenMs`);
  });

  it('rejects valid JSON of the wrong shape, naming the field, instead of failing later on every cycle', async () => {
    const path = join(dir, 'state.json');
    for (const [field, value] of [
      ['directBuckets', [5]],
      ['pendingOwn', null],
      ['ownTlsBuckets', [[1, 'x']]],
      ['lastCounts', { tcp: 1 }],
      ['lastPlaintextProbe', { atMs: 1 }],
      ['ownTotals', 'many'],
    ] as const) {
      writeFileSync(path, JSON.stringify({ version: 1, nodes: { 'gitaly-1': { ...emptyHistory(), [field]: value } } }));
      const loaded = await loadState(path);
      expect(!loaded.ok && loaded.error, field).to.deep.equal({
        code: 'STATE_CORRUPT',
        message: `state file ${path}: node "gitaly-1" has a bad ${field}`,
      });
    }
    // Absent fields take their defaults (files from older versions).
    writeFileSync(path, JSON.stringify({ version: 1, nodes: { 'gitaly-1': { firstObservedMs: 5 } } }));
    const loaded = await loadState(path);
    expect(loaded.ok && loaded.nodes.get('gitaly-1')).to.deep.equal({ ...emptyHistory(), firstObservedMs: 5 });
  });

  it('creates its temporary file exclusively: a symlink planted there is neither followed nor removed', async () => {
    const path = join(dir, 'state.json');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious');
    const planted = join(dir, '.planted.tmp');
    symlinkSync(victim, planted);
    // Every temporary path leads to the planted link, as if its name had been guessed.
    const fs = {
      readFile: (p: string) => readFile(p, 'utf8'),
      open: ((_p: string, flags: string, mode: number) => open(planted, flags, mode)) as unknown as typeof open,
      rename,
      rm,
    };
    const saved = await saveState(path, new Map([['gitaly-1', emptyHistory()]]), 1, fs);
    expect(!saved.ok && saved.error.message).to.match(/EEXIST/);
    expect(readFileSync(victim, 'utf8')).to.equal('precious');
    expect(lstatSync(planted).isSymbolicLink(), 'the planted link is left where it was').to.equal(true);
  });

  it('keeps the canary across restarts, reads a file without one (written before it existed), and rejects a bad one', async () => {
    const path = join(dir, 'state.json');
    const canary = {
      source: 'gitaly_metrics' as const,
      counter: 'gitaly_connections_total',
      atMs: 5000,
      expected: { tcp: 1, tls: 2 },
      counted: { tcp: 0, tls: 0 },
    };
    await saveState(path, new Map([['gitaly-1', { ...emptyHistory(), canary }]]), 6000);
    const loaded = await loadState(path);
    expect(loaded.ok && loaded.nodes.get('gitaly-1')!.canary).to.deep.equal(canary);
    const { canary: _omitted, ...older } = emptyHistory();
    writeFileSync(path, JSON.stringify({ version: 1, nodes: { 'gitaly-1': older } }));
    const old = await loadState(path);
    expect(old.ok && old.nodes.get('gitaly-1')!.canary).to.equal(null);
    writeFileSync(path, JSON.stringify({ version: 1, nodes: { 'gitaly-1': { ...emptyHistory(), canary: { ...canary, expected: 3 } } } }));
    const bad = await loadState(path);
    expect(!bad.ok && bad.error.message).to.equal(`state file ${path}: node "gitaly-1" has a bad canary`);
  });

  it('leaves the previous file intact when it cannot write', async () => {
    const path = join(dir, 'state.json');
    await saveState(path, new Map([['a', emptyHistory()]]), 1);
    const before = readFileSync(path, 'utf8');
    chmodSync(dir, 0o500);
    const saved = await saveState(path, new Map([['b', emptyHistory()]]), 2);
    // root ignores directory permissions; then the write succeeds and there is nothing to check.
    if (process.getuid?.() !== 0) {
      expect(saved.ok).to.be.false;
      expect(!saved.ok && saved.error.code).to.equal('STATE_WRITE');
      expect(readFileSync(path, 'utf8')).to.equal(before);
    }
  });

  it('reports a write error when the directory is gone', async () => {
    const path = join(dir, 'missing', 'state.json');
    const saved = await saveState(path, new Map(), 2);
    expect(saved.ok).to.be.false;
    expect(!saved.ok && saved.error.message).to.match(/^cannot write state file .*missing\/state\.json: ENOENT/);
  });

  it('sets an unreadable file aside instead of overwriting it', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(path, 'garbage');
    const aside = await setAsideCorruptState(path, Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(aside).to.equal(`${path}.corrupt-2026-01-02T03-04-05-000Z`);
    expect(readFileSync(aside!, 'utf8')).to.equal('garbage');
  });
});
