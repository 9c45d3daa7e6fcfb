import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openOnStablePort } from '../../src/demo/stable-port.ts';
import { readListening } from '../../src/sources/listening.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

// Fixture host 10.0.0.5 with Gitaly's listen_addr on 8075 and tls_listen_addr on 9999.
const PROC = fileURLToPath(new URL('../fixtures/proc', import.meta.url));

describe('readListening (local mode: listen_addr without a dial)', () => {
  it('finds both listeners of the fixture host in LISTEN state', async () => {
    expect(await readListening(PROC, { tcp: 8075, tls: 9999 })).to.deep.equal({ ok: true, listening: { tcp: true, tls: true } });
  });

  it('refuses a FIFO in place of net/tcp under the procRoot at once, naming it', async () => {
    const procRoot = mkdtempSync(join(tmpdir(), 'listening-proc-'));
    mkdirSync(join(procRoot, 'net'));
    const fifo = makeFifo(join(procRoot, 'net', 'tcp'));
    try {
      expect(await within(readListening(procRoot, { tcp: 8075, tls: 9999 }), 2_000, 'reading a FIFO net/tcp')).to.deep.equal({
        ok: false,
        error: { code: 'READ', message: `${fifo} is a FIFO, not a regular file.` },
      });
    } finally {
      releaseFifo(fifo);
      rmSync(procRoot, { recursive: true, force: true });
    }
  });

  it('a port with only established or no sockets is not listening', async () => {
    expect(await readListening(PROC, { tcp: 1, tls: 9999 })).to.deep.equal({ ok: true, listening: { tcp: false, tls: true } });
  });

  it('sees a real listener of this process appear and go away', async () => {
    const server = net.createServer();
    // Not an ephemeral port: once closed, another process's listen(0) could take that one at once.
    const port = await openOnStablePort(
      (p) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(p, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
        }),
    );
    expect(await readListening('/proc', { tcp: port, tls: port })).to.deep.include({ ok: true, listening: { tcp: true, tls: true } });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await readListening('/proc', { tcp: port, tls: port })).to.deep.include({ ok: true, listening: { tcp: false, tls: false } });
  });

  it('a wrong proc root is an error, never "closed"', async () => {
    const r = await readListening('/nonexistent/proc', { tcp: 8075, tls: 9999 });
    expect(r.ok).to.equal(false);
  });
});
