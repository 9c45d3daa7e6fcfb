// The stable `code` of every SourceError, one per cause whichever source met it (as undici's
// UND_ERR_* are): alerts, source_errors_total{reason} and scripts match on these.
export const ERROR_CODES = [
  'ABORTED', // the caller cancelled (shutdown, a newer collection)
  'ADDRESS', // the configured address does not parse
  'BAD_RESPONSE', // an answer that is not what the protocol promises
  'CA_BUNDLE', // the CA bundle cannot be read or holds no certificate
  'CERT_FILE', // the certificate file holds no usable certificate
  'CONFIG', // a setting the source needs is missing or unreadable (e.g. a token file)
  'CONNECT', // no connection: refused, unreachable, reset before any answer
  'DECODE', // a compressed body that does not decompress
  'DNS', // the name did not resolve (ENOTFOUND, EAI_*)
  'GRPC_HEALTH', // the gRPC health check failed
  'HANDSHAKE', // the TLS handshake failed after connecting
  'HTTP_STATUS', // an HTTP status other than 200
  'INTERNAL', // a bug: a function that must not throw did (kept so one source cannot stop a collection)
  'INVALID_URL',
  'NOT_A_FILE',
  'NOT_GITALY', // the page has no Gitaly connection counter
  'PARSE', // the answer does not parse
  'PARTIAL', // Prometheus answered with warnings (Thanos' partial responses), or isPartial (VictoriaMetrics cluster)
  'READ', // a local file cannot be read
  'RESET', // the peer reset the connection after accepting it
  'STATE_CORRUPT',
  'STATE_READ',
  'STATE_WRITE',
  'TIMEOUT', // no answer within the deadline, including the connect
  'TOO_LARGE', // the answer is over the size cap
  'TOO_MANY_SAMPLES', // Prometheus' answer is over the sample cap
  'TRUNCATED', // the answer stopped before it was complete
  'UNVERIFIED_ENGINE', // prometheus.url is an engine whose query semantics are not verified (Thanos, Mimir, VictoriaMetrics with its default latency offset)
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** System error codes for a name that did not resolve: DNS, from every source. */
export const DNS_SYSTEM_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

/** A failed connection attempt's code: DNS when the name did not resolve, CONNECT otherwise. */
export function connectFailureCode(systemCode: string | undefined): 'DNS' | 'CONNECT' {
  return systemCode !== undefined && DNS_SYSTEM_CODES.has(systemCode) ? 'DNS' : 'CONNECT';
}
