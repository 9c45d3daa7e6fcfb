// The state file: per-node history that must survive exporter restarts ("no plaintext since
// three days ago" is worth nothing if a restart forgets it). Written atomically: a temporary
// file in the same directory, fsync, rename.
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Result } from '../evidence.ts';
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

function isNumberOrNull(v: unknown): boolean {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

function isCounts(v: unknown): boolean {
  if (v === null) return true;
  if (typeof v !== 'object') return false;
  const c = v as Record<string, unknown>;
  return ['tcp', 'tls', 'unix'].every((k) => typeof c[k] === 'number');
}

function isCanary(c: Record<string, unknown>): boolean {
  const pair = (v: unknown): boolean =>
    typeof v === 'object' && v !== null && ['tcp', 'tls'].every((k) => typeof (v as Record<string, unknown>)[k] === 'number');
  return typeof c.counter === 'string' && typeof c.atMs === 'number' && pair(c.expected) && pair(c.counted);
}

/** Checks one node's history; returns the name of the first bad field, or null. */
function badField(h: Record<string, unknown>): string | null {
  for (const key of ['firstObservedMs', 'lastScrapeMs', 'plaintextLastSeenMs', 'processStartSeconds'] as const) {
    if (!isNumberOrNull(h[key] ?? null)) return key;
  }
  if (!isCounts(h.lastCounts ?? null)) return 'lastCounts';
  if (!Array.isArray(h.ownTcpTimesMs) || !h.ownTcpTimesMs.every((t) => typeof t === 'number')) return 'ownTcpTimesMs';
  if (!Array.isArray(h.ownTlsBuckets)) return 'ownTlsBuckets';
  if (!Array.isArray(h.directBuckets)) return 'directBuckets';
  const canary = h.canary ?? null;
  if (canary !== null && (typeof canary !== 'object' || !isCanary(canary as Record<string, unknown>))) return 'canary';
  const probe = h.lastPlaintextProbe ?? null;
  if (probe !== null && (typeof probe !== 'object' || typeof (probe as { atMs?: unknown }).atMs !== 'number')) return 'lastPlaintextProbe';
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
    const field = typeof raw === 'object' && raw !== null ? badField(raw as unknown as Record<string, unknown>) : 'node';
    if (field)
      return {
        ok: false,
        error: { code: 'STATE_CORRUPT', message: `state file ${path}: node ${JSON.stringify(name)} has a bad ${field}` },
      };
    nodes.set(name, { ...emptyHistory(), ...raw });
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
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await fs.open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(body));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, path);
    return { ok: true };
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
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
