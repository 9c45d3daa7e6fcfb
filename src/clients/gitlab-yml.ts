// GitLab Rails' config/gitlab.yml: production.repositories.storages.<name>.gitaly_address.
// Anchors and merge keys (production: &base, development: <<: *base) are followed; secrets such as
// gitaly_token are never read.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { indexAliases, TOO_MANY_ALIASES, type AliasIndex } from '../config/yaml-aliases.ts';
import type { ClientFileResult, StorageEntry } from './types.ts';

/** A pair's key as text; a merge key is '<<' (parsed with merge: true, its value is a symbol). */
function keyOf(pairKey: unknown): string | null {
  if (!isScalar(pairKey)) return null;
  if (typeof pairKey.value === 'symbol') return '<<';
  return typeof pairKey.value === 'string' || typeof pairKey.value === 'number' ? String(pairKey.value) : null;
}

const PENDING = Symbol('pending');

/**
 * Values of a document's keys, following aliases and merge keys (<<) as YAML 1.1 does: own keys
 * win. Each map is searched once per key however many maps merge it, so the cost stays linear:
 * merges sharing a source (a: {<<: [*b, *b]}, b: {<<: [*c, *c]}, ...) would otherwise be searched
 * once per path to them, twice as often at each level, and a map merging itself without end.
 */
type Found = Map<YAMLMap, Node | null | typeof PENDING>;

class Keys {
  private readonly found = new Map<string, Found>();

  constructor(private readonly aliases: AliasIndex) {}

  resolved(node: unknown): Node | null {
    if (isAlias(node)) return this.aliases.resolve(node) ?? null;
    return (node as Node | null) ?? null;
  }

  lookup(map: YAMLMap, key: string): Node | null {
    let byMap = this.found.get(key);
    if (!byMap) this.found.set(key, (byMap = new Map() as Found));
    const known = byMap.get(map);
    // A map reached again while it is being searched merges itself: that adds nothing.
    if (known !== undefined) return known === PENDING ? null : known;
    byMap.set(map, PENDING);
    const value = this.search(map, key);
    byMap.set(map, value);
    return value;
  }

  private search(map: YAMLMap, key: string): Node | null {
    for (const pair of map.items) if (keyOf(pair.key) === key) return this.resolved(pair.value);
    for (const pair of map.items) {
      if (keyOf(pair.key) !== '<<') continue;
      const source = this.resolved(pair.value);
      const sources = isSeq(source) ? source.items.map((item) => this.resolved(item)) : [source];
      for (const s of sources) {
        if (!isMap(s)) continue;
        const found = this.lookup(s, key);
        if (found) return found;
      }
    }
    return null;
  }

  entries(map: YAMLMap): Array<{ key: string; keyNode: Node; value: Node | null }> {
    const out: Array<{ key: string; keyNode: Node; value: Node | null }> = [];
    for (const pair of map.items) {
      const key = keyOf(pair.key);
      if (key === null || key === '<<') continue;
      out.push({ key, keyNode: pair.key as Node, value: this.resolved(pair.value) });
    }
    return out;
  }
}

export function parseGitlabYml(text: string, file: string): ClientFileResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: false, uniqueKeys: false });
  const where = (node: { range?: readonly number[] | null } | null | undefined): string => {
    const offset = node?.range?.[0];
    if (offset === undefined) return file;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const lineOf = (node: { range?: readonly number[] | null } | null | undefined): number | null =>
    node?.range?.[0] === undefined ? null : lines.linePos(node.range[0]).line;
  const fail = (message: string) => ({ ok: false as const, error: { code: 'PARSE', message } });
  const first = doc.errors[0];
  if (first) {
    const pos = lines.linePos(first.pos[0]);
    return fail(`${file}:${pos.line}:${pos.col}: invalid YAML: ${first.message.split('\n')[0]}`);
  }
  const aliases = indexAliases(doc);
  if (aliases.tooMany) return fail(`${file}: the file ${TOO_MANY_ALIASES}`);
  const keys = new Keys(aliases);
  const root = doc.contents;
  if (!isMap(root)) return fail(`${where(root)}: not a gitlab.yml: the top level must be a mapping with a production: section`);
  const production = keys.lookup(root, 'production');
  if (!isMap(production)) return fail(`${file}: no production: section (GitLab Rails reads production.repositories.storages)`);
  const repositories = keys.lookup(production, 'repositories');
  if (!isMap(repositories)) return fail(`${where(production)}: production has no repositories: section`);
  const storages = keys.lookup(repositories, 'storages');
  if (!isMap(storages)) return fail(`${where(repositories ?? production)}: production.repositories has no storages: mapping`);

  const result: StorageEntry[] = [];
  for (const { key, keyNode, value } of keys.entries(storages)) {
    const address = isMap(value) ? keys.lookup(value, 'gitaly_address') : null;
    const raw = isScalar(address) && typeof address.value === 'string' ? address.value.trim() : null;
    result.push({ storage: key, address: raw === '' ? null : raw, line: lineOf(address ?? keyNode) });
  }
  if (result.length === 0) return fail(`${where(storages)}: production.repositories.storages lists no storage`);
  return { ok: true, storages: result };
}
