// A collection cycle reads observe → join → judge → persist → publish: observe every node with
// bounded concurrency while one Prometheus query set covers the whole fleet, join each node's
// observation with Prometheus' answer (join.ts), judge, save the history, and publish the view.
// Timing policy lives in migration/timing.ts. Cycles never overlap; a scrape never starts one.
import type { Logger } from 'pino';
import { readClientReport } from '../clients/read-clients.ts';
import type { ClientReport } from '../clients/client-routes.ts';
import { mapWithConcurrency } from '../base/concurrency.ts';
import { prometheusInstanceOf } from '../config/nodes.ts';
import type { Config } from '../config/types.ts';
import type { PrometheusFleetEvidence, SourceError } from '../evidence/evidence.ts';
import { CaBundleCache, type CaBundle } from '../probes/ca-bundle.ts';
import { TlsSessionCache } from '../probes/tls-sessions.ts';
import { chooseQueryWindow, type QueryWindow } from '../migration/query-window.ts';
import { firstSlotStartFrom, windowEndOutsideDials } from './slots.ts';
import { saveState } from '../migration/state.ts';
import { timingPolicy, type TimingPolicy } from '../migration/timing.ts';
import { emptyHistory, type NodeHistory } from '../migration/types.ts';
import { judgeFleet, judgeNode, type FleetVerdict, type NodeVerdict } from '../migration/verdict.ts';
import { rangeLagMs, verifiedFleetEvidence } from '../sources/prometheus.ts';
import { PROMETHEUS_ENGINE, type EngineCheck } from '../sources/prometheus-engine.ts';
import { ReverseDnsCache, systemReverseLookup } from '../peers/reverse-dns.ts';
import { collectionView, type CollectionView } from '../view/collection-view.ts';
import { advanceNode, recordObservation, type ScrapeEvent } from '../migration/advance-node.ts';
import { PhaseLog } from './phase-log.ts';
import { SourceHealth } from './source-health.ts';
import { Inventory, type InventoryDeps } from '../inventory/inventory.ts';
import { inventoryBlocking } from '../inventory/missing.ts';
import { judgeMissingNode } from '../migration/missing-node.ts';
import type { InventoryView } from '../inventory/types.ts';
import { emptyCarry, observeNode, type NodeCarry, type NodeObservation } from '../collect/observe-node.ts';
import type { ProbeFunctions } from '../collect/probes.ts';

export interface NodeResult {
  /** What was observed this collection (kept for diagnostics; the outputs read only the view). */
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
  /** What every output renders: one view per node, computed once from the above. */
  view: CollectionView;
  /** Where this cycle's node list came from: each source's outcome, and the nodes kept though no longer listed. */
  inventory?: InventoryView;
}

export interface CollectorDeps {
  config: Config;
  logger: Logger;
  probes: ProbeFunctions;
  now?: () => number;
  /** Histories loaded from the state file. */
  histories?: Map<string, NodeHistory>;
  /** Replaces the inventory's sources (tests, the benchmark). */
  inventorySources?: InventoryDeps['sources'];
  /** How often a failure that lasts is logged again (default 15 min). */
  failureRepeatMs?: number;
}

/** What the observe step gathers: every node's observation, and the fleet-wide answers. */
interface Observed {
  observations: NodeObservation[];
  prometheus: PrometheusFleetEvidence | null;
  queryWindow: QueryWindow | null;
  clients: ClientReport | null;
  /** This cycle's node list, and the discovered nodes kept though no longer listed. */
  inventory: InventoryView;
}

export class Collector {
  private config: Config;
  private readonly logger: Logger;
  private readonly probes: ProbeFunctions;
  private readonly now: () => number;
  private histories: Map<string, NodeHistory>;
  private carries = new Map<string, NodeCarry>();
  /** This cycle's observations so far: a stop that cannot wait for the cycle saves what they taught. */
  private observedSoFar = new Map<string, NodeObservation>();
  private readonly sourceHealth: SourceHealth;
  private readonly phaseLog: PhaseLog;
  private latestSnapshot: Snapshot | null = null;
  private running: Promise<Snapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private saving: Promise<unknown> = Promise.resolve();
  private readonly listeners: Array<(s: Snapshot) => void | Promise<void>> = [];
  private peerNames: ReverseDnsCache | null = null;
  /** Shared with /probe, so neither re-parses the bundle nor rebuilds TLS contexts per call. */
  readonly caBundles = new CaBundleCache();
  /** The node list, asked afresh each collection; /probe's allow-list. */
  readonly inventory: Inventory;
  /** TLS sessions resumed between cycles (see probes/tls-sessions.ts). */
  private readonly tlsSessions = new TlsSessionCache();

