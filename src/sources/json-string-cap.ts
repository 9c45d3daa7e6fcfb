// Cuts every JSON string longer than a cap short in a byte stream, before the tokenizer sees it:
// @streamparser/json gathers each string token whole in memory and has no limit of its own, so one
// 50 MB label value would be held (and copied) whole. A cut string reaches the tokenizer as its
// first bytes only, and is remembered by its ordinal (the n-th string of the document, keys
// included), for the reader to tell a cut string from a whole one. Bare words (numbers, true,
// null) longer than the cap are not cut but stop the stream: no JSON answer needs one.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LETTER_U = 0x75;

/** Bytes that end a bare word: structure and whitespace. */
function endsWord(b: number): boolean {
  return (
    b === 0x2c || b === 0x3a || b === 0x5b || b === 0x5d || b === 0x7b || b === 0x7d || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09
  );
}

export class JsonStringCap {
  private inString = false;
  /** Past the cap: the string's bytes are dropped until its closing quote. */
  private dropping = false;
  private escaped = false;
  /** Hex digits still to come of a \uXXXX escape (a string is never cut inside one). */
  private hexLeft = 0;
  private stringBytes = 0;
  private wordBytes = 0;
  private strings = 0;
  private readonly cut = new Set<number>();
  /** Set once a bare word is longer than the cap; pass() then passes nothing more. */
  longWord = false;

  constructor(readonly maxBytes: number) {}

  /** The parts of `chunk` the tokenizer is to see, in order. */
  pass(chunk: Uint8Array): Uint8Array[] {
    if (this.longWord) return [];
    const out: Uint8Array[] = [];
    let from = 0;
    let i = 0;
    // Where the next quote and backslash are, found natively rather than byte by byte, and only
    // searched again once passed (a search per string would scan the rest of the chunk each time).
    let quoteAt = -1;
    let backslashAt = -1;
    const nextSpecial = (at: number): number => {
      if (quoteAt < at) quoteAt = chunk.indexOf(QUOTE, at) >>> 0;
      if (backslashAt < at) backslashAt = chunk.indexOf(BACKSLASH, at) >>> 0;
      return Math.min(quoteAt, backslashAt, chunk.length);
    };
    while (i < chunk.length) {
      const b = chunk[i]!;
      if (!this.inString) {
        i += 1;
        if (b === QUOTE) {
          this.inString = true;
          this.stringBytes = 0;
          this.strings += 1;
          this.wordBytes = 0;
        } else if (endsWord(b)) {
          this.wordBytes = 0;
        } else if (++this.wordBytes > this.maxBytes) {
          this.longWord = true;
          out.push(chunk.subarray(from, i - 1));
          return out;
        }
      } else if (this.escaped || this.hexLeft > 0) {
        // Inside an escape: \n, \", or \uXXXX.
        if (this.escaped && !this.dropping && b === LETTER_U) this.hexLeft = 4;
        else if (!this.escaped) this.hexLeft -= 1;
        this.escaped = false;
        if (!this.dropping) this.stringBytes += 1;
        i += 1;
      } else if (b === QUOTE) {
        this.inString = false;
        if (this.dropping) {
          // The closing quote is passed on: the tokenizer sees a whole (short) string.
          this.dropping = false;
          from = i;
        }
        i += 1;
      } else if (b === BACKSLASH && !this.dropping && this.stringBytes >= this.maxBytes) {
        this.cutAt(out, chunk, from, i);
      } else if (b === BACKSLASH) {
        this.escaped = true;
        if (!this.dropping) this.stringBytes += 1;
        i += 1;
      } else {
        // Plain text, up to the next quote or backslash.
        const end = nextSpecial(i);
        if (this.dropping) {
          i = end;
          continue;
        }
        let cutAt = i + Math.max(0, this.maxBytes - this.stringBytes);
        if (cutAt >= end) {
          this.stringBytes += end - i;
          i = end;
          continue;
        }
        // At the start of a character (not inside a UTF-8 sequence), so what is passed stays valid.
        while (cutAt < end && (chunk[cutAt]! & 0xc0) === 0x80) cutAt += 1;
        this.stringBytes += cutAt - i;
        i = cutAt;
        if (cutAt < end) this.cutAt(out, chunk, from, cutAt);
      }
    }
    if (!this.dropping && from < chunk.length) out.push(from === 0 ? chunk : chunk.subarray(from));
    return out;
  }

  /** Passes the string up to `at` (the start of a character) and drops the rest. */
  private cutAt(out: Uint8Array[], chunk: Uint8Array, from: number, at: number): void {
    out.push(chunk.subarray(from, at));
    this.cut.add(this.strings);
    this.dropping = true;
  }

  /** Whether the `ordinal`-th string (from 1) was cut; asked once per string, in order. */
  takeCut(ordinal: number): boolean {
    return this.cut.delete(ordinal);
  }
}
