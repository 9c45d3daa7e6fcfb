// Parses one Prometheus text-format sample line (labels, value, optional timestamp and exemplar) after its metric name.

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_NUMBER = /^([+-]?)(inf|infinity|nan)$/i;
// One `name="value"` pair and an optional comma; the value keeps its escapes, undone by parseSample.
const LABEL_PAIR = /[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,?)/y;

export interface Sample {
  labels: Map<string, string>;
  value: number;
  rawValue: string;
}

/**
 * Parses `name{labels} value [timestamp] [# exemplar]` after the metric name (whose length is given).
 * Returns the reason as a string when the line is malformed.
 */
export function parseSample(text: string, nameLength: number): Sample | string {
  const labels = new Map<string, string>();
  let i = nameLength;
  while (text[i] === ' ' || text[i] === '\t') i++;
  if (text[i] === '{') {
    LABEL_PAIR.lastIndex = ++i;
    for (let pair = LABEL_PAIR.exec(text); pair; pair = pair[3] ? LABEL_PAIR.exec(text) : null) {
      const [, labelName = '', escaped = ''] = pair;
      let badEscape = false;
      const value = escaped.replace(/\\(.)/g, (_, ch: string) => {
        badEscape ||= ch !== '\\' && ch !== '"' && ch !== 'n';
        return ch === 'n' ? '\n' : ch;
      });
      if (badEscape) return `invalid escape in the value of label ${labelName}`;
      if (labels.has(labelName)) return `label ${labelName} appears twice`;
      labels.set(labelName, value);
      i = LABEL_PAIR.lastIndex;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '}') return `expected a label or } at column ${i + 1}`;
    i++;
  }
  const tokens = text
    .slice(i)
    .trim()
    .split(/[ \t]+/);
  const exemplarAt = tokens.indexOf('#');
  const fields = exemplarAt >= 0 ? tokens.slice(0, exemplarAt) : tokens;
  const rawValue = fields[0] ?? '';
  if (rawValue === '') return 'no value';
  if (fields.length > 2) return `unexpected text after the value: ${fields.slice(2).join(' ').slice(0, 40)}`;
  const value = parseNumber(rawValue);
  if (value === null) return `value ${rawValue.slice(0, 40)} is not a number`;
  const timestamp = fields[1];
  if (timestamp !== undefined && !NUMBER.test(timestamp)) return `timestamp ${timestamp.slice(0, 40)} is not a number`;
  return { labels, value, rawValue };
}

function parseNumber(token: string): number | null {
  if (NUMBER.test(token)) return Number(token);
  const special = SPECIAL_NUMBER.exec(token);
  if (!special) return null;
  if (special[2]!.toLowerCase() === 'nan') return NaN;
  return special[1] === '-' ? -Infinity : Infinity;
}
