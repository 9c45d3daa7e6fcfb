// The simulated Gitaly's side of grpc.health.v1.Health/Check, and the demo clients' way of asking
// it. Framing, parsing and the client call live in src/grpc/health.ts, shared with the exporter.
import http2 from 'node:http2';
import {
  checkGrpcHealth,
  grpcFrame,
  grpcUnframe,
  HEALTH_CHECK_PATH,
  MAX_HEALTH_MESSAGE_BYTES,
  readField1,
  type GrpcHealthCheckOptions,
} from '../grpc/health.ts';

export { grpcFrame, HEALTH_CHECK_PATH, type GrpcHealthCheckOptions };

const { NGHTTP2_CANCEL } = http2.constants;

function trailersOnly(stream: http2.ServerHttp2Stream, grpcStatus: number, message: string): void {
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': encodeURIComponent(message) },
    { endStream: true },
  );
}

/**
 * Answers grpc.health.v1.Health/Check like Gitaly: SERVING for the overall service (""), NOT_FOUND
 * for others; every other path is UNIMPLEMENTED. Attach to a server's 'stream' event.
 */
export function serveGrpcHealth(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  stream.on('error', () => stream.destroy());
  const contentType = headers['content-type'] ?? '';
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    stream.respond({ ':status': 415, 'content-type': 'text/plain' });
    stream.end('gRPC requires POST with content-type application/grpc\n');
    return;
  }
  if (headers[':path'] !== HEALTH_CHECK_PATH) {
    stream.resume();
    trailersOnly(stream, 12, `unknown method ${String(headers[':path'])}`);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_HEALTH_MESSAGE_BYTES) {
      trailersOnly(stream, 8, 'request message too large');
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    chunks.push(chunk);
  });
  stream.on('end', () => {
    if (stream.headersSent || stream.destroyed) return;
    const framed = grpcUnframe(Buffer.concat(chunks));
    const request = 'message' in framed ? readField1(framed.message) : null;
    if (!request) {
      trailersOnly(stream, 13, 'error unmarshalling request' + ('error' in framed ? `: ${framed.error}` : ''));
      return;
    }
    const service = request.bytes?.toString('utf8') ?? '';
    if (service !== '') {
      trailersOnly(stream, 5, 'unknown service');
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(grpcFrame(Buffer.from([0x08, 0x01])));
  });
}

/** 'SERVING', another status name (NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN), or an error sentence. */
// `string & {}` keeps the literal visible to editors; plain `string` would swallow it.
export type HealthAnswer = 'SERVING' | (string & {});

/**
 * Sends one Health/Check on an open HTTP/2 session. Resolves 'SERVING', another serving status
 * name, or one sentence saying what went wrong. Never throws.
 */
export async function grpcHealthCheck(session: http2.ClientHttp2Session, options: GrpcHealthCheckOptions): Promise<HealthAnswer> {
  const answer = await checkGrpcHealth(session, options);
  if (!answer.error) return answer.status;
  if (!answer.grpcError) return answer.error.message;
  // The demo's own wording for a refused call (`grpc-status 5: unknown service`), message unabridged.
  const { grpcStatus, grpcMessage } = answer.grpcError;
  return `grpc-status ${grpcStatus}${grpcMessage ? `: ${grpcMessage}` : ''}`;
}
