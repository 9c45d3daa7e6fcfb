// Keeps the few series the exporter needs from a Gitaly or Praefect /metrics page (Prometheus text
// format, 1-10 MB, thousands of gRPC series) without decoding or holding the page: each line is judged
// by its first bytes, unwanted lines are skipped with indexOf(0x0a), and only wanted lines are parsed.

import type { Role } from '../config/types.ts';
import type { ConnectionCounts, SourceError } from '../evidence/evidence.ts';
import { parseSample } from './sample-line.ts';
import type { ErrorCode } from '../base/error-codes.ts';

export type ExtractResult =
  | { ok: true; counts: ConnectionCounts; family: string | null; version: string | null; processStartSeconds: number | null }
  | { ok: false; error: SourceError };

export const GITALY_FAMILY = 'gitaly_connections_total';
export const PRAEFECT_FAMILY = 'gitaly_praefect_connections_total';
const BUILD_INFO = 'gitlab_build_info';
// A changed start time reveals a restart even when the counters climbed back past their old values.
const PROCESS_START = 'process_start_time_seconds';
const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
/** The second byte the fast line filter looks at (0-based); every wanted name is longer. */
const OPENER_AT = 7;

// Line states between chunks; values >= 0 are indexes into `wanted` (a wanted line being carried).
const AT_LINE_START = -1;
const SKIPPING = -2;
const UNDECIDED = -3;
// classify() answers: SKIP, UNDECIDED, EOF_MARK, or an index into `wanted`.
const SKIP = -4;
const EOF_MARK = -5;

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const HASH = 0x23;
const LOWER_G = 0x67;
const LOWER_P = 0x70;
const OPENMETRICS_EOF = Buffer.from('# EOF');

interface Wanted {
  name: string;
  bytes: Buffer;
}

interface FamilyTally {
  present: boolean;
  counts: ConnectionCounts;
  /** Types already reported, so a duplicate series is caught. */
  seen: Set<string>;
}

