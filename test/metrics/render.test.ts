import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderMetrics, renderStartupMetrics } from '../../src/metrics/render.ts';
import { METRICS } from '../../src/metrics/definitions.ts';
import { promtoolCheckMetrics } from '../helpers/promtool.ts';
import { sampleSnapshot } from '../helpers/snapshot.ts';
import { probeSending, testPki } from '../helpers/served-chain.ts';
import { scaled } from '../helpers/time-factor.ts';
import { viewOfNodes } from '../helpers/view.ts';

const GOLDEN = fileURLToPath(new URL('../fixtures/golden/metrics.prom', import.meta.url));
const INFO = { version: '0.1.0', configReloadSuccessful: true, soakWindowMs: 7 * 24 * 3600 * 1000 };

function normalize(text: string): string {
  return text.replaceAll(`nodejs_version="${process.version}"`, 'nodejs_version="NODE_VERSION"');
}

describe('metrics rendering', () => {
  it('matches the golden /metrics page (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const text = normalize(await renderMetrics((await sampleSnapshot()).view, INFO));
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, text);
    expect(text).to.equal(readFileSync(GOLDEN, 'utf8'));
  });

  it('passes promtool check metrics', async () => {
    const result = promtoolCheckMetrics(await renderMetrics((await sampleSnapshot()).view, INFO));
    expect(result.output).to.equal('');
    expect(result.status).to.equal(0);
  });

  it('gives every metric a full-sentence HELP', () => {
    for (const [name, def] of Object.entries(METRICS)) expect(def.help, name).to.match(/^[A-Z].*\.$/);
  });

  // One non-ASCII character anywhere makes V8 hold the whole joined page (megabytes at a thousand
  // nodes) as a two-byte string: twice the memory, and a slower encode per collection.
  it('writes every HELP in printable ASCII', () => {
    for (const [name, def] of Object.entries(METRICS)) expect(def.help, name).to.match(/^[ -~]+$/);
  });

  it('shows each node’s phase, reasons, and a separate series per TLS check', async () => {
    const text = await renderMetrics((await sampleSnapshot()).view, INFO);
    expect(text).to.contain('gitaly_tls_migration_phase{node="gitaly-1",role="gitaly",phase="complete"} 1');
    expect(text).to.contain('gitaly_tls_migration_phase{node="gitaly-3",role="gitaly",phase="dual_listen"} 1');
    expect(text).to.contain('gitaly_tls_migration_blocked{node="gitaly-3",reason="plaintext_connections_in_window"} 1');
    expect(text).to.contain('gitaly_tls_migration_blocked{node="gitaly-4",reason="source_down"} 1');
    expect(text).to.contain('gitaly_tls_exporter_source_up{node="gitaly-4",source="gitaly_metrics"} 0');
    expect(text).to.contain('gitaly_tls_migration_blocked{node="praefect-1",reason="tls_not_configured"} 1');
    expect(text).to.contain('gitaly_tls_migration_complete 0');
    expect(text).to.contain('gitaly_tls_soak_window_seconds 604800');
    for (const check of ['handshake_ok', 'cert_trusted', 'hostname_match', 'alpn_h2']) {
      expect(text).to.contain(`gitaly_tls_${check}{node="gitaly-2",address="gitaly-2:9999"} 1`);
    }
    expect(text).to.contain('gitaly_tls_plaintext_listener_open{node="gitaly-1",address="gitaly-1:8075"} 0');
  });

  it('has no sentinel values: what nobody observed is an absent series', async () => {
    const text = await renderMetrics((await sampleSnapshot()).view, INFO);
    expect(text).to.not.contain('gitaly_tls_plaintext_last_seen_timestamp_seconds{node="gitaly-1"}');
    expect(text).to.not.match(/ -1$/m);
    expect(text).to.not.contain('NaN');
  });

  it('before the first collection serves only the exporter’s own facts', async () => {
    const text = await renderStartupMetrics(INFO);
    expect(text).to.contain('gitaly_tls_exporter_build_info{version="0.1.0"');
    expect(text).to.not.contain('gitaly_tls_migration_complete');
    expect(promtoolCheckMetrics(text).output).to.equal('');
  });
});

describe('metrics rendering: certificates the server sent, and the trust anchor', function () {
  this.timeout(scaled(20_000));

  it('exports a root the server sent as position="root", and the same root taken from the CA bundle as position="trust_anchor"', async () => {
    const { root, intermediate, leaf } = await testPki(Date.now());
    // A fleet half-way through a change: gitaly-1 sends the whole chain, gitaly-2 leaves the root out.
    const view = viewOfNodes([
      { name: 'gitaly-1', evidence: { tls: await probeSending([leaf, intermediate, root], [root]) } },
      { name: 'gitaly-2', evidence: { tls: await probeSending([leaf, intermediate], [root]) } },
    ]);
    const text = await renderMetrics(view, INFO);
    const series = [
      ...text.matchAll(/^gitaly_tls_cert_not_after_timestamp_seconds\{node="([^"]+)",[^}]*position="([a-z_]+)",serial="([0-9A-F]+)"\}/gm),
    ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    expect(series).to.have.members([
      `gitaly-1 leaf ${leaf.serial}`,
      `gitaly-1 intermediate ${intermediate.serial}`,
      `gitaly-1 root ${root.serial}`,
      `gitaly-2 leaf ${leaf.serial}`,
      `gitaly-2 intermediate ${intermediate.serial}`,
      `gitaly-2 trust_anchor ${root.serial}`,
    ]);
    expect(promtoolCheckMetrics(text).output).to.equal('');
  });
});
