// The status page: the fleet verdict and one row per node, readable in five seconds.
// Server-rendered, no scripts, refreshes itself.
import type { NodeResult, Snapshot } from '../collect/collector.ts';
import type { Phase } from '../migration/types.ts';
import { REASON_TEXT } from '../migration/types.ts';
import { renderClientSections } from './status-clients.ts';

const DAY_MS = 86_400_000;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}

const PHASE_LABEL: Record<Phase, string> = {
  plaintext_only: 'Plaintext only',
  dual_listen: 'Dual listen',
  tls_only_traffic: 'TLS-only traffic',
  complete: 'Complete',
  unknown: 'Unknown',
};

function ago(ms: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** "never" would claim more than we know: say how long we have been watching. */
function lastSeen(seenMs: number | null, observedSinceMs: number | null, nowMs: number): string {
  if (seenMs !== null) return ago(seenMs, nowMs);
  if (observedSinceMs === null) return 'not observed yet';
  return `none in ${ago(observedSinceMs, nowMs).replace(' ago', '')} watched`;
}

function yesNo(value: boolean | null | undefined, good = true): string {
  if (value === null || value === undefined) return '<span class="na">–</span>';
  return value === good ? '<span class="ok">yes</span>' : '<span class="bad">no</span>';
}

function tlsCells(n: NodeResult, nowMs: number): string {
  const t = n.observation.tls;
  if (!t) return '<td colspan="6" class="na">no tls_address</td>';
  const days = n.verdict.certExpiresMs === null ? null : Math.floor((n.verdict.certExpiresMs - nowMs) / DAY_MS);
  const expiryClass = days === null ? 'na' : days < 7 ? 'bad' : days < 30 ? 'warn' : 'ok';
  const versions = Object.entries(t.accepts)
    .filter(([, ok]) => ok !== null)
    .map(([v, ok]) => `<span class="${ok ? 'ok' : 'na'}">${escapeHtml(v.replace('TLSv', ''))}${ok ? '' : '✗'}</span>`)
    .join(' ');
  const restart = n.observation.certFile?.ok ? n.observation.certFile.matchesServed === false : null;
  return [
    `<td class="expiry ${expiryClass}">${days === null ? '–' : `${days} d`}</td>`,
    `<td>${t.handshakeOk ? yesNo(t.trusted) : '<span class="bad">handshake failed</span>'}</td>`,
    `<td>${yesNo(t.hostnameMatch)}</td>`,
    `<td>${t.handshakeOk ? yesNo(t.alpnProtocol === 'h2') : '–'}</td>`,
    `<td>${versions || (t.tlsVersion ? escapeHtml(t.tlsVersion) : '–')}</td>`,
    `<td>${restart === null ? '<span class="na">–</span>' : restart ? '<span class="bad">restart needed</span>' : '<span class="ok">no</span>'}</td>`,
  ].join('');
}

function row(n: NodeResult, nowMs: number): string {
  const v = n.verdict;
  const reasons = v.reasons.map((r) => `<li title="${escapeHtml(REASON_TEXT[r])}"><code>${r}</code></li>`).join('');
  return `<tr data-node="${escapeHtml(v.node)}" data-phase="${v.phase}">
<th scope="row">${escapeHtml(v.node)}<div class="role">${v.role}</div></th>
<td><span class="phase phase-${v.phase}">${PHASE_LABEL[v.phase]}</span></td>
<td>${v.window ? `${v.window.tcp} / ${v.window.tls}` : '<span class="na">–</span>'}</td>
<td>${escapeHtml(lastSeen(v.plaintextLastSeenMs, v.observedSinceMs, nowMs))}</td>
${tlsCells(n, nowMs)}
<td><ul class="reasons">${reasons || '<li class="ok">nothing blocks</li>'}</ul></td>
</tr>`;
}

function banner(s: Snapshot): string {
  const f = s.fleet;
  const total = s.nodes.length;
  if (f.complete)
    return `<div class="banner done" data-fleet-complete="true"><strong>Migration complete.</strong> All ${total} node(s) serve TLS only.</div>`;
  const counts = (Object.entries(f.nodesByPhase) as Array<[Phase, number]>)
    .filter(([, c]) => c > 0)
    .map(([p, c]) => `${c} ${PHASE_LABEL[p].toLowerCase()}`)
    .join(', ');
  const blocking = f.blocking.map((b) => `<li>${escapeHtml(b)}</li>`).join('');
  return `<div class="banner todo" data-fleet-complete="false"><strong>Migration not complete.</strong> ${f.nodesByPhase.complete} of ${total} node(s) complete (${escapeHtml(counts)}).<ul>${blocking}</ul></div>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem;margin:0 0 .8rem}.banner{padding:.8rem 1rem;border-radius:6px;margin-bottom:1rem}
.banner ul{margin:.3rem 0 0 1.2rem;padding:0}.done{background:#e3f6e8;border:1px solid #5cb270}.todo{background:#fff4e0;border:1px solid #e0a040}
table{border-collapse:collapse;width:100%}th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
thead th{background:#f4f4f4;font-weight:600}.role{font-size:.8em;color:#777;font-weight:normal}
.phase{padding:.1rem .4rem;border-radius:4px;white-space:nowrap}.phase-complete{background:#5cb270;color:#fff}
.phase-tls_only_traffic{background:#b6e3c1}.phase-dual_listen{background:#ffe1a8}.phase-plaintext_only{background:#f7b2ac}.phase-unknown{background:#ddd}
.ok{color:#1e7b34}.bad{color:#b3261e;font-weight:600}.warn{color:#a05a00;font-weight:600}.na{color:#999}
ul.reasons{margin:0;padding-left:1rem}h2{font-size:1.1rem;margin:1.2rem 0 .5rem}code{font-size:.9em}footer{margin-top:1rem;color:#777;font-size:.85em}`;

export function renderStatusPage(s: Snapshot | null, opts: { refreshSeconds: number; source: string }): string {
  const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${opts.refreshSeconds}"><title>Gitaly TLS migration</title><style>${STYLE}</style></head><body>
<h1>Gitaly TLS migration</h1>`;
  if (!s)
    return `${head}<div class="banner todo" data-fleet-complete="false">The first collection is still running; this page refreshes itself.</div></body></html>`;
  return `${head}${banner(s)}
<table><thead><tr><th>Node</th><th>Phase</th><th title="New connections in the soak window, own probes excluded">Window tcp / tls</th><th>Plaintext last seen</th>
<th>Cert expires</th><th>Trusted</th><th>Hostname</th><th>ALPN h2</th><th>TLS versions</th><th>Restart</th><th>Blocking reasons</th></tr></thead>
<tbody>${s.nodes.map((n) => row(n, s.atMs)).join('\n')}</tbody></table>
${renderClientSections(s)}
<footer>Collected ${escapeHtml(new Date(s.atMs).toISOString())} in ${(s.durationMs / 1000).toFixed(1)} s · config ${escapeHtml(opts.source)} ·
<a href="/migration">/migration</a> · <a href="/metrics">/metrics</a></footer></body></html>`;
}
