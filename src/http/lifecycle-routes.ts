// /-/healthy, /-/ready and /-/reload, as Prometheus names them.
import type { FastifyInstance } from 'fastify';
import type { ExporterView } from './exporter-view.ts';

const TEXT = 'text/plain; charset=utf-8';

/** `lifecycle`: POST /-/reload is served only with --web.enable-lifecycle, as in Prometheus; SIGHUP always reloads. */
export function registerLifecycle(app: FastifyInstance, view: ExporterView, lifecycle: boolean): void {
  app.get('/-/healthy', async (_req, reply) => reply.type('text/plain').send('Healthy.\n'));
  app.get('/-/ready', async (_req, reply) =>
    view.snapshot()
      ? reply.type('text/plain').send('Ready.\n')
      : reply.code(503).type('text/plain').send('Not ready: the first collection has not finished.\n'),
  );
  app.post('/-/reload', async (_req, reply) => {
    if (!lifecycle) {
      return reply
        .code(403)
        .type(TEXT)
        .send('Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle to reload over HTTP, or send it SIGHUP.\n');
    }
    const result = await view.reload();
    return reply
      .code(result.ok ? 200 : 400)
      .type(TEXT)
      .send(`${result.message}\n`);
  });
}
