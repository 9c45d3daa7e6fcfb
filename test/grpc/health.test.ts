import { expect } from 'chai';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { createCa, createLeaf, type Issued } from '../../src/demo/certs.ts';
import {
  checkGrpcHealth,
  checkGrpcHealthOnSocket,
  decodeGrpcMessage,
  grpcFrame,
  grpcUnframe,
  HEALTH_CHECK_PATH,
  healthCheckRequest,
  readField1,
  servingStatusName,
} from '../../src/grpc/health.ts';

type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const SERVING = Buffer.from([0x08, 0x01]);
const NOT_SERVING = Buffer.from([0x08, 0x02]);

/** Answers with one framed body and grpc-status 0 in the trailers, as a gRPC server does. */
function answer(body: Buffer, trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' }): StreamHandler {
  return (stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(body);
    });
  };
}

/** A trailers-only answer: the call refused with a gRPC status. */
function refuse(grpcStatus: number, message: string): StreamHandler {
  return (stream) => {
    stream.resume();
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(grpcStatus),
        'grpc-message': encodeURIComponent(message),
      },
      { endStream: true },
    );
  };
}

describe('grpc/health', function () {
  describe('framing and messages', function () {
    it('frames a message and reads it back', function () {
      const framed = grpcFrame(SERVING);
      expect(framed.toString('hex')).to.equal('00000000020801');
      expect(grpcUnframe(framed)).to.deep.equal({ message: SERVING });
    });

    it('says what is wrong with a frame it cannot read', function () {
      expect(grpcUnframe(Buffer.from([0, 0, 0]))).to.deep.equal({ error: 'incomplete gRPC frame (3 bytes)' });
      expect(grpcUnframe(Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01]))).to.deep.equal({ error: 'compressed gRPC messages are not supported' });
      expect(grpcUnframe(Buffer.from([0, 0, 0, 0, 9, 0x08, 0x01]))).to.deep.equal({ error: 'truncated gRPC message' });
    });

    it('reads field 1 as a varint or as bytes, ignoring other fields, the last one winning', function () {
      expect(readField1(Buffer.from([0x08, 0x02]))).to.deep.equal({ varint: 2 });
      expect(readField1(Buffer.from([0x0a, 0x02, 0x68, 0x69]))).to.deep.equal({ bytes: Buffer.from('hi') });
      // field 2 varint 7, field 1 varint 1, field 3 bytes "x"
      expect(readField1(Buffer.from([0x10, 0x07, 0x08, 0x01, 0x1a, 0x01, 0x78]))).to.deep.equal({ varint: 1 });
      expect(readField1(Buffer.from([0x08, 0x02, 0x08, 0x01]))).to.deep.equal({ varint: 1 });
      expect(readField1(Buffer.alloc(0))).to.deep.equal({});
    });

    it('refuses malformed protobuf instead of guessing', function () {
      expect(readField1(Buffer.from([0x0d, 0, 0, 0, 0])), 'fixed32 wire type').to.equal(null);
      expect(readField1(Buffer.from([0x0a, 0x05, 0x68])), 'length past the end').to.equal(null);
      expect(readField1(Buffer.from([0x08, 0x80])), 'unfinished varint').to.equal(null);
    });

    it('encodes the request for the whole server as an empty message, and a service name as field 1', function () {
      expect(healthCheckRequest().toString('hex')).to.equal('0000000000');
      expect(healthCheckRequest('gitaly').toString('hex')).to.equal('00000000080a06' + Buffer.from('gitaly').toString('hex'));
      const long = 'gitaly.'.repeat(30);
      const framed = grpcUnframe(healthCheckRequest(long));
      expect('message' in framed && readField1(framed.message)?.bytes?.toString()).to.equal(long);
    });

    it('names serving statuses, including ones it does not know', function () {
      expect([0, 1, 2, 3, 7].map(servingStatusName)).to.deep.equal(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN', 'status 7']);
    });

    it('percent-decodes grpc-message and keeps a malformed one as sent', function () {
      expect(decodeGrpcMessage('authentication%20required%3A%20%E2%9C%93')).to.equal('authentication required: ✓');
      expect(decodeGrpcMessage('100%')).to.equal('100%');
    });
  });

  describe('checkGrpcHealth', function () {
    const cleanups: (() => Promise<void>)[] = [];

    /** A loopback h2c server running `handler`, and a client session to it; both closed after each test. */
    async function serve(handler: StreamHandler): Promise<http2.ClientHttp2Session> {
      const server = http2.createServer().on('stream', (stream, headers) => {
        stream.on('error', () => undefined);
        handler(stream, headers);
      });
      await once(server.listen(0, '127.0.0.1'), 'listening');
      const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`).on('error', () => undefined);
      cleanups.push(async () => {
        session.destroy();
        await new Promise((resolve) => server.close(resolve));
      });
      return session;
    }

    /** Wraps a handler so the test can see each request and how its stream ended on the server. */
    function watched(handler: StreamHandler): {
      handler: StreamHandler;
      requests: { headers: http2.IncomingHttpHeaders; body: Buffer }[];
      closed: Promise<number>[];
    } {
      const requests: { headers: http2.IncomingHttpHeaders; body: Buffer }[] = [];
      const closed: Promise<number>[] = [];
      return {
        requests,
        closed,
        handler: (stream, headers) => {
          const request = { headers, body: Buffer.alloc(0) };
          requests.push(request);
          stream.on('data', (chunk: Buffer) => (request.body = Buffer.concat([request.body, chunk])));
          closed.push(new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1))));
          handler(stream, headers);
        },
      };
    }

    afterEach(async function () {
      await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
    });

    it('sends a well-formed Health/Check and reads SERVING, leaving the session open for more calls', async function () {
      const server = watched(answer(grpcFrame(SERVING)));
      const session = await serve(server.handler);
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({ serving: true, status: 'SERVING' });
      expect(await checkGrpcHealth(session, { timeoutMs: 5000, service: 'gitaly' })).to.deep.equal({ serving: true, status: 'SERVING' });
      expect(server.requests.map((r) => [r.headers[':method'], r.headers[':path'], r.headers['content-type'], r.headers.te])).to.deep.equal(
        [
          ['POST', HEALTH_CHECK_PATH, 'application/grpc', 'trailers'],
          ['POST', HEALTH_CHECK_PATH, 'application/grpc', 'trailers'],
        ],
      );
      expect(server.requests.map((r) => r.body.toString('hex'))).to.deep.equal([
        '0000000000',
        healthCheckRequest('gitaly').toString('hex'),
      ]);
      // Completed calls end normally; nothing is cancelled behind the server's back.
      expect(await Promise.all(server.closed)).to.deep.equal([NGHTTP2_NO_ERROR, NGHTTP2_NO_ERROR]);
      expect(session.closed).to.equal(false);
    });

    it('reports other serving statuses as an answer, not as an error', async function () {
      expect(await checkGrpcHealth(await serve(answer(grpcFrame(NOT_SERVING))), { timeoutMs: 5000 })).to.deep.equal({
        serving: false,
        status: 'NOT_SERVING',
      });
      // proto3 leaves out a zero enum: an empty message is UNKNOWN.
      expect(await checkGrpcHealth(await serve(answer(grpcFrame(Buffer.alloc(0)))), { timeoutMs: 5000 })).to.deep.equal({
        serving: false,
        status: 'UNKNOWN',
      });
    });

    it('ignores fields a newer server may add', async function () {
      const session = await serve(answer(grpcFrame(Buffer.from([0x08, 0x01, 0x12, 0x02, 0x6f, 0x6b]))));
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({ serving: true, status: 'SERVING' });
    });

    it('reports a refused call with its grpc-status and decoded grpc-message', async function () {
      const session = await serve(refuse(16, 'authentication required'));
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({
        serving: false,
        error: { code: 'GRPC_HEALTH', message: 'grpc-status 16 (authentication required)' },
        grpcError: { grpcStatus: '16', grpcMessage: 'authentication required' },
      });
    });

    it('quotes at most 200 characters of a long grpc-message in the sentence', async function () {
      const long = 'x'.repeat(1000);
      const result = await checkGrpcHealth(await serve(refuse(13, long)), { timeoutMs: 5000 });
      expect(result.error?.message).to.equal(`grpc-status 13 (${'x'.repeat(200)})`);
      expect(result.grpcError?.grpcMessage).to.equal(long);
    });

    it('takes the grpc-status from the trailers', async function () {
      const session = await serve(answer(grpcFrame(SERVING), { 'grpc-status': '14', 'grpc-message': 'going%20away' }));
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.include({
        serving: false,
        error: { code: 'GRPC_HEALTH', message: 'grpc-status 14 (going away)' },
      });
    });

    it('does not call an answer without grpc-status SERVING', async function () {
      const session = await serve(answer(grpcFrame(SERVING), {}));
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({
        serving: false,
        error: { code: 'GRPC_HEALTH', message: 'grpc-status missing' },
      });
    });

    it('says when the peer speaks HTTP/2 but not gRPC', async function () {
      const session = await serve((stream) => {
        stream.resume();
        stream.respond({ ':status': 404, 'content-type': 'text/html' });
        stream.end('<h1>not here</h1>');
      });
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({
        serving: false,
        error: { code: 'GRPC_HEALTH', message: 'HTTP status 404, not a gRPC server' },
      });
    });

    it('reports an answer it cannot read as malformed', async function () {
      const compressed = Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01]);
      expect((await checkGrpcHealth(await serve(answer(compressed)), { timeoutMs: 5000 })).error).to.deep.equal({
        code: 'GRPC_HEALTH',
        message: 'malformed HealthCheckResponse: compressed gRPC messages are not supported',
      });
      const truncated = Buffer.from([0, 0, 0, 0, 3, 0x08, 0x01]);
      expect((await checkGrpcHealth(await serve(answer(truncated)), { timeoutMs: 5000 })).error?.message).to.equal(
        'malformed HealthCheckResponse: truncated gRPC message',
      );
      const badProtobuf = grpcFrame(Buffer.from([0x0d, 1, 0, 0, 0]));
      expect((await checkGrpcHealth(await serve(answer(badProtobuf)), { timeoutMs: 5000 })).error?.message).to.equal(
        'malformed HealthCheckResponse',
      );
    });

    it('stops reading at the size cap and cancels the call', async function () {
      // The server keeps the stream open after an oversized message, as if more were coming.
      const server = watched((stream) => {
        stream.resume();
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.write(grpcFrame(Buffer.alloc(100, 0x08)));
      });
      const session = await serve(server.handler);
      expect(await checkGrpcHealth(session, { timeoutMs: 5000, maxResponseBytes: 16 })).to.deep.equal({
        serving: false,
        error: { code: 'GRPC_HEALTH', message: 'answer larger than 16 bytes' },
      });
      expect(await server.closed[0]).to.equal(NGHTTP2_CANCEL);
    });

    it('gives up at the deadline, cancels the call and leaves the session usable', async function () {
      let calls = 0;
      const server = watched((stream, headers) => {
        calls += 1;
        if (calls === 1) stream.resume();
        else answer(grpcFrame(SERVING))(stream, headers);
      });
      const session = await serve(server.handler);
      expect(await checkGrpcHealth(session, { timeoutMs: 200 })).to.deep.equal({
        serving: false,
        error: { code: 'TIMEOUT', message: 'no answer within 200 ms' },
      });
      expect(await server.closed[0]).to.equal(NGHTTP2_CANCEL);
      expect(await checkGrpcHealth(session, { timeoutMs: 5000 })).to.deep.equal({ serving: true, status: 'SERVING' });
    });

    it('reports a call the server resets', async function () {
      const session = await serve((stream) => stream.close(NGHTTP2_REFUSED_STREAM));
      const result = await checkGrpcHealth(session, { timeoutMs: 5000 });
      expect(result.serving).to.equal(false);
      expect(result.error?.code).to.equal('GRPC_HEALTH');
      expect(result.error?.message).to.match(/^stream failed: .*NGHTTP2_REFUSED_STREAM/);
    });

    it('answers with an error, not an exception, on a closed session', async function () {
      const session = await serve(answer(grpcFrame(SERVING)));
      session.destroy();
      const result = await checkGrpcHealth(session, { timeoutMs: 1000 });
      expect(result.error?.message).to.match(/^cannot start the request: /);
    });
  });

  // The answers below come over a real TLS + h2 connection, the way the TLS probe reads them.
  describe('checkGrpcHealthOnSocket over TLS', function () {
    const closers: (() => Promise<void>)[] = [];
    let ca: Issued;
    let leaf: Issued;

    before(async function () {
      ca = await createCa();
      leaf = await createLeaf(ca, '127.0.0.1');
    });

    afterEach(async function () {
      await Promise.all(closers.splice(0).map((close) => close()));
    });

    /** Serves `handler` over TLS with ALPN h2 on loopback and runs one health check against it. */
    async function checkOverTls(handler: StreamHandler): Promise<Awaited<ReturnType<typeof checkGrpcHealthOnSocket>>> {
      const server = http2.createSecureServer({ cert: leaf.certPem, key: leaf.keyPem }).on('stream', (stream, headers) => {
        stream.on('error', () => undefined);
        handler(stream, headers);
      });
      const sessions = new Set<http2.ServerHttp2Session>();
      server.on('session', (session) => sessions.add(session.on('close', () => sessions.delete(session))));
      await once(server.listen(0, '127.0.0.1'), 'listening');
      closers.push(async () => {
        for (const session of sessions) session.destroy();
        await new Promise((resolve) => server.close(resolve));
      });
      const { port } = server.address() as AddressInfo;
      const socket = tls.connect({ host: '127.0.0.1', port, ca: [ca.certPem], ALPNProtocols: ['h2'] });
      await once(socket, 'secureConnect');
      expect(socket.alpnProtocol).to.equal('h2');
      return checkGrpcHealthOnSocket(socket, `https://127.0.0.1:${port}`, 5000, 'connection failed');
    }

    it('does not count two response messages to the unary call (SERVING then NOT_SERVING) as serving', async function () {
      // grpc-go: "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message".
      const result = await checkOverTls(answer(Buffer.concat([grpcFrame(SERVING), grpcFrame(NOT_SERVING)])));
      expect(result).to.deep.equal({
        answer: { serving: false, error: { code: 'GRPC_HEALTH', message: '2 response messages to a unary call, not 1' } },
      });
    });

    it('does not count an answer without content-type application/grpc as serving', async function () {
      // grpc-go: "malformed header: missing HTTP content-type" (or "received unexpected content-type").
      const withoutContentType: StreamHandler = (stream) => {
        stream.resume();
        stream.on('end', () => {
          stream.respond({ ':status': 200 }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(grpcFrame(SERVING));
        });
      };
      expect(await checkOverTls(withoutContentType)).to.deep.equal({
        answer: { serving: false, error: { code: 'GRPC_HEALTH', message: 'content-type missing, not a gRPC answer' } },
      });
    });

    it('takes a non-zero grpc-status in the response headers as the status, whatever the trailers say later', async function () {
      // grpc-go ignores a grpc-status in headers that do not end the stream; the gRPC protocol has no
      // place for it there, and a server saying UNAVAILABLE is no evidence that it is serving.
      const unavailableThenOk: StreamHandler = (stream) => {
        stream.resume();
        stream.on('end', () => {
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'draining' },
            { waitForTrailers: true },
          );
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(grpcFrame(SERVING));
        });
      };
      expect(await checkOverTls(unavailableThenOk)).to.deep.equal({
        answer: {
          serving: false,
          error: { code: 'GRPC_HEALTH', message: 'grpc-status 14 (draining) in the response headers' },
          grpcError: { grpcStatus: '14', grpcMessage: 'draining' },
        },
      });
    });
  });
});
