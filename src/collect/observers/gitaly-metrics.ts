// The node's own /metrics page: first, so every connection the probes after it open lands in the
// NEXT scrape's counters, where the history subtracts it exactly.
import type { Observer } from '../observer.ts';

export const gitalyMetricsObserver: Observer = {
  source: 'gitaly_metrics',
  // With direct_scrape: false, Prometheus (which scrapes the same page) is the only traffic evidence.
  due: ({ node, ctx }) => Boolean(node.metricsUrl) && ctx.config.prometheus?.directScrape !== false,
  async run({ node, ctx }) {
    const { config, probes, now } = ctx;
    const scrape = await probes.scrapeGitalyMetrics(
      node.metricsUrl!,
      { role: node.role, timeoutMs: config.timeouts.metricsMs, maxBytes: config.maxMetricsPageBytes },
      { dispatcher: probes.scrapeDispatcher ?? probes.dispatcher, now },
    );
    // When the page arrived, not when it was asked for: a client that connected during a slow
    // scrape is in these counters, and its "last seen" must not be earlier than its connection.
    return { observed: { scrape, scrapeAtMs: now() }, error: scrape.ok ? null : scrape.error };
  },
};
