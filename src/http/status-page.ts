// The status page: the fleet verdict and one row per node, readable in five seconds.
// Server-rendered, no scripts, refreshes itself.
import type { Phase } from '../migration/types.ts';
import type { CollectionView } from '../view/collection-view.ts';
import type { Check, NodeView } from '../view/node-view.ts';
import { duration } from '../view/next-step.ts';
import { escapeHtml } from './html.ts';
import { renderClientSections } from './status-clients.ts';

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

const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/**
 * Observed for how long out of the window, and when the window is clean of plaintext if no client
 * connects. Not "safe": a TLS blocker (restart needed, no TLS yet) may still hold the node back.
 */
function soakCell(v: NodeView, nowMs: number): string {
  const s = v.soak;
  const watched =
    s.observedForMs === null
      ? '<span class="na">not observed yet</span>'
      : `${escapeHtml(duration(Math.min(s.observedForMs, s.windowMs)))} of ${escapeHtml(duration(s.windowMs))}`;
  const p = s.projectedSafe;
  const safe =
    p.atMs === null
      ? `<div class="na" title="${escapeHtml(p.why)}">window clean at: unknown</div>`
      : `<div>window clean ${p.atMs <= nowMs ? 'since' : 'at'} <time datetime="${new Date(p.atMs).toISOString()}">${when(p.atMs)}</time>${p.atMs > nowMs ? ` (in ${escapeHtml(duration(p.atMs - nowMs))})` : ''}</div>`;
  return `<td class="soak" data-soak-observed-ms="${s.observedForMs ?? 'unknown'}" data-soak-safe-ms="${p.atMs ?? 'unknown'}">${watched}${safe}</td>`;
}

/** What a cell says for a check; `data-value` carries the fact itself (yes, no, unknown) for scripts and tests. */
const stateOf = (c: Check): 'yes' | 'no' | 'unknown' => (c.value === null ? 'unknown' : c.value ? 'yes' : 'no');

/** A check's cell: `good` is the value that is good news; unknown says so, with the why on hover and below the row. */
function checkCell(name: string, c: Check, good: boolean, words: { yes?: string; no?: string } = {}): string {
  const state = stateOf(c);
  const title = c.why ? ` title="${escapeHtml(c.why)}"` : '';
  const text =
    c.value === null
      ? '<span class="na">unknown</span>'
      : `<span class="${c.value === good ? 'ok' : 'bad'}">${c.value ? (words.yes ?? 'yes') : (words.no ?? 'no')}</span>`;
  return `<td data-check="${name}" data-value="${state}"${title}>${text}</td>`;
}

const CHECK_LABEL: Record<string, string> = {
  trusted: 'Trusted',
  hostnameMatch: 'Hostname',
  alpnH2: 'ALPN h2',
  restartNeeded: 'Restart',
  plaintextListenerOpen: 'listen_addr open',
};

function tlsCells(v: NodeView): string {
  const e = v.certExpiry;
  const expiryClass = e.atMs === null ? 'na' : e.days < 7 ? 'bad' : e.days < 30 ? 'warn' : 'ok';
  const expiry =
    e.atMs === null
      ? `<td class="expiry na" data-check="certDays" data-value="unknown" title="${escapeHtml(e.why)}">unknown</td>`
      : `<td class="expiry ${expiryClass}" data-check="certDays" data-value="${e.days}">${e.days} d</td>`;
  const versions = (v.tls?.accepts ?? [])
    .filter((a) => a.accepted !== null)
    .map((a) => `<span class="${a.accepted ? 'ok' : 'na'}">${escapeHtml(a.version.replace('TLSv', ''))}${a.accepted ? '' : '✗'}</span>`)
    .join(' ');
  return [
    expiry,
    checkCell('trusted', v.checks.trusted, true),
    checkCell('hostnameMatch', v.checks.hostnameMatch, true),
    checkCell('alpnH2', v.checks.alpnH2, true),
    `<td>${versions || (v.tls?.version ? escapeHtml(v.tls.version) : '<span class="na">–</span>')}</td>`,
    checkCell('restartNeeded', v.checks.restartNeeded, false, { yes: 'restart needed' }),
    checkCell('plaintextListenerOpen', v.checks.plaintextListenerOpen, false, { yes: 'open', no: 'closed' }),
  ].join('');
}

/** Sources that failed, each with its error sentence, and why each unknown shown in the row is unknown. */
function notes(v: NodeView): string {
  const down = v.sources
    .filter((s) => !s.up)
    .map((s) => `<li class="bad" data-source-down="${s.source}">${s.source}: ${escapeHtml(s.error?.message ?? 'failed')}</li>`);
  const unknowns = Object.entries(CHECK_LABEL)
    .map(([name, label]) => [label, v.checks[name as keyof NodeView['checks']]] as const)
    .filter(([, c]) => c.value === null)
    .map(([label, c]) => `<li class="na">${label} unknown: ${escapeHtml(c.why ?? '')}</li>`);
  if (v.certExpiry.atMs === null && v.tlsAddress)
    unknowns.unshift(`<li class="na">Cert expiry unknown: ${escapeHtml(v.certExpiry.why)}</li>`);
  const downList = down.length ? `<ul class="sources">${down.join('')}</ul>` : '';
  const why = unknowns.length
    ? `<details class="unknowns"><summary>${unknowns.length} unknown</summary><ul>${unknowns.join('')}</ul></details>`
    : '';
  return downList + why;
}

