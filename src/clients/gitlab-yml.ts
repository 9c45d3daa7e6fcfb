// GitLab Rails' config/gitlab.yml: production.repositories.storages.<name>.gitaly_address.
// Anchors and merge keys (production: &base, development: <<: *base) are followed; secrets such as
// gitaly_token are never read.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap } from 'yaml';
import type { ClientFileResult, StorageEntry } from './types.ts';

function keyOf(pairKey: unknown): string | null {
  return isScalar(pairKey) && (typeof pairKey.value === 'string' || typeof pairKey.value === 'number') ? String(pairKey.value) : null;
}

function resolved(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? null;
  return (node as Node | null) ?? null;
}

/** The value of `key` in `map`, looking through merge keys (<<) as YAML 1.1 does: own keys win. */
function lookup(doc: Document, map: YAMLMap, key: string): Node | null {
  for (const pair of map.items) if (keyOf(pair.key) === key) return resolved(doc, pair.value);
  for (const pair of map.items) {
    if (keyOf(pair.key) !== '<<') continue;
    const source = resolved(doc, pair.value);
    const sources = isSeq(source) ? source.items.map((item) => resolved(doc, item)) : [source];
    for (const s of sources) {
      if (!isMap(s)) continue;
      const found = lookup(doc, s, key);
      if (found) return found;
    }
  }
  return null;
}

function entries(doc: Document, map: YAMLMap): Array<{ key: string; keyNode: Node; value: Node | null }> {
  const out: Array<{ key: string; keyNode: Node; value: Node | null }> = [];
  for (const pair of map.items) {
    const key = keyOf(pair.key);
    if (key === null || key === '<<') continue;
    out.push({ key, keyNode: pair.key as Node, value: resolved(doc, pair.value) });
  }
  return out;
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
  const root = doc.contents;
  if (!isMap(root)) return fail(`${where(root)}: not a gitlab.yml: the top level must be a mapping with a production: section`);
  const production = lookup(doc, root, 'production');
  if (!isMap(production)) return fail(`${file}: no production: section (GitLab Rails reads production.repositories.storages)`);
  const repositories = lookup(doc, production, 'repositories');
  if (!isMap(repositories)) return fail(`${where(production)}: production has no repositories: section`);
  const storages = lookup(doc, repositories, 'storages');
  if (!isMap(storages)) return fail(`${where(repositories ?? production)}: production.repositories has no storages: mapping`);

  const result: StorageEntry[] = [];
  for (const { key, keyNode, value } of entries(doc, storages)) {
    const address = isMap(value) ? lookup(doc, value, 'gitaly_address') : null;
    const raw = isScalar(address) && typeof address.value === 'string' ? address.value.trim() : null;
    result.push({ storage: key, address: raw === '' ? null : raw, line: lineOf(address ?? keyNode) });
  }
  if (result.length === 0) return fail(`${where(storages)}: production.repositories.storages lists no storage`);
  return { ok: true, storages: result };
}
