// GET /metrics: the contract metrics from the latest collection, then the process metrics.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { processMetricsText } from '../metrics/process.ts';
import type { ExporterView } from './exporter-view.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function registerMetrics(app: FastifyInstance, view: ExporterView): void {
  // The contract metrics come cached from the latest collection; the process metrics are read now.
  // The page (megabytes at a thousand nodes) is encoded once per collection and sent as it is:
  // joining it to the process metrics per request made a new copy of it for every scrape.
  let contractText = '';
  let contractBytes = Buffer.alloc(0);
  app.get('/metrics', async (_req, reply) => {
    const text = view.metricsText();
    if (text !== contractText) {
      contractText = text;
      contractBytes = Buffer.from(text);
    }
    const own = Buffer.from(`\n${await processMetricsText()}`);
    return reply
      .type(METRICS_CONTENT_TYPE)
      .header('content-length', contractBytes.length + own.length)
      .send(Readable.from([contractBytes, own], { objectMode: false }));
  });
}
