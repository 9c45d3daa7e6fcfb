// One TLS probe of a node's tls_listen_addr: handshake, served chain, trust, hostname, ALPN, version,
// and optionally whether TLS 1.2 and 1.3 are each accepted. Never throws; ends by its deadline.
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import { formatHostPort, parseAddress, type HostPort } from '../base/address.ts';
import { checkGrpcHealthOnSocket } from '../grpc/health.ts';
import type { SourceError, TlsProbeResult } from '../evidence/evidence.ts';
import { matchesHostname } from './hostname.ts';
import { chainValidity, TlsSessionCache, type VerifiedSession } from './tls-sessions.ts';
import { chainFacts } from './x509-facts.ts';
import { DNS_SYSTEM_CODES, type ErrorCode } from '../base/error-codes.ts';

export interface TlsProbeTarget {
  node: string;
  /** host:port, tls://host:port or [v6]:port. */
  address: string;
  /** SNI and the name to verify; defaults to the host of address. */
  serverName?: string;
}

export interface TlsProbeOptions {
  /** Deadline for the whole probe, pinned-version handshakes included. */
  timeoutMs: number;
  /** Trusted CAs (PEM); undefined = Node's default roots. */
  ca: string[] | undefined;
  checkVersions: boolean;
  /**
   * With `deps.sessions`: true = do not resume, read and verify the chain afresh (the collector
   * asks for it every tls_version_check_interval). Without `deps.sessions` every handshake is full.
   */
  fullHandshake?: boolean;
}

export interface TlsProbeDeps {
  logger?: Logger;
  now?: () => number;
  connect?: typeof tls.connect;
  /** Sessions to resume between probes of the same listener (see tls-sessions.ts); absent = none. */
  sessions?: TlsSessionCache;
}

type Version = 'TLSv1.2' | 'TLSv1.3';

interface Handshake<T> {
  /** TCP reached the listener (Gitaly counted it). */
  connected: boolean;
  value?: T;
  error?: SourceError;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function classify(err: unknown, connected: boolean, where: string): SourceError {
  const e = err as (NodeJS.ErrnoException & { reason?: string }) | null;
  const code = e?.code ?? '';
  if (DNS_SYSTEM_CODES.has(code)) return { code: 'DNS', message: `Could not resolve ${where} (${code}).` };
  if (!connected) return { code: 'CONNECT', message: `Could not connect to ${where} (${code || 'unknown error'}).` };
  if (RESET_CODES.has(code)) return { code: 'RESET', message: `${where} closed the connection during the TLS handshake (${code}).` };
  // OpenSSL errors carry a short reason ("wrong version number", "tlsv1 alert protocol version").
  const detail = e?.reason ?? e?.message ?? String(err);
  return { code: 'HANDSHAKE', message: `TLS handshake with ${where} failed: ${detail}.` };
}

/** One TLS connection: resolves once, destroys its socket in every path, ends by timeoutMs. */
type Connect = (options: tls.ConnectionOptions) => tls.TLSSocket;

function handshake<T>(
  connect: Connect,
  options: tls.ConnectionOptions,
  timeoutMs: number,
  where: string,
  onSecure: (socket: tls.TLSSocket) => T,
  /** On success, leave the socket open and hand it over (the caller must destroy it). */
  keep = false,
): Promise<Handshake<T> & { socket?: tls.TLSSocket }> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    let socket: tls.TLSSocket | undefined;
    const finish = (outcome: Omit<Handshake<T>, 'connected'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (keep && outcome.value !== undefined && socket) {
        resolve({ connected, ...outcome, socket });
        return;
      }
      socket?.destroy();
      resolve({ connected, ...outcome });
    };
    const timer = setTimeout(
      () => {
        const message = connected
          ? `${where} accepted the TCP connection but completed no TLS handshake within ${timeoutMs} ms.`
          : `No TCP connection to ${where} within ${timeoutMs} ms.`;
        finish({ error: { code: 'TIMEOUT', message } });
      },
      Math.max(0, timeoutMs),
    );
    try {
      socket = connect(options);
    } catch (err) {
      finish({
        error: {
          code: 'CONNECT',
          message: `Could not start a TLS connection to ${where}: ${err instanceof Error ? err.message : String(err)}.`,
        },
      });
      return;
    }
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset can only follow a completed TCP handshake (a closed port answers RST to the SYN: refused),
      // so the listener accepted and counted this connection even if 'connect' was never seen.
      if (err.code === 'ECONNRESET') connected = true;
      finish({ error: classify(err, connected, where) });
    });
    socket.once('connect', () => {
      connected = true;
    });
    socket.once('secureConnect', () => {
      try {
        finish({ value: onSecure(socket) });
      } catch (err) {
        finish({
          error: {
            code: 'HANDSHAKE',
            message: `Could not read the TLS session with ${where}: ${err instanceof Error ? err.message : String(err)}.`,
          },
        });
      }
    });
    socket.once('close', () => finish({ error: classify(Object.assign(new Error('closed'), { code: 'ECONNRESET' }), connected, where) }));
  });
}

