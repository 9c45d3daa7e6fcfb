import { expect } from 'chai';
import { constants, mkdtempSync, promises as fsp, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileReadError, heldFileReads, readFileBounded, settleFileReads } from '../../src/files/bounded-file.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';
import { waitFor } from '../helpers/wait-for.ts';

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await within(promise, 3_000, 'a bounded read');
  } catch (err) {
    if (err instanceof FileReadError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('the read succeeded');
}

describe('readFileBounded', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bounded-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a regular file, through a symlink too (certificates are often links)', async () => {
    writeFileSync(join(dir, 'real.pem'), 'pem');
    symlinkSync(join(dir, 'real.pem'), join(dir, 'link.pem'));
    expect((await readFileBounded(join(dir, 'link.pem'), { timeoutMs: 1_000, maxBytes: 10 })).toString()).to.equal('pem');
  });

  it('refuses a FIFO, a device and a directory at once, saying what each is', async () => {
    const fifo = makeFifo(join(dir, 'fifo'));
    symlinkSync('/dev/zero', join(dir, 'zero'));
    try {
      const limits = { timeoutMs: 1_000, maxBytes: 10 };
      expect(await failure(readFileBounded(fifo, limits))).to.deep.equal({ code: 'NOT_A_FILE', message: 'is a FIFO, not a regular file' });
      expect(await failure(readFileBounded(join(dir, 'zero'), limits))).to.deep.equal({
        code: 'NOT_A_FILE',
        message: 'is a character device, not a regular file',
      });
      expect(await failure(readFileBounded(dir, limits))).to.deep.equal({
        code: 'NOT_A_FILE',
        message: 'is a directory, not a regular file',
      });
    } finally {
      releaseFifo(fifo);
    }
  });

  it('refuses a file past the size cap', async () => {
    writeFileSync(join(dir, 'big'), Buffer.alloc(11));
    expect(await failure(readFileBounded(join(dir, 'big'), { timeoutMs: 1_000, maxBytes: 10 }))).to.deep.equal({
      code: 'TOO_LARGE',
      message: 'is larger than the 10 bytes allowed',
    });
  });

  describe('an open() blocked in the kernel (a hung NFS mount)', () => {
    // What a hung mount does to open(): it does not return. A FIFO opened without O_NONBLOCK does
    // the same for real, in a pool thread, until releaseFifo gives it a writer.
    const realOpen = fsp.open;
    let opens: string[];
    let fifos: string[];
    beforeEach(() => {
      opens = [];
      fifos = [];
      fsp.open = ((path: string, flags: number, mode?: number) => {
        opens.push(path);
        return realOpen(path, fifos.includes(path) ? flags & ~constants.O_NONBLOCK : flags, mode);
      }) as typeof fsp.open;
    });
    afterEach(async () => {
      fsp.open = realOpen;
      for (const fifo of fifos) releaseFifo(fifo);
      await waitFor(() => heldFileReads().length === 0, { timeoutMs: 5_000, intervalMs: 20, what: 'the released reads to return' });
    });
    const hung = (name: string): string => {
      const fifo = makeFifo(join(dir, name));
      fifos.push(fifo);
      return fifo;
    };

    it('gives up at the deadline, joins the stuck read instead of opening again, and names it as blocked', async () => {
      const fifo = hung('hung.crt');
      const first = await failure(readFileBounded(fifo, { timeoutMs: 200, maxBytes: 1024 }));
      expect(first.code).to.equal('TIMEOUT');
      expect(first.message).to.match(/^was not read within 200 ms: a read of it has been blocked in the kernel for \d+ s/);
      const second = await failure(readFileBounded(fifo, { timeoutMs: 200, maxBytes: 1024 }));
      expect(second.code).to.equal('TIMEOUT');
      expect(opens, 'one open() in flight per path, however many collections ask').to.deep.equal([fifo]);
      expect((await settleFileReads(50)).map((b) => b.path)).to.deep.equal([fifo]);
    });

    it('holds at most 2 pool threads: a third file waits and says why, and the state file can still be written', async () => {
      const [a, b] = [hung('a'), hung('b')];
      await Promise.all([a, b].map((f) => failure(readFileBounded(f, { timeoutMs: 200, maxBytes: 1024 }))));
      writeFileSync(join(dir, 'ok.pem'), 'pem');
      const third = await failure(readFileBounded(join(dir, 'ok.pem'), { timeoutMs: 200, maxBytes: 1024 }));
      expect(third).to.deep.equal({
        code: 'TIMEOUT',
        message: `was not read within 200 ms: the 2 file reads allowed at once are blocked (${a}, ${b}), a hung mount?`,
      });
      // Two of libuv's four threads are free: a write (as saveState does) completes.
      await within(fsp.writeFile(join(dir, 'state.json'), '{}'), 2_000, 'a write while two reads are blocked');
      releaseFifo(a);
      expect((await readFileBounded(join(dir, 'ok.pem'), { timeoutMs: 2_000, maxBytes: 1024 })).toString()).to.equal('pem');
    });
  });
});
