// PromQL label matchers as an operator writes them for prometheus.selector: one checker for the
// config loader (which reports where the file is wrong) and the Prometheus source (which pastes
// them inside `{…}`, so nothing in them may close the braces).

// label, operator, then a PromQL string: "…" or '…' with backslash escapes, or `…` raw; then a comma or the end.
const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)\s*(,|$)/y;

export type LabelMatchers = { ok: true; matchers: string[] } | { ok: false; message: string };

/**
 * Parses `job="gitaly", env=~"prod.*"` (outer braces allowed, a trailing comma too) into normalised
 * matchers; an empty text is no matcher. Matching on __name__ is refused: the exporter picks the metrics.
 */
export function parseLabelMatchers(selector: string): LabelMatchers {
  const trimmed = selector.trim();
  const text = trimmed.startsWith('{') && trimmed.endsWith('}') ? trimmed.slice(1, -1).trim() : trimmed;
  const matchers: string[] = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < text.length) {
    const start = MATCHER.lastIndex;
    const m = MATCHER.exec(text);
    if (!m)
      return {
        ok: false,
        message: `is not a list of label matchers like job="gitaly" or job="gitaly", env=~"prod.*" (problem at character ${start + 1})`,
      };
    if (m[1] === '__name__') return { ok: false, message: 'must not match on __name__ (the metric names are chosen by the exporter)' };
    matchers.push(`${m[1]}${m[2]}${m[3]}`);
  }
  return { ok: true, matchers };
}
