import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGitlabYml } from '../../src/clients/gitlab-yml.ts';
import { ParseCache } from '../../src/clients/parse-cache.ts';
import { readClientReport } from '../../src/clients/read-clients.ts';
import type { ClientFileResult } from '../../src/clients/types.ts';
import type { ClientFileConfig, NodeConfig } from '../../src/config/types.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

const INVENTORY: NodeConfig[] = [
  { name: 'gitaly-1', role: 'gitaly', tlsAddress: 'gitaly-1.internal:9999', plaintextAddress: 'gitaly-1.internal:8075' },
];

const gitlabYml = (address: string): string =>
  `production:\n  repositories:\n    storages:\n      default:\n        gitaly_address: ${address}\n`;

describe('client files read each collection', () => {
  let dir: string;
  let client: ClientFileConfig;
  let parsed: string[];
  let deps: { parse: (c: ClientFileConfig, text: string) => ClientFileResult; cache: ParseCache<ClientFileResult> };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-read-clients-'));
    client = { name: 'puma on web-1', kind: 'gitlab_yml', path: join(dir, 'gitlab.yml') };
    parsed = [];
    deps = {
      parse: (c, text) => {
        parsed.push(c.path);
        return parseGitlabYml(text, c.path);
      },
      cache: new ParseCache<ClientFileResult>(),
    };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const schemes = async (): Promise<string[]> =>
    (await readClientReport([client], INVENTORY, deps)).routes.map((r) => `${r.scheme} ${r.listener}`);

  it('parses a file again only when its text changed, an edit of the same size included', async () => {
    await writeFile(client.path, gitlabYml('tcp://gitaly-1.internal:8075'));
    expect(await schemes()).to.deep.equal(['tcp tcp']);
    expect(await schemes()).to.deep.equal(['tcp tcp']);
    expect(parsed, 'the unchanged file is not parsed again').to.have.length(1);

    await writeFile(client.path, gitlabYml('tls://gitaly-1.internal:9999'));
    expect(await schemes()).to.deep.equal(['tls tls']);
    expect(parsed).to.have.length(2);
  });

  it('forgets a file no longer configured: configured again, it is parsed again', async () => {
    await writeFile(client.path, gitlabYml('tcp://gitaly-1.internal:8075'));
    await schemes();
    await readClientReport([], INVENTORY, deps);
    await schemes();
    expect(parsed).to.have.length(2);
  });
});

describe('readClientReport', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'read-clients-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['gitlab_yml', 'praefect_config'] as const) {
    it(`refuses a FIFO as a ${kind} at once, naming it, and the collection goes on`, async () => {
      const fifo = makeFifo(join(dir, kind === 'gitlab_yml' ? 'gitlab.yml' : 'config.toml'));
      try {
        const report = await within(readClientReport([{ name: 'client', kind, path: fifo }], []), 2_000, `reading a FIFO ${kind}`);
        expect(report.errors.map((e) => [e.client, e.error.code, e.error.message])).to.deep.equal([
          ['client', 'READ', `${fifo} is a FIFO, not a regular file`],
        ]);
      } finally {
        releaseFifo(fifo);
      }
    });
  }
});
