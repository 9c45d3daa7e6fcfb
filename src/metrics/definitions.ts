// The metric contract in one place: names, label names and HELP sentences. Dashboards, rules,
// README and tests use these names; change them here and nowhere else.

interface Definition {
  help: string;
  labels: readonly string[];
  type?: 'counter';
}

/** The label value of the one series that counts the undeclared instances past those listed. */
export const UNDECLARED_OTHERS = '__others__';

export const METRICS = {
  gitaly_tls_migration_phase: {
    help: 'Migration phase of the node: 1 for the current phase, 0 for the others.',
    labels: ['node', 'role', 'phase'],
  },
  gitaly_tls_migration_blocked: {
    help: 'Reasons that keep the node from the next migration phase, 1 per reason present.',
    labels: ['node', 'reason'],
  },
  gitaly_tls_migration_complete: { help: 'Whether the whole fleet has finished moving to TLS (1) or not (0).', labels: [] },
  gitaly_tls_undeclared_instance: {
    help: 'A Prometheus instance exporting Gitaly connection counters that no configured node claims (1); it blocks fleet completion. Past the first 100, the rest are summed into prometheus_instance="__others__", so sum() counts them all.',
    labels: ['prometheus_instance'],
  },
  gitaly_tls_window_connections: {
    help: "New connections accepted during the soak window by listener type, the exporter's own connections excluded.",
    labels: ['node', 'type'],
  },
  gitaly_tls_plaintext_last_seen_timestamp_seconds: {
    help: "Unix time at which a plaintext connection that was not the exporter's own was last observed.",
    labels: ['node'],
  },
  gitaly_tls_established_connections: {
    help: "Connections established to the node's listeners right now (local mode).",
    labels: ['node', 'listener'],
  },
  gitaly_tls_plaintext_peer_connections: {
    help: 'Plaintext connections established right now from each client address (local mode): the top peers by connections, the rest summed as peer="other".',
    labels: ['node', 'peer'],
  },
  gitaly_tls_plaintext_listener_open: {
    help: 'Whether listen_addr still accepts TCP connections (1) or refuses them (0); absent when not known (not checked yet, the check failed, or the whole host is down).',
    labels: ['node', 'address'],
  },
  gitaly_tls_probe_success: {
    help: 'Whether the TLS probe succeeded as a gRPC client needs it (1): handshake done, chain trusted, a SAN naming the address, ALPN h2.',
    labels: ['node', 'address'],
  },
  gitaly_tls_probe_duration_seconds: { help: 'Time the TLS probe took, in seconds.', labels: ['node', 'address'] },
  gitaly_tls_handshake_ok: { help: 'Whether the TLS handshake completed (1) or not (0).', labels: ['node', 'address'] },
  gitaly_tls_cert_trusted: {
    help: 'Whether the served chain is trusted by the configured CA bundle (1) or not (0).',
    labels: ['node', 'address'],
  },
  gitaly_tls_hostname_match: {
    help: 'Whether a Subject Alternative Name of the served certificate matches the dialled address (1) or not (0).',
    labels: ['node', 'address'],
  },
  gitaly_tls_alpn_h2: { help: 'Whether the listener negotiated HTTP/2 through ALPN (1) or not (0).', labels: ['node', 'address'] },
  gitaly_tls_grpc_health_ok: {
    help: "Whether grpc.health.v1.Health/Check answered SERVING over the probe's TLS connection (1) or failed (0); absent without a handshake or ALPN h2.",
    labels: ['node', 'address'],
  },
  gitaly_tls_version_info: { help: 'The TLS version negotiated by the probe, value 1.', labels: ['node', 'address', 'version'] },
  gitaly_tls_version_accepted: {
    help: 'Whether the listener accepts a handshake pinned to this TLS version (1) or refuses it (0).',
    labels: ['node', 'address', 'version'],
  },
  gitaly_tls_cert_not_after_timestamp_seconds: {
    help: 'Unix time after which the certificate is no longer valid; position: leaf, intermediate or root as served, trust_anchor if taken from the CA bundle.',
    labels: ['node', 'address', 'position', 'serial'],
  },
  gitaly_tls_cert_not_before_timestamp_seconds: {
    help: 'Unix time before which the certificate is not yet valid; position: leaf, intermediate or root as served, trust_anchor if taken from the CA bundle.',
    labels: ['node', 'address', 'position', 'serial'],
  },
  gitaly_tls_cert_info: {
    help: 'Facts about each certificate of the chain (served, or the trust_anchor taken from the CA bundle), value 1.',
    labels: ['node', 'address', 'position', 'serial', 'subject', 'issuer', 'sans', 'sha256'],
  },
  gitaly_tls_cert_file_matches_served: {
    help: 'Whether the certificate file on disk is the one served (1); 0 means Gitaly must be restarted to load it.',
    labels: ['node'],
  },
  gitaly_tls_cert_file_not_after_timestamp_seconds: {
    help: 'Unix time after which the leaf certificate in the file on disk is no longer valid.',
    labels: ['node'],
  },
  gitaly_tls_node_info: {
    help: "The node's role and Gitaly version from gitlab_build_info, value 1; absent while the version is not observed (no scrape answered).",
    labels: ['node', 'role', 'version'],
  },
  gitaly_tls_soak_window_seconds: {
    help: 'The configured soak window: how long a node must see no plaintext connection before listen_addr may be removed.',
    labels: [],
  },
  gitaly_tls_soak_projected_safe_timestamp_seconds: {
    help: "Unix time at which the node's soak window will hold no plaintext connection if none arrives (last plaintext connection or start of observation, plus the window); absent when not known.",
    labels: ['node'],
  },
  gitaly_tls_exporter_source_up: {
    help: 'Whether the source of evidence answered in the latest collection (1) or failed (0).',
    labels: ['node', 'source'],
  },
  gitaly_tls_exporter_source_errors_total: {
    help: 'Failures of each source of evidence since the exporter started, by reason.',
    labels: ['source', 'reason'],
    type: 'counter',
  },
  gitaly_tls_exporter_probe_connections_total: {
    help: "Connections the exporter itself opened to the node's listeners, by Gitaly counter type.",
    labels: ['node', 'type'],
    type: 'counter',
  },
  gitaly_tls_exporter_plaintext_dial_timestamp_seconds: {
    help: "Unix time of the exporter's latest own connection to the node's listen_addr; other exporters on the same Prometheus read it to tell these dials from plaintext clients (prometheus_instance names the node as Prometheus does).",
    labels: ['node', 'prometheus_instance'],
  },
  gitaly_tls_exporter_plaintext_next_dial_timestamp_seconds: {
    help: "Unix time at or after which the exporter will next connect to the node's listen_addr, announced ahead so that other exporters on the same Prometheus never take that connection for a plaintext client.",
    labels: ['node', 'prometheus_instance'],
  },
  gitaly_tls_exporter_tls_connections_total: {
    help: "TLS connections the exporter itself opened to the node's tls_listen_addr, by the node's Prometheus instance: other exporters on the same Prometheus subtract them from the node's TLS count.",
    labels: ['node', 'prometheus_instance'],
    type: 'counter',
  },
  gitaly_tls_exporter_collection_duration_seconds: { help: 'Time the latest collection took, in seconds.', labels: [] },
  gitaly_tls_exporter_last_collection_timestamp_seconds: { help: 'Unix time at which the latest collection finished.', labels: [] },
  gitaly_tls_exporter_build_info: { help: "The exporter's version and Node.js version, value 1.", labels: ['version', 'nodejs_version'] },
  gitaly_tls_exporter_config_last_reload_successful: {
    help: 'Whether the latest configuration (re)load succeeded (1) or was rejected (0).',
    labels: [],
  },
} as const satisfies Record<string, Definition>;

