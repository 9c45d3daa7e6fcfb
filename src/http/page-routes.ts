// The pages a person reads: the fleet's status page and one node's page.
import type { FastifyInstance } from 'fastify';
import { renderNodePage, renderUnknownNodePage } from '../pages/node-page.ts';
import { parsePageQuery, renderStatusPage } from '../pages/status-page.ts';
import type { ExporterView } from './exporter-view.ts';

const HTML = 'text/html; charset=utf-8';

export function registerPages(app: FastifyInstance, view: ExporterView): void {
  // ?phase= and ?sort= cut and order the table on the server: a 1,000-node page needs no script.
  app.get<{ Querystring: Record<string, unknown> }>('/', async (req, reply) => {
    const query = parsePageQuery(req.query);
    if ('error' in query) return reply.code(400).type('text/plain; charset=utf-8').send(`${query.error}\n`);
    return reply
      .type(HTML)
      .send(renderStatusPage(view.snapshot()?.view ?? null, { refreshSeconds: view.refreshSeconds(), source: view.configSource(), query }));
  });

  // One node's whole evidence, for a change ticket; the name is URL-encoded in the path.
  app.get<{ Params: { name: string } }>('/node/:name', async (req, reply) => {
    const s = view.snapshot()?.view ?? null;
    const node = s?.nodes.find((n) => n.node === req.params.name);
    if (!s || !node)
      return reply
        .code(s ? 404 : 503)
        .type(HTML)
        .send(renderUnknownNodePage(req.params.name, s));
    return reply.type(HTML).send(renderNodePage(s, node, { refreshSeconds: view.refreshSeconds(), source: view.configSource() }));
  });

  // Browsers ask for it on every page view; there is none, and a 404 would be noise.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
}
