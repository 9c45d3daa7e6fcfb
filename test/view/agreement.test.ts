// The four outputs are renderings of one node view: fed the same views, /metrics, /migration, the
// status page and `check` must state the same facts, and an unknown fact must read unknown in all
// four (absent series, null with a reason, "unknown" on the page and in the table).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeConfig } from '../../src/config/types.ts';
import type { CertFileResult, GitalyScrape, SourceError, TlsProbeResult } from '../../src/evidence/evidence.ts';
import { migrationJson } from '../../src/pages/migration-json.ts';
import { renderStatusPage } from '../../src/pages/status-page.ts';
import { renderMetrics } from '../../src/metrics/render.ts';
import type { NodeEvidence } from '../../src/migration/verdict.ts';
import { checkRemote } from '../../src/report/remote-check.ts';
import { renderTable } from '../../src/report/table.ts';
import type { CollectionView } from '../../src/view/collection-view.ts';
import { cert, completeEvidence, DAY, NOW, plaintextClosed, tlsFailed, tlsOk, WINDOW } from '../helpers/evidence.ts';
import { viewOfNodes } from '../helpers/view.ts';

type Fact = 'yes' | 'no' | 'unknown';
const FACTS = ['trusted', 'hostnameMatch', 'alpnH2', 'restartNeeded', 'plaintextListenerOpen'] as const;
type FactName = (typeof FACTS)[number];

interface Case {
  name: string;
  role?: 'gitaly' | 'praefect';
  node?: Partial<NodeConfig>;
  evidence?: Partial<NodeEvidence>;
  /** What every output must say; facts not listed are only compared across outputs. */
  expect: Partial<Record<FactName, Fact>> & { phase?: string; certDays?: number | 'unknown'; version?: string | null; reasons?: string[] };
}

const refused = (msg: string): SourceError => ({ code: 'CONNECT', message: msg });

const deadTls: TlsProbeResult = tlsFailed(refused('Could not connect to gitaly-1.internal:9999 (ECONNREFUSED).'), { connectionsMade: 0 });
const deadScrape: GitalyScrape = {
  ok: false,
  error: refused('could not get an answer from http://gitaly-1.internal:9236/metrics (ECONNREFUSED)'),
  durationMs: 2,
};
const timedOut = (what: string): SourceError => ({
  code: 'TIMEOUT',
  message: `No answer from ${what} within 5000 ms.`,
});
const certFile = (matchesServed: boolean | null): CertFileResult => ({
  ok: true,
  path: '/etc/gitlab/ssl/gitaly.crt',
  chain: [cert()],
  matchesServed,
});

/** What a node nobody could observe shows: every fact unknown. */
const NOTHING_KNOWN: Case['expect'] = {
  phase: 'unknown',
  trusted: 'unknown',
  hostnameMatch: 'unknown',
  alpnH2: 'unknown',
  restartNeeded: 'unknown',
  plaintextListenerOpen: 'unknown',
  certDays: 'unknown',
  version: null,
};

