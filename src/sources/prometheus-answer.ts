// A Prometheus HTTP API answer read as its chunks arrive: the envelope (status, error, warnings)
// here, the data by a subclass that keeps only what it needs. What an answer costs is what its
// reader keeps, never the answer's size, and the event loop gets a turn between network chunks.
import { TokenParser, Tokenizer, TokenType, type ParsedElementInfo } from '@streamparser/json';
import type { Result, SourceError } from '../evidence/evidence.ts';
import type { ErrorCode } from '../base/error-codes.ts';
import { JsonStringCap } from './json-string-cap.ts';
import { scrubAndCut } from './secret-text.ts';

const ERROR_TEXT_MAX_CHARS = 300;

/** What a string cut by the string cap reads as, in place of its value or its key. */
export const TOO_LONG: object = Object.freeze({ tooLong: true });

/** Reads an answer as its chunks arrive. */
export interface AnswerStream<T> {
  /** Takes the next chunk; false stops the reading there (the connection is closed) and finish() says why. */
  write(chunk: Buffer): boolean;
  /** The answer, once the body has ended or write() has stopped the reading. */
  finish(safeUrl: string): Result<T>;
}

export function fail(code: ErrorCode, message: string): { ok: false; error: SourceError } {
  return { ok: false, error: { code, message } };
}

/**
 * Text the server sent, scrubbed of the request's secrets before it is cut: a cut first could keep
 * the start of a secret the scrub then no longer recognises (a 401 that echoes the token).
 */
export function shorten(text: string, secrets: readonly string[]): string {
  return scrubAndCut(text, secrets, ERROR_TEXT_MAX_CHARS);
}

export function badAnswer(safeUrl: string, why: string): { ok: false; error: SourceError } {
  return fail('BAD_RESPONSE', `Prometheus at ${safeUrl} sent an unusable answer: ${why}`);
}

/** Takes a value out of the parser's copy of its parent once read, so the parser holds nothing. */
export function release(parent: unknown, key: unknown): void {
  if (Array.isArray(parent)) parent.length = 0;
  else if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[String(key)];
}

export abstract class StreamedAnswer<T> implements AnswerStream<T> {
  private readonly tokenizer = new Tokenizer();
  private readonly parser: TokenParser;
  private readonly cap: JsonStringCap | undefined;
  private status: unknown = undefined;
  private error: unknown = undefined;
  private warnings: unknown = undefined;
  private isPartial: unknown = undefined;
  private ended = false;
  /** Why the answer cannot be used (BAD_RESPONSE); reading stops when it is set. */
  protected problem: string | null = null;
  /** Set by a subclass to stop reading; its finishData() then says why. */
  protected stopped = false;

  /**
   * `dataPaths`: what the subclass is shown (onData), as @streamparser/json paths; `secrets`: the
   * request's, scrubbed from any text of the server's shown in an error. With `maxStringBytes`,
   * every longer string, wherever it is, reads as TOO_LONG and is never held.
   */
  constructor(
    dataPaths: string[],
    private readonly secrets: readonly string[],
    maxStringBytes?: number,
  ) {
    this.parser = new TokenParser({ paths: ['$.status', '$.error', '$.warnings', '$.isPartial', ...dataPaths], keepStack: false });
    const cap = maxStringBytes === undefined ? undefined : new JsonStringCap(maxStringBytes);
    this.cap = cap;
    let strings = 0;
    this.tokenizer.onToken = (info) => {
      if (cap && info.token === TokenType.STRING && cap.takeCut(++strings)) this.parser.write({ ...info, value: TOO_LONG as never });
      else this.parser.write(info);
    };
    // Wired as JSONParser wires them: either side's end or error is the other's.
    this.tokenizer.onEnd = () => {
      if (!this.parser.isEnded) this.parser.end();
    };
    this.parser.onError = this.tokenizer.error.bind(this.tokenizer);
    this.parser.onEnd = () => {
      this.ended = true;
      if (!this.tokenizer.isEnded) this.tokenizer.end();
    };
    // Without it, write() throws; the problem is reported by finish().
    this.tokenizer.onError = (err: Error) => {
      this.problem ??= `the body is not JSON (${shorten(err.message, secrets)})`;
    };
    this.parser.onValue = (info) => {
      if (info.stack.length !== 1) return this.onData(info);
      if (info.key === 'status') this.status = info.value;
      else if (info.key === 'error') this.error = info.value;
      else if (info.key === 'warnings') this.warnings = info.value;
      else if (info.key === 'isPartial') this.isPartial = info.value;
      else this.onData(info);
    };
  }

  /** A value at one of the data paths, once whole. */
  protected abstract onData(info: ParsedElementInfo): void;

  /** The data, once the envelope has been found good. */
  protected abstract finishData(safeUrl: string): Result<T>;

  /** A failure found while reading that outranks the envelope (a cap the answer went over), or null. */
  protected abstract stopReason(safeUrl: string): { ok: false; error: SourceError } | null;

  write(chunk: Buffer): boolean {
    if (this.problem !== null || this.stopped) return false;
    if (this.ended) return true;
    for (const piece of this.cap ? this.cap.pass(chunk) : [chunk]) this.tokenizer.write(piece);
    if (this.cap?.longWord) this.problem ??= `a number or word is longer than ${this.cap.maxBytes} bytes`;
    return this.problem === null && !this.stopped;
  }

  finish(safeUrl: string): Result<T> {
    const stop = this.stopReason(safeUrl);
    if (stop) return stop;
    if (this.problem === null && !this.ended) {
      try {
        this.tokenizer.end();
      } catch {
        // onError has recorded it.
      }
      if (!this.ended) this.problem ??= 'the body is not JSON (it ends too early)';
    }
    if (this.status === undefined && this.problem !== null) return badAnswer(safeUrl, this.problem);
    if (this.status !== 'success') {
      const text = typeof this.error === 'string' ? `: ${shorten(this.error, this.secrets)}` : '';
      return badAnswer(safeUrl, `status is ${JSON.stringify(this.status ?? null)}${text}`);
    }
    if (Array.isArray(this.warnings) && this.warnings.length > 0) {
      const first = this.warnings.map(String).join('; ');
      return fail(
        'PARTIAL',
        `Prometheus at ${safeUrl} answered with warnings, so the answer may be incomplete: ${shorten(first, this.secrets)}`,
      );
    }
    // VictoriaMetrics' cluster version when a storage node did not answer.
    if (this.isPartial === true)
      return fail('PARTIAL', `Prometheus at ${safeUrl} answered with isPartial: true, so the answer may be incomplete`);
    if (this.problem !== null) return badAnswer(safeUrl, this.problem);
    return this.finishData(safeUrl);
  }
}
