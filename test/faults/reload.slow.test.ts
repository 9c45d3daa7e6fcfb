// Configuration reload on the real exporter process, by POST /-/reload and by SIGHUP: a good file is
// applied (a removed node's series leave /metrics), a bad one is rejected with a logged error while
// the previous configuration keeps running, and the reload gauge says which happened.
import { expect } from 'chai';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  pollUntil,
  sampleValue,
  startExporter,
  startTestFleet,
  writeExporterConfig,
  type ExporterProcess,
  type LogLine,
  type TestFleet,
} from '../helpers/exporter-process.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scaled } from '../helpers/time-factor.ts';

const ERROR = 'error';
const RELOAD_GAUGE = 'gitaly_tls_exporter_config_last_reload_successful';
const ALL = ['gitaly-1', 'gitaly-2', 'gitaly-3'];

describe('faults: configuration reload', function () {
  this.timeout(scaled(120_000));
  let dir: string;
  let fleet: TestFleet | undefined;
  let exporter: ExporterProcess | undefined;
  let configFile: string;

  const writeNodes = (names: string[]): Promise<void> =>
    writeExporterConfig(configFile, {
      collection_interval: '1s',
      state_file: join(dir, 'state.json'),
      ca_file: fleet!.caFile,
      nodes: names.map((n) => fleet!.yamlNode(n)),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-faults-reload-'));
    fleet = await startTestFleet(dir, ALL);
    configFile = join(dir, 'config.yml');
  });

  // Each test starts from a running exporter; one that died in an earlier test is replaced (and
  // that test has failed already), so one fault does not hide the others.
  beforeEach(async () => {
    if (exporter && !exporter.exitState()) return;
    await writeNodes(ALL);
    exporter = await startExporter({ configFile, extraArgs: ['--web.enable-lifecycle'] });
  });

  after(async function () {
    this.timeout(scaled(60_000));
    await exporter?.stop();
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Waits for a collection that started after now, and returns its /metrics page. */
  async function nextCollection(): Promise<string> {
    const ex = exporter!;
    const after = Date.now() / 1000;
    return pollUntil(
      async () => {
        const exit = ex.exitState();
        if (exit) throw new Error(`the exporter exited (${JSON.stringify(exit)}); its last log lines:\n${ex.output().slice(-1500)}`);
        const metrics = await ex.metrics();
        const last = sampleValue(metrics, 'gitaly_tls_exporter_last_collection_timestamp_seconds') ?? 0;
        const duration = sampleValue(metrics, 'gitaly_tls_exporter_collection_duration_seconds') ?? 0;
        return last - duration > after && metrics;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'a collection that started after the reload' },
    );
  }

  const nodesIn = (metrics: string): string[] => [...new Set([...metrics.matchAll(/node="([^"]+)"/g)].map((m) => m[1]!))].sort();
  const logged = (from: number, match: (l: LogLine) => boolean, what: string): Promise<LogLine> =>
    waitFor(() => exporter!.logs().slice(from).find(match), { timeoutMs: 15_000, intervalMs: 50, what });
  const rejected = (l: LogLine): boolean =>
    l.level === ERROR && l.msg.startsWith('configuration reload rejected, the previous one keeps running');

  it('POST /-/reload with a good file: 200, and the removed node’s series leave /metrics and /migration', async () => {
    const ex = exporter!;
    expect(nodesIn(await nextCollection())).to.deep.equal(ALL);
    await writeNodes(['gitaly-1', 'gitaly-2']);
    const answer = await ex.post('/-/reload');
    expect(answer.status, answer.body).to.equal(200);
    expect(answer.body).to.equal('Configuration reloaded: 2 node(s).\n');
    const metrics = await nextCollection();
    expect(nodesIn(metrics)).to.deep.equal(['gitaly-1', 'gitaly-2']);
    expect(sampleValue(metrics, RELOAD_GAUGE)).to.equal(1);
    expect((await ex.migration()).nodes.map((n) => n.node)).to.deep.equal(['gitaly-1', 'gitaly-2']);
  });

  it('POST /-/reload with a bad file: 400 naming the problem, a logged error, the previous configuration keeps running, the gauge says 0', async () => {
    const ex = exporter!;
    await writeNodes(['gitaly-1', 'gitaly-2']);
    await ex.post('/-/reload');
    const from = ex.logs().length;
    await appendFile(configFile, 'soak_windw: 10s\n');
    const answer = await ex.post('/-/reload');
    expect(answer.status).to.equal(400);
    expect(answer.body).to.contain('the previous one keeps running');
    expect(answer.body).to.match(/soak_windw: unknown key/);
    const line = await logged(from, rejected, 'the rejected reload to be logged');
    expect(line.msg).to.contain(`${configFile}:`);
    expect(line.msg).to.contain('soak_windw');

    const metrics = await nextCollection();
    expect(sampleValue(metrics, RELOAD_GAUGE)).to.equal(0);
    // Still the nodes of the last good file, still probed.
    expect(nodesIn(metrics)).to.deep.equal(['gitaly-1', 'gitaly-2']);
    expect(sampleValue(metrics, 'gitaly_tls_exporter_source_up', { node: 'gitaly-1', source: 'tls' })).to.equal(1);
  });

  it('POST /-/reload with a good file after a bad one: the gauge returns to 1', async () => {
    const ex = exporter!;
    await writeFile(configFile, 'nodes: []\n');
    expect((await ex.post('/-/reload')).status).to.equal(400);
    expect(sampleValue(await nextCollection(), RELOAD_GAUGE)).to.equal(0);
    await writeNodes(ALL);
    expect((await ex.post('/-/reload')).status).to.equal(200);
    const metrics = await nextCollection();
    expect(sampleValue(metrics, RELOAD_GAUGE)).to.equal(1);
    expect(nodesIn(metrics)).to.deep.equal(ALL);
  });

  it('SIGHUP with a file that is not YAML: rejected and logged, the exporter keeps running the previous configuration', async () => {
    const ex = exporter!;
    const from = ex.logs().length;
    await writeFile(configFile, 'nodes: [\n  - name: "gitaly-1\n');
    ex.signal('SIGHUP');
    const line = await logged(from, rejected, 'the rejected reload to be logged');
    expect(line.msg).to.contain('invalid YAML');
    const metrics = await nextCollection();
    expect(sampleValue(metrics, RELOAD_GAUGE)).to.equal(0);
    expect(nodesIn(metrics)).to.deep.equal(ALL);
    expect(ex.exitState(), 'SIGHUP means reload, never stop').to.equal(null);
  });

  it('SIGHUP with a good file: applied, and the exporter keeps running', async () => {
    const ex = exporter!;
    const from = ex.logs().length;
    await writeNodes(['gitaly-1', 'gitaly-3']);
    ex.signal('SIGHUP');
    const line = await logged(from, (l) => l.msg.startsWith('configuration reload'), 'the reload to be logged');
    expect(line.msg).to.equal(`configuration reloaded from ${configFile}`);
    const metrics = await nextCollection();
    expect(nodesIn(metrics)).to.deep.equal(['gitaly-1', 'gitaly-3']);
    expect(sampleValue(metrics, RELOAD_GAUGE)).to.equal(1);
    expect(ex.exitState(), 'SIGHUP means reload, never stop').to.equal(null);
    expect(
      ex
        .logs()
        .slice(from)
        .map((l) => l.msg)
        .filter((m) => m.startsWith('SIGHUP')),
      'no shutdown on SIGHUP',
    ).to.deep.equal([]);
  });
});
