// One node's whole evidence on one page, for a change ticket: verdict, reasons with details, next
// step, soak progress, chart, certificates, sources and plaintext clients. Renders the node view only.
import { notListedSentence, PEERS_LISTED, topPeers } from '../peers/plaintext-peers.ts';
import type { CollectionView } from '../view/collection-view.ts';
import { CHECK_NAMES, type CertificateView, type Check, type NodeView } from '../view/node-view.ts';
import { duration } from '../view/next-step.ts';
import { escapeHtml } from './html.ts';
import { CHART_LEGEND, dateTag, daysLeft, EXPIRY_CLASS, lastSeen, pageHead, PHASE_LABEL, timeTag } from './page-parts.ts';
import { LARGE_CHART, renderChart } from './svg-chart.ts';

const CHECK_TEXT: Record<(typeof CHECK_NAMES)[number], { label: string; good: boolean }> = {
  tlsUsable: { label: 'TLS usable by gRPC clients', good: true },
  handshake: { label: 'TLS handshake', good: true },
  trusted: { label: 'Chain trusted', good: true },
  hostnameMatch: { label: 'Certificate names the address', good: true },
  alpnH2: { label: 'ALPN h2', good: true },
  grpcHealth: { label: 'gRPC health over TLS', good: true },
  restartNeeded: { label: 'Restart needed', good: false },
  plaintextListenerOpen: { label: 'listen_addr open', good: false },
};

const SOURCE_TEXT: Record<string, string> = {
  gitaly_metrics: 'Gitaly metrics page (metrics_url)',
  prometheus: 'Prometheus',
  tls: 'TLS listener (tls_address)',
  cert_file: 'Certificate file (certificate_file)',
  plaintext: 'listen_addr check (plaintext_address)',
  sockets: 'Socket table (local mode)',
};

const na = (text: string): string => `<span class="na">${escapeHtml(text)}</span>`;

function checkRow(name: (typeof CHECK_NAMES)[number], c: Check): string {
  const { label, good } = CHECK_TEXT[name];
  const value = c.value === null ? na('unknown') : `<span class="${c.value === good ? 'ok' : 'bad'}">${c.value ? 'yes' : 'no'}</span>`;
  return `<tr data-check="${name}" data-value="${c.value === null ? 'unknown' : c.value ? 'yes' : 'no'}"><th scope="row">${label}</th><td>${value}</td><td>${c.why ? escapeHtml(c.why) : ''}</td></tr>`;
}

function verdictSection(v: NodeView): string {
  const reasons = v.reasons.length
    ? `<ul class="reasons">${v.reasons.map((r) => `<li data-reason="${r.reason}"><code>${r.reason}</code> — ${escapeHtml(r.text)}</li>`).join('')}</ul>`
    : '<p class="ok">Nothing blocks this node.</p>';
  const details = v.details.length
    ? `<h3>Details</h3><ul class="details">${v.details.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>`
    : '';
  return `<section id="verdict"><h2>Verdict</h2>
<p>Phase <span class="phase phase-${v.phase}" data-phase="${v.phase}">${PHASE_LABEL[v.phase]}</span></p>
<p class="next"><strong>Next step:</strong> <span data-next-step>${escapeHtml(v.nextStep)}</span></p>
<h3>Blocking reasons</h3>${reasons}${details}</section>`;
}

