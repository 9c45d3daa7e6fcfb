// Real servers on loopback for probe tests: well-behaved TLS servers with given certificates and
// versions, and misbehaving listeners (silent, resetting, garbage, stalling). Each counts the TCP
// connections it accepted, the way Gitaly counts them (at accept, before any handshake).
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface LoopbackServer {
  host: string;
  port: number;
  /** host:port, IPv6 in brackets. */
  address: string;
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export interface TlsServer extends LoopbackServer {
  /** SNI names clients sent, one entry per handshake that carried SNI. */
  serverNames: string[];
}

export interface TlsServerOptions {
  /** PEM chain served, leaf first. */
  cert: string;
  key: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** ALPN protocols offered; null = no ALPN support. Default ['h2'] (as Gitaly). */
  alpn?: string[] | null;
  host?: string;
  /**
   * What the server does once a handshake completes: answer grpc.health.v1.Health/Check over h2 as
   * Gitaly does (the default; only when h2 was negotiated), reset the connection, or say nothing.
   */
  afterHandshake?: 'grpc-health' | 'reset' | 'silent';
  /** Demand a client certificate issued by this CA (PEM), which the probe does not have. */
  requireClientCertFrom?: string;
  /** Default: a free port. */
  port?: number;
  /** Serve certificates OpenSSL's default security level refuses to load (a SHA-1 signature), as Go servers do. */
  allowWeakCertificates?: boolean;
}

function listen<T extends net.Server>(server: T, host: string, onSocket?: (socket: net.Socket) => void, port = 0): Promise<LoopbackServer> {
  const sockets = new Set<net.Socket>();
  const handle: LoopbackServer = {
    host,
    port: 0,
    address: '',
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: net.Socket) => {
    handle.connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onSocket?.(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      handle.port = (server.address() as net.AddressInfo).port;
      handle.address = host.includes(':') ? `[${host}]:${handle.port}` : `${host}:${handle.port}`;
      resolve(handle);
    });
  });
}

export async function startTlsServer(options: TlsServerOptions): Promise<TlsServer> {
  const serverNames: string[] = [];
  const weak = options.allowWeakCertificates ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {};
  const context = tls.createSecureContext({ cert: options.cert, key: options.key, ...weak });
  const server = tls.createServer({
    cert: options.cert,
    key: options.key,
    ...weak,
    ...(options.requireClientCertFrom ? { requestCert: true, rejectUnauthorized: true, ca: [options.requireClientCertFrom] } : {}),
    minVersion: options.minVersion ?? 'TLSv1.2',
    maxVersion: options.maxVersion ?? 'TLSv1.3',
    ...(options.alpn === null ? {} : { ALPNProtocols: options.alpn ?? ['h2'] }),
    SNICallback: (name, callback) => {
      serverNames.push(name);
      callback(null, context);
    },
  });
  server.on('tlsClientError', () => undefined);
  const grpc = http2.createServer();
  grpc.on('stream', (stream, headers) => answerHealth(stream, headers, 'SERVING'));
  grpc.on('sessionError', () => undefined);
  server.on('secureConnection', (socket) => {
    socket.on('error', () => undefined);
    const after = options.afterHandshake ?? 'grpc-health';
    // A TLSSocket cannot send an RST itself; the TCP socket under it can.
    if (after === 'reset') (socket as unknown as { _parent?: net.Socket })._parent?.resetAndDestroy();
    else if (after === 'grpc-health' && socket.alpnProtocol === 'h2') grpc.emit('connection', socket);
  });
  const handle = await listen(server, options.host ?? '127.0.0.1', undefined, options.port);
  return Object.assign(handle, { serverNames });
}

/** Accepts TCP and never sends a byte. */
export function startSilentServer(host = '127.0.0.1'): Promise<LoopbackServer> {
  return listen(net.createServer(), host);
}

/** Resets every connection as soon as it is accepted. */
export function startResetServer(host = '127.0.0.1'): Promise<LoopbackServer> {
  return listen(net.createServer(), host, (socket) => socket.resetAndDestroy());
}

/** Answers anything with bytes that are not TLS, and keeps the connection open. */
export function startGarbageServer(host = '127.0.0.1'): Promise<LoopbackServer> {
  return listen(net.createServer(), host, (socket) => {
    socket.once('data', () => socket.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'));
  });
}

/** Reads the ClientHello, sends the first bytes of a ServerHello, then stalls for ever. */
export function startStallingServer(host = '127.0.0.1'): Promise<LoopbackServer> {
  // Handshake record of 64 bytes announced, ServerHello header and version sent, the rest never.
  const partialServerHello = Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40, 0x02, 0x00, 0x00, 0x3c, 0x03, 0x03]);
  return listen(net.createServer(), host, (socket) => {
    socket.once('data', () => socket.write(partialServerHello));
  });
}

export type HealthAnswer = 'SERVING' | 'NOT_SERVING' | { grpcStatus: number; message: string };

/** Answers one stream as a gRPC health server; false when it was not a health check. */
function answerHealth(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, answer: HealthAnswer): boolean {
  stream.on('error', () => undefined);
  if (headers[':path'] !== '/grpc.health.v1.Health/Check' || headers['content-type'] !== 'application/grpc') {
    stream.respond({ ':status': 404 }, { endStream: true });
    return false;
  }
  stream.resume();
  stream.on('end', () => {
    if (typeof answer === 'object') {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(answer.grpcStatus),
          'grpc-message': encodeURIComponent(answer.message),
        },
        { endStream: true },
      );
      return;
    }
    const message = Buffer.from([0x08, answer === 'SERVING' ? 0x01 : 0x02]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  });
  return true;
}

/** A cleartext (h2c, prior knowledge) gRPC server that answers grpc.health.v1.Health/Check only. */
export function startH2cHealthServer(
  answer: HealthAnswer = 'SERVING',
  host = '127.0.0.1',
  port = 0,
): Promise<LoopbackServer & { requests: number }> {
  const server = http2.createServer();
  let requests = 0;
  server.on('stream', (stream, headers) => {
    if (answerHealth(stream, headers, answer)) requests += 1;
  });
  server.on('sessionError', () => undefined);
  return listen(server, host, undefined, port).then(
    (handle) =>
      Object.defineProperty(handle, 'requests', { get: () => requests, enumerable: true }) as LoopbackServer & { requests: number },
  );
}

/** A loopback port with nothing listening (bound, read, released). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
