import { expect } from 'chai';
import fc from 'fast-check';
import { Tokenizer, TokenType } from '@streamparser/json';
import { JsonStringCap } from '../../src/sources/json-string-cap.ts';
import { runs, withDeadline } from '../helpers/fuzz.ts';

const CAP = 8;

/** The strings of a JSON value (keys included) in the order its text holds them. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  return [];
}

/** The string tokens the tokenizer sees through the cap, fed `bytes` in pieces cut at `splits`. */
function tokenize(
  bytes: Buffer,
  splits: number[],
  cap: JsonStringCap,
): { strings: Array<{ value: string; cut: boolean }>; error?: string } {
  const tokenizer = new Tokenizer();
  const strings: Array<{ value: string; cut: boolean }> = [];
  let error: string | undefined;
  tokenizer.onToken = ({ token, value }) => {
    if (token === TokenType.STRING) strings.push({ value: value as string, cut: cap.takeCut(strings.length + 1) });
  };
  tokenizer.onError = (err) => (error ??= err.message);
  let from = 0;
  for (const at of [...splits.map((s) => s % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    for (const piece of cap.pass(bytes.subarray(from, at))) tokenizer.write(piece);
    from = Math.max(from, at);
  }
  tokenizer.end();
  return { strings, error };
}

const value = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string({ unit: 'binary', maxLength: 24 }), fc.integer({ min: -999, max: 9999 }), fc.boolean(), fc.constant(null)),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 16 }), tie('node'), { maxKeys: 5 }),
  ),
})).node;

describe('JSON string cap', () => {
  it('cuts every string longer than the cap, and only those, at any chunking, and the rest reads as before', () => {
    fc.assert(
      fc.property(
        value,
        fc.array(fc.nat(), { maxLength: 12 }),
        withDeadline((doc, splits) => {
          const text = JSON.stringify(doc);
          const { strings, error } = tokenize(Buffer.from(text), splits, new JsonStringCap(CAP));
          expect(error, text).to.equal(undefined);
          const expected = stringsOf(JSON.parse(text));
          expect(strings.length, text).to.equal(expected.length);
          strings.forEach((got, i) => {
            const bytes = Buffer.byteLength(JSON.stringify(expected[i])) - 2;
            // Never cut inside a character or escape: a string at most one (\uXXXX, 6 bytes) past the cap may pass whole.
            if (got.cut) expect(bytes, `string ${i} of ${text}`).to.be.above(CAP);
            else
              expect({ value: got.value, within: bytes <= CAP + 6 }, `string ${i} of ${text}`).to.deep.equal({
                value: expected[i],
                within: true,
              });
          });
        }),
      ),
      runs(500),
    );
  });

  it('passes no more of a cut string than the cap (and one character), however long it is', () => {
    const cap = new JsonStringCap(CAP);
    const passed = [cap.pass(Buffer.from('["')), cap.pass(Buffer.alloc(1_000_000, 'x')), cap.pass(Buffer.from('é\\"x","b"]'))];
    const total = passed.flat().reduce((n, piece) => n + piece.length, 0);
    expect(Buffer.concat(passed.flat()).toString()).to.equal('["xxxxxxxx","b"]');
    expect(total).to.equal(16);
  });

  it('stops at a number longer than the cap, which no answer needs', () => {
    const cap = new JsonStringCap(CAP);
    expect(Buffer.concat(cap.pass(Buffer.from('[1,123456789012]'))).toString()).to.equal('[1,12345678');
    expect(cap.longWord).to.equal(true);
    expect(cap.pass(Buffer.from('3]'))).to.deep.equal([]);
  });
});