const CASES: Case[] = [
  {
    name: 'all-unknown',
    node: { certificateFile: '/etc/gitlab/ssl/gitaly.crt' },
    evidence: {
      history: { ...completeEvidence().history, firstObservedMs: null, plaintextLastSeenMs: null, directBuckets: [] },
      scrape: { ok: false, error: timedOut('the metrics page'), durationMs: 5000 },
      tls: { ...deadTls, error: timedOut('gitaly-1.internal:9999') },
      plaintext: plaintextClosed({ open: null, error: timedOut('gitaly-1.internal:8075'), connectionsMade: { tcp: 0, tls: 0 } }),
      certFile: { ok: false, error: { code: 'READ', message: 'Could not read /etc/gitlab/ssl/gitaly.crt: EACCES.' } },
    },
    expect: NOTHING_KNOWN,
  },
  {
    name: 'dead-host',
    evidence: { scrape: deadScrape, tls: deadTls, plaintext: plaintextClosed({ connectionsMade: { tcp: 0, tls: 0 } }) },
    expect: NOTHING_KNOWN,
  },
  {
    name: 'healthy',
    node: { certificateFile: '/etc/gitlab/ssl/gitaly.crt' },
    evidence: { certFile: certFile(true) },
    expect: {
      phase: 'complete',
      reasons: [],
      trusted: 'yes',
      hostnameMatch: 'yes',
      alpnH2: 'yes',
      restartNeeded: 'no',
      plaintextListenerOpen: 'no',
      certDays: 200,
      version: '18.6.0',
    },
  },
  {
    name: 'expired-intermediate',
    evidence: {
      tls: tlsOk({
        chain: [cert(), cert({ position: 'intermediate', serial: '02', subject: 'CN=Old Intermediate', notAfterMs: NOW - 2 * DAY })],
        trusted: false,
        trustError: 'CERT_HAS_EXPIRED',
      }),
    },
    expect: { trusted: 'no', hostnameMatch: 'yes', alpnH2: 'yes', certDays: -2, reasons: ['cert_expired'] },
  },
  {
    name: 'restart-needed',
    node: { certificateFile: '/etc/gitlab/ssl/gitaly.crt' },
    evidence: { certFile: certFile(false) },
    expect: { restartNeeded: 'yes', trusted: 'yes', reasons: ['restart_needed'] },
  },
  {
    name: 'tls-only',
    node: { plaintextAddress: undefined, plaintextListenerRemoved: true },
    evidence: { plaintextAddress: null, plaintextListenerRemoved: true, plaintext: null },
    expect: { phase: 'complete', plaintextListenerOpen: 'no', trusted: 'yes' },
  },
  {
    name: 'praefect',
    role: 'praefect',
    evidence: { plaintext: plaintextClosed({ open: true, address: 'praefect-1.internal:2305' }) },
    expect: { phase: 'tls_only_traffic', plaintextListenerOpen: 'yes', reasons: ['plaintext_listener_open'] },
  },
];

function viewOf(cases: Case[]): CollectionView {
  return viewOfNodes(cases.map((c) => ({ name: c.name, node: { role: c.role ?? 'gitaly', ...c.node }, evidence: c.evidence })));
}

interface Facts {
  role: string;
  phase: string;
  reasons: string[];
  checks: Record<FactName, Fact>;
  certDays: number | 'unknown';
  /** The TLS versions the pinned handshakes found accepted ("1.2,1.3"), "none", or "unknown" when none was checked. */
  tlsVersions: string;
}

const versionsOf = (known: Array<[string, boolean]>): string =>
  known.length
    ? known
        .filter(([, ok]) => ok)
        .map(([v]) => v.replace('TLSv', ''))
        .sort()
        .join(',') || 'none'
    : 'unknown';

const fact = (v: boolean | null | undefined): Fact => (v === null || v === undefined ? 'unknown' : v ? 'yes' : 'no');