const CONNECTION_TYPES: ReadonlySet<string> = new Set(['tcp', 'tls', 'unix']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Built once per role: a 64 KiB table per scrape would cost more than the scan of a 1 MB page saves.
const OPENERS = new Map<Role, Uint8Array>();

function openersFor(role: Role, wanted: readonly Wanted[]): Uint8Array {
  let table = OPENERS.get(role);
  if (table) return table;
  table = new Uint8Array(65536);
  for (const { name, bytes } of wanted) {
    if (bytes.length <= OPENER_AT) throw new Error(`${name} is too short for the line filter`);
    table[(bytes[0]! << 8) | bytes[OPENER_AT]!] = 1;
  }
  for (const first of [SPACE, TAB, HASH]) table.fill(1, first << 8, (first + 1) << 8);
  OPENERS.set(role, table);
  return table;
}

export class ConnectionCounterExtractor {
  private readonly wanted: Wanted[];
  /** The kind given to lines starting with blanks: one past the wanted names. */
  private readonly indented: number;
  /** The longest prefix classify() needs: the longest wanted name plus the byte after it. */
  private readonly decideBytes: number;
  private readonly maxLineBytes: number;
  /**
   * 1 for each (first byte, eighth byte) pair a line of 8 bytes or more must have to be worth
   * classify(): a wanted name's (all are longer than 8), or a blank or '#' then anything. Nearly
   * every line of a Gitaly page (grpc_server_…, gitaly_<other>…) fails this one table lookup.
   */
  private readonly openers: Uint8Array;
  private readonly tallies = new Map<string, FamilyTally>();
  private mode = AT_LINE_START;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private completedLines = 0;
  private sawBuildInfo = false;
  private version: string | null = null;
  private processStartSeconds: number | null = null;
  private eof = false;
  private error: SourceError | null = null;

  constructor(role: Role, options: { maxLineBytes?: number } = {}) {
    const names =
      role === 'praefect' ? [GITALY_FAMILY, PRAEFECT_FAMILY, BUILD_INFO, PROCESS_START] : [GITALY_FAMILY, BUILD_INFO, PROCESS_START];
    this.wanted = names.map((name) => ({ name, bytes: Buffer.from(name) }));
    this.indented = this.wanted.length;
    this.decideBytes = Math.max(...names.map((n) => n.length)) + 1;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.openers = openersFor(role, this.wanted);
    for (const name of names) {
      if (name !== BUILD_INFO && name !== PROCESS_START)
        this.tallies.set(name, { present: false, counts: { tcp: 0, tls: 0, unix: 0 }, seen: new Set() });
    }
  }

  /** True once the page is known to be bad; later input is ignored, so a caller may stop reading. */
  get failed(): boolean {
    return this.error !== null;
  }

  push(chunk: Buffer): void {
    if (this.error || this.eof || chunk.length === 0) return;
    try {
      this.consume(chunk);
    } catch (err) {
      this.fail('PARSE', `line ${this.completedLines + 1}: unexpected parser failure (${String(err)})`);
    }
  }

  end(): ExtractResult {
    if (this.error) return { ok: false, error: this.error };
    if (!this.eof && this.mode !== AT_LINE_START) {
      const last = this.mode === SKIPPING ? null : Buffer.concat(this.pending);
      if (!last || this.classify(last, 0, last.length, true) !== EOF_MARK) {
        return {
          ok: false,
          error: {
            code: 'TRUNCATED',
            message: `the metrics page does not end with a newline (line ${this.completedLines + 1} is cut off), so it is incomplete`,
          },
        };
      }
    }
    const families = [...this.tallies.entries()].filter(([, tally]) => tally.present);
    if (families.length === 0 && !this.sawBuildInfo) {
      return {
        ok: false,
        error: { code: 'NOT_GITALY', message: `no ${GITALY_FAMILY} or ${BUILD_INFO} on the page; is this a Gitaly /metrics page?` },
      };
    }
    // Praefect before Gitaly 14.7 counted its connections in gitaly_connections_total.
    const chosen = families.find(([name]) => name === PRAEFECT_FAMILY) ?? families[0];
    return {
      ok: true,
      counts: chosen ? { ...chosen[1].counts } : { tcp: 0, tls: 0, unix: 0 },
      family: chosen ? chosen[0] : null,
      version: this.version,
      processStartSeconds: this.processStartSeconds,
    };
  }

  private consume(chunk: Buffer): void {
    const length = chunk.length;
    let pos = 0;
    if (this.mode === SKIPPING) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) return;
      this.completedLines++;
      this.mode = AT_LINE_START;
      pos = nl + 1;
    } else if (this.mode !== AT_LINE_START) {
      const nl = chunk.indexOf(NL);
      this.continueLine(nl < 0 ? chunk : chunk.subarray(0, nl), nl >= 0);
      if (nl < 0 || this.error || this.eof) return;
      pos = nl + 1;
    }
    // The hot loop: nearly every line is skipped after one indexOf and one table lookup, so its
    // state lives in locals and only a line worth classify() touches the object.
    const openers = this.openers;
    let lines = this.completedLines;
    while (pos < length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) break;
      if (nl - pos > OPENER_AT && openers[(chunk[pos]! << 8) | chunk[pos + OPENER_AT]!] === 0) {
        lines++;
        pos = nl + 1;
        continue;
      }
      this.completedLines = lines;
      const kind = this.classify(chunk, pos, nl, true);
      if (kind >= 0 && nl - pos > this.maxLineBytes) this.failLineTooLong(kind);
      else if (kind >= 0) this.handleLine(kind, chunk, pos, nl);
      else if (kind === EOF_MARK) this.eof = true;
      lines++;
      pos = nl + 1;
      if (this.error || this.eof) break;
    }
    this.completedLines = lines;
    if (pos >= length || this.error || this.eof) return;
    // The chunk ends inside a line: decide now whether it is worth carrying into the next chunk.
    const kind = this.classify(chunk, pos, length, false);
    if (kind === SKIP) {
      this.mode = SKIPPING;
    } else if (kind >= 0 && length - pos > this.maxLineBytes) {
      this.failLineTooLong(kind);
    } else {
      this.mode = kind;
      this.pending = [Buffer.from(chunk.subarray(pos))];
      this.pendingLength = length - pos;
    }
  }

  /** Adds the next piece of a line that started in an earlier chunk; `complete` = the newline was found. */
  private continueLine(part: Buffer, complete: boolean): void {
    if (this.mode === UNDECIDED) {
      const probe = Buffer.concat([...this.pending, part.subarray(0, this.decideBytes)]);
      const kind = this.classify(probe, 0, probe.length, complete && part.length <= this.decideBytes);
      if (kind === SKIP || kind === EOF_MARK) {
        this.pending = [];
        this.pendingLength = 0;
        this.eof = kind === EOF_MARK;
        this.mode = complete ? AT_LINE_START : SKIPPING;
        if (complete) this.completedLines++;
        return;
      }
      this.mode = kind;
    }
    if (this.mode >= 0 && this.pendingLength + part.length > this.maxLineBytes) {
      this.failLineTooLong(this.mode);
      return;
    }
    this.pending.push(Buffer.from(part));
    this.pendingLength += part.length;
    if (!complete) return;
    const line = Buffer.concat(this.pending);
    const kind = this.mode;
    this.pending = [];
    this.pendingLength = 0;
    this.mode = AT_LINE_START;
    if (kind >= 0) this.handleLine(kind, line, 0, line.length);
    this.completedLines++;
  }

  /** Which wanted metric the line at buf[start, end) is, judged from its first bytes only. */
  private classify(buf: Buffer, start: number, end: number, complete: boolean): number {
    const available = end - start;
    const first = buf[start];
    if (first === LOWER_G || first === LOWER_P) {
      // Wanted names start with "g" or "p": the first byte is checked here, comparison starts at the second.
      let undecided = false;
      for (let w = 0; w < this.wanted.length; w++) {
        const name = this.wanted[w]!.bytes;
        if (name[0] !== first) continue;
        const n = name.length;
        // Cheapest test first: a wanted line has `{` or a blank right after the name.
        if (available > n) {
          const next = buf[start + n];
          if (next !== OPEN_BRACE && next !== SPACE && next !== TAB) continue;
        }
        const compare = Math.min(available, n);
        let i = 1;
        while (i < compare && buf[start + i] === name[i]) i++;
        if (i < compare) continue;
        if (available > n) {
          const next = buf[start + n];
          if (next === OPEN_BRACE || next === SPACE || next === TAB) return w;
        } else if (!complete) {
          undecided = true;
        } else if (available === n) {
          return w; // the bare name with no value: wanted, and reported as malformed
        }
      }
      return undecided ? UNDECIDED : SKIP;
    }
    // Prometheus's parser skips leading blanks; so must we, or an indented sample would read as
    // "no series" (zero plaintext). Rare, so such lines take the slow path: carried whole, then
    // classified again without the blanks in handleLine().
    if (first === SPACE || first === TAB) return this.indented;
    if (first === HASH) {
      const marker = OPENMETRICS_EOF;
      const compare = Math.min(available, marker.length);
      if (buf.compare(marker, 0, compare, start, start + compare) !== 0) return SKIP;
      // "# EOF" then CR may still be followed by LF: undecided until the line ends.
      if (!complete) return available <= marker.length || (available === marker.length + 1 && buf[end - 1] === CR) ? UNDECIDED : SKIP;
      const rest = available - marker.length;
      return rest === 0 || (rest === 1 && buf[end - 1] === CR) ? EOF_MARK : SKIP;
    }
    return available === 0 && !complete ? UNDECIDED : SKIP;
  }

  private handleLine(kind: number, buf: Buffer, start: number, end: number): void {
    if (kind === this.indented) {
      let from = start;
      while (from < end && (buf[from] === SPACE || buf[from] === TAB)) from++;
      const again = from < end ? this.classify(buf, from, end, true) : SKIP;
      if (again >= 0) this.handleLine(again, buf, from, end);
      else if (again === EOF_MARK) this.eof = true;
      return;
    }
    const lineNo = this.completedLines + 1;
    if (end > start && buf[end - 1] === CR) end--;
    for (let i = start; i < end; i++) {
      const byte = buf[i]!;
      if ((byte < SPACE && byte !== TAB) || byte === 0x7f) {
        this.fail('PARSE', `line ${lineNo} contains a NUL or control byte; the page is corrupt`);
        return;
      }
    }
    let text: string;
    try {
      text = utf8.decode(buf.subarray(start, end));
    } catch {
      this.fail('PARSE', `line ${lineNo} is not valid UTF-8; the page is corrupt`);
      return;
    }
    const { name } = this.wanted[kind]!;
    const sample = parseSample(text, name.length);
    if (typeof sample === 'string') {
      this.fail('PARSE', `line ${lineNo}: malformed ${name} sample (${sample})`);
      return;
    }
    if (name === PROCESS_START) {
      if (Number.isFinite(sample.value)) this.processStartSeconds ??= sample.value;
      return;
    }
    if (name === BUILD_INFO) {
      this.sawBuildInfo = true;
      this.version ??= sample.labels.get('version') ?? null;
      return;
    }
    const tally = this.tallies.get(name)!;
    tally.present = true;
    const type = sample.labels.get('type');
    if (!(sample.value >= 0) || sample.value === Infinity) {
      this.fail(
        'PARSE',
        `line ${lineNo}: ${name}{type=${JSON.stringify((type ?? '').slice(0, 40))}} has value ${sample.rawValue}; a counter must be a finite number >= 0`,
      );
      return;
    }
    if (type === undefined || !CONNECTION_TYPES.has(type)) return;
    if (tally.seen.has(type)) {
      this.fail('PARSE', `line ${lineNo}: a second ${name} series for type=${JSON.stringify(type)}`);
      return;
    }
    tally.seen.add(type);
    tally.counts[type as keyof ConnectionCounts] = sample.value;
  }

  private failLineTooLong(kind: number): void {
    const name = this.wanted[kind]?.name ?? 'an indented line';
    this.fail('PARSE', `line ${this.completedLines + 1} (${name}) is longer than the ${this.maxLineBytes}-byte line limit`);
  }

  private fail(code: ErrorCode, message: string): void {
    this.error ??= { code, message };
    this.pending = [];
    this.pendingLength = 0;
  }
}

/** Whole-page convenience around ConnectionCounterExtractor. */
export function extractConnectionCounters(page: Buffer | string, role: Role): ExtractResult {
  const extractor = new ConnectionCounterExtractor(role);
  extractor.push(typeof page === 'string' ? Buffer.from(page) : page);
  return extractor.end();
}