/**
 * DER of the chain Node reports, leaf first, walking issuers until a self-issued certificate or a
 * repeat. `given` is the chain Node already built for checkServerIdentity: building it is the
 * costliest step of a probe in JavaScript, so it is not done twice.
 */
function peerChain(socket: tls.TLSSocket, given: tls.DetailedPeerCertificate | undefined): Buffer[] {
  const ders: Buffer[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = given ?? socket.getPeerCertificate(true);
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    ders.push(cert.raw);
    const issuer = cert.issuerCertificate as tls.DetailedPeerCertificate | undefined;
    if (issuer === cert) break;
    cert = issuer;
  }
  return ders;
}

/** A guard only: OpenSSL caps the Certificate message at 100 KB, and verifies no deeper than 100. */
const MAX_SENT = 100;

/**
 * DER of the certificates the server sent, in the order it sent them. peerChain cannot tell them
 * apart: getPeerCertificate(true) completes the chain with issuers from the trusted CAs (the CA
 * bundle). getPeerX509Certificate's issuerCertificate links are OpenSSL's peer chain as received
 * (SSL_get_peer_cert_chain), nothing added. Reading it removes the certificates from that chain in
 * Node 20 and 24 (nodejs/node#65579): so it is read once, after peerChain. Node copies each
 * certificate after the leaf, ~0.12 ms apiece on Node 20 (OpenSSL 3.0): paid on full handshakes
 * only, a resumed probe keeps the facts of the full one.
 */
