// A real TLS server that sends exactly the given certificates, probed once as the collector probes
// it: for tests of what the outputs call served and what Node took from the CA bundle.
import { chainPem, createCa, createIntermediate, createLeaf, type Issued } from '../../src/demo/certs.ts';
import type { TlsProbeResult } from '../../src/evidence/evidence.ts';
import { probeTls } from '../../src/probes/tls.ts';
import { startTlsServer } from './tls-servers.ts';

export const SERVED_CHAIN_HOST = 'gitaly.example.com';

export interface TestPki {
  root: Issued;
  intermediate: Issued;
  leaf: Issued;
}

/** A root, an intermediate and a leaf for SERVED_CHAIN_HOST, valid around `nowMs`. */
export async function testPki(nowMs: number): Promise<TestPki> {
  const root = await createCa('served-chain test root', { nowMs });
  const intermediate = await createIntermediate(root, 'served-chain test intermediate', { nowMs });
  const leaf = await createLeaf(intermediate, SERVED_CHAIN_HOST, { nowMs });
  return { root, intermediate, leaf };
}

/** Serves `sent` (leaf first, the leaf's key), probes it trusting `caBundle`, and stops the server. */
export async function probeSending(sent: Issued[], caBundle: Issued[]): Promise<TlsProbeResult> {
  const leaf = sent[0]!;
  const server = await startTlsServer({ cert: chainPem(...sent), key: leaf.keyPem });
  try {
    return await probeTls(
      { node: 'gitaly-1', address: server.address, serverName: SERVED_CHAIN_HOST },
      { timeoutMs: 5000, ca: caBundle.map((c) => c.certPem), checkVersions: false },
    );
  } finally {
    await server.close();
  }
}
