import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.ts';
import type { NodeConfig } from '../../src/config/types.ts';
import { chainPem, createCa, createLeaf } from '../../src/demo/certs.ts';
import { fileSdSource } from '../../src/inventory/file-sd.ts';
import { tomlSource } from '../../src/inventory/gitaly-toml.ts';
import { Inventory } from '../../src/inventory/inventory.ts';
import type { SourceResult } from '../../src/inventory/types.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/inventory/', import.meta.url));
const LIMITS = { timeoutMs: 5_000, maxBytes: 1 << 20 };
const DEFAULT_TEMPLATES = { name: '{instance}', tlsAddress: '{tls_address}', plaintextAddress: '{plaintext_address}', role: '{role}' };

/** The nodes a hand-written nodes: list gives, read by the config loader. */
function handWritten(yaml: string): NodeConfig[] {
  return parseConfig(`state_file: /tmp/gte-inventory-state.json\nnodes:\n${yaml}`, 'hand.yml', {
    fileExists: (p) => (p === '/tmp' ? 'dir' : 'file'),
    dirWritable: () => true,
  }).nodes;
}

function nodesOf(r: SourceResult): NodeConfig[] {
  if (!r.ok) throw new Error(r.error.message);
  return r.nodes;
}

function errorOf(r: SourceResult): string {
  expect(r.ok, 'expected the source to fail').to.equal(false);
  return r.ok ? '' : r.error.message;
}

