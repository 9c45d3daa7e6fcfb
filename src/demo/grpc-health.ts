// grpc.health.v1.Health/Check over node:http2 with gRPC framing done by hand, so neither the demo
// fleet nor the exporter's plaintext probe needs a gRPC library.
// A gRPC message is a 5-byte prefix (1 byte compressed flag, 4 bytes big-endian length) + protobuf.
// HealthCheckRequest { string service = 1; }  HealthCheckResponse { ServingStatus status = 1; }
import http2 from 'node:http2';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const MAX_MESSAGE_BYTES = 64 * 1024;
const { NGHTTP2_CANCEL } = http2.constants;

/** Frames one protobuf message. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The message inside one uncompressed gRPC frame, or an error sentence. */
function unframe(body: Buffer): { message: Buffer } | { error: string } {
  if (body.length < 5) return { error: `incomplete gRPC frame (${body.length} bytes)` };
  if (body[0] !== 0) return { error: 'compressed gRPC messages are not supported' };
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) return { error: 'truncated gRPC message' };
  return { message: body.subarray(5, 5 + length) };
}

function readVarint(buf: Buffer, offset: number): { value: number; next: number } | null {
  let value = 0;
  for (let shift = 0, i = offset; i < buf.length && shift < 35; shift += 7, i += 1) {
    const byte = buf[i] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  return null;
}

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Field 1 of a protobuf message (varint or length-delimited), ignoring other fields; null if malformed. */
function field1(message: Buffer): { varint?: number; bytes?: Buffer } | null {
  let offset = 0;
  let found: { varint?: number; bytes?: Buffer } = {};
  while (offset < message.length) {
    const tag = readVarint(message, offset);
    if (!tag) return null;
    const wireType = tag.value % 8;
    const fieldNumber = Math.floor(tag.value / 8);
    if (wireType === 0) {
      const v = readVarint(message, tag.next);
      if (!v) return null;
      if (fieldNumber === 1) found = { varint: v.value };
      offset = v.next;
    } else if (wireType === 2) {
      const len = readVarint(message, tag.next);
      if (!len || len.next + len.value > message.length) return null;
      if (fieldNumber === 1) found = { bytes: message.subarray(len.next, len.next + len.value) };
      offset = len.next + len.value;
    } else {
      return null;
    }
  }
  return found;
}

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
    if (size > MAX_MESSAGE_BYTES) {
      trailersOnly(stream, 8, 'request message too large');
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    chunks.push(chunk);
  });
  stream.on('end', () => {
    if (stream.headersSent || stream.destroyed) return;
    const framed = unframe(Buffer.concat(chunks));
    const request = 'message' in framed ? field1(framed.message) : null;
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

export interface GrpcHealthCheckOptions {
  timeoutMs: number;
  /** Service to ask about; "" (the default) is the server as a whole. */
  service?: string;
}

/** 'SERVING', another status name (NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN), or an error sentence. */
// `string & {}` keeps the literal visible to editors; plain `string` would swallow it.
export type HealthAnswer = 'SERVING' | (string & {});

/**
 * Sends one Health/Check on an open HTTP/2 session. Resolves 'SERVING', another serving status
 * name, or one sentence saying what went wrong. Never throws.
 */
export function grpcHealthCheck(session: http2.ClientHttp2Session, options: GrpcHealthCheckOptions): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    let stream: http2.ClientHttp2Stream | undefined;
    const finish = (answer: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (stream && !stream.closed) stream.close(NGHTTP2_CANCEL);
      resolve(answer);
    };
    const timer = setTimeout(() => finish(`no answer within ${options.timeoutMs} ms`), options.timeoutMs);
    try {
      stream = session.request({
        ':method': 'POST',
        ':path': HEALTH_CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
    } catch (err) {
      finish(`cannot start the request: ${(err as Error).message}`);
      return;
    }
    const service = Buffer.from(options.service ?? '', 'utf8');
    stream.end(grpcFrame(service.length > 0 ? Buffer.concat([Buffer.from([0x0a]), encodeVarint(service.length), service]) : Buffer.alloc(0)));

    let httpStatus = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    let size = 0;
    const noteStatus = (headers: http2.IncomingHttpHeaders): void => {
      const status = headers['grpc-status'];
      if (typeof status === 'string') grpcStatus = status;
      const message = headers['grpc-message'];
      if (typeof message === 'string') grpcMessage = safeDecode(message);
    };
    stream.on('response', (headers) => {
      httpStatus = Number(headers[':status']);
      noteStatus(headers);
    });
    stream.on('trailers', noteStatus);
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) finish('response larger than 64 KiB');
      else chunks.push(chunk);
    });
    stream.on('error', (err: Error) => finish(`stream failed: ${err.message}`));
    stream.on('close', () => {
      if (httpStatus === 0) return finish('stream closed before a response');
      if (httpStatus !== 200) return finish(`HTTP status ${httpStatus}, not a gRPC server`);
      if (grpcStatus === undefined) return finish('response had no grpc-status');
      if (grpcStatus !== '0') return finish(`grpc-status ${grpcStatus}${grpcMessage ? `: ${grpcMessage}` : ''}`);
      const framed = unframe(Buffer.concat(chunks));
      const status = 'message' in framed ? field1(framed.message) : null;
      if (!status) return finish(`malformed HealthCheckResponse${'error' in framed ? `: ${framed.error}` : ''}`);
      // proto3 omits a zero enum: an empty message means UNKNOWN.
      const value = status.varint ?? 0;
      finish(SERVING_STATUS[value] ?? `status ${value}`);
    });
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