  constructor(deps: CollectorDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.probes = deps.probes;
    this.now = deps.now ?? Date.now;
    this.histories = deps.histories ?? new Map<string, NodeHistory>();
    this.sourceHealth = new SourceHealth(deps.logger, { repeatMs: deps.failureRepeatMs });
    this.phaseLog = new PhaseLog(deps.logger);
    this.inventory = new Inventory(deps.config, {
      now: this.now,
      dispatcher: deps.probes.dispatcher,
      sources: deps.inventorySources,
      // Without a better date, kept a whole soak window from now: later rather than silently.
      remembered: [...this.histories].map(([name, h]) => ({ name, lastListedMs: h.lastScrapeMs ?? this.now() })),
    });
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

  /** Applies a new configuration from the next cycle on; nodes that leave the inventory lose their history. */
  setConfig(config: Config): void {
    this.config = config;
    this.inventory.setConfig(config);
  }

  /** The inventory's answer for this cycle; history of nodes it no longer holds (listed or kept) is dropped. */
  private async nodeList(): Promise<InventoryView> {
    const view = await this.inventory.refresh();
    const names = new Set([...view.nodes, ...view.missing.map((m) => m.node)].map((n) => n.name));
    for (const name of [...this.histories.keys()]) if (!names.has(name)) this.histories.delete(name);
    for (const name of [...this.carries.keys()]) if (!names.has(name)) this.carries.delete(name);
    for (const s of view.sources) if (s.error) this.sourceHealth.count(`inventory_${s.kind}`, s.error.code);
    return view;
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
      // The next slot's start (src/cycle/slots.ts), at least half an interval after this one
      // began: a collection that started late in its slot (the first one) does not run twice at once.
      const intervalMs = this.config.collectionIntervalMs;
      const nowMs = this.now();
      const wait = firstSlotStartFrom(Math.max(nowMs, began + intervalMs / 2), intervalMs) - nowMs;
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
    // The same update the cycle would make, without Prometheus' answer (which has not come).
    const histories = new Map(this.histories);
    const options = timingPolicy(this.config).history;
    for (const [name, o] of this.observedSoFar)
      histories.set(name, recordObservation(histories.get(name) ?? emptyHistory(), o, options).history);
    const saved = await this.save(this.config.stateFile, histories);
    const outcome = saved.ok ? 'saved the history of the nodes observed so far' : saved.error.message;
    this.logger.warn(`stopping with a collection still running after ${waitMs} ms: ${outcome}`);
  }

  /** One save at a time: a save at stop can overlap the cycle's own, and both write one temporary file. */
  private save(stateFile: string, histories: Map<string, NodeHistory> = this.histories): ReturnType<typeof saveState> {
    const next = this.saving.then(() => saveState(stateFile, histories, this.now()));
    this.saving = next.catch(() => undefined);
    return next;
  }

  /** observe → join → judge → persist → publish. */
  private async cycle(): Promise<Snapshot> {
    const config = this.config;
    const started = this.now();
    const policy = timingPolicy(config);
    const inventoryPromise = this.nodeList();
    const ca = await this.caBundles.get(config.caFile);

    const observed = await this.observe(config, policy, ca, inventoryPromise);
    const nowMs = this.now();
    const nodes = this.joinAndJudge(config, policy, observed, nowMs);
    const declared = new Set(nodes.flatMap((n) => (n.instance ? [n.instance] : [])));
    const { prometheus } = observed;
    const undeclared = prometheus?.ok ? prometheus.instancesSeen.filter((i) => !declared.has(i)).sort() : [];
    const fleet = judgeFleet(
      nodes.map((n) => n.verdict),
      undeclared,
      prometheus ? prometheus.ok : null,
      inventoryBlocking(observed.inventory),
    );
    const stateError = await this.persist(config);
    return this.publish({
      atMs: nowMs,
      durationMs: this.now() - started,
      nodes,
      fleet,
      prometheus,
      queryWindow: observed.queryWindow,
      caBundle: ca.ok ? { ok: true, source: ca.source, count: ca.count } : { ok: false, error: ca.error },
      stateError,
      sourceErrors: this.sourceHealth.counts(),
      clients: observed.clients,
      inventory: observed.inventory,
      soakWindowMs: config.soakWindowMs,
      expiryWarningMs: config.expiryWarningMs,
      bucketMs: policy.history.bucketMs,
      plaintextCheckIntervalMs: config.plaintextCheckIntervalMs,
    });
  }

  /** Every node with bounded concurrency while one Prometheus query set covers the whole fleet. */
  private async observe(config: Config, policy: TimingPolicy, ca: CaBundle, inventoryPromise: Promise<InventoryView>): Promise<Observed> {
    const ownDials = [...this.histories.values()].flatMap((h) => h.ownTcpTimesMs);
    const prometheusPromise = this.queryPrometheus(config, policy, ownDials);

    const inventory = await inventoryPromise;
    const fleetNodes = inventory.nodes;
    const clientsPromise = config.clients?.length ? readClientReport(config.clients, fleetNodes) : Promise.resolve(null);
    if (config.local?.reverseDns)
      this.peerNames ??= new ReverseDnsCache({ lookup: this.probes.reverseLookup ?? systemReverseLookup(), now: this.now });
    const ctx = {
      // Local mode on a Gitaly host with its config.toml as the source: the node it describes.
      config:
        config.local && !config.local.node && inventory.localNode
          ? { ...config, local: { ...config.local, node: inventory.localNode } }
          : config,
      probes: this.probes,
      caPems: ca.ok ? ca.pems : undefined,
      now: this.now,
      logger: this.logger,
      peerNames: config.local?.reverseDns ? this.peerNames : null,
      tlsSessions: this.tlsSessions,
    };
    this.observedSoFar = new Map();
    const observations = await mapWithConcurrency(fleetNodes, config.concurrency, async (node) => {
      const history = this.histories.get(node.name) ?? emptyHistory();
      const memory = { lastPlaintextProbe: history.lastPlaintextProbe, tlsEverUp: history.tlsLastUpMs !== null };
      const result = await observeNode(node, memory, this.carries.get(node.name) ?? emptyCarry(), ctx);
      this.carries.set(node.name, result.carry);
      this.observedSoFar.set(node.name, result.observation);
      return result.observation;
    });
    const { prometheus, queryWindow } = await prometheusPromise;
    if (prometheus && !prometheus.ok) this.sourceHealth.count('prometheus', prometheus.error.code);
    return { observations, prometheus, queryWindow, clients: await clientsPromise, inventory };
  }

  /**
   * Prometheus' evidence for the fleet: the engine is checked first (src/sources/prometheus-engine.ts),
   * then the window is chosen to end before what that engine rewrites of a range answer's newest end.
   */
  private async queryPrometheus(
    config: Config,
    policy: TimingPolicy,
    ownDials: readonly number[],
  ): Promise<{ prometheus: PrometheusFleetEvidence | null; queryWindow: QueryWindow | null }> {
    const prom = config.prometheus;
    if (!prom) return { prometheus: null, queryWindow: null };
    const started = this.now();
    const options = { timeoutMs: config.timeouts.prometheusMs, maxBytes: config.maxPrometheusResponseBytes };
    const deps = { dispatcher: this.probes.dispatcher, now: this.now };
    const engine: EngineCheck = this.probes.checkQueryEngine
      ? await this.probes.checkQueryEngine(prom, options, deps)
      : { ok: true, ...PROMETHEUS_ENGINE };
    const { soakWindowMs, maxShiftMs } = policy.queryWindow;
    const lagMs = engine.ok ? rangeLagMs(engine, (soakWindowMs + maxShiftMs + 2 * policy.slackMs) / 1000) : 0;
    // Never inside the dials of a slot: see src/cycle/slots.ts.
    const endMs = windowEndOutsideDials(this.now() - lagMs, config.collectionIntervalMs);
    const queryWindow = chooseQueryWindow(endMs, ownDials, policy.queryWindow);
    const window = { startMs: queryWindow.startMs, endMs: queryWindow.endMs, marginMs: policy.slackMs };
    const prometheus = await verifiedFleetEvidence(
      engine,
      (info) => this.probes.queryFleetEvidence(prom, window, options, deps, info),
      () => this.now() - started,
    );
    return { prometheus, queryWindow };
  }

  /** Each node's history advanced once by its observation and Prometheus' answer, then judged. */
  private joinAndJudge(config: Config, policy: TimingPolicy, o: Observed, nowMs: number): NodeResult[] {
    const ctx = { prometheus: o.prometheus, queryWindow: o.queryWindow, policy, nowMs };
    const judged = o.observations.map((observation) => {
      const node = observation.node;
      this.sourceHealth.countObservation(observation);
      const instance = prometheusInstanceOf(node);
      const before = this.histories.get(node.name) ?? emptyHistory();
      const joined = advanceNode(node, instance, observation, before, ctx, o.inventory.conflicts.get(node.name));
      this.logScrape(node.name, joined.scrape, observation);
      this.logLastSeenChange(node.name, instance, before.plaintextLastSeenMs, joined.history.plaintextLastSeenMs, o);
      this.histories.set(node.name, joined.history);
      const verdict = judgeNode(joined.evidence, policy.verdict);
      return { observation, verdict, history: joined.history, instance };
    });
    // A discovered node its source no longer lists: kept, unknown and blocking, for a soak window.
    const missing = o.inventory.missing.map((m): NodeResult => {
      const history = this.histories.get(m.node.name) ?? emptyHistory();
      const verdict = judgeMissingNode(m, history, { nowMs, expiryWarningMs: config.expiryWarningMs });
      const observation: NodeObservation = {
        node: m.node,
        scrape: null,
        scrapeAtMs: null,
        tls: null,
        certFile: null,
        plaintext: null,
        plaintextFresh: false,
        sockets: null,
        durationMs: 0,
        runs: [],
      };
      return { observation, verdict, history, instance: prometheusInstanceOf(m.node) };
    });
    return [...judged, ...missing];
  }

  /** A Gitaly restart, and the growth a direct scrape took for a client: the line that explains a later "plaintext seen". */
  private logScrape(name: string, e: ScrapeEvent | null, o: NodeObservation): void {
    if (!e) return;
    if (e.reset) this.logger.info({ node: name, continuityBroken: e.continuityBroken }, 'Gitaly counters reset (restart)');
    // Debug: a node with a real plaintext client does this every cycle.
    if (e.real && e.real.tcp > 0 && this.logger.isLevelEnabled('debug'))
      this.logger.debug(
        {
          node: name,
          atMs: e.atMs,
          tcp: e.real.tcp,
          counts: o.scrape?.ok ? o.scrape.counts : null,
          previous: e.previousCounts,
          previousScrapeMs: e.previousScrapeMs,
          ownSubtracted: e.ownSubtracted,
          reset: e.reset,
        },
        'direct scrape: plaintext counter grew beyond own dials',
      );
  }

  /**
   * "Plaintext last seen" is the one answer that is kept for good (the state file), so every move of
   * it is logged with the evidence it came from: a wrong one can then be traced to its source.
   */
  private logLastSeenChange(name: string, instance: string | null, beforeMs: number | null, afterMs: number | null, o: Observed): void {
    // Per node per cycle: build nothing unless debug lines are written.
    if (afterMs === beforeMs || !this.logger.isLevelEnabled('debug')) return;
    const p = o.prometheus;
    const evidence = p?.ok && instance ? p.byInstance.get(instance) : undefined;
    // Debug: during dual listen a real client moves it every cycle.
    this.logger.debug(
      {
        node: name,
        beforeMs,
        afterMs,
        prometheus: p === null ? 'none' : p.ok ? 'ok' : p.error.code,
        coverage: evidence?.coverage,
        queryWindow: o.queryWindow ? { startMs: o.queryWindow.startMs, endMs: o.queryWindow.endMs } : null,
        tcpChanges: evidence?.tcpChanges,
        publishedDialsMs: evidence?.dialsMs,
        ownDialsMs: this.histories.get(name)?.ownTcpTimesMs,
      },
      'plaintext last seen changed',
    );
  }

  private async persist(config: Config): Promise<SourceError | null> {
    const saved = await this.save(config.stateFile);
    if (saved.ok) return null;
    this.sourceHealth.count('state_file', saved.error.code);
    return saved.error;
  }

  /** The view every output renders, computed once; then the listeners (the metrics renderer). */
  private async publish(
    input: Omit<Snapshot, 'view'> & { soakWindowMs: number; expiryWarningMs: number; bucketMs: number; plaintextCheckIntervalMs: number },
  ): Promise<Snapshot> {
    const { soakWindowMs, expiryWarningMs, bucketMs, plaintextCheckIntervalMs, ...rest } = input;
    const snapshot: Snapshot = {
      ...rest,
      view: collectionView({
        ...rest,
        nodes: rest.nodes.map(({ observation, verdict, history, instance }) => ({ node: observation.node, verdict, history, instance })),
        clients: rest.clients ?? null,
        soakWindowMs,
        expiryWarningMs,
        bucketMs,
        plaintextCheckIntervalMs,
      }),
    };
    this.sourceHealth.logChanges(snapshot.view);
    this.phaseLog.logChanges(snapshot.view);
    this.latestSnapshot = snapshot;
    for (const listener of this.listeners) {
      try {
        await listener(snapshot);
      } catch (err) {
        this.logger.error({ err }, 'snapshot listener failed');
      }
    }
    this.logger.debug(
      { durationMs: snapshot.durationMs, nodes: snapshot.nodes.length, complete: snapshot.fleet.complete },
      'collection finished',
    );
    return snapshot;
  }
}