function soakSection(v: NodeView, nowMs: number): string {
  const s = v.soak;
  const p = s.projectedSafe;
  const rows: Array<[string, string]> = [
    ['Soak window', escapeHtml(duration(s.windowMs))],
    [
      'Observed for',
      s.observedForMs === null
        ? na('not observed yet')
        : `<span data-soak-observed-ms="${s.observedForMs}">${escapeHtml(duration(Math.min(s.observedForMs, s.windowMs)))} of ${escapeHtml(duration(s.windowMs))}</span>${s.observedSinceMs !== null ? ` (since ${timeTag(s.observedSinceMs)})` : ''}`,
    ],
    [
      'Last plaintext client',
      s.plaintextLastSeenMs === null
        ? escapeHtml(lastSeen(null, s.observedSinceMs, nowMs))
        : `${timeTag(s.plaintextLastSeenMs)} (${escapeHtml(lastSeen(s.plaintextLastSeenMs, s.observedSinceMs, nowMs))})`,
    ],
    [
      'Window clean of plaintext',
      p.atMs === null
        ? `<span data-soak-safe-ms="unknown">${na('unknown')}: ${escapeHtml(p.why)}</span>`
        : `<span data-soak-safe-ms="${p.atMs}">${p.atMs <= nowMs ? 'since' : 'at'} ${timeTag(p.atMs)}${p.atMs > nowMs ? ` (in ${escapeHtml(duration(p.atMs - nowMs))}, if no plaintext client connects)` : ''}</span>`,
    ],
    [
      'New connections in the window',
      s.window
        ? `${s.window.tcp} plaintext, ${s.window.tls} TLS (own probes excluded; from ${s.window.source === 'prometheus' ? 'Prometheus' : 'direct scrapes'})`
        : na('unknown'),
    ],
    ['Prometheus coverage', s.coverage === null ? na('no Prometheus') : `${(s.coverage * 100).toFixed(1)} % of the window`],
  ];
  if (s.established) rows.push(['Established now', `${s.established.tcp} plaintext, ${s.established.tls} TLS`]);
  const dl = rows.map(([k, val]) => `<dt>${k}</dt><dd>${val}</dd>`).join('');
  const chartNote = v.chart.known ? '' : `<p class="na">No connection counts to draw: ${escapeHtml(v.chart.why ?? '')}.</p>`;
  return `<section id="soak"><h2>Soak progress</h2><dl class="facts">${dl}</dl>
<h3>New connections over the soak window</h3>${renderChart(v.node, v.chart, LARGE_CHART)}${CHART_LEGEND}${chartNote}</section>`;
}

const CERT_HEAD =
  '<thead><tr><th>#</th><th>Subject</th><th>Issuer</th><th>Serial</th><th>Not before</th><th>Not after (UTC)</th><th>Days left</th><th>SANs</th><th>Key, signature</th></tr></thead>';

/** One table row per certificate; `#` is the place in the chain Node built. */
function certificateRows(certs: Array<{ c: CertificateView; i: number }>): string {
  return certs
    .map(
      ({
        c,
        i,
      }) => `<tr data-cert-position="${c.position}" data-cert-index="${i}" data-cert-sent="${c.sent}" data-not-after="${new Date(c.notAfterMs).toISOString()}" data-expiry-state="${c.expiry ?? 'unknown'}">
<td>${i} · ${c.position}</td><td>${escapeHtml(c.subject)}</td><td>${escapeHtml(c.issuer)}</td><td><code>${escapeHtml(c.serial)}</code></td>
<td>${dateTag(c.notBeforeMs)}</td><td class="cert-state ${c.expiry ? EXPIRY_CLASS[c.expiry] : ''}">${dateTag(c.notAfterMs)}</td><td class="cert-state ${c.expiry ? EXPIRY_CLASS[c.expiry] : ''}">${escapeHtml(daysLeft(c.daysToExpiry, c.expiry))}</td>
<td>${escapeHtml(c.sans.join(', ') || '–')}</td><td>${escapeHtml(c.key)}, ${escapeHtml(c.signatureAlgorithm)}</td></tr>`,
    )
    .join('');
}