function row(v: NodeView, nowMs: number): string {
  const reasons = v.reasons.map((r) => `<li title="${escapeHtml(r.text)}"><code>${r.reason}</code></li>`).join('');
  const soak = v.soak;
  return `<tr data-node="${escapeHtml(v.node)}" data-phase="${v.phase}">
<th scope="row">${escapeHtml(v.node)}<div class="role">${v.role}</div></th>
<td><span class="phase phase-${v.phase}">${PHASE_LABEL[v.phase]}</span></td>
<td class="next" data-next-step>${escapeHtml(v.nextStep)}</td>
<td>${soak.window ? `${soak.window.tcp} / ${soak.window.tls}` : '<span class="na">unknown</span>'}</td>
<td>${escapeHtml(lastSeen(soak.plaintextLastSeenMs, soak.observedSinceMs, nowMs))}${soak.plaintextLastSeenMs !== null ? `<div class="at"><time datetime="${new Date(soak.plaintextLastSeenMs).toISOString()}">${when(soak.plaintextLastSeenMs)}</time></div>` : ''}</td>
${soakCell(v, nowMs)}
${tlsCells(v)}
<td><ul class="reasons">${reasons || '<li class="ok">nothing blocks</li>'}</ul>${notes(v)}</td>
</tr>`;
}

/** Failures that concern the whole fleet, each with its sentence. */
function exporterErrors(s: CollectionView): string[] {
  return [
    ...(s.prometheus?.ok === false ? [`Prometheus: ${s.prometheus.error.message}`] : []),
    ...(s.caBundle.ok ? [] : [`CA bundle: ${s.caBundle.error.message}`]),
    ...(s.stateError ? [`State file: ${s.stateError.message}`] : []),
  ];
}

function banner(s: CollectionView): string {
  const f = s.fleet;
  const total = s.nodes.length;
  const errors = exporterErrors(s);
  if (f.complete) {
    const list = errors.length ? `<ul>${errors.map((e) => `<li class="bad">${escapeHtml(e)}</li>`).join('')}</ul>` : '';
    return `<div class="banner done" data-fleet-complete="true"><strong>Migration complete.</strong> All ${total} node(s) serve TLS only.${list}</div>`;
  }
  const counts = (Object.entries(f.nodesByPhase) as Array<[Phase, number]>)
    .filter(([, c]) => c > 0)
    .map(([p, c]) => `${c} ${PHASE_LABEL[p].toLowerCase()}`)
    .join(', ');
  const blocking = [...f.blocking, ...errors].map((b) => `<li>${escapeHtml(b)}</li>`).join('');
  return `<div class="banner todo" data-fleet-complete="false"><strong>Migration not complete.</strong> ${f.nodesByPhase.complete} of ${total} node(s) complete (${escapeHtml(counts)}).<ul>${blocking}</ul></div>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem;margin:0 0 .8rem}.banner{padding:.8rem 1rem;border-radius:6px;margin-bottom:1rem}
.banner ul{margin:.3rem 0 0 1.2rem;padding:0}.done{background:#e3f6e8;border:1px solid #5cb270}.todo{background:#fff4e0;border:1px solid #e0a040}
table{border-collapse:collapse;width:100%}th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
thead th{background:#f4f4f4;font-weight:600}td.next{max-width:22rem}.at,td.soak div{font-size:.85em;color:#555}.role{font-size:.8em;color:#777;font-weight:normal}
.phase{padding:.1rem .4rem;border-radius:4px;white-space:nowrap}.phase-complete{background:#5cb270;color:#fff}
.phase-tls_only_traffic{background:#b6e3c1}.phase-dual_listen{background:#ffe1a8}.phase-plaintext_only{background:#f7b2ac}.phase-unknown{background:#ddd}
.ok{color:#1e7b34}.bad{color:#b3261e;font-weight:600}.warn{color:#a05a00;font-weight:600}.na{color:#999}
ul.reasons,ul.sources{margin:0;padding-left:1rem}details.unknowns{color:#777;font-size:.85em}h2{font-size:1.1rem;margin:1.2rem 0 .5rem}code{font-size:.9em}footer{margin-top:1rem;color:#777;font-size:.85em}`;

export function renderStatusPage(s: CollectionView | null, opts: { refreshSeconds: number; source: string }): string {
  const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${opts.refreshSeconds}"><title>Gitaly TLS migration</title><style>${STYLE}</style></head><body>
<h1>Gitaly TLS migration</h1>`;
  if (!s)
    return `${head}<div class="banner todo" data-fleet-complete="false">The first collection is still running; this page refreshes itself.</div></body></html>`;
  return `${head}${banner(s)}
<table><thead><tr><th>Node</th><th>Phase</th><th>Next step</th><th title="New connections in the soak window, own probes excluded">Window tcp / tls</th><th>Plaintext last seen</th><th title="Observed for how long out of the soak window, and when it holds no plaintext connection if none arrives">Soak</th>
<th>Cert expires</th><th>Trusted</th><th>Hostname</th><th>ALPN h2</th><th>TLS versions</th><th>Restart</th><th>listen_addr</th><th>Blocking reasons</th></tr></thead>
<tbody>${s.nodes.map((n) => row(n, s.atMs)).join('\n')}</tbody></table>
${renderClientSections(s)}
<footer>Collected ${escapeHtml(new Date(s.atMs).toISOString())} in ${(s.durationMs / 1000).toFixed(1)} s · config ${escapeHtml(opts.source)} ·
<a href="/migration">/migration</a> · <a href="/metrics">/metrics</a></footer></body></html>`;
}
