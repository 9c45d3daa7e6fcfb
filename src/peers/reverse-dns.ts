// Names for plaintext peers from reverse DNS: cached, each lookup under a deadline, and a collection
// waits at most `waitMs` for names. A lookup that is still running then finishes in the background
// and its name shows from the next collection on; a peer without a name is shown by address.
import { Resolver } from 'node:dns/promises';

/** PTR lookup of one IP address; the resolver is a dependency so tests use a fake. */
export type ReverseLookup = (ip: string) => Promise<string[]>;

export interface ReverseDnsOptions {
  lookup: ReverseLookup;
  now: () => number;
  /** Deadline of one lookup. */
  timeoutMs: number;
  /** How long a collection waits for the names it asked for. */
  waitMs: number;
  /** How long an answer (or a failure) is kept. */
  ttlMs: number;
  failureTtlMs: number;
  /** Cache size cap; the oldest answers go first. */
  maxEntries: number;
  /** Lookups in flight at once; the rest wait for the next collection. */
  maxInFlight: number;
}

export const REVERSE_DNS_DEFAULTS = {
  timeoutMs: 2_000,
  waitMs: 1_000,
  ttlMs: 3_600_000,
  failureTtlMs: 300_000,
  maxEntries: 10_000,
  maxInFlight: 32,
} as const;

/** The system's resolver (resolv.conf), one try, with the lookup deadline. */
export function systemReverseLookup(timeoutMs: number = REVERSE_DNS_DEFAULTS.timeoutMs): ReverseLookup {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  return (ip) => resolver.reverse(ip);
}

interface Entry {
  name: string | null;
  expiresMs: number;
}

export class ReverseDnsCache {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly o: ReverseDnsOptions;

  constructor(options: Partial<ReverseDnsOptions> & Pick<ReverseDnsOptions, 'lookup' | 'now'>) {
    this.o = { ...REVERSE_DNS_DEFAULTS, ...options };
  }

  /** Names for these addresses: a name, or null (no PTR record, lookup failed or still running). */
  async names(addresses: readonly string[]): Promise<Map<string, string | null>> {
    const nowMs = this.o.now();
    const waits: Array<Promise<void>> = [];
    for (const address of new Set(addresses)) {
      const cached = this.cache.get(address);
      if (cached && cached.expiresMs > nowMs) continue;
      const running = this.inFlight.get(address);
      if (running) waits.push(running);
      else if (this.inFlight.size < this.o.maxInFlight) waits.push(this.start(address));
    }
    if (waits.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.o.waitMs);
      });
      await Promise.race([Promise.all(waits), deadline]);
      clearTimeout(timer);
    }
    return new Map(addresses.map((address) => [address, this.cache.get(address)?.name ?? null]));
  }

  private start(address: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), this.o.timeoutMs);
      // A lookup left running must not hold the process open on shutdown.
      timer.unref();
    });
    const lookup = Promise.race([this.o.lookup(address), timeout]).then(
      (names) => this.store(address, names.find((n) => n !== '')?.replace(/\.$/, '') ?? null, this.o.ttlMs),
      () => this.store(address, null, this.o.failureTtlMs),
    );
    const done = lookup.finally(() => {
      clearTimeout(timer);
      this.inFlight.delete(address);
    });
    this.inFlight.set(address, done);
    return done;
  }

  private store(address: string, name: string | null, ttlMs: number): void {
    this.cache.delete(address);
    this.cache.set(address, { name, expiresMs: this.o.now() + ttlMs });
    while (this.cache.size > this.o.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}
