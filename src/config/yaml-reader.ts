// A strict reader over the parsed YAML tree that records every problem with its line, column and field path.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { indexAliases, TOO_MANY_ALIASES, type AliasIndex } from './yaml-aliases.ts';

export interface ConfigProblem {
  file: string;
  line: number | null;
  column: number | null;
  /** Path like `nodes[1].tls_address`; empty for problems with the file as a whole. */
  field: string;
  message: string;
}

export type Value = Scalar | YAMLMap | YAMLSeq;
type ScalarValue = string | number | boolean;
/** Turns a scalar into a typed value, or throws an Error whose message is shown to the user. */
export type Convert<T> = (value: ScalarValue) => T;

export function joinField(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** The closest candidate to a misspelt key, if one is close enough to be a likely intent. */
export function suggest(key: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => squash(c) === squash(key));
  if (exact) return exact;
  const lower = key.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  const tolerance = Math.max(1, Math.min(3, Math.floor(key.length / 4)));
  if (best && best.distance <= tolerance) return best.candidate;
  if (lower.length >= 3) return candidates.find((c) => c.startsWith(lower) || lower.startsWith(c));
  return undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

export class Reader {
  readonly problems: ConfigProblem[] = [];
  private readonly aliases: AliasIndex;

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
    doc: Document,
  ) {
    this.aliases = indexAliases(doc);
    // Reported here, so every file read through a Reader is refused alike (callers read no tree
    // of a file with problems).
    if (this.aliases.tooMany) this.report('', null, `the file ${TOO_MANY_ALIASES}`);
  }

  /** `at` is the YAML node (or source offset) the problem is about; null when it has no place in the file. */
  report(field: string, at: { range?: readonly number[] | null } | number | null | undefined, message: string): void {
    const offset = typeof at === 'number' ? at : at?.range?.[0];
    const pos = offset === undefined ? null : this.lines.linePos(offset);
    this.problems.push({ file: this.file, line: pos?.line ?? null, column: pos?.col ?? null, field, message });
  }

  lineOf(at: { range?: readonly number[] | null } | null | undefined): number | null {
    const offset = at?.range?.[0];
    return offset === undefined ? null : this.lines.linePos(offset).line;
  }

  /** Follows aliases; null (reported) for an alias to an unknown anchor. */
  resolve(field: string, node: unknown): Value | null {
    if (isAlias(node)) {
      const target = this.aliases.resolve(node);
      if (!target) this.report(field, node, `refers to an unknown anchor *${node.source}`);
      return target ?? null;
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) return node;
    return null;
  }

  mapping(field: string, node: Value, keys: readonly string[], what: string): MapView | null {
    if (isMap(node)) return new MapView(this, field, node, keys);
    this.report(field, node, `must be a mapping (${what}), not ${describe(node)}`);
    return null;
  }

  /** List items, each resolved; null (reported) when the value is not a list. */
  list(field: string, node: Value, what: string): Array<{ field: string; node: Value | null }> | null {
    if (!isSeq(node)) {
      this.report(field, node, `must be a list (${what}), not ${describe(node)}`);
      return null;
    }
    return node.items.map((item, index) => {
      const itemField = `${field}[${index}]`;
      return { field: itemField, node: this.resolve(itemField, item) };
    });
  }
}

function describe(node: Value): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  return node.value === null ? 'empty' : 'a single value';
}

interface Entry {
  field: string;
  keyNode: Scalar;
  /** Undefined when the key is there with no value (`key:` or `key: null`). */
  value: Value | undefined;
}

/** One YAML mapping: unknown, duplicate and odd keys are reported when it is created. */
export class MapView {
  private readonly entries = new Map<string, Entry | 'invalid'>();

