// The status page: the fleet verdict and one row per node, readable in five seconds.
// Server-rendered, no scripts, refreshes itself.
import type { Phase } from '../migration/types.ts';
import type { CollectionView } from '../view/collection-view.ts';
import type { Check, NodeView } from '../view/node-view.ts';
import { duration } from '../view/next-step.ts';
import { escapeHtml } from './html.ts';
import { dateTag, EXPIRY_CLASS, lastSeen, nodeHref, pageHead, PHASE_LABEL, PHASES, when } from './page-parts.ts';
import { renderClientSections } from './status-clients.ts';
import { renderChart, SMALL_CHART } from './svg-chart.ts';

/** How the table is cut and ordered: from the query string, so a 1,000-node page needs no script. */
export interface PageQuery {
  phase: Phase | null;
  /** config: the inventory's order; expiry: soonest certificate expiry first, unknown last. */
  sort: 'config' | 'name' | 'expiry';
}

const SORTS: Array<PageQuery['sort']> = ['config', 'name', 'expiry'];
const SORT_LABEL: Record<PageQuery['sort'], string> = { config: 'configuration order', name: 'name', expiry: 'certificate expiry' };

/** Reads ?phase= and ?sort=; a wrong value is an error naming the parameter and what it may be. */
export function parsePageQuery(q: Record<string, unknown>): PageQuery | { error: string } {
  const one = (name: string): string | undefined | null => {
    const v = q[name];
    if (v === undefined || v === '') return undefined;
    return typeof v === 'string' ? v : null;
  };
  const phase = one('phase');
  const sort = one('sort');
  if (phase === null || sort === null) return { error: 'Bad query: give phase and sort at most once each.' };
  if (phase !== undefined && !(PHASES as string[]).includes(phase))
    return { error: `Bad phase "${phase}": use one of ${PHASES.join(', ')} (or leave it out for all nodes).` };
  if (sort !== undefined && !(SORTS as string[]).includes(sort)) return { error: `Bad sort "${sort}": use one of ${SORTS.join(', ')}.` };
  return { phase: (phase as Phase | undefined) ?? null, sort: (sort as PageQuery['sort'] | undefined) ?? 'config' };
}

const byName = (a: NodeView, b: NodeView): number => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);

export function selectNodes(nodes: NodeView[], q: PageQuery): NodeView[] {
  const picked = q.phase ? nodes.filter((n) => n.phase === q.phase) : [...nodes];
  if (q.sort === 'name') picked.sort(byName);
  if (q.sort === 'expiry')
    picked.sort((a, b) => {
      const x = a.certExpiry.atMs ?? Infinity;
      const y = b.certExpiry.atMs ?? Infinity;
      return x === y ? byName(a, b) : x < y ? -1 : 1;
    });
  return picked;
}

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

/** Soonest expiry as a date and days left, coloured by the configured expiry_warning (the view's state). */
function expiryCell(v: NodeView): string {
  const e = v.certExpiry;
  if (e.atMs === null) return `<td class="expiry na" data-check="certDays" data-value="unknown" title="${escapeHtml(e.why)}">unknown</td>`;
  const title = `soonest not-after in the chain (served, or the trust anchor from the CA bundle); amber within expiry_warning (${duration(v.expiryWarningMs)})`;
  return `<td class="expiry ${EXPIRY_CLASS[e.state]}" data-check="certDays" data-value="${e.days}" data-expiry-state="${e.state}" title="${escapeHtml(title)}">${dateTag(e.atMs)}<div>${e.days} d</div></td>`;
}

/** The versions the pinned handshakes found, else the one negotiated, else unknown (never a bare dash: it reads as "none"). */
function versionsCell(v: NodeView, versions: string): string {
  if (versions) return `<td data-check="tlsVersions">${versions}</td>`;
  if (v.tls?.version) return `<td data-check="tlsVersions">${escapeHtml(v.tls.version)}</td>`;
  const why = !v.tls
    ? 'no TLS listener is probed (no tls_address)'
    : `no TLS handshake completed${v.tls.error ? `: ${v.tls.error.message}` : ''}`;
  return `<td data-check="tlsVersions" data-value="unknown" title="${escapeHtml(why)}"><span class="na">unknown</span></td>`;
}

