import { expect } from 'chai';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Agent } from 'undici';
import type { GitalyScrape } from '../../src/evidence/evidence.ts';
import { scrapeGitalyMetrics, type ScrapeOptions } from '../../src/sources/gitaly-metrics.ts';
import { buildGitalyPage } from '../fixtures/metrics/gitaly-page.ts';

const PAGE = buildGitalyPage({ counts: { tcp: 1234, tls: 98765, unix: 4567 }, version: 'v17.11.2' });
const OPTIONS: ScrapeOptions = { role: 'gitaly', timeoutMs: 5000, maxBytes: 10 * 1024 * 1024 };

describe('gitaly-metrics: scrapeGitalyMetrics', () => {
  const servers: Server[] = [];
  let agent: Agent;

  beforeEach(() => {
    agent = new Agent();
  });

  afterEach(async () => {
    await agent.destroy();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function serve(handler: RequestListener): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  }

  function scrape(url: string, options: Partial<ScrapeOptions> = {}, now?: () => number): Promise<GitalyScrape> {
    return scrapeGitalyMetrics(url, { ...OPTIONS, ...options }, { dispatcher: agent, ...(now ? { now } : {}) });
  }

  function expectError(result: GitalyScrape, code: string, ...messageParts: string[]): string {
    expect(result.ok, JSON.stringify(result)).to.equal(false);
    if (result.ok) return '';
    expect(result.error.code, result.error.message).to.equal(code);
    for (const part of messageParts) expect(result.error.message).to.contain(part);
    return result.error.message;
  }

  /** Writes page-like lines until the client goes away; resolves `closed` when it does. */
  function endlessBody(firstLines = '', status = 200): { handler: RequestListener; closed: Promise<void> } {
    let onClose!: () => void;
    const closed = new Promise<void>((resolve) => (onClose = resolve));
    const grpcLines = PAGE.indexOf('grpc_server_handled_total{');
    const chunk = PAGE.slice(grpcLines, grpcLines + 64 * 1024).replace(/\n[^\n]*$/, '\n');
    const handler: RequestListener = (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/plain; version=0.0.4' });
      res.write(firstLines);
      let open = true;
      res.on('close', () => {
        open = false;
        onClose();
      });
      const pump = (): void => {
        while (open && res.write(chunk));
        if (open) res.once('drain', pump);
      };
      pump();
    };
    return { handler, closed };
  }

  it('reads the counters and version of a realistic page, asking for the text format and gzip', async () => {
    let seen: IncomingHttpHeaders = {};
    const url = await serve((req, res) => {
      seen = req.headers;
      res.end(PAGE);
    });
    let clock = 1_000;
    const result = await scrape(url, {}, () => (clock += 250));
    expect(result).to.deep.equal({
      ok: true,
      counts: { tcp: 1234, tls: 98765, unix: 4567 },
      family: 'gitaly_connections_total',
      version: 'v17.11.2',
      processStartSeconds: null,
      bytes: Buffer.byteLength(PAGE),
      durationMs: 250,
    });
    expect(seen.accept).to.equal('text/plain;version=0.0.4');
    expect(seen['accept-encoding']).to.equal('gzip');
  });

  it('reads a Praefect page, falling back to gitaly_connections_total on old Praefects', async () => {
    const modern = await serve((_req, res) =>
      res.end(buildGitalyPage({ family: 'gitaly_praefect_connections_total', counts: { tls: 12 } })),
    );
    expect(await scrape(modern, { role: 'praefect' })).to.deep.include({
      ok: true,
      counts: { tcp: 0, tls: 12, unix: 0 },
      family: 'gitaly_praefect_connections_total',
    });
    const old = await serve((_req, res) => res.end(buildGitalyPage({ counts: { tcp: 2 } })));
    expect(await scrape(old, { role: 'praefect' })).to.deep.include({
      ok: true,
      counts: { tcp: 2, tls: 0, unix: 0 },
      family: 'gitaly_connections_total',
    });
  });

  it('decompresses a gzip response and counts the decompressed bytes', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(PAGE));
    });
    expect(await scrape(url)).to.deep.include({ ok: true, counts: { tcp: 1234, tls: 98765, unix: 4567 }, bytes: Buffer.byteLength(PAGE) });
  });

  it('reports DECODE for a body that claims gzip but is not, and for an encoding it did not ask for', async () => {
    const notGzip = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(PAGE);
    });
    expectError(await scrape(notGzip), 'DECODE', 'gzip');
    const brotli = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'br' });
      res.end('whatever');
    });
    expectError(await scrape(brotli), 'DECODE', '"br"');
  });

  it('reports TOO_LARGE, naming the cap, for a page over the size limit, also when gzip hides the size', async () => {
    const plain = await serve((_req, res) => res.end(PAGE));
    expectError(await scrape(plain, { maxBytes: 100_000 }), 'TOO_LARGE', '100000-byte');
    const bomb = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(PAGE + 'filler_metric 1\n'.repeat(500_000)));
    });
    expectError(await scrape(bomb, { maxBytes: 2_000_000 }), 'TOO_LARGE', '2000000-byte');
  });

  it('stops an endless body at the size cap and closes the connection', async () => {
    const { handler, closed } = endlessBody();
    const url = await serve(handler);
    expectError(await scrape(url, { maxBytes: 3_000_000 }), 'TOO_LARGE', '3000000-byte');
    await closed;
  });

  it('stops reading as soon as a wanted line is malformed', async () => {
    const { handler, closed } = endlessBody('gitaly_connections_total{type="tcp"} -3\n');
    const url = await serve(handler);
    expectError(await scrape(url, { maxBytes: Number.MAX_SAFE_INTEGER }), 'PARSE', 'line 1:');
    await closed;
  });

  it('reports TIMEOUT for a server that never answers, and for one that stalls mid-body', async () => {
    const silent = await serve(() => undefined);
    expectError(await scrape(silent, { timeoutMs: 200 }), 'TIMEOUT', '200 ms');
    const stalled = await serve((_req, res) => {
      res.writeHead(200);
      res.write(PAGE.slice(0, 1000));
    });
    expectError(await scrape(stalled, { timeoutMs: 300 }), 'TIMEOUT');
  });

  it('reports ABORTED when the caller cancels', async () => {
    const silent = await serve(() => undefined);
    const controller = new AbortController();
    const pending = scrape(silent, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expectError(await pending, 'ABORTED');
    expectError(await scrape(silent, { signal: AbortSignal.abort() }), 'ABORTED');
  });

  it('reports HTTP_STATUS for a 500', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500);
      res.end('rpc error: internal');
    });
    expectError(await scrape(url), 'HTTP_STATUS', 'HTTP 500', url);
  });

  it('keeps the connection after a short error body, and closes it on an endless one', async () => {
    let connections = 0;
    let fail = true;
    const url = await serve((_req, res) => {
      if (fail) res.writeHead(503).end('try later');
      else res.writeHead(200).end(PAGE);
    });
    servers[0]!.on('connection', () => connections++);
    // One connection per node, as the exporter's scrape dispatcher has it.
    const oneConnection = new Agent({ connections: 1 });
    try {
      const result = await scrapeGitalyMetrics(url, OPTIONS, { dispatcher: oneConnection });
      expectError(result, 'HTTP_STATUS', 'HTTP 503');
      fail = false;
      expect((await scrapeGitalyMetrics(url, OPTIONS, { dispatcher: oneConnection })).ok).to.equal(true);
    } finally {
      await oneConnection.destroy();
    }
    expect(connections, 'the 503 body was read, so its connection served the next scrape').to.equal(1);

    const { handler, closed } = endlessBody('', 503);
    const endless = await serve(handler);
    expectError(await scrape(endless), 'HTTP_STATUS', 'HTTP 503');
    await closed;
  });

  it('reports CONNECT when the connection is refused', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    expectError(await scrape(`http://127.0.0.1:${port}/metrics`), 'CONNECT', 'ECONNREFUSED', `127.0.0.1:${port}`);
  });

  it('reports TRUNCATED when the server closes mid-body, with or without a content-length', async () => {
    const half = PAGE.slice(0, PAGE.length / 2);
    const withLength = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(Buffer.byteLength(PAGE)) });
      res.write(half, () => res.destroy());
    });
    expectError(await scrape(withLength), 'TRUNCATED');
    const chunked = await serve((_req, res) => {
      res.writeHead(200);
      res.write(half, () => res.destroy());
    });
    expectError(await scrape(chunked), 'TRUNCATED');
    const closeDelimited = await serve((_req, res) => {
      res.useChunkedEncodingByDefault = false;
      res.writeHead(200, { connection: 'close' });
      res.end(half);
    });
    expectError(await scrape(closeDelimited), 'TRUNCATED');
  });

  it('fails a gzip body the same ways: stalled, closed mid-body, cut short, cancelled mid-body', async () => {
    const zipped = gzipSync(PAGE);
    const half = zipped.subarray(0, zipped.length >> 1);
    const gzipHead = { 'content-encoding': 'gzip' };
    const stalled = await serve((_req, res) => {
      res.writeHead(200, gzipHead);
      res.write(half);
    });
    expectError(await scrape(stalled, { timeoutMs: 300 }), 'TIMEOUT');
    const closed = await serve((_req, res) => {
      res.writeHead(200, gzipHead);
      res.write(half, () => res.destroy());
    });
    expectError(await scrape(closed), 'TRUNCATED');
    // A complete HTTP body holding half a gzip stream: zlib reports the end it did not find.
    const cut = await serve((_req, res) => {
      res.writeHead(200, gzipHead);
      res.end(half);
    });
    expectError(await scrape(cut), 'DECODE', 'does not decompress');
    let sent!: () => void;
    const halfSent = new Promise<void>((resolve) => (sent = resolve));
    const slow = await serve((_req, res) => {
      res.writeHead(200, gzipHead);
      res.write(half, () => sent());
    });
    const controller = new AbortController();
    const pending = scrape(slow, { signal: controller.signal });
    await halfSent;
    controller.abort();
    expectError(await pending, 'ABORTED');
  });

  it('reports NOT_GITALY for a page that is not a Gitaly /metrics page', async () => {
    const url = await serve((_req, res) => res.end('<html><body>Welcome to nginx!</body></html>\n'));
    expectError(await scrape(url), 'NOT_GITALY', 'no gitaly_connections_total or gitlab_build_info on the page');
  });

  it('sends URL credentials as Basic auth and never puts them in a message', async () => {
    let authorization: string | undefined;
    const url = await serve((req, res) => {
      authorization = req.headers.authorization;
      res.writeHead(500);
      res.end();
    });
    const withUserinfo = url.replace('http://', 'http://scraper:s3cr%40t@');
    const statusMessage = expectError(await scrape(withUserinfo), 'HTTP_STATUS');
    expect(Buffer.from(authorization!.replace(/^Basic /, ''), 'base64').toString()).to.equal('scraper:s3cr@t');
    const refusedMessage = expectError(await scrape('http://scraper:s3cr%40t@127.0.0.1:1/metrics'), 'CONNECT');
    const oddMessage = expectError(await scrape(url.replace('http://', 'http://scraper:s3cr%zz@')), 'HTTP_STATUS');
    expect(Buffer.from(authorization!.replace(/^Basic /, ''), 'base64').toString()).to.equal('scraper:s3cr%zz');
    for (const message of [statusMessage, refusedMessage, oddMessage]) {
      expect(message).not.to.match(/s3cr|scraper/);
    }
  });

  it('reports INVALID_URL instead of throwing on a bad URL', async () => {
    expectError(await scrape('not a url'), 'INVALID_URL');
    expectError(await scrape('ftp://127.0.0.1/metrics'), 'INVALID_URL');
  });
});
