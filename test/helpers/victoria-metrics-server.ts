// Runs a real single-node VictoriaMetrics (Debian's /usr/bin/victoria-metrics) for tests, scraping
// with the same scrape config as test/helpers/prometheus-server.ts: a temp config and storage
// directory, a free loopback port, and a stop() that kills its process group. Rule files run in a
// vmalert beside it, as VictoriaMetrics deployments run them.
//
// Flags, chosen so the tests see VictoriaMetrics as docs/deploy.md tells an administrator to run it:
//   - -search.latencyOffset=1s (the most src/sources/prometheus-engine.ts accepts): the default
//     30 s replaces every range query's newest 30 s of points with the point before, where the
//     exporter's own dials are; `latencyOffset` starts one with another value (the default, to see
//     it refused);
//   - every other query flag keeps its default (-search.maxQueryLen=16384, the response cache on,
//     the staleness interval derived from the samples): no test may lean on a raised limit;
//   - -promscrape.config.strictParse (its default, said aloud): a scrape config it would half-read
//     fails the start instead of scraping something else than the Prometheus twin of the test;
//   - -memory.allowedBytes: its caches stay small, since several run at once beside Prometheus.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  launchServer,
  type LaunchedServer,
  reloadServer,
  renderConfig,
  stopServer,
  type RunningPrometheus,
  type StartPrometheusOptions,
} from './prometheus-server.ts';
import { realPart } from './real-parts.ts';

export interface StartVictoriaMetricsOptions extends StartPrometheusOptions {
  /** -search.latencyOffset; default '1s'. */
  latencyOffset?: string;
}

export async function startVictoriaMetrics(options: StartVictoriaMetricsOptions): Promise<RunningPrometheus> {
  const bin = realPart('victoriaMetrics');
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
      `-search.latencyOffset=${options.latencyOffset ?? '1s'}`,
    ]);
    const url = `http://127.0.0.1:${launched.port}`;
    // Rules run in vmalert, which reads them from VictoriaMetrics and writes recorded series back.
    let rules: LaunchedServer | undefined;
    if (options.ruleFiles?.length) {
      try {
        rules = await launchServer(realPart('vmalert'), 'vmalert', (port) => [
          ...options.ruleFiles!.map((file) => `-rule=${file}`),
          `-datasource.url=${url}`,
          `-remoteWrite.url=${url}`,
          // No Alertmanager in the tests: alerts are sent nowhere (a closed port), only evaluated.
          '-notifier.url=http://127.0.0.1:9',
          `-evaluationInterval=${options.evaluationInterval ?? scrapeInterval}`,
          `-httpListenAddr=127.0.0.1:${port}`,
          '-loggerLevel=WARN',
        ]);
      } catch (err) {
        await stopServer(launched, dataDir);
        throw err;
      }
    }
    return {
      url,
      port: launched.port,
      dataDir,
      async stop() {
        if (rules) await stopServer(rules, dataDir);
        await stopServer(launched, dataDir);
      },
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
