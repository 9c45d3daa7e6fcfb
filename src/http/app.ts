// The HTTP interface. buildApp() never listens, so tests drive it with app.inject().
import http from 'node:http';
import { Readable } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import type { Snapshot } from '../cycle/collector.ts';
import { processMetricsText } from '../metrics/process.ts';
import { closeSilentConnections, type HttpLimits } from './limits.ts';
import type { OnDemandResult } from '../probes/on-demand.ts';
import { migrationJson } from './migration-json.ts';
import { probeResponse } from './probe-response.ts';
import { renderNodePage, renderUnknownNodePage } from './node-page.ts';
import { parsePageQuery, renderStatusPage } from './status-page.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the HTTP layer reads; the exporter keeps it current. */
export interface ExporterView {
  snapshot(): Snapshot | null;
  metricsText(): string;
  configSource(): string;
  refreshSeconds(): number;
  /** Live one-target TLS probe; never rejects (see probes/on-demand.ts). */
  probe(target: string | undefined): Promise<OnDemandResult>;
  /** Re-reads the configuration; resolves to whether the new one was accepted and why not. */
  reload(): Promise<{ ok: boolean; message: string }>;
}

export interface AppDeps {
  logger: FastifyBaseLogger;
  view: ExporterView;
  /** TLS for the exporter's own endpoint (from --web.config.file); null or absent = plain HTTP. */
  https?: TlsOptions | null;
  /** Connection cap and request deadlines (httpLimits()); absent = Node's defaults (tests). */
  limits?: HttpLimits;
  /** POST /-/reload is served only with --web.enable-lifecycle, as in Prometheus; SIGHUP always reloads. */
  lifecycle?: boolean;
}

export function buildApp({ logger, view, https, limits, lifecycle = false }: AppDeps): FastifyInstance {
  // Node's own deadlines for slow or silent clients (slowloris), checked every checkIntervalMs
  // (the interval is only settable when the server is created).
  const deadlines = limits
    ? {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: limits.checkIntervalMs,
      }
    : {};
  // Prometheus scrapes every few seconds: logging each request would drown what matters.
  const options = {
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // https.createServer takes the http server's options too.
    https: https ? { ...https, ...deadlines, ...(limits ? { handshakeTimeout: limits.headersTimeoutMs } : {}) } : null,
    ...(limits && !https ? { serverFactory: (handler: http.RequestListener) => http.createServer(deadlines, handler) } : {}),
  };
  // Either way the server is an http.Server (https.Server extends it); the overloads cannot tell.
  const app = Fastify(options as FastifyHttpOptions<http.Server>);
  if (limits) {
    app.server.maxConnections = limits.maxConnections;
    app.server.headersTimeout = limits.headersTimeoutMs;
    app.server.requestTimeout = limits.requestTimeoutMs;
    // Fastify's default, which a serverFactory does not get: longer than Prometheus' scrape interval.
    app.server.keepAliveTimeout = 72_000;
    closeSilentConnections(app.server, limits.headersTimeoutMs, Boolean(https));
  }

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

  app.get('/migration', async (_req, reply) => {
    const s = view.snapshot();
    if (!s) return reply.code(503).send({ ready: false, message: 'the first collection has not finished yet' });
    return reply.send(migrationJson(s.view));
  });

  // ?phase= and ?sort= cut and order the table on the server: a 1,000-node page needs no script.
  app.get<{ Querystring: Record<string, unknown> }>('/', async (req, reply) => {
    const query = parsePageQuery(req.query);
    if ('error' in query) return reply.code(400).type('text/plain; charset=utf-8').send(`${query.error}\n`);
    return reply
      .type('text/html; charset=utf-8')
      .send(renderStatusPage(view.snapshot()?.view ?? null, { refreshSeconds: view.refreshSeconds(), source: view.configSource(), query }));
  });

  // One node's whole evidence, for a change ticket; the name is URL-encoded in the path.
  app.get<{ Params: { name: string } }>('/node/:name', async (req, reply) => {
    const s = view.snapshot()?.view ?? null;
    const node = s?.nodes.find((n) => n.node === req.params.name);
    if (!s || !node)
      return reply
        .code(s ? 404 : 503)
        .type('text/html; charset=utf-8')
        .send(renderUnknownNodePage(req.params.name, s));
    return reply
      .type('text/html; charset=utf-8')
      .send(renderNodePage(s, node, { refreshSeconds: view.refreshSeconds(), source: view.configSource() }));
  });

  // Browsers ask for it on every page view; there is none, and a 404 would be noise.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

  app.get('/-/healthy', async (_req, reply) => reply.type('text/plain').send('Healthy.\n'));
  app.get('/-/ready', async (_req, reply) =>
    view.snapshot()
      ? reply.type('text/plain').send('Ready.\n')
      : reply.code(503).type('text/plain').send('Not ready: the first collection has not finished.\n'),
  );

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

  app.post('/-/reload', async (_req, reply) => {
    if (!lifecycle) {
      return reply
        .code(403)
        .type('text/plain; charset=utf-8')
        .send('Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle to reload over HTTP, or send it SIGHUP.\n');
    }
    const result = await view.reload();
    return reply
      .code(result.ok ? 200 : 400)
      .type('text/plain; charset=utf-8')
      .send(`${result.message}\n`);
  });

  app.setNotFoundHandler(async (req, reply) =>
    reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send(`Not found: ${req.method} ${req.url.split('?')[0]}. Try /, /migration, /metrics or /probe?target=host:port.\n`),
  );
  app.setErrorHandler(async (err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) logger.error({ err }, 'request failed');
    return reply
      .code(status)
      .type('text/plain; charset=utf-8')
      .send(status === 500 ? 'Internal error; see the exporter log.\n' : `${err.message}\n`);
  });
  return app;
}