function certificatesSection(v: NodeView): string {
  const chain = (v.tls?.certificates ?? []).map((c, i) => ({ c, i }));
  const served = chain.filter(({ c }) => c.sent);
  // Node completes the chain from the CA bundle: what the server left out is shown apart, never as served.
  const anchor = chain.filter(({ c }) => !c.sent);
  const warn = `amber: expires within expiry_warning (${duration(v.expiryWarningMs)}); red: expired or not yet valid`;
  const servedTable = served.length
    ? `<table class="certs">${CERT_HEAD}<tbody>${certificateRows(served)}</tbody></table>`
    : `<p class="na">No certificate was received${v.certExpiry.atMs === null ? `: ${escapeHtml(v.certExpiry.why)}` : ''}.</p>`;
  const anchorPart = anchor.length
    ? `<h3>Trust anchor (from the CA bundle, not sent by the server)</h3><p class="na">Added from the CA bundle to verify the chain. Its expiry still breaks the chain for every client that trusts this CA.</p><table class="certs trust-anchor">${CERT_HEAD}<tbody>${certificateRows(anchor)}</tbody></table>`
    : '';
  const f = v.certificateFile;
  const restart = v.checks.restartNeeded;
  const servedSerial = served[0]?.c.serial ?? null;
  let file: string;
  if (f) {
    const state = f.leafExpiry ? EXPIRY_CLASS[f.leafExpiry] : 'na';
    const notAfter = f.leafNotAfterMs === null ? na('unknown') : `<span class="${state}">${dateTag(f.leafNotAfterMs)}</span>`;
    const verdict =
      restart.value === true
        ? `<p class="bad" data-restart-needed="true">Restart needed: Gitaly serves serial <code>${escapeHtml(servedSerial ?? 'unknown')}</code>, the file on disk holds serial <code>${escapeHtml(f.leafSerial ?? 'unknown')}</code>. Gitaly reads its certificate only at start.</p>`
        : restart.value === false
          ? `<p class="ok" data-restart-needed="false">The file on disk is the certificate served (serial <code>${escapeHtml(f.leafSerial ?? '')}</code>).</p>`
          : `<p class="na" data-restart-needed="unknown">Restart needed: unknown — ${escapeHtml(restart.why ?? '')}</p>`;
    file = `<h3>Certificate file on disk</h3><dl class="facts"><dt>Path</dt><dd><code>${escapeHtml(f.path)}</code></dd><dt>Leaf subject</dt><dd>${escapeHtml(f.leafSubject ?? '–')}</dd><dt>Leaf serial</dt><dd><code>${escapeHtml(f.leafSerial ?? '–')}</code></dd><dt>Leaf not after</dt><dd data-file-not-after="${f.leafNotAfterMs === null ? 'unknown' : new Date(f.leafNotAfterMs).toISOString()}">${notAfter}</dd></dl>${verdict}`;
  } else {
    file = `<h3>Certificate file on disk</h3><p class="na">${escapeHtml(restart.why ?? 'not read')}</p>`;
  }
  return `<section id="certificates"><h2>Certificates served on ${escapeHtml(v.tlsAddress ?? 'no TLS address')}</h2><p class="na">${escapeHtml(warn)}</p>${servedTable}${anchorPart}${file}</section>`;
}

function sourcesSection(v: NodeView): string {
  const rows = v.sources
    .map(
      (s) =>
        `<tr data-source="${s.source}" data-up="${s.up}"><th scope="row">${escapeHtml(SOURCE_TEXT[s.source] ?? s.source)}</th><td>${s.up ? '<span class="ok">up</span>' : '<span class="bad">down</span>'}</td><td>${s.error ? `<code>${escapeHtml(s.error.code)}</code> ${escapeHtml(s.error.message)}` : ''}</td></tr>`,
    )
    .join('');
  const checks = CHECK_NAMES.map((n) => checkRow(n, v.checks[n])).join('');
  const version = v.version ?? `unknown (${v.versionWhy ?? ''})`;
  const counts = v.counts ? `tcp ${v.counts.tcp}, tls ${v.counts.tls}, unix ${v.counts.unix}` : 'unknown';
  return `<section id="sources"><h2>Sources of evidence</h2>
<table class="sources"><thead><tr><th>Source</th><th>State</th><th>Error</th></tr></thead><tbody>${rows || '<tr><td colspan="3" class="na">no source configured</td></tr>'}</tbody></table>
<h2>Checks</h2><table class="checks"><thead><tr><th>Check</th><th>Value</th><th>Why</th></tr></thead><tbody>${checks}</tbody></table>
<dl class="facts" style="margin-top:.6rem"><dt>Gitaly version</dt><dd>${escapeHtml(version)}</dd><dt>Connection counters</dt><dd>${escapeHtml(counts)}</dd>
<dt>Exporter's own connections</dt><dd>${v.ownConnections.tcp} plaintext, ${v.ownConnections.tls} TLS (excluded from the soak)</dd>
<dt>Prometheus instance</dt><dd>${v.instance ? `<code>${escapeHtml(v.instance)}</code>` : na('none')}</dd></dl></section>`;
}

