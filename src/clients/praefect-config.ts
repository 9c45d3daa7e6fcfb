// Praefect's config.toml: [[virtual_storage]] name, and per [[virtual_storage.node]] the Gitaly
// storage and the address Praefect dials it at. The node's token is never read into the result.
import { parse, TomlError } from 'smol-toml';
import type { ClientFileResult, StorageEntry } from './types.ts';

const VIRTUAL_STORAGE = /^\s*\[\[\s*virtual_storage\s*\]\]/;
const NODE = /^\s*\[\[\s*virtual_storage\s*\.\s*node\s*\]\]/;

/** Line of each [[virtual_storage]] and [[virtual_storage.node]] header, in order (nodes written inline have none). */
function headerLines(text: string): Array<{ line: number; nodes: number[] }> {
  const storages: Array<{ line: number; nodes: number[] }> = [];
  text.split('\n').forEach((line, index) => {
    if (VIRTUAL_STORAGE.test(line)) storages.push({ line: index + 1, nodes: [] });
    else if (NODE.test(line)) storages.at(-1)?.nodes.push(index + 1);
  });
  return storages;
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parsePraefectConfig(text: string, file: string): ClientFileResult {
  const fail = (message: string) => ({ ok: false as const, error: { code: 'PARSE', message } });
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    if (err instanceof TomlError) {
      // The message's first line says what; the rest is a code excerpt that may show secrets.
      const what = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      return fail(`${file}:${err.line}:${err.column}: invalid TOML: ${what}`);
    }
    return fail(`${file}: invalid TOML`);
  }
  const storages = doc.virtual_storage;
  if (!Array.isArray(storages) || storages.length === 0) {
    return fail(`${file}: no [[virtual_storage]] section: not a Praefect config.toml, or Praefect has no virtual storage`);
  }
  const lines = headerLines(text);
  const result: StorageEntry[] = [];
  for (const [i, vs] of storages.entries()) {
    const vsLine = lines[i]?.line ?? null;
    const at = vsLine === null ? file : `${file}:${vsLine}`;
    if (!isTable(vs) || typeof vs.name !== 'string' || vs.name.trim() === '') return fail(`${at}: virtual_storage[${i}] has no name`);
    const nodes = vs.node;
    if (!Array.isArray(nodes) || nodes.length === 0) return fail(`${at}: virtual storage "${vs.name}" has no [[virtual_storage.node]]`);
    for (const [j, node] of nodes.entries()) {
      const line = lines[i]?.nodes[j] ?? vsLine;
      if (!isTable(node) || typeof node.storage !== 'string' || node.storage.trim() === '') {
        return fail(`${line === null ? file : `${file}:${line}`}: virtual storage "${vs.name}" node ${j + 1} has no storage name`);
      }
      const address = typeof node.address === 'string' && node.address.trim() !== '' ? node.address.trim() : null;
      result.push({ storage: node.storage, virtualStorage: vs.name, address, line });
    }
  }
  return { ok: true, storages: result };
}
