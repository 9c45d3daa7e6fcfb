// What `check --url` takes from a /migration answer, checked field by field before any of it is
// believed or printed. A proxy's page, another version's document or a hostile answer gets the
// list of what is wrong and where (its JSON path), never a verdict made of defaults. Then the
// verdict is decided from the nodes listed, not taken from fleet.complete alone.
import { nodeName } from '../config/schema.ts';
import type { Role } from '../config/types.ts';
import { PHASES, type Phase } from '../migration/types.ts';
import { TABLE_CHECKS, type TableCheck, type TableFact, type TableRow } from './table.ts';
import { printable, shownValue } from './terminal-text.ts';

export interface RemoteNode {
  node: string;
  role: Role;
  phase: Phase;
  reasons: string[];
  /** Absent from an older exporter's answer. */
  nextStep: string | null;
  /** The same row a local check prints; its free text made safe to print. */
  row: TableRow;
}

export interface MigrationAnswer {
  generatedAt: string;
  fleet: { complete: boolean; phase: Phase; blocking: string[] };
  /** Prometheus' error this collection, when it failed. */
  prometheusDown: string | null;
  nodes: RemoteNode[];
  /** The sources of the node list that failed this cycle (`inventory.sources`, absent from an older answer). */
  failedSources: string[];
}

/**
 * Five times the largest fleet the exporter is measured at (10,000 nodes): more is not a fleet but
 * a runaway answer, and a table of it would flood the terminal.
 */
export const MAX_REMOTE_NODES = 50_000;
/** The first problems are listed; the rest are counted. */
const PROBLEMS_SHOWN = 10;
const ROLES: readonly Role[] = ['gitaly', 'praefect'];
/** The exporter's reasons are snake_case names; a newer exporter's new reason still is one. */
const REASON_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** What the exporter writes (Date#toISOString); anything else is not its answer. */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$/;

class Problems {
  readonly shown: string[] = [];
  count = 0;
  add(path: string, problem: string): void {
    this.count += 1;
    if (this.shown.length < PROBLEMS_SHOWN) this.shown.push(`${path} ${problem}`);
  }
}

type JsonObject = Record<string, unknown>;
const isRecord = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function string(v: unknown, path: string, p: Problems): string | null {
  if (typeof v === 'string') return v;
  p.add(path, `must be a string, not ${shownValue(v)}`);
  return null;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], path: string, p: Problems): T | null {
  if ((allowed as readonly unknown[]).includes(v)) return v as T;
  p.add(path, `must be one of ${allowed.join(', ')}, not ${shownValue(v)}`);
  return null;
}

function object(v: unknown, path: string, p: Problems): JsonObject | null {
  if (isRecord(v)) return v;
  p.add(path, `must be an object, not ${shownValue(v)}`);
  return null;
}

function array(v: unknown, path: string, p: Problems): unknown[] | null {
  if (Array.isArray(v)) return v as unknown[];
  p.add(path, `must be an array, not ${shownValue(v)}`);
  return null;
}

function isNodeName(v: unknown): v is string {
  try {
    return typeof v === 'string' && nodeName(v) === v;
  } catch {
    return false;
  }
}

function readNode(v: unknown, path: string, p: Problems): RemoteNode | null {
  const n = object(v, path, p);
  if (!n) return null;
  const name = isNodeName(n.node) ? n.node : null;
  if (name === null) p.add(`${path}.node`, `must be a node name (1 to 128 characters from A-Z a-z 0-9 _ . : -), not ${shownValue(n.node)}`);
  const role = oneOf(n.role, ROLES, `${path}.role`, p);
  const phase = oneOf(n.phase, PHASES, `${path}.phase`, p);
  const reasons: string[] = [];
  (array(n.blockingReasons, `${path}.blockingReasons`, p) ?? []).forEach((r, i) => {
    const at = `${path}.blockingReasons[${i}]`;
    const reason = object(r, at, p)?.reason;
    if (reason === undefined && !isRecord(r)) return;
    if (typeof reason === 'string' && REASON_NAME.test(reason)) reasons.push(reason);
    else p.add(`${at}.reason`, `must be a reason name (a-z, 0-9, _), not ${shownValue(reason)}`);
  });
  const nextStep = n.nextStep === undefined ? null : string(n.nextStep, `${path}.nextStep`, p);
  const facts = readFacts(n, path, p);
  if (name === null || role === null || phase === null) return null;
  const row: TableRow = { node: name, role, phase, reasons, nextStep: nextStep === null ? null : printable(nextStep), ...facts };
  return { node: name, role, phase, reasons, nextStep, row };
}

