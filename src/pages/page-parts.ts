// Pieces the status page and the node page share: one stylesheet, the phase names and colours, time
// and expiry formatting. Rendering only: every fact comes from the node view.
import type { Phase } from '../migration/types.ts';
import type { ExpiryState, NodeView } from '../view/node-view.ts';
import { escapeHtml } from './html.ts';
import { CHART_STYLE } from './svg-chart.ts';

export const PHASES: Phase[] = ['plaintext_only', 'dual_listen', 'tls_only_traffic', 'complete', 'unknown'];

export const PHASE_LABEL: Record<Phase, string> = {
  plaintext_only: 'Plaintext only',
  dual_listen: 'Dual listen',
  tls_only_traffic: 'TLS-only traffic',
  complete: 'Complete',
  unknown: 'Unknown',
};

export function ago(ms: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** "never" would claim more than we know: say how long we have been watching. */
export function lastSeen(seenMs: number | null, observedSinceMs: number | null, nowMs: number): string {
  if (seenMs !== null) return ago(seenMs, nowMs);
  if (observedSinceMs === null) return 'not observed yet';
  return `none in ${ago(observedSinceMs, nowMs).replace(' ago', '')} watched`;
}

export const when = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** A <time> element: minutes in the text, the full ISO instant in the attribute. */
export const timeTag = (ms: number): string => `<time datetime="${new Date(ms).toISOString()}">${when(ms)}</time>`;

/** A date (ISO, UTC) for not-after: the day is what matters, the attribute keeps the instant. */
export const dateTag = (ms: number): string =>
  `<time datetime="${new Date(ms).toISOString()}">${new Date(ms).toISOString().slice(0, 10)}</time>`;

/** The CSS class of an expiry state: red once invalid, amber inside expiry_warning. */
export const EXPIRY_CLASS: Record<ExpiryState, string> = { expired: 'bad', not_yet_valid: 'bad', expiring: 'warn', ok: 'ok' };

/** "in 12 d", "expired 3 d ago", "not yet valid". */
export function daysLeft(days: number, state: ExpiryState | null): string {
  if (state === 'not_yet_valid') return 'not yet valid';
  if (days < 0) return `expired ${-days} d ago`;
  return `${days} d left`;
}

export const nodeHref = (v: Pick<NodeView, 'node'>): string => `/node/${encodeURIComponent(v.node)}`;

// table.nodes is the status table: thirteen columns that must fit a 1,366 px screen, so long names,
// addresses and error sentences break anywhere, words such as "unknown" and the reason codes never do.
export const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}a{color:#1a5fb4}
h1{font-size:1.3rem;margin:0 0 .8rem}.banner{padding:.8rem 1rem;border-radius:6px;margin-bottom:1rem}
.banner ul{margin:.3rem 0 0 1.2rem;padding:0}.done{background:#e3f6e8;border:1px solid #5cb270}.todo{background:#fff4e0;border:1px solid #e0a040}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:.3rem .4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
thead th{background:#f4f4f4;font-weight:600}td.next{min-width:9rem;max-width:15rem}td.soak{min-width:8rem;max-width:11rem}td.expiry{white-space:nowrap}.at,td.soak div,td.expiry div{font-size:.85em;color:#555}.role{font-size:.8em;color:#777;font-weight:normal}
.phase{padding:.1rem .4rem;border-radius:4px;white-space:nowrap}.phase-complete{background:#5cb270;color:#fff}
.phase-tls_only_traffic{background:#b6e3c1}.phase-dual_listen{background:#ffe1a8}.phase-plaintext_only{background:#f7b2ac}.phase-unknown{background:#ddd}
.ok{color:#1e7b34}.bad{color:#b3261e;font-weight:600}.warn{color:#a05a00;font-weight:600}.na{color:#999}
td.expiry.bad,td.cert-state.bad{background:#fde8e6}td.expiry.warn,td.cert-state.warn{background:#fff3dc}
ul.reasons,ul.sources,ul.details{margin:0;padding-left:1rem}ul.details{font-size:.85em;color:#444}details.unknowns{color:#777;font-size:.85em}
h2{font-size:1.1rem;margin:1.2rem 0 .5rem}code{font-size:.9em}footer{margin-top:1rem;color:#777;font-size:.85em}
.summary{display:flex;height:1.8rem;border-radius:6px;overflow:hidden;margin:.3rem 0 .6rem;border:1px solid #ccc}
.summary a{display:flex;align-items:center;justify-content:center;min-width:6.5rem;color:#222;text-decoration:none;font-size:.85em;white-space:nowrap;padding:0 .3rem}
.summary a.phase-complete{color:#fff}.summary a.current{outline:3px solid #1a5fb4;outline-offset:-3px}
form.filter{margin:.4rem 0 .8rem;display:flex;gap:.8rem;align-items:center;flex-wrap:wrap}form.filter label{font-size:.9em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dl.facts dt{font-weight:600;color:#555}dl.facts dd{margin:0}
.legend span{margin-right:1rem;font-size:.85em}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.25rem;vertical-align:-1px}
table.nodes th,table.nodes td{padding:.3rem .2rem}table.nodes thead th,table.nodes td[data-check]{font-size:12px}table.nodes .phase{white-space:normal;display:inline-block}
table.nodes tbody th,table.nodes td.next,table.nodes ul.sources,table.nodes ul.details,table.nodes details.unknowns{overflow-wrap:anywhere}
table.nodes tbody th{min-width:6rem}table.nodes td.next{min-width:7rem;width:16%}table.nodes td.soak{min-width:6rem}table.nodes td.chart-cell div{font-size:.85em;color:#555}table.nodes svg.chart{width:152px;height:auto}
table.nodes ul.reasons{padding-left:.9rem}table.nodes ul.reasons code{font-size:.85em}
${CHART_STYLE}`;

export function pageHead(title: string, refreshSeconds: number | null): string {
  const refresh = refreshSeconds === null ? '' : `<meta http-equiv="refresh" content="${refreshSeconds}">`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`;
}

/** The chart's key: what the colours and marks mean. */
export const CHART_LEGEND = `<div class="legend"><span><i style="background:#3c9a5f"></i>new TLS connections (up)</span><span><i style="background:#c0392b"></i>new plaintext connections (down)</span><span><i style="background:#e4e4e4"></i>no data</span><span>dashed line: soak window start</span><span style="color:#c0392b">red line ▲: last plaintext client</span></div>`;
