// One pino record as one logfmt line, by the rules of go-logfmt (what Prometheus and its exporters
// write): a value is quoted when it is empty or holds a space, '=', '"' or a control character;
// inside quotes \ " newline, CR and tab are escaped and other control characters become \u00XX, so
// a record never spans two lines. time, level and msg come first, as in Prometheus' own logs.

const FIRST = ['time', 'level', 'msg'];

function quote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export function logfmtValue(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text === '' || /[\s="\u0000-\u001f\u007f]/.test(text) ? quote(text) : text;
}

/** Keys are ours, but a key may come from a binding: anything that would break the line becomes _. */
function logfmtKey(key: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = key.replace(/[\s="\u0000-\u001f\u007f]/g, '_');
  return clean === '' ? '_' : clean;
}

function scalar(value: unknown): string | null {
  if (value === null) return 'null';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return null;
}

/** Nested objects become dotted keys; an error's message is the value of its own key (err=…). */
function pairs(key: string, value: unknown, out: Array<[string, string]>): void {
  if (value === undefined) return;
  const plain = scalar(value);
  if (plain !== null) {
    out.push([key, plain]);
    return;
  }
  if (Array.isArray(value)) {
    const items = value.map(scalar);
    out.push([key, items.every((i) => i !== null) ? items.join(',') : JSON.stringify(value)]);
    return;
  }
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const message = key === 'err' || key === 'error' ? scalar(record.message) : null;
    if (message !== null) out.push([key, message]);
    for (const [k, v] of Object.entries(record)) if (!(message !== null && k === 'message')) pairs(`${key}.${k}`, v, out);
  }
}

export function toLogfmt(record: Record<string, unknown>): string {
  const out: Array<[string, string]> = [];
  for (const key of FIRST) pairs(key, record[key], out);
  for (const [key, value] of Object.entries(record)) if (!FIRST.includes(key)) pairs(key, value, out);
  return out.map(([k, v]) => `${logfmtKey(k)}=${logfmtValue(v)}`).join(' ');
}