function fromMetrics(text: string, node: string): Facts & { version: string | null } {
  const series = (name: string): Array<{ labels: string; value: number }> =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{node="${node}"`))
      .map((l) => ({ labels: l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1), value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
  const one = (name: string): boolean | null => {
    const s = series(name);
    expect(s.length, `${name} for ${node}`).to.be.at.most(1);
    return s[0] ? s[0].value === 1 : null;
  };
  const phase = series('gitaly_tls_migration_phase').filter((s) => s.value === 1);
  expect(phase, `one phase for ${node}`).to.have.length(1);
  const matches = one('gitaly_tls_cert_file_matches_served');
  const notAfter = series('gitaly_tls_cert_not_after_timestamp_seconds').map((s) => s.value * 1000);
  const version = series('gitaly_tls_node_info').map((s) => /version="([^"]*)"/.exec(s.labels)![1]!);
  return {
    role: /role="(\w+)"/.exec(phase[0]!.labels)![1]!,
    phase: /phase="(\w+)"/.exec(phase[0]!.labels)![1]!,
    reasons: series('gitaly_tls_migration_blocked').map((s) => /reason="(\w+)"/.exec(s.labels)![1]!),
    checks: {
      trusted: fact(one('gitaly_tls_cert_trusted')),
      hostnameMatch: fact(one('gitaly_tls_hostname_match')),
      alpnH2: fact(one('gitaly_tls_alpn_h2')),
      restartNeeded: fact(matches === null ? null : !matches),
      plaintextListenerOpen: fact(one('gitaly_tls_plaintext_listener_open')),
    },
    certDays: notAfter.length ? Math.floor((Math.min(...notAfter) - NOW) / DAY) : 'unknown',
    tlsVersions: versionsOf(series('gitaly_tls_version_accepted').map((s) => [/version="([^"]*)"/.exec(s.labels)![1]!, s.value === 1])),
    version: version[0] ?? null,
  };
}

interface JsonNode {
  node: string;
  phase: string;
  blockingReasons: Array<{ reason: string; text: string }>;
  checks: Record<string, { value: boolean | null; reason: string | null }>;
  certExpiry: { days: number | null; reason: string | null };
  evidence: {
    gitalyVersion: string | null;
    gitalyVersionReason: string | null;
    tls: { accepts: Record<string, boolean | null> } | null;
  };
}

function fromJson(doc: { nodes: JsonNode[] }, node: string): Facts & { version: string | null } {
  const n = doc.nodes.find((x) => x.node === node)!;
  for (const [name, c] of Object.entries(n.checks))
    if (c.value === null) expect(c.reason, `${node} ${name}: null comes with a reason`).to.be.a('string').and.not.equal('');
  if (n.certExpiry.days === null) expect(n.certExpiry.reason).to.be.a('string');
  if (n.evidence.gitalyVersion === null) expect(n.evidence.gitalyVersionReason).to.be.a('string');
  return {
    role: (n as unknown as { role: string }).role,
    phase: n.phase,
    reasons: n.blockingReasons.map((r) => r.reason),
    checks: Object.fromEntries(FACTS.map((f) => [f, fact(n.checks[f]!.value)])) as Record<FactName, Fact>,
    certDays: n.certExpiry.days ?? 'unknown',
    tlsVersions: versionsOf(Object.entries(n.evidence.tls?.accepts ?? {}).filter((e): e is [string, boolean] => e[1] !== null)),
    version: n.evidence.gitalyVersion,
  };
}

function fromPage(html: string, node: string): Facts {
  const start = html.indexOf(`<tr data-node="${node}"`);
  const row = html.slice(start, html.indexOf('</tr>', start));
  const cells = new Map([...row.matchAll(/data-check="(\w+)" data-value="([^"]+)"([^>]*)>([^]*?)<\/td>/g)].map((m) => [m[1]!, m]));
  const checks = {} as Record<FactName, Fact>;
  for (const f of FACTS) {
    const m = cells.get(f)!;
    checks[f] = m[2] as Fact;
    if (m[2] === 'unknown') {
      expect(m[4], `${node} ${f} reads unknown`).to.contain('unknown');
      expect(m[3], `${node} ${f} says why`).to.match(/title="[^"]+"/);
    }
  }
  const days = cells.get('certDays')![2]!;
  const versionsCell = /<td data-check="tlsVersions"[^>]*>([^]*?)<\/td>/.exec(row)![0];
  const tlsVersions = versionsCell.includes('data-value="unknown"')
    ? 'unknown'
    : versionsOf([...versionsCell.matchAll(/<span class="(ok|na)">([\d.]+)✗?<\/span>/g)].map((m) => [m[2]!, m[1] === 'ok']));
  return {
    tlsVersions,
    role: /<div class="role">(\w+)<\/div>/.exec(row)![1]!,
    phase: /data-phase="(\w+)"/.exec(row)![1]!,
    reasons: [...row.matchAll(/<li title="[^"]*"><code>(\w+)<\/code><\/li>/g)].map((m) => m[1]!),
    checks,
    certDays: days === 'unknown' ? 'unknown' : Number(days),
  };
}

function fromTable(text: string, node: string): Facts {
  const lines = text.split('\n');
  const header = lines[0]!.split(/\s+/);
  const cells = lines.find((l) => l.startsWith(`${node} `))!.split(/\s+/);
  const col = (name: string): string => cells[header.indexOf(name)]!;
  const parse = (cell: string): Fact => {
    expect(cell).to.be.oneOf(['yes', 'no', 'unknown']);
    return cell as Fact;
  };
  const checks = {
    trusted: parse(col('TRUSTED')),
    hostnameMatch: parse(col('HOSTNAME')),
    alpnH2: parse(col('ALPN_H2')),
    restartNeeded: parse(col('RESTART')),
    plaintextListenerOpen: parse(col('LISTEN_ADDR')),
  };
  for (const [f, header_] of [
    ['trusted', 'TRUSTED'],
    ['restartNeeded', 'RESTART'],
    ['plaintextListenerOpen', 'LISTEN_ADDR'],
  ] as const)
    if (checks[f] === 'unknown')
      expect(text, `${node} ${f}: the table says why`).to.match(
        new RegExp(`^  ${node}: (?:[A-Z_]+, )*${header_}(?:, [A-Z_]+)* unknown: .+`, 'm'),
      );
  const blocking = col('BLOCKING');
  return {
    role: col('ROLE'),
    phase: col('PHASE'),
    reasons: blocking === '-' ? [] : blocking.split(','),
    checks,
    certDays: col('CERT_DAYS') === 'unknown' ? 'unknown' : Number(col('CERT_DAYS')),
    tlsVersions: col('TLS'),
  };
}

describe('one node view, four renderings', () => {
  let view: CollectionView;
  let metrics: string;
  let json: { nodes: JsonNode[] };
  let page: string;
  let table: string;

  before(async () => {
    view = viewOf(CASES);
    metrics = await renderMetrics(view, { version: 'test', configReloadSuccessful: true, soakWindowMs: WINDOW });
    json = JSON.parse(JSON.stringify(migrationJson(view))) as { nodes: JsonNode[] };
    page = renderStatusPage(view, { refreshSeconds: 30, source: 'test' });
    table = renderTable(view);
  });

  for (const c of CASES) {
    it(`${c.name}: /metrics, /migration, the status page and check agree fact by fact`, () => {
      const m = fromMetrics(metrics, c.name);
      const j = fromJson(json, c.name);
      const p = fromPage(page, c.name);
      const t = fromTable(table, c.name);
      const sorted = (f: Facts): Facts => ({ ...f, reasons: [...f.reasons].sort() });
      const { version: mv, ...mFacts } = m;
      const { version: jv, ...jFacts } = j;
      expect(sorted(jFacts), '/migration vs /metrics').to.deep.equal(sorted(mFacts));
      expect(sorted(p), 'status page vs /metrics').to.deep.equal(sorted(mFacts));
      expect(sorted(t), 'check vs /metrics').to.deep.equal(sorted(mFacts));
      expect(jv, 'version').to.equal(mv);

      const e = c.expect;
      if (e.phase) expect(m.phase).to.equal(e.phase);
      for (const f of FACTS) if (e[f]) expect(m.checks[f], f).to.equal(e[f]);
      if (e.certDays !== undefined) expect(m.certDays).to.equal(e.certDays);
      if (e.version !== undefined) expect(mv).to.equal(e.version);
      if (e.reasons?.length === 0) expect(m.reasons).to.deep.equal([]);
      else for (const r of e.reasons ?? []) expect(m.reasons).to.include(r);
    });
  }

  it('a dead host has no series for what nobody observed: no listener state, no version, no trust', () => {
    const dead = metrics.split('\n').filter((l) => l.includes('node="dead-host"'));
    expect(dead.join('\n')).to.not.match(/plaintext_listener_open|node_info|cert_trusted|hostname_match|alpn_h2|version=""/);
    expect(dead).to.include('gitaly_tls_exporter_source_up{node="dead-host",source="gitaly_metrics"} 0');
    expect(dead).to.include('gitaly_tls_probe_success{node="dead-host",address="gitaly-1.internal:9999"} 0');
  });

  it('shows each failing source with its error sentence on the page, in /migration and under the table', () => {
    const sentence = deadScrape.ok ? '' : deadScrape.error.message;
    const node = json.nodes.find((n) => n.node === 'dead-host') as unknown as {
      evidence: { sources: Array<{ source: string; up: boolean; error: { message: string } | null }> };
    };
    expect(node.evidence.sources.find((s) => s.source === 'gitaly_metrics')).to.deep.include({ up: false });
    expect(node.evidence.sources.find((s) => s.source === 'gitaly_metrics')!.error!.message).to.equal(sentence);
    expect(page).to.contain(`data-source-down="gitaly_metrics">gitaly_metrics: ${sentence}`);
    expect(table).to.contain(`dead-host: gitaly_metrics down: ${sentence}`);
  });

  it('the page, /migration and check print the same next-step sentence for every node', () => {
    const unescape = (h: string): string =>
      h
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&amp;/g, '&');
    const sentences = new Set<string>();
    for (const c of CASES) {
      const fromView = view.nodes.find((n) => n.node === c.name)!.nextStep;
      sentences.add(fromView);
      const j = json.nodes.find((n) => n.node === c.name) as unknown as { nextStep: string };
      expect(j.nextStep, `${c.name} /migration`).to.equal(fromView);
      const start = page.indexOf(`<tr data-node="${c.name}"`);
      const row = page.slice(start, page.indexOf('</tr>', start));
      expect(unescape(/<td class="next" data-next-step>([^<]*)<\/td>/.exec(row)![1]!), `${c.name} page`).to.equal(fromView);
      expect(table.split('\n'), `${c.name} check`).to.include(`  ${c.name}: ${fromView}`);
    }
    // The sentence follows the reasons: the cases cover more than one situation.
    expect(sentences.size).to.be.greaterThan(2);
    expect(view.nodes.find((n) => n.node === 'dead-host')!.nextStep).to.equal(
      `Unknown: Gitaly’s metrics page did not answer (${deadScrape.ok ? '' : deadScrape.error.message.replace(/\.$/, '')}).`,
    );
  });

  it('the page, /migration and /metrics show the same soak progress and projected safe time', () => {
    for (const c of CASES) {
      const v = view.nodes.find((n) => n.node === c.name)!;
      const j = (json.nodes.find((n) => n.node === c.name) as unknown as { soak: Record<string, unknown> }).soak;
      const safe = v.soak.projectedSafe.atMs;
      expect(j.projectedSafeAt, c.name).to.equal(safe === null ? null : new Date(safe).toISOString());
      expect(j.windowSeconds).to.equal(WINDOW / 1000);
      const series = metrics.split('\n').find((l) => l.startsWith(`gitaly_tls_soak_projected_safe_timestamp_seconds{node="${c.name}"}`));
      expect(series === undefined ? null : Number(series.split(' ')[1]) * 1000, `${c.name} /metrics`).to.equal(safe);
      const start = page.indexOf(`<tr data-node="${c.name}"`);
      const row = page.slice(start, page.indexOf('</tr>', start));
      expect(row, `${c.name} page`).to.contain(`data-soak-safe-ms="${safe ?? 'unknown'}"`);
      if (safe === null) expect(j.projectedSafeReason, c.name).to.be.a('string').and.not.equal('');
    }
    expect(metrics).to.contain(`gitaly_tls_soak_window_seconds ${WINDOW / 1000}`);
    expect(view.nodes.filter((n) => n.soak.projectedSafe.atMs !== null)).to.not.be.empty;
  });

  it('check --url prints the same table, next steps, notes and verdict as a local check of the same collection', async () => {
    const body = JSON.stringify(migrationJson(view));
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const r = await checkRemote(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { timeoutMs: 10_000, maxBytes: 1 << 24 });
      if (!r.ok) expect.fail(r.message);
      const [first, ...rest] = r.text.split('\n');
      expect(first).to.match(/^verdict of the exporter at http:\/\/127\.0\.0\.1:\d+\/migration, collected /);
      expect(rest.join('\n')).to.equal(table);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('no renderer reads evidence, observations or the collector’s snapshot: only the view', () => {
    const renderers = [
      'metrics/render.ts',
      'pages/migration-json.ts',
      'pages/status-page.ts',
      'pages/status-clients.ts',
      'pages/node-page.ts',
      'report/table.ts',
    ];
    for (const file of renderers) {
      const source = readFileSync(new URL(`../../src/${file}`, import.meta.url), 'utf8');
      const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]!);
      for (const banned of [
        '../evidence/evidence.ts',
        '../cycle/collector.ts',
        '../collect/observe-node.ts',
        '../migration/verdict.ts',
        '../migration/node-evidence.ts',
      ])
        expect(imports, file).to.not.include(banned);
    }
  });
});
