import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { PROC_NET_MAX_BYTES, readEstablished } from '../../src/sources/sockets.ts';
import { startSilentServer } from '../helpers/tls-servers.ts';

// Fixture host 10.0.0.5 with Gitaly's listen_addr on 8075 and tls_listen_addr on 9999.
const PROC = fileURLToPath(new URL('../fixtures/proc', import.meta.url));
const PORTS = { tcp: 8075, tls: 9999 };

function files(contents: Record<string, string>): (path: string) => Promise<string> {
  return (path) => {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const content = contents[name];
    if (content === undefined) return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
    return Promise.resolve(content);
  };
}

describe('readEstablished', () => {
  it('counts ESTABLISHED server-side connections per listener over IPv4 and IPv6, not LISTEN, TIME_WAIT or outgoing ones', async () => {
    expect(await readEstablished(PROC, PORTS)).to.deep.equal({ ok: true, established: { tcp: 2, tls: 3 } });
  });

  it('counts only the listeners it is given', async () => {
    expect(await readEstablished(`${PROC}/`, { tls: 9999 })).to.deep.equal({ ok: true, established: { tcp: 0, tls: 3 } });
  });

  it('works without a tcp6 file (IPv6 disabled)', async () => {
    const tcp = await readFile(`${PROC}/net/tcp`, 'utf8');
    expect(await readEstablished('/proc', PORTS, { readFile: files({ tcp }) })).to.deep.equal({
      ok: true,
      established: { tcp: 2, tls: 1 },
    });
  });

  it('fails when the tcp file is missing: the proc root is wrong', async () => {
    expect(await readEstablished('/nonexistent/proc', PORTS)).to.deep.equal({
      ok: false,
      error: { code: 'READ', message: '/nonexistent/proc/net/tcp does not exist.' },
    });
  });

  it('names the file and line of a malformed entry', async () => {
    const tcp = await readFile(`${PROC}/net/tcp`, 'utf8');
    const tcp6 = (await readFile(`${PROC}/net/tcp6`, 'utf8')).replace('B80D0120000000000000000007000000:270F', 'B80D01200000:270F');
    const result = await readEstablished('/proc', PORTS, { readFile: files({ tcp, tcp6 }) });
    expect(result).to.deep.equal({
      ok: false,
      error: {
        code: 'PARSE',
        message:
          '/proc/net/tcp6 line 5 is not a socket entry: "3: B80D01200000:270F B80D0120000000000000000009000000:D6D8 01 00000000:00000000…".',
      },
    });
  });

  it('refuses to count when no listener port is given', async () => {
    expect(await readEstablished(PROC, {})).to.deep.equal({
      ok: false,
      error: { code: 'CONFIG', message: 'No listener port was given to count established connections for.' },
    });
  });

  // Local mode reads Linux's /proc, and so does this test: the exporter's hosts and CI are Linux.
  it("sees real loopback connections in this host's /proc", async function () {
    const server = await startSilentServer();
    const clients: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const client = net.connect(server.port, '127.0.0.1');
        clients.push(client);
        await new Promise((resolve) => client.once('connect', resolve));
      }
      // The client ends of these connections have ephemeral local ports, so only the server ends count.
      expect(await readEstablished('/proc', { tcp: server.port })).to.deep.equal({ ok: true, established: { tcp: 2, tls: 0 } });
    } finally {
      for (const client of clients) client.destroy();
      await server.close();
    }
  });

  describe('a hostile proc root', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gte-proc-'));
      await mkdir(join(dir, 'net'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('refuses a FIFO in place of net/tcp at once, instead of waiting for a writer for ever', async () => {
      execFileSync('mkfifo', [join(dir, 'net', 'tcp')]);
      const result = await readEstablished(dir, PORTS);
      expect(result).to.deep.equal({ ok: false, error: { code: 'READ', message: `${dir}/net/tcp is a FIFO, not a regular file.` } });
    });

    it('refuses a device in place of net/tcp (an endless /dev/zero)', async () => {
      await symlink('/dev/zero', join(dir, 'net', 'tcp'));
      const result = await readEstablished(dir, PORTS);
      expect(!result.ok && result.error.message).to.include('not a regular file');
    });

    it('stops reading past the size cap', async () => {
      const file = join(dir, 'net', 'tcp');
      await writeFile(file, Buffer.alloc(PROC_NET_MAX_BYTES + 1, 0x20));
      const result = await readEstablished(dir, PORTS);
      expect(!result.ok && result.error).to.deep.equal({
        code: 'TOO_LARGE',
        message: `${file} is larger than the ${PROC_NET_MAX_BYTES} bytes allowed.`,
      });
    });
  });
});