function tlsCells(v: NodeView): string {
  const versions = (v.tls?.accepts ?? [])
    .filter((a) => a.accepted !== null)
    .map((a) => `<span class="${a.accepted ? 'ok' : 'na'}">${escapeHtml(a.version.replace('TLSv', ''))}${a.accepted ? '' : '✗'}</span>`)
    .join(' ');
  return [
    expiryCell(v),
    checkCell('trusted', v.checks.trusted, true),
    checkCell('hostnameMatch', v.checks.hostnameMatch, true),
    checkCell('alpnH2', v.checks.alpnH2, true),
    versionsCell(v, versions),
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
  const details = v.details.length ? `<ul class="details">${v.details.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '';
  const why = unknowns.length
    ? `<details class="unknowns"><summary>${unknowns.length} unknown</summary><ul>${unknowns.join('')}</ul></details>`
    : '';
  return downList + details + why;
}

/**
 * The chart with the window's counts and the last plaintext client under it: one column for the
 * traffic, so the table fits a 1,366 px screen with the blocking reasons in view.
 */
function connectionsCell(v: NodeView, nowMs: number): string {
  const soak = v.soak;
  const counts = soak.window ? `${soak.window.tcp} tcp / ${soak.window.tls} tls` : '<span class="na">unknown</span>';
  const seen = soak.plaintextLastSeenMs;
  const at = seen !== null ? ` <time datetime="${new Date(seen).toISOString()}">${when(seen)}</time>` : '';
  return `<td class="chart-cell">${renderChart(v.node, v.chart, SMALL_CHART)}<div data-window>in window: ${counts}</div>
<div data-plaintext-last-seen>last plaintext: ${escapeHtml(lastSeen(seen, soak.observedSinceMs, nowMs))}${at}</div></td>`;
}

function row(v: NodeView, nowMs: number): string {
  const reasons = v.reasons.map((r) => `<li title="${escapeHtml(r.text)}"><code>${r.reason}</code></li>`).join('');
  return `<tr data-node="${escapeHtml(v.node)}" data-phase="${v.phase}">
<th scope="row"><a href="${nodeHref(v)}">${escapeHtml(v.node)}</a><div class="role">${v.role}</div></th>
<td><span class="phase phase-${v.phase}">${PHASE_LABEL[v.phase]}</span></td>
<td class="next" data-next-step>${escapeHtml(v.nextStep)}</td>
${soakCell(v, nowMs)}
${connectionsCell(v, nowMs)}
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

/** Beyond this many characters a fleet sentence (a list of 800 node names) is folded: the table stays in view. */
const FOLD_CHARS = 240;

/** "814 of 1000 node(s) not complete: gitaly-0000, …" folds to its head, the whole list one click away. */
function foldLong(text: string): string {
  const colon = text.indexOf(': ');
  if (text.length <= FOLD_CHARS || colon < 0 || colon > FOLD_CHARS) return escapeHtml(text);
  return `<details class="fold"><summary>${escapeHtml(text.slice(0, colon))} (show the list)</summary>${escapeHtml(text.slice(colon + 2))}</details>`;
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
  const blocking = [...f.blocking, ...errors].map((b) => `<li>${foldLong(b)}</li>`).join('');
  return `<div class="banner todo" data-fleet-complete="false"><strong>Migration not complete.</strong> ${f.nodesByPhase.complete} of ${total} node(s) complete (${escapeHtml(counts)}).<ul>${blocking}</ul></div>`;
}

/** The fleet summary bar: nodes per phase, widths to scale, counts as text; each part filters the table. */
export function summaryBar(s: CollectionView, q: PageQuery): string {
  const total = s.nodes.length;
  const parts = PHASES.filter((p) => s.fleet.nodesByPhase[p] > 0).map((p) => {
    const n = s.fleet.nodesByPhase[p];
    const current = q.phase === p ? ' current' : '';
    const href = pageHref({ ...q, phase: q.phase === p ? null : p });
    return `<a class="phase-${p}${current}" data-summary-phase="${p}" data-count="${n}" style="flex:${n} 1 0" href="${href}" title="${n} of ${total} node(s): ${PHASE_LABEL[p]}${current ? ' (click to show all)' : ' (click to show only these)'}">${n} ${PHASE_LABEL[p]}</a>`;
  });
  return `<nav class="summary" aria-label="Nodes per phase">${parts.join('')}</nav>`;
}

export function pageHref(q: PageQuery): string {
  const params = new URLSearchParams();
  if (q.phase) params.set('phase', q.phase);
  if (q.sort !== 'config') params.set('sort', q.sort);
  const text = params.toString();
  return escapeHtml(text ? `/?${text}` : '/');
}

/** Filter and sort with a plain GET form: works with no script at any fleet size. */
function filterForm(s: CollectionView, q: PageQuery, shown: number): string {
  const phases = [
    `<option value=""${q.phase ? '' : ' selected'}>all phases (${s.nodes.length})</option>`,
    ...PHASES.map((p) => `<option value="${p}"${q.phase === p ? ' selected' : ''}>${PHASE_LABEL[p]} (${s.fleet.nodesByPhase[p]})</option>`),
  ].join('');
  const sorts = SORTS.map((o) => `<option value="${o}"${q.sort === o ? ' selected' : ''}>${SORT_LABEL[o]}</option>`).join('');
  const what = q.phase ? ` in phase ${PHASE_LABEL[q.phase]}` : '';
  return `<form class="filter" method="get" action="/"><label>Phase <select name="phase">${phases}</select></label>
<label>Sort by <select name="sort">${sorts}</select></label><button type="submit">Show</button>
<span data-shown="${shown}">${shown} of ${s.nodes.length} node(s)${what}, by ${SORT_LABEL[q.sort]} · <a href="${pageHref({ phase: q.phase, sort: 'expiry' })}">soonest expiry first</a> · <a href="/">all</a></span></form>`;
}

export function renderStatusPage(s: CollectionView | null, opts: { refreshSeconds: number; source: string; query?: PageQuery }): string {
  const head = `${pageHead('Gitaly TLS migration', opts.refreshSeconds)}
<h1>Gitaly TLS migration</h1>`;
  if (!s)
    return `${head}<div class="banner todo" data-fleet-complete="false">The first collection is still running; this page refreshes itself.</div></body></html>`;
  const q = opts.query ?? { phase: null, sort: 'config' };
  const nodes = selectNodes(s.nodes, q);
  return `${head}${banner(s)}
${summaryBar(s, q)}${filterForm(s, q, nodes.length)}
<table class="nodes"><thead><tr><th>Node</th><th>Phase</th><th>Next step</th><th title="Observed for how long out of the soak window, and when it holds no plaintext connection if none arrives">Soak</th>
<th title="New TLS (up, green) and plaintext (down, red) connections over the soak window; grey: no data; dashed: window start; red line: last plaintext client. Below: the window's new connections (own probes excluded) and when a plaintext client was last seen">Connections</th>
<th>Cert expires</th><th>Trusted</th><th>Hostname</th><th>ALPN h2</th><th>TLS versions</th><th>Restart</th><th>listen_addr</th><th>Blocking reasons</th></tr></thead>
<tbody>${nodes.map((n) => row(n, s.atMs)).join('\n')}</tbody></table>
${renderClientSections(s)}
<footer>Collected ${escapeHtml(new Date(s.atMs).toISOString())} in ${(s.durationMs / 1000).toFixed(1)} s · config ${escapeHtml(opts.source)} ·
<a href="/migration">/migration</a> · <a href="/metrics">/metrics</a></footer></body></html>`;
}
