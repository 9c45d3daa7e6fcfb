// Text from someone else's answer, made safe to print on a terminal: an answer must not be able to
// clear the screen, move the cursor or reorder what is shown (and so paint its own verdict).

/** C0 and C1 controls and DEL (\p{Cc}), line and paragraph separators, and the bidi controls. */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** Each character that acts on the terminal rather than shows becomes its `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SHOWN_CHARS = 80;

/**
 * A value as an error message shows it: strings quoted, escaped and cut short; numbers and
 * booleans as JSON writes them; others by kind.
 */
export function shownValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const cut = value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}…` : value;
    return printable(JSON.stringify(cut));
  }
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