function sentCertificates(socket: tls.TLSSocket): Buffer[] {
  const ders: Buffer[] = [];
  let cert = socket.getPeerX509Certificate();
  while (cert && ders.length < MAX_SENT) {
    ders.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return ders;
}

/** Whether the server sent each certificate of the chain Node built. */
function sentFlags(chain: Buffer[], sent: Buffer[]): boolean[] {
  return chain.map((der) => sent.some((s) => s.equals(der)));
}

function authorizationCode(value: unknown): string {
  if (value instanceof Error) return (value as NodeJS.ErrnoException).code ?? value.message;
  return typeof value === 'string' && value !== '' ? value : 'UNTRUSTED';
}

function emptyResult(address: string, atMs: number): TlsProbeResult {
  return {
    address,
    durationMs: 0,
    handshakeOk: false,
    error: null,
    chain: [],
    trusted: null,
    trustError: null,
    hostnameMatch: null,
    alpnProtocol: null,
    tlsVersion: null,
    cipher: null,
    accepts: { 'TLSv1.2': null, 'TLSv1.3': null },
    grpcHealthOk: null,
    grpcHealthError: null,
    connectionsMade: 0,
    atMs,
  };
}

/**
 * grpc.health.v1.Health/Check over the handshake's own TLS connection, as a Gitaly client (and
 * `gitlab-rake gitlab:gitaly:check`) would call it. A listener that demands a client certificate
 * (TLS 1.3 says so only after the handshake) or resets right after it fails here. Destroys the socket.
 */
async function checkHealthOverTls(
  socket: tls.TLSSocket,
  hostPort: HostPort,
  timeoutMs: number,
  where: string,
): Promise<{ ok: boolean; error: SourceError | null }> {
  const fail = (message: string, code: ErrorCode = 'GRPC_HEALTH'): { ok: boolean; error: SourceError } => ({
    ok: false,
    error: { code, message: `gRPC health check over TLS to ${where} failed: ${message}.` },
  });
  if (socket.destroyed) return fail('the server closed the connection right after the handshake');
  const result = await checkGrpcHealthOnSocket(
    socket,
    `https://${formatHostPort(hostPort)}`,
    timeoutMs,
    'the connection failed after the handshake',
  );
  if ('failure' in result) return fail(result.failure);
  const { answer } = result;
  if (answer.error?.code === 'TIMEOUT') return fail(`no answer within ${timeoutMs} ms`, 'TIMEOUT');
  if (answer.error) return fail(answer.error.message);
  if (!answer.serving) return fail(`the server answered ${answer.status}`);
  return { ok: true, error: null };
}

// Building a context parses the whole CA bundle: do it once per bundle and version pin, not per
// handshake. The bundle array is the cache key (the collector loads it once per cycle).
const contexts = new WeakMap<object, Map<string, tls.SecureContext>>();
const SYSTEM_STORE = {};

function secureContextFor(ca: string[] | undefined, version?: Version): tls.SecureContext {
  const key = ca ?? SYSTEM_STORE;
  let byVersion = contexts.get(key);
  if (!byVersion) contexts.set(key, (byVersion = new Map<string, tls.SecureContext>()));
  let context = byVersion.get(version ?? 'any');
  if (!context) {
    context = tls.createSecureContext({ ca, ...(version ? { minVersion: version, maxVersion: version } : {}) });
    byVersion.set(version ?? 'any', context);
  }
  return context;
}

function connectOptions(
  hostPort: HostPort,
  serverName: string | undefined,
  ca: string[] | undefined,
  version?: Version,
): tls.ConnectionOptions {
  const sni = serverName ?? hostPort.host;
  return {
    secureContext: secureContextFor(ca, version),
    // Also in the context; repeated so the options say what the handshake is pinned to.
    ...(version ? { minVersion: version, maxVersion: version } : {}),
    host: hostPort.host,
    port: hostPort.port,
    // RFC 6066: SNI carries host names only, never IP literals.
    ...(isIP(sni) === 0 ? { servername: sni } : {}),
    ALPNProtocols: ['h2'],
    // Every check is reported separately, so nothing may abort the handshake early.
    rejectUnauthorized: false,
    // `authorized` must mean "chain trusted"; the hostname is judged by matchesHostname.
    checkServerIdentity: () => undefined,
  };
}

/**
 * Stores the ticket for the next probe only after a probe that went right all the way (handshake,
 * a certificate, gRPC health); anything else drops the entry, so the next probe is a full handshake.
 */
function keepSession(
  sessions: TlsSessionCache,
  key: string,
  ticket: Buffer | null,
  context: tls.SecureContext,
  result: TlsProbeResult,
  resumed: VerifiedSession | null,
): void {
  // A server need not send a new ticket on resumption; the one it accepted stays good until it expires.
  const next = ticket ?? resumed?.ticket ?? null;
  if (!next || result.chain.length === 0 || result.grpcHealthOk !== true) {
    sessions.delete(key);
    return;
  }
  sessions.set(key, {
    ticket: next,
    context,
    chain: result.chain,
    trusted: result.trusted,
    trustError: result.trustError,
    hostnameMatch: result.hostnameMatch,
    verifiedAtMs: resumed ? resumed.verifiedAtMs : result.atMs,
    ...chainValidity(result.chain),
  });
}

export async function probeTls(target: TlsProbeTarget, options: TlsProbeOptions, deps: TlsProbeDeps = {}): Promise<TlsProbeResult> {
  const now = deps.now ?? Date.now;
  const connect = deps.connect ?? tls.connect;
  const started = now();
  const result = emptyResult(target.address, started);
  const done = (): TlsProbeResult => {
    result.durationMs = Math.max(0, now() - started);
    // The caller's logger names the node (a child logger per node); the probe adds what it knows.
    deps.logger?.debug(
      { address: target.address, handshakeOk: result.handshakeOk, error: result.error?.code, durationMs: result.durationMs },
      'tls probe finished',
    );
    return result;
  };

  const parsed = parseAddress(target.address, ['tls://']);
  if (!parsed.ok) {
    result.error = { code: 'ADDRESS', message: `TLS address of node ${target.node} is invalid: ${parsed.message}.` };
    return done();
  }
  const hostPort = parsed.value;
  const where = target.address;
  const base = connectOptions(hostPort, target.serverName, options.ca);
  const deadline = started + options.timeoutMs;
  const sessions = deps.sessions;
  const sessionKey = TlsSessionCache.key(target.address, target.serverName);
  const context = base.secureContext!;
  const resumable = sessions && options.fullHandshake !== true ? sessions.usable(sessionKey, context, started) : null;
  // The server's newest ticket (TLS 1.3 sends it after the handshake, 1.2 during it).
  let ticket: Buffer | null = null;
  // Node hands checkServerIdentity the detailed chain when it trusts it (and builds none otherwise).
  let presented: tls.DetailedPeerCertificate | undefined;
  const checkServerIdentity = (_host: string, cert: tls.PeerCertificate): undefined => {
    presented = cert as tls.DetailedPeerCertificate;
    return undefined;
  };
  // The session is offered here rather than as `options.session`: tls.connect hands that option to
  // OpenSSL twice (in the TLSSocket constructor and again after it), and each time it is decoded
  // (kept without the server's certificate, see session-ticket.ts, that is cheap). The handshake
  // starts only once TCP connects, so setting it right after connect() returns is in time. A
  // session OpenSSL cannot read is ignored, and the handshake is a full one.
  const connectKeepingTicket: Connect = sessions
    ? (opts) => {
        const socket = connect(opts) as tls.TLSSocket & { setSession(session: Buffer): void };
        socket.on('session', (t: Buffer) => (ticket = t));
        // TLSSocket#setSession is what tls.connect itself calls; @types/node does not declare it.
        if (resumable) socket.setSession(resumable.ticket);
        return socket;
      }
    : (opts) => connect(opts);

  const main = await handshake(
    connectKeepingTicket,
    { ...base, checkServerIdentity },
    options.timeoutMs,
    where,
    (socket) => {
      const cipher = socket.getCipher() as tls.CipherNameAndProtocol | undefined;
      const common = {
        alpn: socket.alpnProtocol,
        version: socket.getProtocol(),
        cipher: cipher ? (cipher.standardName ?? cipher.name) : null,
      };
      // Resumed: the server holds the ticket keys of the process whose chain was verified (see tls-sessions.ts).
      if (resumable && socket.isSessionReused()) return { ...common, resumed: resumable };
      const ders = peerChain(socket, presented);
      const chain = chainFacts(ders, sentFlags(ders, sentCertificates(socket)));
      return { ...common, resumed: null, chain, authorized: socket.authorized, authorizationError: socket.authorizationError };
    },
    true,
  );
  result.connectionsMade += main.connected ? 1 : 0;
  if (!main.value) {
    result.error = main.error ?? null;
    sessions?.delete(sessionKey);
    return done();
  }

  const session = main.value;
  result.handshakeOk = true;
  if (sessions) result.sessionResumed = session.resumed !== null;
  result.alpnProtocol = typeof session.alpn === 'string' && session.alpn !== '' ? session.alpn : null;
  result.tlsVersion = session.version;
  result.cipher = session.cipher;
  if (session.resumed) {
    result.chain = session.resumed.chain;
    result.trusted = session.resumed.trusted;
    result.trustError = session.resumed.trustError;
    result.hostnameMatch = session.resumed.hostnameMatch;
  } else {
    result.chain = session.chain;
    const leaf = session.chain[0];
    if (leaf) {
      result.trusted = session.authorized;
      result.trustError = session.authorized ? null : authorizationCode(session.authorizationError);
      result.hostnameMatch = matchesHostname(target.serverName ?? hostPort.host, leaf);
    }
  }
  // Without h2 a gRPC client stops here (alpn_not_h2 says why); with it, ask as the client would.
  if (result.alpnProtocol === 'h2' && main.socket) {
    const health = await checkHealthOverTls(main.socket, hostPort, Math.max(0, deadline - now()), where);
    result.grpcHealthOk = health.ok;
    result.grpcHealthError = health.error;
  } else {
    main.socket?.destroy();
  }
  if (sessions) keepSession(sessions, sessionKey, ticket, context, result, session.resumed);

  if (options.checkVersions) {
    const pinned = async (version: Version): Promise<boolean | null> => {
      const outcome = await handshake(
        connect,
        connectOptions(hostPort, target.serverName, options.ca, version),
        Math.max(0, deadline - now()),
        where,
        (socket) => socket.getProtocol() === version,
      );
      result.connectionsMade += outcome.connected ? 1 : 0;
      if (outcome.value !== undefined) return outcome.value;
      // The server just completed a handshake, so a refusal now is about the version; a timeout tells nothing.
      const code = outcome.error?.code;
      return outcome.connected && (code === 'HANDSHAKE' || code === 'RESET') ? false : null;
    };
    const [v12, v13] = await Promise.all([pinned('TLSv1.2'), pinned('TLSv1.3')]);
    result.accepts = { 'TLSv1.2': v12, 'TLSv1.3': v13 };
  }
  return done();
}