describe('inventory file sources', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gte-file-sources-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('file_sd', () => {
    it('a JSON file with address labels gives the nodes a hand-written list gives', async () => {
      const nodes = nodesOf(
        await fileSdSource({ file: join(FIXTURES, 'file_sd.json'), templates: DEFAULT_TEMPLATES }, 'instance', LIMITS).discover(),
      );
      expect(nodes).to.deep.equal(
        handWritten(`
  - name: gitaly-1.internal:9236
    metrics_url: http://gitaly-1.internal:9236/metrics
    tls_address: gitaly-1.internal:9999
    plaintext_address: gitaly-1.internal:8075
  - name: gitaly-2.internal:9236
    metrics_url: http://gitaly-2.internal:9236/metrics
    tls_address: gitaly-2.internal:9999
    plaintext_address: gitaly-2.internal:8075
  - name: praefect-1.internal:9652
    role: praefect
    metrics_url: http://praefect-1.internal:9652/metrics
    tls_address: praefect-1.internal:3305
`),
      );
    });

    it('a YAML file with port templates and a name template gives the same nodes as by hand', async () => {
      const templates = { ...DEFAULT_TEMPLATES, name: '{host}', tlsAddress: '{host}:9999', plaintextAddress: '{host}:8075' };
      const nodes = nodesOf(await fileSdSource({ file: join(FIXTURES, 'file_sd.yml'), templates }, 'instance', LIMITS).discover());
      const expected = handWritten(`
  - name: gitaly-1.internal
    metrics_url: http://gitaly-1.internal:9236/metrics
    tls_address: gitaly-1.internal:9999
    plaintext_address: gitaly-1.internal:8075
  - name: gitaly-2.internal
    metrics_url: http://gitaly-2.internal:9236/metrics
    tls_address: gitaly-2.internal:9999
    plaintext_address: gitaly-2.internal:8075
`);
      expect(nodes).to.deep.equal(expected);
    });

    it('invalid JSON names the file, line and column', async () => {
      const file = join(FIXTURES, 'invalid/syntax.json');
      const message = errorOf(await fileSdSource({ file, templates: DEFAULT_TEMPLATES }, 'instance', LIMITS).discover());
      expect(message).to.match(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:34: invalid JSON: \\S`));
    });

    it('a wrong structure names every problem with its line', async () => {
      const file = join(FIXTURES, 'invalid/structure.yml');
      const message = errorOf(await fileSdSource({ file, templates: DEFAULT_TEMPLATES }, 'instance', LIMITS).discover());
      expect(message.split('; ')).to.deep.equal([
        `${file}:1: target group 1 needs targets: a list of host:port`,
        `${file}:4: target group 2: unknown key "label" (file_sd groups have targets: and labels:)`,
        `${file}:7: target gitaly-3.internal: tls address: "gitaly-3.internal" has no port (expected host:port)`,
      ]);
    });

    it('a missing file, or one past the size cap, fails the source with a clear error', async () => {
      const missing = join(dir, 'nope.json');
      expect(errorOf(await fileSdSource({ file: missing, templates: DEFAULT_TEMPLATES }, 'instance', LIMITS).discover())).to.equal(
        `${missing} does not exist`,
      );
      const big = join(dir, 'big.json');
      writeFileSync(big, `[${' '.repeat(2048)}]`);
      expect(
        errorOf(
          await fileSdSource({ file: big, templates: DEFAULT_TEMPLATES }, 'instance', { timeoutMs: 5_000, maxBytes: 1024 }).discover(),
        ),
      ).to.equal(`${big} is larger than the 1024 bytes allowed (discovery.max_file_bytes)`);
    });
  });

  describe('a FIFO in place of a discovery file', () => {
    const cases: Array<[string, (file: string) => Promise<SourceResult>]> = [
      ['file_sd', (file) => fileSdSource({ file, templates: DEFAULT_TEMPLATES }, 'instance', LIMITS).discover()],
      ['gitaly config.toml', (file) => tomlSource({ kind: 'gitaly', file }, LIMITS).discover()],
      ['praefect config.toml', (file) => tomlSource({ kind: 'praefect', file }, LIMITS).discover()],
    ];
    for (const [what, discover] of cases) {
      it(`${what}: refused at once, naming the file and what it is`, async () => {
        const fifo = makeFifo(join(dir, `${what.replace(/\W/g, '-')}.fifo`));
        try {
          const result = await within(discover(fifo), 2_000, `reading a FIFO ${what}`);
          expect(errorOf(result)).to.equal(`${fifo} is a FIFO, not a regular file`);
          expect(!result.ok && result.error.code).to.equal('READ');
        } finally {
          releaseFifo(fifo);
        }
      });
    }
  });

  describe('config.toml', () => {
    let gitalyToml: string;
    let certFile: string;
    before(async () => {
      const ca = await createCa();
      const leaf = await createLeaf(ca, 'gitaly-1.internal');
      certFile = join(dir, 'gitaly.crt');
      writeFileSync(certFile, chainPem(leaf, ca));
      gitalyToml = join(dir, 'gitaly.toml');
      writeFileSync(gitalyToml, readFileSync(join(FIXTURES, 'gitaly.toml'), 'utf8').replace('@CERT@', certFile));
    });

    it('Gitaly’s file on a host binding 0.0.0.0 gives the node named by its certificate, as by hand', async () => {
      const r = await tomlSource({ kind: 'gitaly', file: gitalyToml }, LIMITS).discover();
      expect(nodesOf(r)).to.deep.equal(
        handWritten(`
  - name: gitaly-1.internal
    metrics_url: http://localhost:9236/metrics
    tls_address: gitaly-1.internal:9999
    plaintext_address: gitaly-1.internal:8075
    certificate_file: ${certFile}
`),
      );
      expect(r.ok && r.localNode).to.equal('gitaly-1.internal');
      expect(JSON.stringify(r)).to.not.contain('do-not-show');
    });

    it('host: and name: override what the file and certificate say', async () => {
      const r = await tomlSource({ kind: 'gitaly', file: gitalyToml, host: '10.0.0.11', name: 'gitaly-1' }, LIMITS).discover();
      expect(nodesOf(r)[0]).to.deep.include({ name: 'gitaly-1', tlsAddress: '10.0.0.11:9999', plaintextAddress: '10.0.0.11:8075' });
    });

    it('Praefect’s file gives Praefect and every Gitaly node its virtual storages name, once each', async () => {
      const r = await tomlSource({ kind: 'praefect', file: join(FIXTURES, 'praefect.toml') }, LIMITS).discover();
      expect(nodesOf(r)).to.deep.equal(
        handWritten(`
  - name: praefect-1.internal
    role: praefect
    metrics_url: http://praefect-1.internal:9652/metrics
    tls_address: praefect-1.internal:3305
    plaintext_address: praefect-1.internal:2305
  - name: gitaly-1
    tls_address: gitaly-1.internal:9999
  - name: gitaly-2
    plaintext_address: gitaly-2.internal:8075
  - name: gitaly-3
    tls_address: gitaly-3.internal:9999
`),
      );
      expect(JSON.stringify(r)).to.not.contain('do-not-show');
    });

    it('invalid files give their exact errors, with file and line', async () => {
      const run = async (name: string) =>
        errorOf(
          await tomlSource(
            { kind: name.startsWith('praefect') ? 'praefect' : 'gitaly', file: join(FIXTURES, 'invalid', name) },
            LIMITS,
          ).discover(),
        );
      const at = (name: string) => join(FIXTURES, 'invalid', name);
      expect(await run('syntax.toml')).to.equal(`${at('syntax.toml')}:2:22: invalid TOML: illegal character in numeric literal`);
      expect(await run('no-host.toml')).to.equal(
        `${at('no-host.toml')}:2: tls_listen_addr binds to 0.0.0.0:9999, which is not the address clients dial: set host: for this file (or [tls] certificate_path with a SAN)`,
      );
      expect(await run('praefect-no-port.toml')).to.equal(
        `${at('praefect-no-port.toml')}:10: virtual storage "default" node "gitaly-1": "tcp://gitaly-1.internal" has no port (expected host:port) (only tcp://, tls:// and dns+tls:// addresses name a Gitaly node to check)`,
      );
    });
  });

  it('a config file with discovery sources and no nodes: list feeds the inventory; local mode takes the node from config.toml', async () => {
    const ca = await createCa();
    const leaf = await createLeaf(ca, 'gitaly-1.internal');
    writeFileSync(join(dir, 'g.crt'), chainPem(leaf, ca));
    writeFileSync(join(dir, 'g.toml'), readFileSync(join(FIXTURES, 'gitaly.toml'), 'utf8').replace('@CERT@', join(dir, 'g.crt')));
    const config = parseConfig(
      [
        'state_file: state.json',
        'local: {}',
        'discovery:',
        '  gitaly_config:',
        '    - file: g.toml',
        '  file_sd:',
        `    - file: ${join(FIXTURES, 'file_sd.yml')}`,
        '      tls_port: 9999',
        '      plaintext_port: 8075',
        '      name: "{host}"',
        '  overrides:',
        '    - name: gitaly-2.internal',
        '      server_name: gitaly-2.example.com',
      ].join('\n'),
      join(dir, 'config.yml'),
    );
    expect(config.nodes).to.deep.equal([]);
    const view = await new Inventory(config).refresh();
    expect(view.sources.map((s) => [s.id, s.ok, s.nodes])).to.deep.equal([
      [`gitaly_config ${join(dir, 'g.toml')}`, true, 1],
      [`file_sd ${join(FIXTURES, 'file_sd.yml')}`, true, 2],
    ]);
    // gitaly-1 is in both sources: one node, config.toml's settings first.
    expect(view.nodes.map((n) => n.name)).to.deep.equal(['gitaly-1.internal', 'gitaly-2.internal']);
    expect(view.nodes[0]).to.deep.include({ certificateFile: join(dir, 'g.crt'), metricsUrl: 'http://localhost:9236/metrics' });
    expect(view.nodes[1]!.serverName).to.equal('gitaly-2.example.com');
    expect(view.localNode).to.equal('gitaly-1.internal');
  });

  it('a relative certificate_file template resolves against the config file’s directory, not the current one', async () => {
    const confDir = mkdtempSync(join(tmpdir(), 'gte-template-dir-'));
    try {
      writeFileSync(join(confDir, 'targets.yml'), '- targets: [gitaly-1.internal:9236]\n');
      const config = parseConfig(
        [
          'state_file: state.json',
          'discovery:',
          '  file_sd:',
          '    - file: targets.yml',
          '      tls_port: 9999',
          '      name: "{host}"',
          '      certificate_file: "certs/{host}.crt"',
          '    - file: targets.yml',
          '      tls_port: 9999',
          '      name: "{host}"',
          '      certificate_file: "/etc/gitaly/{host}.crt"',
        ].join('\n'),
        join(confDir, 'config.yml'),
      );
      const view = await new Inventory({
        ...config,
        discovery: { ...config.discovery!, fileSd: [config.discovery!.fileSd[0]!] },
      }).refresh();
      expect(process.cwd()).to.not.equal(confDir);
      expect(view.nodes.map((n) => n.certificateFile)).to.deep.equal([join(confDir, 'certs', 'gitaly-1.internal.crt')]);
      const absolute = await new Inventory({
        ...config,
        discovery: { ...config.discovery!, fileSd: [config.discovery!.fileSd[1]!] },
      }).refresh();
      expect(
        absolute.nodes.map((n) => n.certificateFile),
        'an absolute one is kept',
      ).to.deep.equal(['/etc/gitaly/gitaly-1.internal.crt']);
    } finally {
      rmSync(confDir, { recursive: true, force: true });
    }
  });
});
