// A collection cycle: observe every node with bounded concurrency while one Prometheus query set
// covers the whole fleet, then judge, persist history, and hand the snapshot to listeners (the
// metrics renderer). Cycles never overlap and a scrape of /metrics never starts one.
import type { Logger } from 'pino';
import { mapWithConcurrency } from '../concurrency.ts';
import { hostPortOf } from '../config/schema.ts';
import type { Config } from '../config/types.ts';
import type { PrometheusFleetEvidence, SourceError } from '../evidence.ts';
import { CaBundleCache } from '../probes/ca-bundle.ts';
import { TlsSessionCache } from '../probes/tls-sessions.ts';
import { prometheusCanary } from '../migration/canary.ts';
import { ownInWindow, recordPlaintextSeen, type HistoryOptions } from '../migration/history.ts';
import { plaintextSeenFromChanges, type SeenOptions } from '../migration/last-seen.ts';
import { chooseQueryWindow, querySlackMs, type QueryWindow } from '../migration/query-window.ts';
import { saveState } from '../migration/state.ts';
import { emptyHistory, type NodeHistory } from '../migration/types.ts';
import {
  judgeFleet,
  judgeNode,
  type FleetVerdict,
  type NodeVerdict,
  type PrometheusNodeView,
  type VerdictOptions,
} from '../migration/verdict.ts';
import { readClientReport } from '../clients/read-clients.ts';
import type { ClientReport } from '../clients/client-routes.ts';
import { ReverseDnsCache, systemReverseLookup } from '../sources/reverse-dns.ts';
import { emptyCarry, observeNode, type NodeCarry, type NodeObservation } from './observe-node.ts';
import type { ProbeFunctions } from './probes.ts';

export interface NodeResult {
  observation: NodeObservation;
  verdict: NodeVerdict;
  history: NodeHistory;
  /** The Prometheus instance label this node is matched by. */
  instance: string | null;
}

export interface Snapshot {
  atMs: number;
  durationMs: number;
  nodes: NodeResult[];
  fleet: FleetVerdict;
  prometheus: PrometheusFleetEvidence | null;
  queryWindow: QueryWindow | null;
  caBundle: { ok: true; source: string; count: number } | { ok: false; error: SourceError };
  stateError: SourceError | null;
  /** Lifetime error counts by source and code, for gitaly_tls_exporter_source_errors_total. */
  sourceErrors: Map<string, number>;
  /** Which client dials which node how, from the configured client files; null when none is configured. */
  clients?: ClientReport | null;
}

export interface CollectorDeps {
  config: Config;
  logger: Logger;
  probes: ProbeFunctions;
  now?: () => number;
  /** Histories loaded from the state file. */
  histories?: Map<string, NodeHistory>;
}

/** Instance label Prometheus gives a node: configured, or host:port of its metrics URL (as the loader fills it in). */
export function instanceOf(node: Config['nodes'][number]): string | null {
  if (node.prometheusInstance) return node.prometheusInstance;
  if (!node.metricsUrl) return null;
  try {
    return hostPortOf(node.metricsUrl);
  } catch {
    return null;
  }
}

/** How far the Prometheus window's edges may move to keep clear of own dials. */
function queryShiftMs(config: Config): number {
  // A dial just before now needs the end moved back up to two slacks; allow a margin beyond.
  return Math.max(4 * querySlackMs(config.prometheus?.scrapeIntervalMs ?? 60_000), config.soakWindowMs / 20);
}

/** How every exporter's dials are told from clients in Prometheus' per-change evidence. */
export function seenOptionsFor(config: Config): SeenOptions {
  const scrapeMs = config.prometheus?.scrapeIntervalMs ?? 60_000;
  return {
    soakWindowMs: config.soakWindowMs,
    toleranceMs: querySlackMs(scrapeMs),
    skewMs: 1_000,
    // A peer publishes a dial when its cycle ends; Prometheus scrapes it within an interval.
    settleMs: config.collectionIntervalMs + 2 * scrapeMs + 5_000,
  };
}

