// Runs a real single-node VictoriaMetrics (Debian's /usr/bin/victoria-metrics) for tests, scraping
// with the same scrape config as test/helpers/prometheus-server.ts: a temp config and storage
// directory, a free loopback port, and a stop() that kills its process group.
//
// Flags, chosen so the tests see VictoriaMetrics as a fleet would run it:
//   - the query flags keep their defaults (-search.latencyOffset=30s, -search.maxQueryLen=16384,
//     the response cache on, the staleness interval derived from the samples): the exporter must
//     cope with what an administrator gets out of the box, so no test may lean on a raised limit;
//   - -promscrape.config.strictParse (its default, said aloud): a scrape config it would half-read
//     fails the start instead of scraping something else than the Prometheus twin of the test;
//   - -memory.allowedBytes: its caches stay small, since several run at once beside Prometheus.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  launchServer,
  reloadServer,
  renderConfig,
  stopServer,
  type RunningPrometheus,
  type StartPrometheusOptions,
} from './prometheus-server.ts';
import { realPart } from './real-parts.ts';

export async function startVictoriaMetrics(options: StartPrometheusOptions): Promise<RunningPrometheus> {
  const bin = realPart('victoriaMetrics');
  if (options.ruleFiles?.length) throw new Error('startVictoriaMetrics: rules run in vmalert, not in victoria-metrics');
  const scrapeInterval = options.scrapeInterval ?? '1s';
  const dataDir = await mkdtemp(join(tmpdir(), 'victoria-metrics-test-'));
  const configFile = join(dataDir, 'scrape.yml');
  try {
    await writeFile(configFile, renderConfig(options, scrapeInterval, null));
    const launched = await launchServer(bin, 'victoria-metrics', (port) => [
      `-storageDataPath=${join(dataDir, 'data')}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      `-promscrape.config=${configFile}`,
      '-promscrape.config.strictParse',
      '-memory.allowedBytes=256MiB',
      '-loggerLevel=INFO',
    ]);
    const url = `http://127.0.0.1:${launched.port}`;
    return {
      url,
      port: launched.port,
      dataDir,
      stop: () => stopServer(launched, dataDir),
      async reload(config) {
        await writeFile(configFile, renderConfig(config, scrapeInterval, null));
        await reloadServer(url, 'victoria-metrics', launched.output);
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
