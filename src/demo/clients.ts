// Traffic that looks like GitLab Rails to a Gitaly node: each client "process" keeps ONE long-lived
// HTTP/2 channel and sends Health/Check over it every few seconds. New-connection counters therefore
// stay low while traffic goes on, which is exactly why counting new connections alone is not enough.
// A client moves to TLS at its scheduled time (open a TLS channel, then close the plaintext one);
// a legacy client never does.
import http2 from 'node:http2';
import type { Logger } from 'pino';
import { formatHostPort, parseAddress } from '../base/address.ts';
import { grpcHealthCheck } from './grpc-health.ts';

export interface TrafficClientPlan {
  /** Milliseconds after the driver starts when this client moves to TLS; null = legacy, stays on plaintext. */
  switchToTlsAtMs: number | null;
  /**
   * Re-dial every this many milliseconds, as recycled Puma/Sidekiq processes do; absent = keep the
   * channel for ever. Without it a client that has not switched yet adds no new plaintext accepts.
   */
  reconnectEveryMs?: number;
}

export interface TrafficTarget {
  name: string;
  plaintextAddress?: string;
  tlsAddress?: string;
  /** SNI and hostname to verify; defaults to the host of tlsAddress. */
  serverName?: string;
  clients: TrafficClientPlan[];
}

export interface TrafficDriverOptions {
  targets: TrafficTarget[];
  /** PEM bundle the clients trust (the demo CA). */
  caPem: string;
  /** Time between two checks of one client (±25% jitter). Default 3000. */
  intervalMs?: number;
  /** Deadline of one check, connecting included. Default 5000. */
  timeoutMs?: number;
  logger?: Logger;
}

export interface TrafficStats {
  checksOk: number;
  checksFailed: number;
  /** Channels the clients opened, by transport; each one is a new accept on the node. */
  channelsOpened: { tcp: number; tls: number };
  clientsOnTls: number;
  clientsOnPlaintext: number;
}

export interface TrafficDriver {
  /** Totals for one target, by name. */
  stats(name: string): TrafficStats | undefined;
  stop(): Promise<void>;
}

type Transport = 'tcp' | 'tls';

interface Channel {
  transport: Transport;
  session: http2.ClientHttp2Session;
  openedAt: number;
}

class RailsClient {
  channel: Channel | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly target: TrafficTarget,
    private readonly plan: TrafficClientPlan,
    private readonly stats: TrafficStats,
    private readonly opts: Required<Pick<TrafficDriverOptions, 'caPem' | 'intervalMs' | 'timeoutMs'>> & {
      logger: Logger | undefined;
      startedAt: number;
    },
  ) {}

  start(): void {
    // Spread the first checks so a fleet of clients does not arrive in lockstep.
    this.schedule(Math.random() * this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.channel?.session.destroy();
    this.channel = null;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule(this.opts.intervalMs * (0.75 + Math.random() / 2)));
    }, delayMs);
  }

  private wantedTransport(): Transport {
    const { switchToTlsAtMs } = this.plan;
    const due = switchToTlsAtMs !== null && Date.now() - this.opts.startedAt >= switchToTlsAtMs;
    if (this.target.tlsAddress && (due || !this.target.plaintextAddress)) return 'tls';
    return 'tcp';
  }

  private async tick(): Promise<void> {
    const wanted = this.wantedTransport();
    if (this.channel && (this.channel.session.closed || this.channel.session.destroyed)) this.channel = null;
    const { reconnectEveryMs } = this.plan;
    if (this.channel && reconnectEveryMs !== undefined && Date.now() - this.channel.openedAt >= reconnectEveryMs) {
      this.channel.session.close();
      this.channel = null;
    }
    if (this.channel?.transport !== wanted) {
      const next = this.open(wanted);
      if (!next) return;
      const status = await this.check(next);
      if (this.stopped) {
        next.session.destroy();
        return;
      }
      if (status === 'SERVING') {
        // Only now let go of the old channel, as a client re-dialling after a config change does.
        this.channel?.session.close();
        this.channel = next;
        return;
      }
      next.session.destroy();
      if (!this.channel) return;
    }
    const status = await this.check(this.channel);
    // A broken channel is re-dialled on the next tick (a new accept, as in reality).
    if (status !== 'SERVING') {
      this.channel?.session.destroy();
      this.channel = null;
    }
  }

  private open(transport: Transport): Channel | null {
    const address = transport === 'tls' ? this.target.tlsAddress : this.target.plaintextAddress;
    const parsed = parseAddress(address ?? '');
    if (!parsed.ok) return null;
    const authority = `${transport === 'tls' ? 'https' : 'http'}://${formatHostPort(parsed.value)}`;
    const serverName = this.target.serverName ?? (parsed.value.isIp ? undefined : parsed.value.host);
    const session = http2.connect(
      authority,
      transport === 'tls' ? { ca: this.opts.caPem, ...(serverName ? { servername: serverName } : {}) } : {},
    );
    session.on('error', (err: Error) =>
      this.opts.logger?.debug({ node: this.target.name, transport, err: err.message }, 'demo client channel failed'),
    );
    this.stats.channelsOpened[transport] += 1;
    return { transport, session, openedAt: Date.now() };
  }

  private async check(channel: Channel): Promise<string> {
    const status = await grpcHealthCheck(channel.session, { timeoutMs: this.opts.timeoutMs });
    if (status === 'SERVING') this.stats.checksOk += 1;
    else this.stats.checksFailed += 1;
    return status;
  }
}

export function startTrafficDriver(opts: TrafficDriverOptions): TrafficDriver {
  const startedAt = Date.now();
  const settings = {
    caPem: opts.caPem,
    intervalMs: opts.intervalMs ?? 3000,
    timeoutMs: opts.timeoutMs ?? 5000,
    logger: opts.logger,
    startedAt,
  };
  const byName = new Map<string, { stats: TrafficStats; clients: RailsClient[] }>();
  for (const target of opts.targets) {
    const stats: TrafficStats = {
      checksOk: 0,
      checksFailed: 0,
      channelsOpened: { tcp: 0, tls: 0 },
      clientsOnTls: 0,
      clientsOnPlaintext: 0,
    };
    const clients = target.clients.map((plan) => new RailsClient(target, plan, stats, settings));
    byName.set(target.name, { stats, clients });
    for (const client of clients) client.start();
  }
  return {
    stats(name) {
      const entry = byName.get(name);
      if (!entry) return undefined;
      const transports = entry.clients.map((c) => c.channel?.transport);
      return {
        ...entry.stats,
        channelsOpened: { ...entry.stats.channelsOpened },
        clientsOnTls: transports.filter((t) => t === 'tls').length,
        clientsOnPlaintext: transports.filter((t) => t === 'tcp').length,
      };
    },
    async stop() {
      await Promise.all([...byName.values()].flatMap((e) => e.clients.map((c) => c.stop())));
    },
  };
}
