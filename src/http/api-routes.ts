// What scripts and Prometheus ask for besides /metrics: the verdict as JSON, and one live probe.
import type { FastifyInstance } from 'fastify';
import { migrationJson } from '../pages/migration-json.ts';
import { probeResponse } from '../pages/probe-response.ts';
import type { ExporterView } from './exporter-view.ts';
import { METRICS_CONTENT_TYPE } from './metrics-route.ts';

export function registerApi(app: FastifyInstance, view: ExporterView): void {
  app.get('/migration', async (_req, reply) => {
    const s = view.snapshot();
    if (!s) return reply.code(503).send({ ready: false, message: 'the first collection has not finished yet' });
    return reply.send(migrationJson(s.view));
  });

  app.get<{ Querystring: { target?: string | string[] } }>('/probe', async (req, reply) => {
    if (Array.isArray(req.query.target)) {
      return reply.code(400).type('text/plain; charset=utf-8').send('Bad target: give one target parameter, not several.\n');
    }
    const result = await probeResponse(await view.probe(req.query.target));
    if (result.status === 429) void reply.header('retry-after', '1');
    return reply
      .code(result.status)
      .type(result.status === 200 ? METRICS_CONTENT_TYPE : 'text/plain; charset=utf-8')
      .send(result.body);
  });
}
