import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readClientReport } from '../../src/clients/read-clients.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

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