export type MetricName = keyof typeof METRICS;

/** One series: the labels as first given (a gauge: as last set), and its value. */
interface Series {
  labels: Readonly<Record<string, string | number>>;
  value: number;
}

/**
 * A gauge or counter of the contract, written out exactly as prom-client 15 writes one for the
 * Prometheus text format (test/metrics/registry.test.ts compares the two). prom-client's own
 * registry costs ~130 MB of garbage per 1,000-node page (label sorting, hashing and formatting
 * through several intermediate arrays); this keeps one entry per series and writes the page once.
 */
export class ContractMetric {
  private readonly series = new Map<string, Series>();
  private readonly sortedLabelNames: readonly string[];

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
    readonly type: 'gauge' | 'counter',
  ) {
    this.sortedLabelNames = [...labelNames].sort();
    // As prom-client: a metric without labels starts as one series at 0.
    if (labelNames.length === 0) this.series.set('', { labels: {}, value: 0 });
  }

  private key(labels: Readonly<Record<string, string | number>>): string {
    for (const label in labels) {
      if (!this.labelNames.includes(label))
        throw new Error(`Added label "${label}" is not included in initial labelset: ${this.labelNames.join(', ')}`);
    }
    let key = '';
    for (const name of this.sortedLabelNames) {
      const value = labels[name];
      if (value !== undefined) key += `${name}:${value},`;
    }
    return key;
  }

  /** A gauge's value for these labels (or none: the metric's one series). */
  set(labelsOrValue: Readonly<Record<string, string | number>> | number, value?: number): void {
    if (this.type !== 'gauge') throw new Error(`${this.name} is a counter: it can only be increased`);
    const labels = typeof labelsOrValue === 'number' ? {} : labelsOrValue;
    const v = typeof labelsOrValue === 'number' ? labelsOrValue : value;
    if (typeof v !== 'number') throw new TypeError(`Value is not a valid number: ${String(v)}`);
    const key = this.key(labels);
    const existing = this.series.get(key);
    if (existing) {
      existing.labels = labels;
      existing.value = v;
    } else this.series.set(key, { labels, value: v });
  }

  /** Adds to a counter (1 when no value is given). */
  inc(labelsOrValue?: Readonly<Record<string, string | number>> | number, value?: number): void {
    if (this.type !== 'counter') throw new Error(`${this.name} is a gauge in the metric contract`);
    const labels = typeof labelsOrValue === 'object' ? labelsOrValue : {};
    let v = typeof labelsOrValue === 'object' ? value : labelsOrValue;
    if (v && !Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${String(v)}`);
    if (v !== undefined && v < 0) throw new Error('It is not possible to decrease a counter');
    v ??= 1;
    const key = typeof labelsOrValue === 'object' ? this.key(labels) : '';
    const existing = this.series.get(key);
    if (existing) existing.value += v;
    else this.series.set(key, { labels, value: v });
  }

  /** HELP, TYPE and one line per series, without the final newline. */
  writeTo(out: PageWriter): void {
    const name = escapeText(this.name);
    out.write('# HELP ');
    out.write(name);
    out.write(' ');
    out.write(escapeText(this.help));
    out.write('\n# TYPE ');
    out.write(name);
    out.write(' ');
    out.write(this.type);
    for (const { labels, value } of this.series.values()) {
      out.write('\n');
      out.write(name);
      let open = false;
      for (const label in labels) {
        const v = labels[label]!;
        out.write(open ? ',' : '{');
        out.write(label);
        out.write('="');
        out.write(typeof v === 'string' ? escapeLabelValue(v) : `${v}`);
        out.write('"');
        open = true;
      }
      out.write(open ? '} ' : ' ');
      out.write(valueText(value));
    }
  }
}

/** UTF-8 text appended straight into one Buffer, which doubles when full. */
export class PageWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  write(text: string): void {
    // A UTF-16 code unit is at most 3 UTF-8 bytes.
    if (this.length + 3 * text.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.length + 3 * text.length));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    this.length += this.buf.write(text, this.length);
  }

  text(): string {
    return this.buf.toString('utf8', 0, this.length);
  }
}

function escapeText(text: string): string {
  return text.includes('\\') || text.includes('\n') ? text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : text;
}

function escapeLabelValue(text: string): string {
  const escaped = escapeText(text);
  return escaped.includes('"') ? escaped.replace(/"/g, '\\"') : escaped;
}

function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** A registry with typed accessors that create each metric on first use, as its definition says. */
export class ContractRegistry {
  private readonly metrics = new Map<string, ContractMetric>();

  private get(name: MetricName, type: 'gauge' | 'counter'): ContractMetric {
    let metric = this.metrics.get(name);
    if (!metric) {
      const def: Definition = METRICS[name];
      if ((def.type === 'counter') !== (type === 'counter')) throw new Error(`${name} is a ${def.type ?? 'gauge'} in the metric contract`);
      metric = new ContractMetric(name, def.help, def.labels, type);
      this.metrics.set(name, metric);
    }
    return metric;
  }

  gauge(name: MetricName): ContractMetric {
    return this.get(name, 'gauge');
  }

  counter(name: MetricName): ContractMetric {
    return this.get(name, 'counter');
  }

  /** The page in the Prometheus text format, metrics in the order they were first used. */
  text(): Promise<string> {
    const out = new PageWriter();
    let separator = '';
    for (const metric of this.metrics.values()) {
      out.write(separator);
      metric.writeTo(out);
      separator = '\n\n';
    }
    out.write('\n');
    return Promise.resolve(out.text());
  }
}

export const seconds = (ms: number): number => ms / 1000;
export const bool = (b: boolean): number => (b ? 1 : 0);
