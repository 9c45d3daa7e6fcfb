// Unauthenticated /probe callers in a crowd: the CA bundle is parsed once and shared with the
// collector (so are the TLS contexts built from it), and only MAX_CONCURRENT_PROBES run at once;
// the rest are told 429 with a sentence, at once.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { realProbes, type ProbeFunctions } from '../../src/collect/probes.ts';
import { createCa, createLeaf } from '../../src/demo/certs.ts';
import { Exporter, MAX_CONCURRENT_PROBES } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { startSilentServer, startTlsServer, type LoopbackServer, type TlsServer } from '../helpers/tls-servers.ts';
import { waitFor } from '../helpers/wait-for.ts';

const logger = pino({ level: 'silent' });

describe('faults: a crowd of /probe callers', function () {
  this.timeout(60_000);
  let dir: string;
  let tlsServer: TlsServer;
  let silent: LoopbackServer;
  let caFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-probe-flood-'));
    const ca = await createCa();
    const leaf = await createLeaf(ca, 'localhost', { ipAddresses: ['127.0.0.1'] });
    // A bundle of many CAs, like a system store copied into trusted-certs.
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => createCa(`other CA ${i}`)));
    caFile = join(dir, 'ca.pem');
    await writeFile(caFile, [ca, ...others].map((c) => c.certPem).join(''));
    tlsServer = await startTlsServer({ cert: leaf.certPem, key: leaf.keyPem });
    silent = await startSilentServer();
  });
  after(async () => {
    await tlsServer?.close();
    await silent?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function exporterWith(probes: ProbeFunctions) {
    const config = fakeConfig([], join(dir, 'state.json'), {
      caFile,
      allowUnlistedTargets: true,
      timeouts: { metricsMs: 5000, tlsMs: 3000, plaintextMs: 5000, prometheusMs: 5000 },
    });
    const exporter = new Exporter({ config, logger, probes });
    return { exporter, app: buildApp({ logger, view: exporter }) };
  }

  it('reuses one parsed CA bundle (the collector’s) for every probe instead of re-reading the file per call', async () => {
    const bundlesSeen = new Set<string[] | undefined>();
    const { exporter, app } = exporterWith({
      ...realProbes,
      probeTls: (target, options, deps) => {
        bundlesSeen.add(options.ca);
        return realProbes.probeTls(target, options, deps);
      },
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: MAX_CONCURRENT_PROBES }, () => app.inject({ method: 'GET', url: `/probe?target=${tlsServer.address}` })),
      );
      for (const a of answers)
        expect(a.body)
          .to.include('gitaly_tls_cert_trusted{')
          .and.match(/gitaly_tls_cert_trusted\{[^}]*\} 1/);
      for (let i = 0; i < 5; i += 1) await app.inject({ method: 'GET', url: `/probe?target=${tlsServer.address}` });
      expect(bundlesSeen.size, 'one bundle array for every probe').to.equal(1);
      const shared = await exporter.collector.caBundles.get(caFile);
      expect(shared.ok && [...bundlesSeen][0] === shared.pems, 'the collector’s bundle').to.equal(true);
      expect(shared.ok && shared.count).to.equal(21);
    } finally {
      await app.close();
    }
  });

  it(`runs at most ${MAX_CONCURRENT_PROBES} probes at once; the others get 429 with Retry-After at once`, async () => {
    const { app } = exporterWith(realProbes);
    try {
      const before = silent.connections;
      const pending = Array.from({ length: 20 }, () => app.inject({ method: 'GET', url: `/probe?target=${silent.address}` }));
      // The listener accepts and never answers: the admitted probes hang until their deadline.
      await waitFor(() => silent.connections - before >= MAX_CONCURRENT_PROBES, {
        timeoutMs: 10_000,
        intervalMs: 10,
        what: 'the admitted probes to connect',
      });
      const answers = await Promise.all(pending);
      const refused = answers.filter((a) => a.statusCode === 429);
      expect(refused).to.have.length(20 - MAX_CONCURRENT_PROBES);
      expect(refused[0]!.headers['retry-after']).to.equal('1');
      expect(refused[0]!.body).to.match(/^Too many \/probe requests: 4 are already in progress/);
      expect(answers.filter((a) => a.statusCode === 200)).to.have.length(MAX_CONCURRENT_PROBES);
      expect(silent.connections - before, 'only the admitted probes dialled').to.equal(MAX_CONCURRENT_PROBES);
      // Once they have finished, probing works again.
      expect((await app.inject({ method: 'GET', url: `/probe?target=${tlsServer.address}` })).statusCode).to.equal(200);
    } finally {
      await app.close();
    }
  });
});
