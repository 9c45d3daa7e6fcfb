// The validated, defaults-applied configuration. All durations are milliseconds.

export type Role = 'gitaly' | 'praefect';

export interface NodeConfig {
  /** Unique name, used as the `node` label. */
  name: string;
  role: Role;
  /** Gitaly's prometheus_listen_addr page, e.g. http://gitaly-1:9236/metrics. */
  metricsUrl?: string;
  /** tls_listen_addr as clients dial it: host:port (a tls:// prefix is accepted and stripped). */
  tlsAddress?: string;
  /** listen_addr: host:port (a tcp:// prefix is accepted and stripped). */
  plaintextAddress?: string;
  /** `plaintext_address: none`: the operator declares listen_addr removed (or never there), so
   *  the node can be complete without dialling it. Never assumed from a missing key. */
  plaintextListenerRemoved?: boolean;
  /** [tls] certificate_path, readable by the exporter (same host or mounted). */
  certificateFile?: string;
  /** SNI and hostname to verify; defaults to the host of tlsAddress. */
  serverName?: string;
  /** The `instance` label Prometheus gives this node's Gitaly metrics; defaults to host:port of metricsUrl. */
  prometheusInstance?: string;
}

export interface PrometheusConfig {
  url: string;
  /** Extra label matchers added to every selector, e.g. `job="gitaly"`. */
  selector?: string;
  /** Label that identifies a node in Prometheus (default `instance`). */
  instanceLabel: string;
  /** The scrape interval Prometheus uses for Gitaly (YAML scrape_interval, default 1m): own dials
   *  are kept two intervals away from the query window's edges. */
  scrapeIntervalMs?: number;
  /**
   * false: the exporter does not download the nodes' metrics_url pages itself; Prometheus's
   * queries are the traffic evidence (metrics_url still names the instance). Absent = true.
   */
  directScrape?: boolean;
  bearerTokenFile?: string;
  basicAuth?: { username: string; passwordFile: string };
}

export interface LocalModeConfig {
  /** Node whose listeners are on this host; absent = the node read from a gitaly/praefect config.toml source. */
  node?: string;
  /** Directory holding net/tcp and net/tcp6 (default /proc). */
  procRoot: string;
  /** Name plaintext peers by reverse DNS (the loader sets it; absent = DEFAULTS.reverseDns, off). */
  reverseDns?: boolean;
  /** Peers with their own gitaly_tls_plaintext_peer_connections series; the rest are summed as peer="other".
   *  The loader sets it; absent = DEFAULTS.peerMetricLimit. */
  peerMetricLimit?: number;
}

/** A Gitaly client's configuration file the exporter reads to say which client dials which node how. */
export interface ClientFileConfig {
  /** Who reads this file, as the admin calls it, e.g. "puma on web-1". */
  name: string;
  kind: 'gitlab_yml' | 'praefect_config';
  /** Absolute path. */
  path: string;
}

/**
 * How a discovered target becomes a node: each field a template over the target's labels, written
 * `{label}` (plus `{host}`, `{port}`, `{instance}`, `{target}`). A template naming a label the
 * target lacks leaves the field out.
 */
export interface NodeTemplates {
  name?: string;
  role?: string;
  metricsUrl?: string;
  tlsAddress?: string;
  plaintextAddress?: string;
  certificateFile?: string;
  serverName?: string;
  /**
   * The config file's directory: a `certificate_file` that renders to a relative path resolves
   * against it, as every other path in the file does (not against the current directory).
   */
  baseDir?: string;
}

/** Settings for one node by name, applied to whatever source finds it (the static list wins). */
export interface NodeOverride {
  name: string;
  certificateFile?: string;
  serverName?: string;
  role?: Role;
  /** Replaces the discovered TLS address; `none` takes it away (a node whose TLS is not set up). */
  tlsAddress?: string;
}

export interface FileSdConfig {
  /** Absolute path of a Prometheus file_sd file (JSON or YAML). */
  file: string;
  templates: NodeTemplates;
}

export interface TomlSourceConfig {
  kind: 'gitaly' | 'praefect';
  /** Absolute path of Gitaly's or Praefect's config.toml. */
  file: string;
  /** Node name; default: the host. */
  name?: string;
  /** Host clients dial, for bind addresses like 0.0.0.0:8075; default: the certificate's first SAN. */
  host?: string;
  /** Praefect: also the Gitaly nodes named by [[virtual_storage.node]] addresses (default true). */
  virtualStorages?: boolean;
}

/** Where nodes come from besides the static nodes: list; every source is read at each collection. */
export interface DiscoveryConfig {
  /** Targets of the Prometheus in `prometheus:` matching this selector. */
  prometheus?: { selector?: string; templates: NodeTemplates };
  fileSd: FileSdConfig[];
  toml: TomlSourceConfig[];
  overrides: NodeOverride[];
  /** Deadline for reading one file source. */
  fileTimeoutMs: number;
  /** Cap on one file source's size. */
  maxFileBytes: number;
}

export interface Timeouts {
  metricsMs: number;
  tlsMs: number;
  plaintextMs: number;
  prometheusMs: number;
}

export interface Config {
  /** Absolute path of the file this came from, or `<demo>`. */
  source: string;
  /** The static list (may be empty when `discovery` names sources). */
  nodes: NodeConfig[];
  discovery?: DiscoveryConfig;
  prometheus?: PrometheusConfig;
  soakWindowMs: number;
  collectionIntervalMs: number;
  /** How often the plaintext listener is dialled (each dial adds to Gitaly's tcp counter). */
  plaintextCheckIntervalMs: number;
  /** How often TLS version support (1.2 / 1.3 pinned handshakes) is re-checked. */
  tlsVersionCheckIntervalMs: number;
  expiryWarningMs: number;
  concurrency: number;
  timeouts: Timeouts;
  maxMetricsPageBytes: number;
  maxPrometheusResponseBytes: number;
  stateFile: string;
  /** PEM file or directory of PEM files; absent = the system store. */
  caFile?: string;
  local?: LocalModeConfig;
  /** Client configuration files (GitLab Rails gitlab.yml, Praefect config.toml); absent = none. */
  clients?: ClientFileConfig[];
  allowUnlistedTargets: boolean;
}
