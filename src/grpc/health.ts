// grpc.health.v1.Health/Check over node:http2 with the gRPC framing done by hand, so neither the
// exporter's plaintext probe nor the demo fleet needs a gRPC library.
// A gRPC message is a 5-byte prefix (1 byte compressed flag, 4 bytes big-endian length) + protobuf.
// HealthCheckRequest { string service = 1; }  HealthCheckResponse { ServingStatus status = 1; }
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { settleOnce } from '../base/settle.ts';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
/** Cap on one health message, either way: a health answer is a few bytes. */
export const MAX_HEALTH_MESSAGE_BYTES = 64 * 1024;

/** ServingStatus enum names, indexed by their number. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
/** A hostile server must not make error sentences long. */
const MAX_QUOTED_MESSAGE_CHARS = 200;
const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** What grpc-go accepts as a gRPC response's content-type: application/grpc, alone or with +subtype or ;params. */
const GRPC_CONTENT_TYPE = /^application\/grpc(?:$|[+;])/;

/** Frames one protobuf message. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** The message inside one uncompressed gRPC frame, or an error sentence. */
export function grpcUnframe(body: Buffer): { message: Buffer } | { error: string } {
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

/**
 * Field 1 of a protobuf message (varint or length-delimited; the last one wins, as in protobuf),
 * ignoring other fields; {} when absent, null if malformed. Both health messages have only field 1.
 */
export function readField1(message: Buffer): { varint?: number; bytes?: Buffer } | null {
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

/** The framed HealthCheckRequest; "" (the server as a whole) is the empty message. */
export function healthCheckRequest(service = ''): Buffer {
  const name = Buffer.from(service, 'utf8');
  return grpcFrame(name.length > 0 ? Buffer.concat([Buffer.from([0x0a]), encodeVarint(name.length), name]) : Buffer.alloc(0));
}

/** SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, or `status N` for a value this code does not know. */
export function servingStatusName(value: number): string {
  return SERVING_STATUS[value] ?? `status ${value}`;
}

/** grpc-message is percent-encoded; a malformed one is shown as sent rather than dropped. */
export function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface GrpcHealthCheckOptions {
  /** Deadline for the whole call, from sending the request to the last byte of the answer. */
  timeoutMs: number;
  /** Service to ask about; "" (the default) is the server as a whole. */
  service?: string;
  /** Cap on the response body; MAX_HEALTH_MESSAGE_BYTES by default. */
  maxResponseBytes?: number;
}

/** Why no serving status was read. `message` is a sentence fragment (no subject, no final period). */
export interface GrpcHealthError {
  code: 'TIMEOUT' | 'GRPC_HEALTH';
  message: string;
}

export type GrpcHealthAnswer =
  /** The server answered grpc-status 0 with a HealthCheckResponse. */
  | { serving: boolean; status: string; error?: undefined; grpcError?: undefined }
  /** No status: `grpcError` is set when the server refused the call with a non-zero grpc-status. */
  | { serving: false; status?: undefined; error: GrpcHealthError; grpcError?: { grpcStatus: string; grpcMessage: string } };

interface Status {
  grpcStatus?: string;
  /** Percent-decoded. */
  grpcMessage: string;
}

interface Response extends Status {
  httpStatus?: number;
  contentType?: string;
  /**
   * A grpc-status in response headers that did not end the stream (not trailers-only): the gRPC
   * protocol has no place for it there, but a server that says it is failing is not taken as serving.
   */
  earlyStatus?: Status;
  body: Buffer;
}

function failed(message: string): GrpcHealthAnswer {
  return { serving: false, error: { code: 'GRPC_HEALTH', message } };
}

/** " (message)", shortened, or "" when there is none. */
function quoted(grpcMessage: string): string {
  return grpcMessage ? ` (${grpcMessage.slice(0, MAX_QUOTED_MESSAGE_CHARS)})` : '';
}

function refused({ grpcStatus, grpcMessage }: Status & { grpcStatus: string }, where = ''): GrpcHealthAnswer {
  return {
    serving: false,
    error: { code: 'GRPC_HEALTH', message: `grpc-status ${grpcStatus}${quoted(grpcMessage)}${where}` },
    grpcError: { grpcStatus, grpcMessage },
  };
}

/** Complete gRPC frames in a body, counted by their length prefixes (a partial last one counts). */
function countFrames(body: Buffer): number {
  let count = 0;
  for (let offset = 0; offset < body.length; count += 1) {
    offset += 5 + (body.length >= offset + 5 ? body.readUInt32BE(offset + 1) : 0);
  }
  return count;
}

/**
 * Judges a complete response, refusing what grpc-go's client refuses: no gRPC content-type, or more
 * than one message to a unary call. grpc-status and grpc-message come in the trailers, or in the
 * headers of a trailers-only response; a failing status in headers that did not end the stream is
 * refused too, which is stricter than grpc-go (it ignores that one).
 */
function interpret(response: Response): GrpcHealthAnswer {
  const { httpStatus, contentType, earlyStatus, grpcStatus, grpcMessage } = response;
  if (httpStatus !== 200) return failed(`HTTP status ${httpStatus ?? 'none'}, not a gRPC server`);
  if (contentType === undefined) return failed('content-type missing, not a gRPC answer');
  if (!GRPC_CONTENT_TYPE.test(contentType)) {
    return failed(`content-type ${JSON.stringify(contentType.slice(0, MAX_QUOTED_MESSAGE_CHARS))}, not a gRPC answer`);
  }
  if (earlyStatus?.grpcStatus !== undefined && earlyStatus.grpcStatus !== '0') {
    return refused({ ...earlyStatus, grpcStatus: earlyStatus.grpcStatus }, ' in the response headers');
  }
  if (grpcStatus !== '0') {
    if (grpcStatus === undefined) return failed(`grpc-status missing${quoted(grpcMessage)}`);
    return refused({ grpcStatus, grpcMessage });
  }
  const messages = countFrames(response.body);
  if (messages > 1) return failed(`${messages} response messages to a unary call, not 1`);
  const framed = grpcUnframe(response.body);
  const fields = 'message' in framed ? readField1(framed.message) : null;
  if (!fields) return failed(`malformed HealthCheckResponse${'error' in framed ? `: ${framed.error}` : ''}`);
  // proto3 omits a zero enum: an empty message means UNKNOWN.
  const status = servingStatusName(fields.varint ?? 0);
  return { serving: status === 'SERVING', status };
}

/**
 * Sends one Health/Check on an open HTTP/2 session (which stays the caller's: it is neither closed
 * nor watched for errors) and reads the answer within the deadline and the size cap. An unfinished
 * call is cancelled. Never throws, never rejects.
 */
export function checkGrpcHealth(session: http2.ClientHttp2Session, options: GrpcHealthCheckOptions): Promise<GrpcHealthAnswer> {
  const maxResponseBytes = options.maxResponseBytes ?? MAX_HEALTH_MESSAGE_BYTES;
  let stream: http2.ClientHttp2Stream | undefined;
  const timedOut = (): GrpcHealthAnswer => ({
    serving: false,
    error: { code: 'TIMEOUT', message: `no answer within ${options.timeoutMs} ms` },
  });
  const cancel = (): void => {
    if (stream && !stream.closed) stream.close(NGHTTP2_CANCEL);
  };
  return settleOnce<GrpcHealthAnswer>(
    options.timeoutMs,
    timedOut,
    (s) => {
      const finish = (answer: GrpcHealthAnswer): void => void s.finish(answer);
      // Node 20 throws from request() on a closed session; Node 22+ returns a stream that fails later
      // with a generic message. Say the same on both.
      if (session.closed || session.destroyed) {
        finish(failed('cannot start the request: the HTTP/2 session is closed'));
        return;
      }
      try {
        stream = session.request({ ':method': 'POST', ':path': HEALTH_CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
      } catch (err) {
        finish(failed(`cannot start the request: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      const response: Response = { grpcMessage: '', body: Buffer.alloc(0) };
      const chunks: Buffer[] = [];
      let received = 0;
      const readStatus = (headers: http2.IncomingHttpHeaders, into: Status): void => {
        const status = headers['grpc-status'];
        if (typeof status === 'string') into.grpcStatus = status;
        const message = headers['grpc-message'];
        if (typeof message === 'string') into.grpcMessage = decodeGrpcMessage(message);
      };
      stream.on('response', (headers, flags: number) => {
        response.httpStatus = Number(headers[':status']);
        response.contentType = headers['content-type'];
        if (flags & NGHTTP2_FLAG_END_STREAM) readStatus(headers, response);
        else readStatus(headers, (response.earlyStatus = { grpcMessage: '' }));
      });
      stream.on('trailers', (headers: http2.IncomingHttpHeaders) => readStatus(headers, response));
      stream.on('data', (chunk: Buffer) => {
        if (s.settled) return;
        received += chunk.length;
        if (received > maxResponseBytes) finish(failed(`answer larger than ${maxResponseBytes} bytes`));
        else chunks.push(chunk);
      });
      // Not err.code: a stream's codes are generic (ERR_HTTP2_STREAM_CANCEL); the message names the cause.
      stream.on('error', (err: Error) => finish(failed(`stream failed: ${err.message}`)));
      // The answer is read at 'end' but handed over at 'close': a session destroyed while its stream
      // is still open builds a cancellation error for the stream, which costs more than the wait.
      let answer: GrpcHealthAnswer | null = null;
      stream.on('end', () => (answer = interpret({ ...response, body: Buffer.concat(chunks) })));
      stream.on('close', () => finish(answer ?? failed('the stream closed without an answer')));
      stream.end(healthCheckRequest(options.service));
    },
    cancel,
  );
}

/**
 * One Health/Check over HTTP/2 on a socket that is already connected (cleartext or TLS: `origin`
 * is `http://host:port` or `https://host:port`). The socket and the session are the caller's in
 * the sense that their failures are reported here, as a sentence fragment: `socketFailed` names a
 * failure of the socket itself ("connection failed"). Destroys both when done; never rejects.
 */
export function checkGrpcHealthOnSocket(
  socket: Duplex,
  origin: string,
  timeoutMs: number,
  socketFailed: string,
): Promise<{ answer: GrpcHealthAnswer } | { failure: string }> {
  return new Promise((resolve) => {
    let settled = false;
    let session: http2.ClientHttp2Session | undefined;
    const finish = (result: { answer: GrpcHealthAnswer } | { failure: string }): void => {
      if (settled) return;
      settled = true;
      session?.destroy();
      socket.destroy();
      resolve(result);
    };
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ failure: `${socketFailed} (${err.code ?? err.message})` }));
    try {
      session = http2.connect(origin, { createConnection: () => socket });
      session.on('error', (err: NodeJS.ErrnoException) => finish({ failure: `HTTP/2 failed (${err.code ?? err.message})` }));
    } catch (err) {
      finish({ failure: `could not start HTTP/2 (${err instanceof Error ? err.message : String(err)})` });
      return;
    }
    void checkGrpcHealth(session, { timeoutMs }).then((answer) => finish({ answer }));
  });
}
