import { expect } from 'chai';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { realProbes } from '../../src/collect/probes.ts';

describe('the real probes: connections', () => {
  // Requests to one origin, answered only once `together` of them are waiting: a dispatcher that
  // sends them one at a time never gets an answer.
  async function heldServer(together: number): Promise<{ url: string; close: () => Promise<void> }> {
    const waiting: ServerResponse[] = [];
    const server = createServer((_req: IncomingMessage, res) => {
      waiting.push(res);
      if (waiting.length === together) for (const r of waiting.splice(0)) r.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return {
      url,
      close: async () => {
        for (const r of waiting.splice(0)) r.destroy();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('asks Prometheus its queries side by side, on one origin', async () => {
    const server = await heldServer(3);
    try {
      const ask = () =>
        request(server.url, { dispatcher: realProbes.dispatcher, signal: AbortSignal.timeout(10_000) }).then((r) => r.body.text());
      expect(await Promise.all([ask(), ask(), ask()])).to.deep.equal(['ok', 'ok', 'ok']);
    } finally {
      await server.close();
    }
  });

  it('scrapes a node over one connection: a second request to the same node waits for it', async () => {
    let connections = 0;
    const server = createServer((_req, res) => res.end('ok'));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const ask = () =>
        request(url, { dispatcher: realProbes.scrapeDispatcher, signal: AbortSignal.timeout(10_000) }).then((r) => r.body.text());
      expect(await Promise.all([ask(), ask()])).to.deep.equal(['ok', 'ok']);
      expect(connections).to.equal(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