  constructor(
    readonly reader: Reader,
    readonly field: string,
    readonly node: YAMLMap,
    keys: readonly string[],
  ) {
    for (const pair of node.items) {
      const keyNode = pair.key;
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        reader.report(field, isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? keyNode : node, 'keys must be plain names');
        continue;
      }
      const key = String(keyNode.value);
      const keyField = joinField(field, key);
      if (key === '<<') {
        reader.report(keyField, keyNode, 'merge keys (<<) are not supported: write the keys out');
        continue;
      }
      if (!keys.includes(key)) {
        const close = suggest(key, keys);
        reader.report(keyField, keyNode, `unknown key${close ? ` (did you mean ${close}?)` : ''}`);
        continue;
      }
      const first = this.entries.get(key);
      if (first !== undefined) {
        const firstLine = first === 'invalid' ? null : reader.lineOf(first.keyNode);
        reader.report(keyField, keyNode, `duplicate key${firstLine === null ? '' : ` (first set at line ${firstLine})`}`);
        continue;
      }
      if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) {
        this.entries.set(key, { field: keyField, keyNode, value: undefined });
        continue;
      }
      const value = reader.resolve(keyField, pair.value);
      this.entries.set(key, value ? { field: keyField, keyNode, value } : 'invalid');
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Where to point for a problem about `key`: its value, else its key, else this mapping. */
  at(key: string): { range?: readonly number[] | null } {
    const entry = this.entries.get(key);
    if (entry === undefined || entry === 'invalid') return this.node;
    return entry.value ?? entry.keyNode;
  }

  fieldOf(key: string): string {
    return joinField(this.field, key);
  }

  /** The key's value node; undefined when absent; null when invalid (reported). */
  private valueOf(key: string, required: boolean, emptyHint: string): Value | undefined | null {
    const entry = this.entries.get(key);
    if (entry === 'invalid') return null;
    if (entry === undefined) {
      if (!required) return undefined;
      this.reader.report(this.fieldOf(key), this.node, 'is required');
      return null;
    }
    if (entry.value === undefined) {
      this.reader.report(entry.field, entry.keyNode, `has no value (${emptyHint})`);
      return null;
    }
    return entry.value;
  }

  private convert<T>(key: string, node: Value, convert: Convert<T>): T | null {
    if (!isScalar(node)) {
      this.reader.report(this.fieldOf(key), node, `must be a single value, not ${describe(node)}`);
      return null;
    }
    try {
      return convert(node.value as ScalarValue);
    } catch (error) {
      this.reader.report(this.fieldOf(key), node, error instanceof Error ? error.message : String(error));
      return null;
    }
  }

  /** Undefined when absent; null when invalid (reported). */
  optional<T>(key: string, convert: Convert<T>): T | undefined | null {
    const node = this.valueOf(key, false, 'give one or remove the key');
    return node ? this.convert(key, node, convert) : node;
  }

  withDefault<T>(key: string, convert: Convert<T>, fallback: T): T | null {
    const node = this.valueOf(key, false, 'remove the key to use the default');
    if (node === undefined) return fallback;
    return node ? this.convert(key, node, convert) : null;
  }

  required<T>(key: string, convert: Convert<T>): T | null {
    const node = this.valueOf(key, true, 'it is required');
    return node ? this.convert(key, node, convert) : null;
  }

  /** A nested mapping; undefined when absent; null when invalid (reported). */
  section(key: string, keys: readonly string[], what: string, required = false): MapView | undefined | null {
    const node = this.valueOf(key, required, 'fill it in or remove the key');
    return node ? this.reader.mapping(this.fieldOf(key), node, keys, what) : node;
  }

  /** A list's items; undefined when absent; null when invalid (reported). */
  list(key: string, what: string, required = false): Array<{ field: string; node: Value | null }> | undefined | null {
    const node = this.valueOf(key, required, `list ${what}`);
    return node ? this.reader.list(this.fieldOf(key), node, what) : node;
  }
}

/** Drops absent (undefined) and invalid (null) values. */
export function present<T extends object>(value: T): { [K in keyof T]?: NonNullable<T[K]> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as {
    [K in keyof T]?: NonNullable<T[K]>;
  };
}
