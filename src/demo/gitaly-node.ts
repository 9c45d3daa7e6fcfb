// One simulated Gitaly (or Praefect) process: gRPC health on a plaintext (h2c) and a TLS listener,
// an optional unix socket, and a /metrics page on its own port.
// Connections are counted the way Gitaly's connectioncounter does: +1 per raw accept, by listener,
// before any TLS handshake, so port scans, failed handshakes and the exporter's own probes all count.
import http from 'node:http';
import http2 from 'node:http2';
import { rm } from 'node:fs/promises';
import type net from 'node:net';
import type { ConnectionCounts, ConnectionType } from '../evidence/evidence.ts';
import type { Role } from '../config/types.ts';
import { formatHostPort } from '../base/address.ts';
import { serveGrpcHealth } from './grpc-health.ts';
import { openOnStablePort } from './stable-port.ts';
import { metricsPageTemplate, type MetricsBulk, type MetricsPageTemplate, type MetricsPageValues } from './metrics-page.ts';

export interface NodeTls {
  /** Leaf first, then intermediates, as in Gitaly's certificate_path. */
  certChainPem: string;
  keyPem: string;
}

export interface SimulatedNodeOptions {
  name: string;
  role: Role;
  /** Address every TCP listener binds to. */
  host: string;
  /** gitlab_build_info{version}. */
  version?: string;
  /** Enables the TLS listener (tls_listen_addr). */
  tls?: NodeTls;
  /** The plaintext listener (listen_addr); on unless false. */
  plaintext?: boolean;
  /** Enables socket_path. */
  unixSocketPath?: string;
  metricsBulk?: MetricsBulk;
  /** Pad the page to about this many bytes (benchmark); overrides metricsBulk. */
  metricsPageBytes?: number;
  /** 0 or absent: the metrics port an ephemeral one, the gRPC ports free ones below that range (stable-port.ts). */
  ports?: { metrics?: number; tls?: number; plaintext?: number };
}

export interface SimulatedNode {
  readonly name: string;
  readonly role: Role;
  readonly metricsUrl: string;
  /** host:port of the TLS listener, when enabled. */
  readonly tlsAddress: string | undefined;
  /** host:port of the plaintext listener, when enabled (still set after it was closed). */
  readonly plaintextAddress: string | undefined;
  /** Live counters, as gitaly_connections_total would report them now. */
  readonly counts: ConnectionCounts;
  /** Connections open now, by listener (what local mode reads from /proc/net/tcp). */
  established(): ConnectionCounts;
  /** Stops accepting on listen_addr and drops its connections, as if listen_addr were removed. */
  closePlaintextListener(): Promise<void>;
  /**
   * Like `gitlab-ctl restart gitaly`: open connections are dropped, counters start again from zero,
   * listeners come back on the same ports, and the certificate is read again (pass the new one).
   * The metrics port stays up so a scraper sees the reset, not an outage.
   */
  restart(newTls?: NodeTls): Promise<void>;
  /**
   * The metrics page answers 503 while down (scrapers record a failed scrape, up == 0); the listeners
   * go on. `forUserAgent`: only to scrapers whose User-Agent matches (Prometheus's, say).
   */
  setMetricsDown(down: boolean, forUserAgent?: RegExp): void;
  stop(): Promise<void>;
}

interface GrpcListener {
  server: net.Server;
  sockets: Set<net.Socket>;
}

type Where = { host: string; port: number } | { path: string };

function listen(server: net.Server | http.Server, where: Where): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    };
    if ('path' in where) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
}

