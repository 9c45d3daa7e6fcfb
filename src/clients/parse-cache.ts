// The last parse of each client file, kept while the file's text is unchanged: every collection
// reads every client file, and parsing a large gitlab.yml again when nothing changed is wasted
// main-thread time. Keyed by the text's digest, not the file's mtime, so an edit that keeps the
// size and mtime (a restored backup, a coarse-mtime filesystem) is still parsed again.
import { createHash } from 'node:crypto';

export class ParseCache<T> {
  private readonly last = new Map<string, { digest: string; value: T }>();

  /** `parse()`'s result for this text, computed only when the text under `key` changed. */
  get(key: string, text: string, parse: () => T): T {
    const digest = createHash('sha256').update(text).digest('base64');
    const kept = this.last.get(key);
    if (kept?.digest === digest) return kept.value;
    const value = parse();
    this.last.set(key, { digest, value });
    return value;
  }

  /** Forgets every key but these (files no longer configured). */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!keys.has(key)) this.last.delete(key);
  }
}
