import { expect } from 'chai';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { grpcFrame, grpcHealthCheck, HEALTH_CHECK_PATH, serveGrpcHealth } from '../../src/demo/grpc-health.ts';

type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

describe('demo/grpc-health', function () {
  const servers: http2.Http2Server[] = [];
  const sessions: http2.ClientHttp2Session[] = [];

  async function serve(handler: StreamHandler): Promise<http2.ClientHttp2Session> {
    const server = http2.createServer();
    server.on('stream', handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    session.on('error', () => undefined);
    sessions.push(session);
    return session;
  }

  afterEach(async function () {
    for (const s of sessions.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('answers SERVING with the exact gRPC framing and trailers', async function () {
    const session = await serve(serveGrpcHealth);
    const stream = session.request({ ':method': 'POST', ':path': HEALTH_CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    stream.end(grpcFrame(Buffer.alloc(0)));
    const result = await new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }>(
      (resolve) => {
        let headers: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        stream.on('response', (h: http2.IncomingHttpHeaders) => {
          headers = h;
        });
        stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
          trailers = t;
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('close', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      },
    );
    expect(result.headers[':status']).to.equal(200);
    expect(result.headers['content-type']).to.equal('application/grpc');
    expect(result.body.toString('hex')).to.equal('00000000020801');
    expect(result.trailers['grpc-status']).to.equal('0');
  });

  it('the client reads SERVING from the server', async function () {
    const session = await serve(serveGrpcHealth);
    expect(await grpcHealthCheck(session, { timeoutMs: 5000 })).to.equal('SERVING');
    // The same session carries more checks: one channel, many calls.
    expect(await grpcHealthCheck(session, { timeoutMs: 5000 })).to.equal('SERVING');
  });

  it('reports an unknown service as NOT_FOUND', async function () {
    const session = await serve(serveGrpcHealth);
    expect(await grpcHealthCheck(session, { timeoutMs: 5000, service: 'gitaly.NoSuchService' })).to.equal('grpc-status 5: unknown service');
  });

  it('answers other methods UNIMPLEMENTED', async function () {
    const session = await serve(serveGrpcHealth);
    const stream = session.request({ ':method': 'POST', ':path': '/gitaly.ServerService/ServerInfo', 'content-type': 'application/grpc' });
    stream.end(grpcFrame(Buffer.alloc(0)));
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('response', resolve));
    stream.resume();
    expect(headers['grpc-status']).to.equal('12');
  });

  it('names other serving statuses', async function () {
    const session = await serve((stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(grpcFrame(Buffer.from([0x08, 0x02])));
    });
    expect(await grpcHealthCheck(session, { timeoutMs: 5000 })).to.equal('NOT_SERVING');
  });

  it('returns a sentence, not an exception, when the server never answers', async function () {
    const session = await serve((stream) => stream.resume());
    expect(await grpcHealthCheck(session, { timeoutMs: 200 })).to.equal('no answer within 200 ms');
  });

  it('says when the peer is an HTTP/2 server but not gRPC', async function () {
    const session = await serve((stream) => {
      stream.resume();
      stream.respond({ ':status': 404, 'content-type': 'text/html' });
      stream.end('<h1>not here</h1>');
    });
    expect(await grpcHealthCheck(session, { timeoutMs: 5000 })).to.equal('HTTP status 404, not a gRPC server');
  });

  it('returns an error text on a closed session', async function () {
    const session = await serve(serveGrpcHealth);
    session.destroy();
    expect(await grpcHealthCheck(session, { timeoutMs: 1000 })).to.match(/^cannot start the request: /);
  });

  it('returns an error text when the connection is refused', async function () {
    const session = http2.connect('http://127.0.0.1:1');
    session.on('error', () => undefined);
    sessions.push(session);
    expect(await grpcHealthCheck(session, { timeoutMs: 5000 })).to.match(/^stream failed: .*ECONNREFUSED/);
  });
});