function closeServer(server: net.Server, sockets: Iterable<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

async function openGrpcListener(
  type: ConnectionType,
  where: Where,
  counts: ConnectionCounts,
  tls: NodeTls | undefined,
): Promise<{ listener: GrpcListener; port: number }> {
  const server: net.Server = tls
    ? http2.createSecureServer({ cert: tls.certChainPem, key: tls.keyPem, ALPNProtocols: ['h2'], allowHTTP1: false })
    : http2.createServer();
  const sockets = new Set<net.Socket>();
  // The raw 'connection' event fires at accept, before a TLS handshake starts.
  server.on('connection', (socket: net.Socket) => {
    counts[type] += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('stream', serveGrpcHealth);
  // Bad clients (failed handshakes, HTTP/1 on an h2c port) are dropped quietly, as Gitaly does.
  server.on('sessionError', () => undefined);
  server.on('tlsClientError', () => undefined);
  server.on('unknownProtocol', (socket: net.Socket) => socket.destroy());
  const port = await listen(server, where);
  return { listener: { server, sockets }, port };
}

function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((entry) => {
    const [coding = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return coding === 'gzip' && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function startMetricsServer(
  template: MetricsPageTemplate,
  values: () => MetricsPageValues,
  down: (userAgent: string) => boolean,
): http.Server {
  return http.createServer((req, res) => {
    if (down(req.headers['user-agent'] ?? '')) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    const chunks = gzip ? template.renderGzip(values()) : template.render(values());
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': chunks.reduce((n, c) => n + c.length, 0),
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      vary: 'Accept-Encoding',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    for (const chunk of chunks) res.write(chunk);
    res.end();
  });
}

export async function startSimulatedNode(opts: SimulatedNodeOptions): Promise<SimulatedNode> {
  const counts: ConnectionCounts = { tcp: 0, tls: 0, unix: 0 };
  const version = opts.version ?? '17.11.2';
  const template = metricsPageTemplate(
    opts.role,
    opts.metricsPageBytes ? { targetBytes: opts.metricsPageBytes } : (opts.metricsBulk ?? 'realistic'),
  );
  let tls = opts.tls;
  let plaintextEnabled = opts.plaintext !== false;
  const ports = { tls: opts.ports?.tls ?? 0, plaintext: opts.ports?.plaintext ?? 0 };
  const listeners: { tcp?: GrpcListener; tls?: GrpcListener; unix?: GrpcListener } = {};

  // The first time on a port of its own (stable-port.ts), then again on the same port.
  const openGrpcListenerOnce = (type: 'tcp' | 'tls', port: number, nodeTls: NodeTls | undefined) =>
    port !== 0
      ? openGrpcListener(type, { host: opts.host, port }, counts, nodeTls)
      : openOnStablePort((p) => openGrpcListener(type, { host: opts.host, port: p }, counts, nodeTls));

  const openListeners = async (): Promise<void> => {
    const opening: Array<Promise<void>> = [];
    if (plaintextEnabled) {
      opening.push(
        openGrpcListenerOnce('tcp', ports.plaintext, undefined).then(({ listener, port }) => {
          listeners.tcp = listener;
          ports.plaintext = port;
        }),
      );
    }
    if (tls) {
      opening.push(
        openGrpcListenerOnce('tls', ports.tls, tls).then(({ listener, port }) => {
          listeners.tls = listener;
          ports.tls = port;
        }),
      );
    }
    if (opts.unixSocketPath) {
      const path = opts.unixSocketPath;
      await rm(path, { force: true });
      opening.push(
        openGrpcListener('unix', { path }, counts, undefined).then(({ listener }) => {
          listeners.unix = listener;
        }),
      );
    }
    const results = await Promise.allSettled(opening);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await closeListeners();
      throw failed.reason;
    }
  };

  const closeListeners = async (): Promise<void> => {
    const open = Object.values(listeners);
    delete listeners.tcp;
    delete listeners.tls;
    delete listeners.unix;
    await Promise.all(open.map((l) => closeServer(l.server, l.sockets)));
  };

  let processStartSeconds = Date.now() / 1000;
  let metricsDown: RegExp | null = null;
  const metricsServer = startMetricsServer(
    template,
    () => ({ counts, version, processStartSeconds }),
    (userAgent) => metricsDown !== null && metricsDown.test(userAgent),
  );
  const metricsPort = await listen(metricsServer, { host: opts.host, port: opts.ports?.metrics ?? 0 });
  try {
    await openListeners();
  } catch (err) {
    metricsServer.closeAllConnections();
    await new Promise((resolve) => metricsServer.close(resolve));
    throw err;
  }

  const hostPort = (port: number): string => formatHostPort({ host: opts.host, port });
  let stopped = false;
  return {
    name: opts.name,
    role: opts.role,
    metricsUrl: `http://${hostPort(metricsPort)}/metrics`,
    // A restart with a certificate can enable TLS on a node that had none.
    get tlsAddress() {
      return tls ? hostPort(ports.tls) : undefined;
    },
    plaintextAddress: plaintextEnabled ? hostPort(ports.plaintext) : undefined,
    counts,
    established: () => ({
      tcp: listeners.tcp?.sockets.size ?? 0,
      tls: listeners.tls?.sockets.size ?? 0,
      unix: listeners.unix?.sockets.size ?? 0,
    }),
    async closePlaintextListener() {
      plaintextEnabled = false;
      const listener = listeners.tcp;
      delete listeners.tcp;
      if (listener) await closeServer(listener.server, listener.sockets);
    },
    async restart(newTls?: NodeTls) {
      if (stopped) return;
      await closeListeners();
      counts.tcp = 0;
      counts.tls = 0;
      counts.unix = 0;
      processStartSeconds = Date.now() / 1000;
      if (newTls) tls = newTls;
      await openListeners();
    },
    setMetricsDown(down: boolean, forUserAgent = /(?:)/) {
      metricsDown = down ? forUserAgent : null;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      metricsServer.closeAllConnections();
      await Promise.all([closeListeners(), new Promise((resolve) => metricsServer.close(resolve))]);
    },
  };
}
