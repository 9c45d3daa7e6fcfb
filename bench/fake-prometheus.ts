// A stand-in Prometheus HTTP API that answers every instant query with an empty vector and counts
// the queries, so the bench can show the number per collection does not grow with the fleet.
import http from 'node:http';
import { onCleanup } from './processes.ts';

export interface FakePrometheus {
  url: string;
  /** Queries received since the last reset. */
  readonly queries: number;
  reset(): void;
}

const EMPTY_VECTOR = JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } });

export async function startFakePrometheus(): Promise<FakePrometheus> {
  let queries = 0;
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/api/v1/query') {
      res.writeHead(404).end();
      return;
    }
    queries++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(EMPTY_VECTOR));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    get queries() {
      return queries;
    },
    reset() {
      queries = 0;
    },
  };
}
