// A node's new connections over the soak window as inline SVG: TLS bars up from the middle line,
// plaintext bars down from it, each scaled to its own largest bucket (one stray plaintext client
// must stay visible beside thousands of TLS connections). Spans with no observation are shaded and
// labelled as such, never drawn as zero. Server-rendered: no script, no external file.
import type { ConnectionChart } from '../view/connection-chart.ts';
import { duration } from '../view/next-step.ts';
import { escapeHtml } from './html.ts';

export interface ChartSize {
  width: number;
  height: number;
  /** At most this many bars: buckets are summed into wider bars beyond it (a page of 1,000 charts stays small). */
  maxBars: number;
  /** Text labels (scales, window start, now) for the node page; the table's small chart has none. */
  labels: boolean;
}

export const SMALL_CHART: ChartSize = { width: 168, height: 40, maxBars: 42, labels: false };
export const LARGE_CHART: ChartSize = { width: 720, height: 160, maxBars: 240, labels: true };

interface Bar {
  startMs: number;
  tcp: number;
  tls: number;
}

/** Buckets summed into bars of a whole number of buckets, aligned to the bucket grid; empty bars left out. */
function bars(c: ConnectionChart, maxBars: number): { barMs: number; bars: Bar[] } {
  const k = Math.max(1, Math.ceil((c.toMs - c.fromMs) / c.bucketMs / maxBars));
  const barMs = k * c.bucketMs;
  const byStart = new Map<number, Bar>();
  for (const b of c.buckets) {
    const startMs = Math.floor(b.startMs / barMs) * barMs;
    const bar = byStart.get(startMs) ?? { startMs, tcp: 0, tls: 0 };
    bar.tcp += b.tcp;
    bar.tls += b.tls;
    byStart.set(startMs, bar);
  }
  return { barMs, bars: [...byStart.values()] };
}

const hhmm = (ms: number): string => `${new Date(ms).toISOString().slice(11, 19)} UTC`;

/** What the chart shows, in words: its <title> and aria-label, for screen readers and hovering. */
export function chartSummary(node: string, c: ConnectionChart): string {
  const tcp = c.buckets.reduce((s, b) => s + b.tcp, 0);
  const tls = c.buckets.reduce((s, b) => s + b.tls, 0);
  const parts = [
    `${node}: new connections per ${duration(c.bucketMs)} over the soak window (${duration(c.toMs - c.windowStartMs)}), own probes excluded`,
  ];
  if (!c.known) parts.push(`no data: ${c.why ?? 'not observed'}`);
  else {
    parts.push(`${tcp} plaintext, ${tls} TLS`);
    if (c.known.fromMs > c.fromMs) parts.push(`no data before ${hhmm(c.known.fromMs)}`);
  }
  parts.push(
    c.plaintextLastSeenMs !== null ? `last plaintext client at ${hhmm(c.plaintextLastSeenMs)}` : 'no plaintext client in this span',
  );
  return parts.join('; ');
}

