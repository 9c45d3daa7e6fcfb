// How many connections the HTTP endpoint accepts and how long a client may take to send its request.
// Idle or slow clients must not use up the process's file descriptors: the collection needs its own
// (a scrape, up to three TLS connections and two plaintext dials per concurrent node, the state file).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpLimits {
  maxConnections: number;
  /** Time to receive a request's headers, from the connection's first byte wait. */
  headersTimeoutMs: number;
  /** Time to receive the whole request. */
  requestTimeoutMs: number;
  /** How often Node checks those two deadlines. */
  checkIntervalMs: number;
  /** What the numbers came from, for the startup log. */
  openFileLimit: number | null;
  reservedForCollection: number;
}

const MAX_CONNECTIONS = 512;
const MIN_CONNECTIONS = 16;
/** Descriptors the process holds anyway (stdio, the event loop, log files, the listener, DNS). */
const BASE_RESERVE = 64;
/** Sockets one concurrent node's observation may hold at once. */
const PER_SLOT = 6;

/** The soft "Max open files" limit from /proc/self/limits; null when unknown or unlimited. */
export function parseOpenFileLimit(limitsText: string): number | null {
  const match = /^Max open files\s+(\S+)/m.exec(limitsText);
  const value = match ? Number(match[1]) : NaN;
  return Number.isFinite(value) && value > 0 ? value : null;
}

export function httpLimits(concurrency: number, readLimits: () => string = () => readFileSync('/proc/self/limits', 'utf8')): HttpLimits {
  let openFileLimit: number | null = null;
  try {
    openFileLimit = parseOpenFileLimit(readLimits());
  } catch {
    // Not Linux, or /proc not mounted: the fixed cap applies.
  }
  const reservedForCollection = BASE_RESERVE + PER_SLOT * Math.max(1, concurrency);
  const fromLimit = openFileLimit === null ? MAX_CONNECTIONS : openFileLimit - reservedForCollection;
  return {
    maxConnections: Math.max(MIN_CONNECTIONS, Math.min(MAX_CONNECTIONS, fromLimit)),
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    checkIntervalMs: 1_000,
    openFileLimit,
    reservedForCollection,
  };
}

/**
 * Closes a connection that has sent no request within `ms` of being accepted (TLS: of its
 * handshake, which `handshakeTimeout` bounds). Node's headersTimeout only starts at a request's first
 * byte, so a client that connects and says nothing would otherwise hold a descriptor until the
 * keep-alive timeout.
 */
export function closeSilentConnections(server: Server, ms: number, tls: boolean): void {
  const waiting = new WeakMap<Socket, NodeJS.Timeout>();
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    waiting.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage) => {
    const timer = waiting.get(req.socket);
    if (timer) {
      clearTimeout(timer);
      waiting.delete(req.socket);
    }
  });
}
