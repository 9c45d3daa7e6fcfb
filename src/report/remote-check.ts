// `check --url http://exporter:9787`: ask a running exporter for its verdict (/migration) instead
// of collecting. Nothing is dialled, so Gitaly's counters see no connection from the check and
// the running exporters' soak windows are left alone. Never throws.
import { request, type Dispatcher } from 'undici';
import { judgeAnswer, readMigrationAnswer, type MigrationAnswer, type RemoteVerdict } from './migration-answer.ts';
import { gateNode, type NodeGate } from './node-gate.ts';
import { fleetLine, renderRows } from './table.ts';
import { printable } from './terminal-text.ts';

export interface RemoteCheckOptions {
  timeoutMs: number;
  maxBytes: number;
  dispatcher?: Dispatcher;
}

export type RemoteCheck = { ok: true; complete: boolean; text: string } | { ok: false; message: string };
export type RemoteNodeCheck = { ok: true; gate: NodeGate; text: string } | { ok: false; message: string };

function verdictLine(a: MigrationAnswer, v: RemoteVerdict): string {
  if (v.contradicts)
    return `the answer contradicts itself: fleet.complete is true, but ${v.why.join('; ')}\n${fleetLine(false, a.nodes.length, v.why)}`;
  return fleetLine(v.complete, a.nodes.length, a.fleet.blocking.length ? a.fleet.blocking.map(printable) : v.why);
}

/** Where the answer came from, then the table a local check prints, from the same facts. */
function renderRemote(a: MigrationAnswer, url: string, verdict: string): string {
  return `verdict of the exporter at ${url}, collected ${a.generatedAt}\n${renderRows(
    a.nodes.map((n) => n.row),
    verdict,
    a.prometheusDown,
  )}`;
}

/** The answer's body, or why there is none to read. */
async function fetchAnswer(
  url: URL,
  shown: string,
  o: RemoteCheckOptions,
): Promise<{ ok: true; body: string } | { ok: false; message: string }> {
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
      if (size > o.maxBytes)
        return { ok: false, message: `${shown} answered with more than ${o.maxBytes} bytes, the most check --url reads` };
      chunks.push(chunk);
    }
    if (res.statusCode === 503)
      return { ok: false, message: `${shown} has no verdict yet (the exporter has not finished its first collection)` };
    if (res.statusCode !== 200) return { ok: false, message: `${shown} answered HTTP ${res.statusCode}` };
    return { ok: true, body: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { ok: false, message: `${shown} did not answer within ${o.timeoutMs} ms` };
    const code = (err as { code?: string }).code;
    return { ok: false, message: `cannot reach ${shown} (${code ?? name ?? 'error'})` };
  }
}

/** The /migration URL of the exporter at `baseUrl`, or why `--url` is not one (a usage error). */
export function migrationUrl(baseUrl: string): { ok: true; url: URL } | { ok: false; message: string } {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return { ok: false, message: `--url ${printable(JSON.stringify(baseUrl))} is not a URL (expected e.g. http://exporter:9787)` };
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password)
    return { ok: false, message: '--url must be an http:// or https:// URL without a user name or password' };
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/migration`;
  return { ok: true, url };
}

export type RemoteAnswer = { ok: true; answer: MigrationAnswer; shown: string } | { ok: false; message: string };

/** The exporter's /migration answer, checked field by field, or why there is none to judge. */
export async function readRemote(baseUrl: string, o: RemoteCheckOptions): Promise<RemoteAnswer> {
  const parsed = migrationUrl(baseUrl);
  if (!parsed.ok) return parsed;
  const { url } = parsed;
  const shown = `${url.origin}${url.pathname}`;
  // Only the request can fail to reach: what the answer says is judged apart, so a malformed
  // answer is never reported as "cannot reach".
  const fetched = await fetchAnswer(url, shown, o);
  if (!fetched.ok) return fetched;
  let doc: unknown;
  try {
    doc = JSON.parse(fetched.body);
  } catch {
    return { ok: false, message: `${shown} did not answer with JSON` };
  }
  const read = readMigrationAnswer(doc);
  if (!read.ok) {
    const more = read.count > read.problems.length ? [`  and ${read.count - read.problems.length} more`] : [];
    const header = `${shown} answered with an invalid /migration document (${read.count} problem${read.count === 1 ? '' : 's'}):`;
    return { ok: false, message: [header, ...read.problems.map((p) => `  ${p}`), ...more].join('\n') };
  }
  return { ok: true, answer: read.answer, shown };
}

export async function checkRemote(baseUrl: string, o: RemoteCheckOptions): Promise<RemoteCheck> {
  const read = await readRemote(baseUrl, o);
  if (!read.ok) return read;
  const verdict = judgeAnswer(read.answer);
  return { ok: true, complete: verdict.complete, text: renderRemote(read.answer, read.shown, verdictLine(read.answer, verdict)) };
}

/** `check --url --node X`: that node's row and next step, and whether it may drop listen_addr. */
export async function checkRemoteNode(baseUrl: string, name: string, o: RemoteCheckOptions): Promise<RemoteNodeCheck> {
  const read = await readRemote(baseUrl, o);
  if (!read.ok) return read;
  const a = read.answer;
  const gate = gateNode(a.nodes, name, a.failedSources);
  const node = a.nodes.find((n) => n.node === name);
  const shown = { ...a, nodes: node ? [node] : [] };
  return { ok: true, gate, text: renderRemote(shown, read.shown, gate.line) };
}