function clientsSection(s: CollectionView, v: NodeView): string {
  const peers = v.plaintextPeers ? topPeers(v.plaintextPeers, PEERS_LISTED) : null;
  const rest = peers?.other ? `<p data-peers-not-listed="${peers.other.peers}">${notListedSentence(peers.other)}</p>` : '';
  const peerPart = !peers
    ? '<p class="na">Not known: plaintext peers are read from the socket table in local mode only.</p>'
    : peers.top.length === 0
      ? '<p class="ok">No plaintext connection open now.</p>'
      : `<table class="peers"><thead><tr><th>Client address</th><th>Name</th><th>Connections</th><th>First seen</th></tr></thead><tbody>${peers.top
          .map(
            (p) =>
              `<tr data-peer="${escapeHtml(p.address)}"><td><code>${escapeHtml(p.address)}</code></td><td>${p.name ? escapeHtml(p.name) : '–'}</td><td>${p.connections}</td><td>${timeTag(p.firstSeenMs)}</td></tr>`,
          )
          .join('')}</tbody></table>${rest}`;
  const routes = (s.clients?.routes ?? []).filter((r) => r.node === v.node);
  const routePart = !s.clients
    ? '<p class="na">No client configuration files are configured.</p>'
    : routes.length === 0
      ? '<p class="na">No configured client dials this node.</p>'
      : `<table class="clients"><thead><tr><th>Client</th><th>Storage</th><th>Scheme</th><th>What to change</th></tr></thead><tbody>${routes
          .map(
            (r) =>
              `<tr data-client="${escapeHtml(r.client)}"><td>${escapeHtml(r.client)}</td><td>${escapeHtml(r.virtualStorage ? `${r.virtualStorage} / ${r.storage}` : r.storage)}</td><td>${r.scheme ? `<span class="${r.tls ? 'ok' : 'bad'}">${r.scheme}</span>` : '–'}</td><td>${r.messages.map((m) => escapeHtml(m)).join('<br>')}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  return `<section id="clients"><h2>Plaintext clients</h2><h3>Connected now</h3>${peerPart}<h3>Client configuration</h3>${routePart}</section>`;
}

export function renderNodePage(s: CollectionView, v: NodeView, opts: { refreshSeconds: number; source: string }): string {
  const addresses = `TLS <code>${escapeHtml(v.tlsAddress ?? 'none')}</code> · plaintext <code>${escapeHtml(v.plaintextAddress ?? 'none')}</code>`;
  return `${pageHead(`${v.node} — Gitaly TLS migration`, opts.refreshSeconds)}
<p><a href="/">← all nodes</a></p>
<h1 data-node="${escapeHtml(v.node)}">${escapeHtml(v.node)} <span class="role">${v.role}</span></h1><p>${addresses}</p>
${verdictSection(v)}
${soakSection(v, s.atMs)}
${certificatesSection(v)}
${sourcesSection(v)}
${clientsSection(s, v)}
<footer>Evidence collected ${escapeHtml(new Date(s.atMs).toISOString())} · config ${escapeHtml(opts.source)} · the same facts as JSON: <a href="/migration">/migration</a></footer></body></html>`;
}

/** An unknown node: a page saying so, with the way back, never a bare 404. */
export function renderUnknownNodePage(name: string, s: CollectionView | null): string {
  const body = s
    ? `<p>No node named <code>${escapeHtml(name)}</code> is in the latest collection (${s.nodes.length} node(s), ${escapeHtml(new Date(s.atMs).toISOString())}). Check the name, or the inventory if it was removed.</p>`
    : '<p>The first collection is still running: no node is known yet. This page refreshes itself.</p>';
  return `${pageHead('Unknown node — Gitaly TLS migration', s ? null : 5)}<h1>Unknown node</h1>${body}<p><a href="/">← all nodes</a></p></body></html>`;
}
