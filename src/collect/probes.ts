// The probing functions a collection uses, gathered so tests and the benchmark can swap them.
import { Agent, type Dispatcher } from 'undici';
import { checkCertFile } from '../probes/cert-file.ts';
import { probePlaintext } from '../probes/plaintext.ts';
import type { ResolveAll } from '../probes/resolve-all.ts';
import { probeTlsEveryAddress } from '../probes/tls-every-address.ts';
import { scrapeGitalyMetrics } from '../sources/gitaly-metrics.ts';
import { queryFleetEvidence } from '../sources/prometheus.ts';
import { checkQueryEngine } from '../sources/prometheus-engine.ts';
import type { ReverseLookup } from '../peers/reverse-dns.ts';
import { readListening } from '../sources/listening.ts';
import { readEstablished } from '../sources/sockets.ts';

export interface ProbeFunctions {
  scrapeGitalyMetrics: typeof scrapeGitalyMetrics;
  queryFleetEvidence: typeof queryFleetEvidence;
  /** Which engine answers at prometheus.url; evidence counts only from a verified one. Absent (fakes): Prometheus. */
  checkQueryEngine?: typeof checkQueryEngine;
  probeTls: typeof probeTlsEveryAddress;
  probePlaintext: typeof probePlaintext;
  checkCertFile: typeof checkCertFile;
  readEstablished: typeof readEstablished;
  /** Every address of a listener's host name (the TLS and plaintext probes dial each); absent = the system resolver. */
  resolveAll?: ResolveAll;
  /** PTR lookups for local mode's reverse_dns; absent = the system resolver. */
  reverseLookup?: ReverseLookup;
  /** Local mode: listen_addr's state from /proc instead of a dial (absent: always dial). */
  readListening?: typeof readListening;
  /** Prometheus queries and inventory sources. */
  dispatcher?: Dispatcher;
  /** Each node's own /metrics page; absent: `dispatcher`. */
  scrapeDispatcher?: Dispatcher;
}

// Each node is scraped once per collection, far apart: a keep-alive socket per node (a thousand of
// them) would only hold memory. Keep a connection just long enough for a retry or a redirect.
const KEEP_ALIVE = { keepAliveTimeout: 1_000, keepAliveMaxTimeout: 1_000 };
const sharedAgent = new Agent(KEEP_ALIVE);
// One connection per origin makes undici give each node a bare Client instead of a Pool around
// one: the Pool and its queue were 15 MiB of garbage per 1,000-node collection. Not for
// Prometheus, whose queries of one collection run side by side on one origin.
const scrapeAgent = new Agent({ ...KEEP_ALIVE, connections: 1 });

export const realProbes: ProbeFunctions = {
  dispatcher: sharedAgent,
  scrapeDispatcher: scrapeAgent,
  scrapeGitalyMetrics,
  queryFleetEvidence,
  checkQueryEngine,
  probeTls: probeTlsEveryAddress,
  probePlaintext,
  checkCertFile,
  readEstablished,
  readListening,
};
