// The settings of the generated Prometheus rules, as monitoring mixins keep them in one _config
// (kubernetes-mixin's clusterLabel, selectors and thresholds).

export interface RulesConfig {
  /**
   * Label matchers that select the exporter's own /metrics scrape, added to every selector of an
   * exporter metric. It keeps a /probe job (same metric names) from duplicating alerts.
   */
  exporterSelector: string;
  /**
   * Labels that tell environments apart (cluster, env…), kept through every aggregation and join,
   * so two fleets that both have a gitaly-1 stay two alerts. A label the series lack costs nothing.
   */
  clusterLabels: string[];
  /** A served certificate (or the file on disk) expiring within this many days: warning. */
  certWarningDays: number;
  /** … within this many days, and once expired: critical. The warning keeps firing under it too. */
  certCriticalDays: number;
  /** No collection finished for this long while Prometheus still scrapes the exporter: stuck. At least twice collection_interval. */
  collectionStaleSeconds: number;
  /** How long after a node falls back from tls_only_traffic or complete the regression alerts fire. */
  regressionLookback: string;
  /** How long a node must stay in tls_only_traffic before "ready to remove listen_addr". */
  readyToRemoveFor: string;
  /** Where docs/runbook.md is served; each alert links to its section. None: no runbook_url. */
  runbookUrl?: string;
  /** Grafana's base URL, for each alert's dashboard link. None: no dashboard_url. */
  grafanaUrl?: string;
}

/**
 * The shipped rules (deploy/prometheus/rules): no links, since the project has no address of its
 * own to point at and a made-up one would be a broken link; `gitaly-tls-exporter rules` adds them.
 */
export const DEFAULT_RULES_CONFIG: RulesConfig = {
  exporterSelector: 'job="gitaly-tls-exporter"',
  clusterLabels: ['cluster'],
  certWarningDays: 30,
  certCriticalDays: 7,
  collectionStaleSeconds: 600,
  regressionLookback: '1h',
  readyToRemoveFor: '1h',
};

/** The settings --set may change, with their kind. */
export const TUNABLE_SETTINGS = {
  certWarningDays: 'number',
  certCriticalDays: 'number',
  collectionStaleSeconds: 'number',
  regressionLookback: 'duration',
  readyToRemoveFor: 'duration',
} as const;
