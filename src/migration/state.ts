// The state file: per-node history that must survive exporter restarts ("no plaintext since
// three days ago" is worth nothing if a restart forgets it). Written atomically: a temporary
// file in the same directory, fsync, rename.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Result } from '../evidence/evidence.ts';
import { emptyHistory, type NodeHistory } from './types.ts';

const FORMAT_VERSION = 1;

interface StateFile {
  version: number;
  savedAtMs: number;
  nodes: Record<string, NodeHistory>;
}

export interface StateFs {
  readFile(path: string): Promise<string>;
  open: typeof fsp.open;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

const realFs: StateFs = {
  readFile: (path) => fsp.readFile(path, 'utf8'),
  open: fsp.open,
  rename: fsp.rename,
  rm: fsp.rm,
};

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumberOrNull = (v: unknown): boolean => v === null || isNumber(v);
const isBooleanOrNull = (v: unknown): boolean => v === null || typeof v === 'boolean';
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasNumbers = (v: unknown, keys: readonly string[]): boolean => isRecord(v) && keys.every((k) => isNumber(v[k]));
const isPair = (v: unknown, second: (x: unknown) => boolean): boolean =>
  Array.isArray(v) && v.length === 2 && isNumber(v[0]) && second(v[1]);
const isError = (v: unknown): boolean => v === null || (isRecord(v) && typeof v.code === 'string' && typeof v.message === 'string');

function isPlaintextProbe(v: unknown): boolean {
  if (v === null) return true;
  if (!isRecord(v)) return false;
  return (
    typeof v.address === 'string' &&
    isBooleanOrNull(v.open) &&
    isBooleanOrNull(v.grpcHealthServing ?? null) &&
    isBooleanOrNull(v.tlsPortRejectsPlaintext ?? null) &&
    isError(v.error ?? null) &&
    isNumber(v.durationMs) &&
    hasNumbers(v.connectionsMade, ['tcp', 'tls']) &&
    isNumber(v.atMs)
  );
}

const isCanary = (v: unknown): boolean =>
  v === null ||
  (isRecord(v) &&
    typeof v.counter === 'string' &&
    isNumber(v.atMs) &&
    hasNumbers(v.expected, ['tcp', 'tls']) &&
    hasNumbers(v.counted, ['tcp', 'tls']));

/**
 * Every field a cycle reads, with its shape: a field that is absent gets its default, one that is
 * present with the wrong shape makes the whole file unusable (set aside), rather than a TypeError on
 * every cycle for ever. Fields this version does not know are kept as they are.
 */
const FIELD_SHAPES: Record<keyof NodeHistory, (v: unknown) => boolean> = {
  firstObservedMs: isNumberOrNull,
  lastScrapeMs: isNumberOrNull,
  lastCounts: (v) => v === null || hasNumbers(v, ['tcp', 'tls', 'unix']),
  processStartSeconds: isNumberOrNull,
  pendingOwn: (v) => hasNumbers(v, ['tcp', 'tls']),
  plaintextLastSeenMs: isNumberOrNull,
  ownTcpTimesMs: (v) => Array.isArray(v) && v.every(isNumber),
  ownTlsBuckets: (v) => Array.isArray(v) && v.every((b) => isPair(b, isNumber)),
  ownTotals: (v) => hasNumbers(v, ['tcp', 'tls']),
  directBuckets: (v) => Array.isArray(v) && v.every((b) => isPair(b, (d) => hasNumbers(d, ['tcp', 'tls', 'lastTcpMs', 'lastTlsMs']))),
  lastPlaintextProbe: isPlaintextProbe,
  canary: isCanary,
  listenerClosedSinceMs: isNumberOrNull,
  tlsLastUpMs: isNumberOrNull,
};

/** Checks one node's history; returns the name of the first bad field, or null. */
function badField(h: Record<string, unknown>): string | null {
  for (const [key, valid] of Object.entries(FIELD_SHAPES)) {
    if (h[key] !== undefined && !valid(h[key])) return key;
  }
  return null;
}

export type LoadedState = Result<{ nodes: Map<string, NodeHistory>; savedAtMs: number | null }>;

/** A missing file is a fresh start; anything unreadable is an error the caller must surface. */
export async function loadState(path: string, fs: StateFs = realFs): Promise<LoadedState> {
  let text: string;
  try {
    text = await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, nodes: new Map(), savedAtMs: null };
    return { ok: false, error: { code: 'STATE_READ', message: `cannot read state file ${path}: ${(err as Error).message}` } };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: 'STATE_CORRUPT', message: `state file ${path} is not valid JSON` } };
  }
  const file = parsed as Partial<StateFile>;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    file.version !== FORMAT_VERSION ||
    typeof file.nodes !== 'object' ||
    file.nodes === null
  ) {
    return {
      ok: false,
      error: { code: 'STATE_CORRUPT', message: `state file ${path} is not a version ${FORMAT_VERSION} gitaly-tls-exporter state` },
    };
  }
  const nodes = new Map<string, NodeHistory>();
  for (const [name, raw] of Object.entries(file.nodes)) {
    const field = isRecord(raw) ? badField(raw) : 'node';
    if (field)
      return {
        ok: false,
        error: { code: 'STATE_CORRUPT', message: `state file ${path}: node ${JSON.stringify(name)} has a bad ${field}` },
      };
    nodes.set(name, { ...emptyHistory(), ...(raw as Partial<NodeHistory>) });
  }
  return { ok: true, nodes, savedAtMs: typeof file.savedAtMs === 'number' ? file.savedAtMs : null };
}

/** Writes atomically; on failure the previous file is left as it was. */
export async function saveState(
  path: string,
  nodes: ReadonlyMap<string, NodeHistory>,
  nowMs: number,
  fs: StateFs = realFs,
): Promise<Result<object>> {
  const body: StateFile = { version: FORMAT_VERSION, savedAtMs: nowMs, nodes: Object.fromEntries(nodes) };
  // Unpredictable, and created exclusively ('wx' is O_CREAT|O_EXCL, which never follows a symlink):
  // a link planted at the temporary path cannot redirect the write.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const handle = await fs.open(tmp, 'wx', 0o600);
    created = true;
    try {
      await handle.writeFile(JSON.stringify(body));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, path);
    return { ok: true };
  } catch (err) {
    // Never remove what we did not create: on EEXIST the path is someone else's.
    if (created) await fs.rm(tmp, { force: true }).catch(() => undefined);
    return { ok: false, error: { code: 'STATE_WRITE', message: `cannot write state file ${path}: ${(err as Error).message}` } };
  }
}

/** Moves an unreadable state file aside so that it is kept for inspection, never overwritten. */
export async function setAsideCorruptState(path: string, nowMs: number, fs: StateFs = realFs): Promise<string | null> {
  const aside = `${path}.corrupt-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`;
  try {
    await fs.rename(path, aside);
    return aside;
  } catch {
    return null;
  }
}
