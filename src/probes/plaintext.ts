// One dial of a node's plaintext listen_addr (is it still open? does it answer gRPC health?), and
// whether the TLS port turns a plaintext client away. Every dial adds to Gitaly's connection
// counter, so the probe reports exactly how many it made. Never throws; ends by its deadline.
import * as net from 'node:net';
import { formatHostPort, parseAddress, type HostPort } from '../base/address.ts';
import type { PlaintextProbeResult, SourceError } from '../evidence/evidence.ts';
import { checkGrpcHealthOnSocket } from '../grpc/health.ts';
import { DNS_SYSTEM_CODES } from '../base/error-codes.ts';
import { settleOnce } from '../base/settle.ts';
import { MAX_ADDRESSES, systemResolveAll, type ResolveAll } from './resolve-all.ts';

export interface PlaintextProbeTarget {
  node: string;
  plaintextAddress?: string;
  tlsAddress?: string;
}

export interface PlaintextProbeOptions {
  /** Deadline for each of the two checks, which run side by side. */
  timeoutMs: number;
  grpcHealth: boolean;
  checkTlsPortRejectsPlaintext: boolean;
}

export interface PlaintextProbeDeps {
  now?: () => number;
  connect?: typeof net.connect;
  /** Every address of listen_addr's host name (A and AAAA): each is dialled. Default: the system resolver. */
  resolveAll?: ResolveAll;
}

/** The HTTP/2 client connection preface followed by an empty SETTINGS frame. */
const H2C_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** What is left of a check's time budget; messages quote the whole budget. */
interface Deadline {
  totalMs: number;
  remainingMs: number;
}

interface Dial {
  socket?: net.Socket;
  /** Accepted, then reset before it could be used (counted by the listener, no socket to use). */
  reset?: boolean;
  /** true = accepted, false = refused, null = could not tell. */
  open: boolean | null;
  error: SourceError | null;
}

/** Connects with a deadline; on success the caller owns (and must destroy) the socket. */
function dial(connect: typeof net.connect, hostPort: HostPort, timeoutMs: number, where: string): Promise<Dial> {
  let socket: net.Socket | undefined;
  const timedOut = (): Dial => ({
    open: null,
    error: { code: 'TIMEOUT', message: `No TCP connection to ${where} within ${timeoutMs} ms.` },
  });
  const release = (outcome: Dial): void => {
    if (!outcome.socket) socket?.destroy();
  };
  return settleOnce<Dial>(
    timeoutMs,
    timedOut,
    ({ finish }) => {
      try {
        socket = connect({ host: hostPort.host, port: hostPort.port });
      } catch (err) {
        finish({
          open: null,
          error: { code: 'CONNECT', message: `Could not dial ${where}: ${err instanceof Error ? err.message : String(err)}.` },
        });
        return;
      }
      const connected = socket;
      connected.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'unknown error';
        if (code === 'ECONNREFUSED') finish({ open: false, error: null });
        // A reset can only follow a completed TCP handshake: the listener accepted (and counted) it.
        else if (code === 'ECONNRESET')
          finish({ open: true, reset: true, error: { code: 'RESET', message: `${where} accepted the connection and reset it at once.` } });
        else if (DNS_SYSTEM_CODES.has(code))
          finish({ open: null, error: { code: 'DNS', message: `Could not resolve ${where} (${code}).` } });
        else finish({ open: null, error: { code: 'CONNECT', message: `Could not connect to ${where} (${code}).` } });
      });
      connected.once('connect', () => finish({ socket: connected, open: true, error: null }));
    },
    release,
  );
}

/** Asks grpc.health.v1.Health/Check over HTTP/2 cleartext on an already connected socket, then closes it. */
async function checkHealth(
  socket: net.Socket,
  hostPort: HostPort,
  deadline: Deadline,
  where: string,
): Promise<{ serving: boolean; error: SourceError | null }> {
  const result = await checkGrpcHealthOnSocket(socket, `http://${formatHostPort(hostPort)}`, deadline.remainingMs, 'connection failed');
  if ('failure' in result)
    return { serving: false, error: { code: 'GRPC_HEALTH', message: `gRPC health check of ${where}: ${result.failure}.` } };
  const { answer } = result;
  if (answer.error?.code === 'TIMEOUT')
    return {
      serving: false,
      error: { code: 'TIMEOUT', message: `gRPC health check of ${where} got no answer within ${deadline.totalMs} ms.` },
    };
  if (answer.error)
    return { serving: false, error: { code: 'GRPC_HEALTH', message: `gRPC health check of ${where}: ${answer.error.message}.` } };
  return { serving: answer.serving, error: null };
}

/**
 * Sends the h2c preface to the TLS port. An HTTP/2 server answers with a SETTINGS frame; a TLS server
 * answers with an alert or closes. Resolves null when it cannot tell (no connection, no answer).
 */
