// The probing functions a collection uses, gathered so tests and the benchmark can swap them.
import type { Dispatcher } from 'undici';
import { checkCertFile } from '../probes/cert-file.ts';
import { probePlaintext } from '../probes/plaintext.ts';
import { probeTls } from '../probes/tls.ts';
import { scrapeGitalyMetrics } from '../sources/gitaly-metrics.ts';
import { queryFleetEvidence } from '../sources/prometheus.ts';
import { readEstablished } from '../sources/sockets.ts';

export interface ProbeFunctions {
  scrapeGitalyMetrics: typeof scrapeGitalyMetrics;
  queryFleetEvidence: typeof queryFleetEvidence;
  probeTls: typeof probeTls;
  probePlaintext: typeof probePlaintext;
  checkCertFile: typeof checkCertFile;
  readEstablished: typeof readEstablished;
  dispatcher?: Dispatcher;
}

export const realProbes: ProbeFunctions = {
  scrapeGitalyMetrics,
  queryFleetEvidence,
  probeTls,
  probePlaintext,
  checkCertFile,
  readEstablished,
};