export function historyOptionsFor(config: Config): HistoryOptions {
  return {
    soakWindowMs: config.soakWindowMs,
    maxGapMs: 3 * config.collectionIntervalMs + config.timeouts.metricsMs,
    bucketMs: Math.max(config.collectionIntervalMs, Math.floor(config.soakWindowMs / 168)),
    // Own dials must outlive the furthest the query window's start may move back (queryShiftMs).
    retentionMarginMs: queryShiftMs(config) + querySlackMs(config.prometheus?.scrapeIntervalMs ?? 60_000),
  };
}

export class Collector {
  private config: Config;
  private readonly logger: Logger;
  private readonly probes: ProbeFunctions;
  private readonly now: () => number;
  private histories: Map<string, NodeHistory>;
  private carries = new Map<string, NodeCarry>();
  private readonly sourceErrors = new Map<string, number>();
  private latestSnapshot: Snapshot | null = null;
  private running: Promise<Snapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private saving: Promise<unknown> = Promise.resolve();
  private readonly listeners: Array<(s: Snapshot) => void | Promise<void>> = [];
  private peerNames: ReverseDnsCache | null = null;
  /** Shared with /probe, so neither re-parses the bundle nor rebuilds TLS contexts per call. */
  readonly caBundles = new CaBundleCache();
  private readonly tlsSessions = new TlsSessionCache();

  constructor(deps: CollectorDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.probes = deps.probes;
    this.now = deps.now ?? Date.now;
    this.histories = deps.histories ?? new Map<string, NodeHistory>();
  }

  get latest(): Snapshot | null {
    return this.latestSnapshot;
  }

  get currentConfig(): Config {
    return this.config;
  }