export function renderChart(node: string, c: ConnectionChart, size: ChartSize): string {
  const { width: W, height: H, labels } = size;
  const top = labels ? 16 : 2;
  const bottom = labels ? H - 16 : H - 2;
  const mid = Math.round((top + bottom) / 2);
  const span = Math.max(1, c.toMs - c.fromMs);
  const x = (ms: number): number => Math.min(W, Math.max(0, ((ms - c.fromMs) / span) * W));
  const r = (n: number): string => n.toFixed(1);
  const tcpTotal = c.buckets.reduce((s, b) => s + b.tcp, 0);
  const tlsTotal = c.buckets.reduce((s, b) => s + b.tls, 0);
  const { barMs, bars: drawn } = bars(c, size.maxBars);
  const tcpMax = Math.max(1, ...drawn.map((b) => b.tcp));
  const tlsMax = Math.max(1, ...drawn.map((b) => b.tls));
  const parts: string[] = [];

  // Unknown spans first, so the bars and marks sit above them.
  const gaps: Array<[number, number]> = c.known
    ? [
        [c.fromMs, c.known.fromMs],
        [c.known.toMs, c.toMs],
      ]
    : [[c.fromMs, c.toMs]];
  for (const [from, to] of gaps) {
    const gx = x(from);
    const gw = x(to) - gx;
    if (gw < 0.5) continue;
    parts.push(`<rect class="gap" x="${r(gx)}" y="${top}" width="${r(gw)}" height="${bottom - top}"><title>no data</title></rect>`);
    if (labels && gw > 48) parts.push(`<text class="gap-label" x="${r(gx + gw / 2)}" y="${mid + 4}" text-anchor="middle">no data</text>`);
  }
  parts.push(`<line class="axis" x1="0" x2="${W}" y1="${mid}" y2="${mid}"/>`);

  // Small charts draw each series as one path (no per-bar titles): a 1,000-row page stays a few MB.
  const half = mid - top - 1;
  const tlsPath: string[] = [];
  const tcpPath: string[] = [];
  // A bar straddling the start of observation (or the latest scrape) counts only the observed part:
  // it is clipped to the known span, so no bar is drawn over "no data".
  const kx0 = c.known ? x(c.known.fromMs) : 0;
  const kx1 = c.known ? x(c.known.toMs) : 0;
  for (const b of c.known ? drawn : []) {
    const bx = Math.max(kx0, x(b.startMs));
    const full = Math.min(kx1, x(b.startMs + barMs)) - bx;
    // A pixel between bars once they are wide enough to spare it.
    const w = Math.max(1, full > 3 ? full - 1 : full);
    if (b.tls > 0) {
      const h = Math.max(1, (b.tls / tlsMax) * half);
      if (labels)
        parts.push(
          `<rect class="tls" x="${r(bx)}" y="${r(mid - h)}" width="${r(w)}" height="${r(h)}"><title>${b.tls} TLS from ${hhmm(b.startMs)}</title></rect>`,
        );
      else tlsPath.push(`M${r(bx)} ${mid}v-${r(h)}h${r(w)}v${r(h)}z`);
    }
    if (b.tcp > 0) {
      const h = Math.max(1, (b.tcp / tcpMax) * half);
      if (labels)
        parts.push(
          `<rect class="tcp" x="${r(bx)}" y="${mid + 1}" width="${r(w)}" height="${r(h)}"><title>${b.tcp} plaintext from ${hhmm(b.startMs)}</title></rect>`,
        );
      else tcpPath.push(`M${r(bx)} ${mid + 1}v${r(h)}h${r(w)}v-${r(h)}z`);
    }
  }
  if (tlsPath.length) parts.push(`<path class="tls" d="${tlsPath.join('')}"/>`);
  if (tcpPath.length) parts.push(`<path class="tcp" d="${tcpPath.join('')}"/>`);

  const ws = x(c.windowStartMs);
  parts.push(
    `<line class="window-start" x1="${r(ws)}" x2="${r(ws)}" y1="${top - (labels ? 4 : 0)}" y2="${bottom}"><title>soak window starts ${hhmm(c.windowStartMs)}</title></line>`,
  );
  if (c.plaintextLastSeenMs !== null) {
    const lx = x(c.plaintextLastSeenMs);
    parts.push(
      `<line class="last-plaintext" x1="${r(lx)}" x2="${r(lx)}" y1="${top}" y2="${bottom}"><title>last plaintext client ${hhmm(c.plaintextLastSeenMs)}</title></line>`,
      `<path class="last-plaintext-mark" d="M${r(lx - 4)} ${bottom} L${r(lx + 4)} ${bottom} L${r(lx)} ${bottom - 6} Z"/>`,
    );
  }
  // Labels live in strips above and below the plot, never over the bars; the scales go in a caption.
  if (labels) {
    parts.push(
      `<text x="${r(Math.min(ws + 3, W / 2))}" y="11">window start ${hhmm(c.windowStartMs)}</text>`,
      `<text x="${W - 2}" y="11" text-anchor="end">now ${hhmm(c.toMs)}</text>`,
    );
    if (c.plaintextLastSeenMs !== null) {
      const lx = x(c.plaintextLastSeenMs);
      const anchor = lx > W / 2 ? `x="${r(lx - 2)}" text-anchor="end"` : `x="${r(lx + 2)}"`;
      parts.push(`<text class="tcp-label" ${anchor} y="${H - 3}">▲ last plaintext ${hhmm(c.plaintextLastSeenMs)}</text>`);
    }
  }
  const summary = escapeHtml(chartSummary(node, c));
  const caption = labels
    ? `<p class="chart-scale">Each bar: ${escapeHtml(duration(barMs))}. Scales: TLS up to ${tlsMax}, plaintext up to ${tcpMax} new connections per bar (each scaled to its own largest bar, so one plaintext client stays visible).</p>`
    : '';
  const known = c.known ? new Date(c.known.fromMs).toISOString() : 'none';
  const last = c.plaintextLastSeenMs === null ? 'none' : new Date(c.plaintextLastSeenMs).toISOString();
  return `<svg class="chart" role="img" aria-label="${summary}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" data-chart-node="${escapeHtml(node)}" data-tcp-total="${tcpTotal}" data-tls-total="${tlsTotal}" data-known-from="${known}" data-last-plaintext="${last}" data-window-start="${new Date(c.windowStartMs).toISOString()}"><title>${summary}</title>${parts.join('')}</svg>${caption}`;
}

/** The chart's colours; part of the page's one stylesheet. */
export const CHART_STYLE = `svg.chart{display:block;background:#fafafa;border:1px solid #e2e2e2;font:10px system-ui,sans-serif}
svg.chart .gap{fill:#e4e4e4}svg.chart .gap-label{fill:#888}svg.chart .axis{stroke:#bbb;stroke-width:1}
svg.chart .tls{fill:#3c9a5f}svg.chart .tcp{fill:#c0392b}svg.chart .window-start{stroke:#555;stroke-dasharray:3 2;stroke-width:1}
svg.chart .last-plaintext{stroke:#c0392b;stroke-width:1.5}svg.chart .last-plaintext-mark{fill:#c0392b}svg.chart text{fill:#444}
svg.chart .tcp-label{fill:#a02d22}p.chart-scale{font-size:.8em;color:#666;margin:.2rem 0}`;
