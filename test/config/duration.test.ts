import { expect } from 'chai';
import fc from 'fast-check';
import { formatDuration, parseByteSize, parseDuration } from '../../src/config/duration.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('parseDuration', () => {
  const valid: Array<[string, number]> = [
    ['500ms', 500],
    ['30s', 30 * SECOND],
    ['5m', 5 * MINUTE],
    ['1h', HOUR],
    ['7d', 7 * DAY],
    ['1w', 7 * DAY],
    ['1y', 365 * DAY],
    ['1h30m', HOUR + 30 * MINUTE],
    ['1d2h3m4s5ms', DAY + 2 * HOUR + 3 * MINUTE + 4 * SECOND + 5],
    ['90s', 90 * SECOND],
    [' 30s ', 30 * SECOND],
    ['0', 0],
    ['0s', 0],
  ];
  for (const [text, ms] of valid) {
    it(`reads "${text}" as ${ms} ms`, () => {
      expect(parseDuration(text)).to.equal(ms);
    });
  }

  const invalid: Array<[string, string]> = [
    ['', 'empty duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m'],
    ['-5m', '"-5m" is negative: durations must be positive'],
    ['30', '"30" has no unit: write e.g. 30s or 30m'],
    ['1.5h', '"1.5h" is not a valid duration: fractions are not allowed, combine units instead (e.g. 1h30m, 1500ms)'],
    ['5min', '"5min" is not a valid duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m'],
    ['30S', '"30S" is not a valid duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m'],
    ['1 h', '"1 h" is not a valid duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m'],
    ['h', '"h" is not a valid duration: use whole numbers with the units ms, s, m, h, d, w or y, e.g. 30s, 5m or 1h30m'],
    ['30m1h', '"30m1h" is not a valid duration: units must go from largest to smallest, each once (e.g. 1h30m)'],
    ['1h1h', '"1h1h" is not a valid duration: units must go from largest to smallest, each once (e.g. 1h30m)'],
    ['99999999999y', '"99999999999y" is too long'],
  ];
  for (const [text, message] of invalid) {
    it(`rejects "${text}"`, () => {
      expect(() => parseDuration(text))
        .to.throw(Error)
        .with.property('message', message);
    });
  }
});

describe('formatDuration', () => {
  it('writes the shortest exact form with days as the largest unit', () => {
    expect(formatDuration(0)).to.equal('0s');
    expect(formatDuration(30 * SECOND)).to.equal('30s');
    expect(formatDuration(HOUR + 30 * MINUTE)).to.equal('1h30m');
    expect(formatDuration(7 * DAY)).to.equal('7d');
    expect(formatDuration(1_500)).to.equal('1s500ms');
  });

  it('round-trips through parseDuration', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1000 * 365 * DAY }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});

describe('parseByteSize', () => {
  const valid: Array<[string | number, number]> = [
    [1048576, 1_048_576],
    ['1048576', 1_048_576],
    ['0', 0],
    ['100B', 100],
    ['512KiB', 512 * 1024],
    ['16MiB', 16 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['500kB', 500_000],
    ['64MB', 64_000_000],
    ['2GB', 2_000_000_000],
    ['16 MiB', 16 * 1024 ** 2],
  ];
  for (const [value, bytes] of valid) {
    it(`reads ${JSON.stringify(value)} as ${bytes} bytes`, () => {
      expect(parseByteSize(value)).to.equal(bytes);
    });
  }

  const invalid: Array<[string | number, string]> = [
    ['', 'empty size: write bytes or a size like 512KiB or 16MiB'],
    [-1, '-1 is negative: sizes must be positive'],
    ['-1KiB', '"-1KiB" is negative: sizes must be positive'],
    [1.5, '1.5 is not a whole number of bytes'],
    ['1.5MiB', '"1.5MiB" is not a valid size: fractions are not allowed, use a smaller unit (e.g. 1536KiB)'],
    ['16mb', '"16mb" has an unknown unit "mb": use B, kB, MB, GB, KiB, MiB or GiB'],
    ['16KB', '"16KB" has an unknown unit "KB": use B, kB, MB, GB, KiB, MiB or GiB'],
    ['16constructor', '"16constructor" has an unknown unit "constructor": use B, kB, MB, GB, KiB, MiB or GiB'],
    ['MiB', '"MiB" is not a valid size: write bytes or a size like 512KiB or 16MiB'],
    ['99999999999GiB', '"99999999999GiB" is too large'],
  ];
  for (const [value, message] of invalid) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      expect(() => parseByteSize(value))
        .to.throw(Error)
        .with.property('message', message);
    });
  }
});