/** An older exporter's answer lacks the facts the table shows: they read unknown, and say why. */
const NOT_IN_ANSWER = "the exporter's /migration answer does not say (an older version)";

function nullableString(v: unknown, path: string, p: Problems): string | null {
  if (v === null || typeof v === 'string') return v === null ? null : printable(v);
  p.add(path, `must be a string or null, not ${shownValue(v)}`);
  return null;
}

function nullableBoolean(v: unknown, path: string, p: Problems): boolean | null {
  if (v === null || typeof v === 'boolean') return v;
  p.add(path, `must be true, false or null, not ${shownValue(v)}`);
  return null;
}

/** The table's facts of one node: checks, expiry, TLS versions, sources down. */
function readFacts(n: JsonObject, path: string, p: Problems): Omit<TableRow, 'node' | 'role' | 'phase' | 'reasons' | 'nextStep'> {
  const checksJson = n.checks === undefined ? undefined : object(n.checks, `${path}.checks`, p);
  const checks = {} as Record<TableCheck, TableFact>;
  for (const [name] of TABLE_CHECKS) {
    const at = `${path}.checks.${name}`;
    const c = checksJson === undefined ? undefined : checksJson === null ? null : object(checksJson[name], at, p);
    checks[name] = c
      ? { value: nullableBoolean(c.value, `${at}.value`, p), why: nullableString(c.reason, `${at}.reason`, p) }
      : { value: null, why: NOT_IN_ANSWER };
  }
  const expiry = n.certExpiry === undefined ? null : object(n.certExpiry, `${path}.certExpiry`, p);
  let certDays: number | null = null;
  if (expiry && expiry.days !== null) {
    if (Number.isSafeInteger(expiry.days)) certDays = expiry.days as number;
    else p.add(`${path}.certExpiry.days`, `must be a whole number or null, not ${shownValue(expiry.days)}`);
  }
  const certWhy = expiry ? nullableString(expiry.reason, `${path}.certExpiry.reason`, p) : NOT_IN_ANSWER;
  const evidence = n.evidence === undefined ? null : object(n.evidence, `${path}.evidence`, p);
  const tls = evidence?.tls === undefined || evidence.tls === null ? null : object(evidence.tls, `${path}.evidence.tls`, p);
  const accepts: TableRow['accepts'] = [];
  if (tls && tls.accepts !== undefined) {
    const a = object(tls.accepts, `${path}.evidence.tls.accepts`, p);
    for (const [version, accepted] of Object.entries(a ?? {}))
      accepts.push({
        version: printable(version),
        accepted: nullableBoolean(accepted, `${path}.evidence.tls.accepts.${printable(version)}`, p),
      });
  }
  const sourcesDown: TableRow['sourcesDown'] = [];
  if (evidence && evidence.sources !== undefined)
    (array(evidence.sources, `${path}.evidence.sources`, p) ?? []).forEach((s, i) => {
      const source = object(s, `${path}.evidence.sources[${i}]`, p);
      if (!source || source.up !== false) return;
      const error = isRecord(source.error) && typeof source.error.message === 'string' ? source.error.message : 'failed';
      sourcesDown.push({ source: printable(String(source.source)), message: printable(error) });
    });
  const tlsConfigured = typeof n.tlsAddress === 'string' ? true : n.tlsAddress === null ? false : tls !== null;
  return { certDays, certWhy: certDays === null ? (certWhy ?? NOT_IN_ANSWER) : null, tlsConfigured, checks, accepts, sourcesDown };
}

/** The ids of the node list's sources that failed; an answer without `inventory` has none to name. */
function readFailedSources(v: unknown, p: Problems): string[] {
  if (v === undefined || v === null) return [];
  const inventory = object(v, 'inventory', p);
  const failed: string[] = [];
  if (!inventory) return failed;
  (array(inventory.sources, 'inventory.sources', p) ?? []).forEach((s, i) => {
    const source = object(s, `inventory.sources[${i}]`, p);
    if (!source) return;
    const id = string(source.source, `inventory.sources[${i}].source`, p);
    if (typeof source.ok !== 'boolean') p.add(`inventory.sources[${i}].ok`, `must be true or false, not ${shownValue(source.ok)}`);
    else if (!source.ok && id !== null) failed.push(id);
  });
  return failed;
}

