// Text from a remote server (an error it sent back) made safe to log and show: every secret the
// request carried is removed before the text is cut to length, so a cut can never leave part of one.
export const REDACTED = '<redacted>';

/**
 * A cut-off tail this long that starts a secret is removed too: shorter ones are as likely to be
 * ordinary text that happens to match, and say nothing of the secret.
 */
const MIN_PARTIAL_CHARS = 4;

/** Every occurrence of every secret replaced by <redacted>. */
export function scrub(text: string, secrets: readonly string[]): string {
  // Longest first, so a secret that contains another is removed whole.
  return [...secrets]
    .filter((s) => s !== '')
    .sort((a, b) => b.length - a.length)
    .reduce((out, secret) => out.split(secret).join(REDACTED), text);
}

/** Length of the longest tail of `text` that is the start of one of `secrets` (0 when none). */
function secretStartAtEnd(text: string, secrets: readonly string[]): number {
  let longest = 0;
  for (const secret of secrets) {
    for (let n = Math.min(secret.length, text.length); n > longest; n--) {
      if (text.endsWith(secret.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

/**
 * One line of at most `maxChars` characters (plus an ellipsis when cut), free of the secrets:
 * scrubbed whole first, then cut (never inside a <redacted>), and a tail left at the cut that
 * starts a secret (the sender's own truncated echo of it) is redacted as well.
 */
export function scrubAndCut(text: string, secrets: readonly string[], maxChars: number): string {
  const flat = scrub(text, secrets).replace(/\s+/g, ' ').trim();
  if (flat.length <= maxChars) return flat;
  let cut = flat.slice(0, maxChars);
  // A <redacted> the cut falls inside is kept whole rather than shown as half a marker.
  const marker = flat.lastIndexOf(REDACTED, maxChars - 1);
  if (marker >= 0 && marker + REDACTED.length > maxChars) cut = flat.slice(0, marker + REDACTED.length);
  const partial = secretStartAtEnd(cut, secrets);
  if (partial >= MIN_PARTIAL_CHARS) cut = `${cut.slice(0, cut.length - partial)}${REDACTED}`;
  return `${cut}…`;
}