function checkTlsPort(
  socket: net.Socket,
  deadline: Deadline,
  where: string,
): Promise<{ rejects: boolean | null; error: SourceError | null }> {
  type Answer = { rejects: boolean | null; error: SourceError | null };
  const timedOut = (): Answer => ({
    rejects: null,
    error: {
      code: 'TIMEOUT',
      message: `TLS port ${where} neither answered nor closed within ${deadline.totalMs} ms of a plaintext HTTP/2 preface.`,
    },
  });
  return settleOnce<Answer>(
    deadline.remainingMs,
    timedOut,
    (s) => {
      const finish = (rejects: boolean): void => void s.finish({ rejects, error: null });
      let answer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        answer = Buffer.concat([answer, chunk]).subarray(0, 9);
        if (answer.length < 9) return;
        const isSettingsFrame = answer[3] === 0x04 && (answer.readUInt32BE(5) & 0x7fffffff) === 0;
        finish(!isSettingsFrame);
      });
      // Closing or resetting is how a TLS server turns away bytes that are not a ClientHello.
      socket.on('error', () => finish(true));
      socket.on('end', () => finish(true));
      socket.on('close', () => finish(true));
      socket.write(H2C_PREFACE);
    },
    () => socket.destroy(),
  );
}

export async function probePlaintext(
  target: PlaintextProbeTarget,
  options: PlaintextProbeOptions,
  deps: PlaintextProbeDeps = {},
): Promise<PlaintextProbeResult> {
  const now = deps.now ?? Date.now;
  const connect = deps.connect ?? net.connect;
  const resolveAll = deps.resolveAll ?? systemResolveAll;
  const started = now();
  const result: PlaintextProbeResult = {
    address: target.plaintextAddress ?? '',
    open: null,
    grpcHealthServing: null,
    tlsPortRejectsPlaintext: null,
    error: null,
    durationMs: 0,
    connectionsMade: { tcp: 0, tls: 0 },
    atMs: started,
  };
  let tlsPortError: SourceError | null = null;
  const remaining = (): Deadline => ({ totalMs: options.timeoutMs, remainingMs: Math.max(0, started + options.timeoutMs - now()) });

  const plaintextCheck = async (): Promise<void> => {
    const parsed = target.plaintextAddress === undefined ? null : parseAddress(target.plaintextAddress, ['tcp://']);
    if (!parsed?.ok) {
      const why = parsed ? `is invalid: ${parsed.message}` : 'is not configured';
      result.error = { code: 'ADDRESS', message: `Plaintext address (listen_addr) of node ${target.node} ${why}.` };
      return;
    }
    const where = target.plaintextAddress!;
    const { host, port } = parsed.value;
    const resolved = parsed.value.isIp ? null : await resolveAll(host, options.timeoutMs);
    // A name that does not resolve is dialled as it is, so the dial reports it as before.
    const addresses = resolved?.ok && resolved.addresses.length > 0 ? resolved.addresses.slice(0, MAX_ADDRESSES) : [host];
    const several = addresses.length > 1;
    const dials = await Promise.all(
      addresses.map((ip) =>
        dial(
          connect,
          { host: ip, port, isIp: ip !== host || parsed.value.isIp },
          remaining().remainingMs,
          several ? `${where} at ${formatHostPort({ host: ip, port })}` : where,
        ),
      ),
    );
    for (const d of dials) if (d.socket || d.reset) result.connectionsMade.tcp += 1;
    // Open if any address accepts: a client that resolves the name to that address still connects.
    const opened = dials.find((d) => d.open === true) ?? dials.find((d) => d.open === null) ?? dials[0]!;
    if (several)
      result.perAddress = dials.map((d, i) => ({ address: formatHostPort({ host: addresses[i]!, port }), open: d.open, error: d.error }));
    for (const d of dials) if (d !== opened) d.socket?.destroy();
    result.open = opened.open;
    result.error = opened.error;
    if (!opened.socket) {
      if (opened.reset && options.grpcHealth) result.grpcHealthServing = false;
      return;
    }
    if (!options.grpcHealth) {
      opened.socket.destroy();
      return;
    }
    const health = await checkHealth(opened.socket, parsed.value, remaining(), where);
    result.grpcHealthServing = health.serving;
    result.error = health.error;
  };

  const tlsPortCheck = async (): Promise<void> => {
    if (!options.checkTlsPortRejectsPlaintext || target.tlsAddress === undefined) return;
    const parsed = parseAddress(target.tlsAddress, ['tls://']);
    if (!parsed.ok) {
      tlsPortError = { code: 'ADDRESS', message: `TLS address of node ${target.node} is invalid: ${parsed.message}.` };
      return;
    }
    const where = target.tlsAddress;
    const opened = await dial(connect, parsed.value, options.timeoutMs, where);
    if (opened.reset) result.connectionsMade.tls += 1;
    // A TLS port that refuses is the TLS probe's finding (not yet set up, or down), not this check's failure.
    if (!opened.socket) {
      if (opened.open !== false) tlsPortError = opened.error ?? { code: 'CONNECT', message: `TLS port ${where} refused the connection.` };
      return;
    }
    result.connectionsMade.tls += 1;
    const checked = await checkTlsPort(opened.socket, remaining(), where);
    result.tlsPortRejectsPlaintext = checked.rejects;
    tlsPortError = checked.error;
  };

  await Promise.all([plaintextCheck(), tlsPortCheck()]);
  result.error ??= tlsPortError;
  result.durationMs = Math.max(0, now() - started);
  return result;
}