  onSnapshot(listener: (s: Snapshot) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Applies a new configuration from the next cycle on; removed nodes lose their history. */
  setConfig(config: Config): void {
    this.config = config;
    const names = new Set(config.nodes.map((n) => n.name));
    for (const name of [...this.histories.keys()]) if (!names.has(name)) this.histories.delete(name);
    for (const name of [...this.carries.keys()]) if (!names.has(name)) this.carries.delete(name);
  }

  /** Runs one cycle, or joins the one in progress. */
  collect(): Promise<Snapshot> {
    this.running ??= this.cycle().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  start(): void {
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      const began = this.now();
      try {
        await this.collect();
      } catch (err) {
        this.logger.error({ err }, 'collection failed');
      }
      if (this.stopped) return;
      const wait = Math.max(0, this.config.collectionIntervalMs - (this.now() - began));
      this.timer = setTimeout(() => void loop(), wait);
    };
    void loop();
  }

  /**
   * Stops scheduling; resolves when a cycle in progress has finished (and saved its state). A cycle
   * still running after `waitMs` (a large fleet behind stalled targets) is not waited for: the
   * history of the nodes it has observed so far is saved instead, so a stop never loses it.
   */
  async stop(waitMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const running = this.running;
    if (!running) return;
    const finished = running.then(
      () => true,
      () => true,
    );
    if (!Number.isFinite(waitMs)) {
      await finished;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
    const done = await Promise.race([finished, waited]);
    clearTimeout(timer);
    if (done) return;
    const saved = await this.save(this.config.stateFile);
    const outcome = saved.ok ? 'saved the history of the nodes observed so far' : saved.error.message;
    this.logger.warn(`stopping with a collection still running after ${waitMs} ms: ${outcome}`);
  }

  /** One save at a time: a save at stop can overlap the cycle's own, and both write one temporary file. */
  private save(stateFile: string): ReturnType<typeof saveState> {
    const next = this.saving.then(() => saveState(stateFile, this.histories, this.now()));
    this.saving = next.catch(() => undefined);
    return next;
  }

  private countError(source: string, code: string): void {
    const key = `${source}\u0000${code}`;
    this.sourceErrors.set(key, (this.sourceErrors.get(key) ?? 0) + 1);
  }

  private async cycle(): Promise<Snapshot> {
    const config = this.config;
    const started = this.now();
    const historyOptions = historyOptionsFor(config);
    const ca = this.caBundles.get(config.caFile);
    if (!ca.ok) this.logger.error(ca.error.message);

    const queryWindow = config.prometheus
      ? chooseQueryWindow(
          started,
          [...this.histories.values()].flatMap((h) => h.ownTcpTimesMs),
          {
            soakWindowMs: config.soakWindowMs,
            slackMs: querySlackMs(config.prometheus.scrapeIntervalMs ?? 60_000),
            maxShiftMs: queryShiftMs(config),
          },
        )
      : null;
    const prometheusPromise =
      config.prometheus && queryWindow
        ? this.probes.queryFleetEvidence(
            config.prometheus,
            {
              startMs: queryWindow.startMs,
              endMs: queryWindow.endMs,
              marginMs: querySlackMs(config.prometheus.scrapeIntervalMs ?? 60_000),
            },
            { timeoutMs: config.timeouts.prometheusMs, maxBytes: config.maxPrometheusResponseBytes },
            { dispatcher: this.probes.dispatcher, now: this.now },
          )
        : Promise.resolve(null);

    const clientsPromise = config.clients?.length ? readClientReport(config.clients, config.nodes) : Promise.resolve(null);
    if (config.local?.reverseDns)
      this.peerNames ??= new ReverseDnsCache({ lookup: this.probes.reverseLookup ?? systemReverseLookup(), now: this.now });
    const ctx = {
      config,
      probes: this.probes,
      caPems: ca.ok ? ca.pems : undefined,
      now: this.now,
      logger: this.logger,
      historyOptions,
      peerNames: config.local?.reverseDns ? this.peerNames : null,
      tlsSessions: this.tlsSessions,
    };
    // Last seen as it stood before this cycle's direct scrapes (see plaintextSeenFromChanges).
    const seenBefore = new Map(config.nodes.map((n) => [n.name, this.histories.get(n.name)?.plaintextLastSeenMs ?? null]));
    const observed = await mapWithConcurrency(config.nodes, config.concurrency, async (node) => {
      const history = this.histories.get(node.name) ?? emptyHistory();
      const carry = this.carries.get(node.name) ?? { ...emptyCarry(), plaintext: history.lastPlaintextProbe };
      const result = await observeNode(node, history, carry, ctx);
      this.histories.set(node.name, { ...result.history, lastPlaintextProbe: result.carry.plaintext });
      this.carries.set(node.name, result.carry);
      return result.observation;
    });
    const prometheus = await prometheusPromise;
    const clients = await clientsPromise;
    if (prometheus && !prometheus.ok) {
      this.countError('prometheus', prometheus.error.code);
      this.logger.warn({ code: prometheus.error.code }, `Prometheus query failed: ${prometheus.error.message}`);
    }

    const nowMs = this.now();
    const verdictOptions: VerdictOptions = {
      soakWindowMs: config.soakWindowMs,
      expiryWarningMs: config.expiryWarningMs,
      bucketMs: historyOptions.bucketMs,
      minCoverage: 0.998,
    };
    const declared = new Set<string>();
    const nodes: NodeResult[] = observed.map((observation) => {
      const node = observation.node;
      this.countObservationErrors(observation);
      const instance = instanceOf(node);
      if (instance) declared.add(instance);
      let history = this.histories.get(node.name) ?? emptyHistory();
      let verdictHistory: NodeHistory | null = null;
      let view: PrometheusNodeView | null = null;
      if (prometheus && queryWindow) {
        if (!prometheus.ok) view = { ok: false, error: prometheus.error };
        else {
          // An instance Prometheus scrapes but with no Gitaly connection counters (a wrong metrics
          // path, say) is no evidence of zero plaintext: treat it as no data.
          const evidence = instance && prometheus.instancesSeen.includes(instance) ? (prometheus.byInstance.get(instance) ?? null) : null;
          const own = ownInWindow(history, queryWindow.startMs, queryWindow.endMs, queryWindow.unsafe);
          // Also an instance Prometheus scrapes without any connection counter: it must count us too.
          const canary = prometheusCanary(history, queryWindow, instance ? (prometheus.byInstance.get(instance) ?? null) : null, {
            slackMs: querySlackMs(config.prometheus?.scrapeIntervalMs ?? 60_000),
            bucketMs: historyOptions.bucketMs,
            minCoverage: verdictOptions.minCoverage,
          });
          view = { ok: true, windowStartMs: queryWindow.startMs, windowEndMs: queryWindow.endMs, node: evidence, own, canary };
          if (evidence?.tcpChanges) {
            // Change by change, every exporter's dials excluded: the window count and last seen.
            const seen = plaintextSeenFromChanges(
              evidence.tcpChanges,
              { ownMs: history.ownTcpTimesMs, publishedMs: evidence.dialsMs ?? [] },
              seenBefore.get(node.name) ?? null,
              nowMs,
              seenOptionsFor(config),
              evidence.coverage >= verdictOptions.minCoverage ? queryWindow.startMs : null,
            );
            history = { ...history, plaintextLastSeenMs: seen.rememberMs };
            this.histories.set(node.name, history);
            view = { ...view, plaintextTcp: seen.windowTcp };
            verdictHistory = { ...history, plaintextLastSeenMs: seen.lastSeenMs };
          } else if (prometheus.perChange) {
            // No counter in Prometheus yet: a direct scrape cannot tell another exporter's dial
            // from a client, and the window is not covered anyway; keep what was known.
            history = { ...history, plaintextLastSeenMs: seenBefore.get(node.name) ?? null };
            this.histories.set(node.name, history);
          } else if (evidence && evidence.windowIncrease.tcp - own.tcp >= 0.5) {
            // Prometheus saw plaintext that was not ours: remember when, so a restart of the exporter keeps it.
            history = recordPlaintextSeen(history, evidence.tcpLastChangeMs ?? queryWindow.endMs);
            this.histories.set(node.name, history);
          }
        }
      }
      const verdict = judgeNode(
        {
          name: node.name,
          role: node.role,
          nowMs,
          history: verdictHistory ?? history,
          hasTlsAddress: Boolean(node.tlsAddress),
          hasPlaintextAddress: Boolean(node.plaintextAddress),
          plaintextListenerRemoved: node.plaintextListenerRemoved === true,
          scrape: observation.scrape,
          prometheus: view,
          tls: observation.tls,
          certFile: observation.certFile,
          plaintext: observation.plaintext,
          sockets: observation.sockets,
        },
        verdictOptions,
      );
      return { observation, verdict, history, instance };
    });

    const undeclared = prometheus?.ok ? prometheus.instancesSeen.filter((i) => !declared.has(i)).sort() : [];
    const fleet = judgeFleet(
      nodes.map((n) => n.verdict),
      undeclared,
      prometheus ? prometheus.ok : null,
    );

    const saved = await this.save(config.stateFile);
    if (!saved.ok) {
      this.countError('state_file', saved.error.code);
      this.logger.error(saved.error.message);
    }

    const snapshot: Snapshot = {
      atMs: nowMs,
      durationMs: this.now() - started,
      nodes,
      fleet,
      prometheus,
      queryWindow,
      caBundle: ca.ok ? { ok: true, source: ca.source, count: ca.count } : { ok: false, error: ca.error },
      stateError: saved.ok ? null : saved.error,
      sourceErrors: new Map(this.sourceErrors),
      clients,
    };
    this.latestSnapshot = snapshot;
    for (const listener of this.listeners) {
      try {
        await listener(snapshot);
      } catch (err) {
        this.logger.error({ err }, 'snapshot listener failed');
      }
    }
    this.logger.debug({ durationMs: snapshot.durationMs, nodes: nodes.length, complete: fleet.complete }, 'collection finished');
    return snapshot;
  }

  private countObservationErrors(o: NodeObservation): void {
    if (o.scrape && !o.scrape.ok) this.countError('gitaly_metrics', o.scrape.error.code);
    if (o.tls?.error) this.countError('tls', o.tls.error.code);
    if (o.certFile && !o.certFile.ok) this.countError('cert_file', o.certFile.error.code);
    if (o.plaintextFresh && o.plaintext?.error) this.countError('plaintext', o.plaintext.error.code);
    if (o.sockets && !o.sockets.ok) this.countError('sockets', o.sockets.error.code);
  }
}
