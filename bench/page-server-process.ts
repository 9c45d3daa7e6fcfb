// Child process: one loopback HTTP server with Gitaly pages of the sizes asked for, at
// /identity/<bytes> (always plain) and /gzip/<bytes> (gzip when the client accepts it, as
// client_golang does). The bench renders the same pages itself to check what it received.
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { renderLargeMetricsPage } from '../src/demo/metrics-page.ts';
import { runChild } from './ipc.ts';
import { PAGE_COUNTS } from './pages.ts';

export interface PageServerArgs {
  sizes: number[];
}

export interface PageServerInfo {
  baseUrl: string;
}

runChild<PageServerArgs>(async ({ sizes }) => {
  const pages = new Map<string, { body: Buffer; gzip: Buffer }>();
  for (const size of sizes) {
    const body = Buffer.from(renderLargeMetricsPage(size, PAGE_COUNTS, 'gitaly'));
    pages.set(String(size), { body, gzip: gzipSync(body) });
  }
  const server = http.createServer((req, res) => {
    const [, encoding = '', size = ''] = (req.url ?? '').split('/');
    const page = pages.get(size);
    if (!page || (encoding !== 'identity' && encoding !== 'gzip')) {
      res.writeHead(404).end();
      return;
    }
    const gzip = encoding === 'gzip' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    const body = gzip ? page.gzip : page.body;
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': body.length,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const info: PageServerInfo = { baseUrl: `http://127.0.0.1:${port}` };
  return { info, handlers: {} };
});
