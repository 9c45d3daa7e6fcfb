// A stand-in Prometheus HTTP API that answers every query with an empty result (a matrix for the
// per-change range queries, a vector otherwise) and counts the queries, so the bench can show the
// number per collection does not grow with the fleet.
import http from 'node:http';
import { onCleanup } from './processes.ts';

export interface FakePrometheus {
  url: string;
  /** Queries received since the last reset. */
  readonly queries: number;
  reset(): void;
}

const EMPTY_VECTOR = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } });
const EMPTY_MATRIX = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } });

/** Listens on a free loopback port until the bench cleans up; returns the base URL. */
export async function listenOnLoopback(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

export async function startFakePrometheus(): Promise<FakePrometheus> {
  let queries = 0;
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/api/v1/query') {
      res.writeHead(404).end();
      return;
    }
    queries++;
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      // The per-change queries are subqueries (…[Ns:Ms]) and must be answered as a matrix.
      const query = new URLSearchParams(body).get('query') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' }).end(/:\d+s\]$/.test(query.trim()) ? EMPTY_MATRIX : EMPTY_VECTOR);
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    get queries() {
      return queries;
    },
    reset() {
      queries = 0;
    },
  };
}
