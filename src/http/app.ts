// The HTTP server: its limits and deadlines, the routes (one module per group), the answers for
// unknown paths and failures. buildApp() never listens, so tests drive it with app.inject().
import http from 'node:http';
import type { TlsOptions } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import { registerApi } from './api-routes.ts';
import type { ExporterView } from './exporter-view.ts';
import { registerLifecycle } from './lifecycle-routes.ts';
import { closeSilentConnections, type HttpLimits } from './limits.ts';
import { registerMetrics } from './metrics-route.ts';
import { registerPages } from './page-routes.ts';

export { METRICS_CONTENT_TYPE } from './metrics-route.ts';
export type { ExporterView } from './exporter-view.ts';

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

  registerMetrics(app, view);
  registerApi(app, view);
  registerPages(app, view);
  registerLifecycle(app, view, lifecycle);

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