export type ReadAnswer = { ok: true; answer: MigrationAnswer } | { ok: false; problems: string[]; count: number };

export function readMigrationAnswer(doc: unknown): ReadAnswer {
  const p = new Problems();
  const root = object(doc, 'the document', p);
  if (!root) return { ok: false, problems: p.shown, count: p.count };
  const generatedAt = root.generatedAt;
  const at = typeof generatedAt === 'string' && ISO_UTC.test(generatedAt) && Number.isFinite(Date.parse(generatedAt)) ? generatedAt : null;
  if (at === null) p.add('generatedAt', `must be an ISO 8601 UTC time, not ${shownValue(generatedAt)}`);
  const fleet = object(root.fleet, 'fleet', p);
  const complete = typeof fleet?.complete === 'boolean' ? fleet.complete : null;
  if (fleet && complete === null) p.add('fleet.complete', `must be true or false, not ${shownValue(fleet.complete)}`);
  const phase = fleet ? oneOf(fleet.phase, PHASES, 'fleet.phase', p) : null;
  const blocking: string[] = [];
  if (fleet)
    (array(fleet.blocking, 'fleet.blocking', p) ?? []).forEach((b, i) => {
      const s = string(b, `fleet.blocking[${i}]`, p);
      if (s !== null) blocking.push(s);
    });
  const list = array(root.nodes, 'nodes', p);
  const nodes: RemoteNode[] = [];
  if (list && list.length > MAX_REMOTE_NODES) {
    p.add('nodes', `lists ${list.length} nodes, more than check --url reads (${MAX_REMOTE_NODES})`);
  } else if (list) {
    const first = new Map<string, number>();
    list.forEach((v, i) => {
      const node = readNode(v, `nodes[${i}]`, p);
      if (node) nodes.push(node);
      const name = isRecord(v) && isNodeName(v.node) ? v.node : null;
      if (name === null) return;
      const before = first.get(name);
      if (before !== undefined) p.add(`nodes[${i}].node`, `${shownValue(name)} is listed twice (first as nodes[${before}])`);
      else first.set(name, i);
    });
  }
  const failedSources = readFailedSources(root.inventory, p);
  if (p.count > 0 || at === null || complete === null || phase === null) return { ok: false, problems: p.shown, count: p.count };
  const prometheus = fleet && isRecord(fleet.prometheus) && fleet.prometheus.ok === false ? fleet.prometheus.error : undefined;
  const prometheusDown =
    prometheus === undefined
      ? null
      : printable(isRecord(prometheus) && typeof prometheus.message === 'string' ? prometheus.message : 'failed');
  return { ok: true, answer: { generatedAt: at, fleet: { complete, phase, blocking }, prometheusDown, nodes, failedSources } };
}

/** The nodes named in a sentence; the rest are counted. */
const NAMED_NODES = 10;

export interface RemoteVerdict {
  /** Only when fleet.complete is true, at least one node is listed, and every one is complete with nothing blocking it. */
  complete: boolean;
  /** Why not, from the nodes listed (empty when complete). */
  why: string[];
  /** fleet.complete says true but the nodes listed say otherwise. */
  contradicts: boolean;
}

export function judgeAnswer(a: MigrationAnswer): RemoteVerdict {
  const notDone = a.nodes.filter((n) => n.phase !== 'complete' || n.reasons.length > 0);
  const why: string[] = [];
  if (a.nodes.length === 0) why.push('it lists no nodes');
  if (notDone.length > 0) {
    const named = notDone.slice(0, NAMED_NODES).map((n) => `${n.node} (${n.phase}${n.reasons.length ? `: ${n.reasons.join(',')}` : ''})`);
    const more = notDone.length > NAMED_NODES ? ` and ${notDone.length - NAMED_NODES} more` : '';
    why.push(`${notDone.length} of ${a.nodes.length} node(s) not complete: ${named.join(', ')}${more}`);
  }
  if (a.fleet.complete && a.fleet.blocking.length > 0) why.push(`fleet.blocking lists ${a.fleet.blocking.length} blocker(s)`);
  if (a.fleet.complete && a.fleet.phase !== 'complete') why.push(`fleet.phase is ${a.fleet.phase}`);
  const complete = a.fleet.complete && why.length === 0;
  return { complete, why, contradicts: a.fleet.complete && !complete };
}
