// `check --url http://exporter:9787`: ask a running exporter for its verdict (/migration) instead
// of collecting. Nothing is dialled, so Gitaly's counters see no connection from the check and
// the running exporters' soak windows are left alone. Never throws.
import { request, type Dispatcher } from 'undici';

export interface RemoteCheckOptions {
  timeoutMs: number;
  maxBytes: number;
  dispatcher?: Dispatcher;
}

export type RemoteCheck = { ok: true; complete: boolean; text: string } | { ok: false; message: string };

interface MigrationDoc {
  generatedAt?: unknown;
  fleet?: { complete?: unknown; phase?: unknown; blocking?: unknown };
  nodes?: Array<{ node?: unknown; role?: unknown; phase?: unknown; nextStep?: unknown; blockingReasons?: Array<{ reason?: unknown }> }>;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '-';
}

/** The same columns as a local check where /migration has them: node, role, phase, what blocks. */
export function renderRemote(doc: MigrationDoc, url: string): string | null {
  if (typeof doc.fleet?.complete !== 'boolean' || !Array.isArray(doc.nodes)) return null;
  const rows = [
    ['NODE', 'ROLE', 'PHASE', 'BLOCKING'],
    ...doc.nodes.map((n) => [str(n.node), str(n.role), str(n.phase), (n.blockingReasons ?? []).map((r) => str(r.reason)).join(',') || '-']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  const blocking = Array.isArray(doc.fleet.blocking) ? doc.fleet.blocking.map(str) : [];
  // An older exporter's /migration has no nextStep: the section is left out rather than filled with "-".
  const steps = doc.nodes.filter((n) => typeof n.nextStep === 'string').map((n) => `  ${str(n.node)}: ${str(n.nextStep)}`);
  return [
    `verdict of the exporter at ${url}, collected ${str(doc.generatedAt)}`,
    ...lines,
    ...(steps.length ? ['', 'Next steps:', ...steps] : []),
    '',
    doc.fleet.complete
      ? 'fleet: complete'
      : `fleet: ${str(doc.fleet.phase)}, not complete${blocking.length ? `: ${blocking.join('; ')}` : ''}`,
    '',
  ].join('\n');
}

export async function checkRemote(baseUrl: string, o: RemoteCheckOptions): Promise<RemoteCheck> {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return { ok: false, message: `--url ${JSON.stringify(baseUrl)} is not a URL (expected e.g. http://exporter:9787)` };
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password)
    return { ok: false, message: '--url must be an http:// or https:// URL without a user name or password' };
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/migration`;
  const shown = `${url.origin}${url.pathname}`;
  try {
    const res = await request(url, {
      method: 'GET',
      dispatcher: o.dispatcher,
      signal: AbortSignal.timeout(o.timeoutMs),
      headers: { accept: 'application/json' },
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > o.maxBytes) return { ok: false, message: `${shown} answered with more than ${o.maxBytes} bytes` };
      chunks.push(chunk);
    }
    if (res.statusCode === 503)
      return { ok: false, message: `${shown} has no verdict yet (the exporter has not finished its first collection)` };
    if (res.statusCode !== 200) return { ok: false, message: `${shown} answered HTTP ${res.statusCode}` };
    let doc: MigrationDoc;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as MigrationDoc;
    } catch {
      return { ok: false, message: `${shown} did not answer with JSON` };
    }
    const text = typeof doc === 'object' && doc !== null ? renderRemote(doc, shown) : null;
    if (text === null) return { ok: false, message: `${shown} is not a gitaly-tls-exporter /migration document` };
    return { ok: true, complete: doc.fleet!.complete === true, text };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { ok: false, message: `${shown} did not answer within ${o.timeoutMs} ms` };
    const code = (err as { code?: string }).code;
    return { ok: false, message: `cannot reach ${shown} (${code ?? name ?? 'error'})` };
  }
}
