import { expect } from 'chai';
import { createLogger, type LogFormat } from '../../src/log/logger.ts';
import { toLogfmt } from '../../src/log/logfmt.ts';

/**
 * An independent reading of logfmt as go-logfmt writes it: key=value pairs separated by spaces, a
 * quoted value being a Go string literal, which for the escapes logfmt uses (\" \\ \n \r \t \u00XX)
 * is JSON's string syntax. Throws on anything else, so a line it accepts is valid logfmt.
 */
function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  // eslint-disable-next-line no-control-regex -- a raw control character is what a quoted value must not hold
  const pair = /([^\s="]+)=("(?:[^"\\\u0000-\u001f]|\\["\\nrt]|\\u[0-9a-f]{4})*"|[^\s="]*)(?: |$)/gy;
  let at = 0;
  while (at < line.length) {
    pair.lastIndex = at;
    const m = pair.exec(line);
    if (!m) throw new Error(`not logfmt at column ${at}: ${line.slice(at)}`);
    out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    at = pair.lastIndex;
  }
  return out;
}

function capture(format: LogFormat): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format, destination: { write: (s: string) => void lines.push(s) } });
  return { lines, logger };
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('logs', () => {
  describe('logfmt', () => {
    it('writes one line per record: time (ISO-8601 UTC), level and msg first, then the fields, err and code kept', () => {
      const { lines, logger } = capture('logfmt');
      const err = Object.assign(new Error('boom "quoted"\nsecond line'), { code: 'EPIPE' });
      logger.child({ node: 'gitaly-1' }).warn({ source: 'tls', code: 'HANDSHAKE', err }, 'gitaly-1: tls failed: wrong version number.');
      expect(lines).to.have.length(1);
      const line = lines[0]!;
      expect(line.endsWith('\n')).to.equal(true);
      expect(line.slice(0, -1)).to.not.contain('\n');
      expect(line).to.match(
        /^time=\S+ level=warn msg="gitaly-1: tls failed: wrong version number\." node=gitaly-1 source=tls code=HANDSHAKE err=/,
      );
      const fields = parseLogfmt(line.slice(0, -1));
      expect(fields.time).to.match(ISO_UTC);
      expect(Math.abs(Date.parse(fields.time!) - Date.now())).to.be.below(60_000);
      expect(fields).to.include({
        level: 'warn',
        node: 'gitaly-1',
        code: 'HANDSHAKE',
        err: 'boom "quoted"\nsecond line',
        'err.code': 'EPIPE',
      });
      expect(fields['err.type']).to.equal('Error');
      expect(fields['err.stack']).to.contain('Error: boom');
    });

    it('quotes and escapes what would break a line or a pair, and leaves plain values bare (as go-logfmt: a lone backslash too)', () => {
      const record = {
        time: '2026-11-30T23:00:00.000Z',
        level: 'info',
        msg: 'plain',
        empty: '',
        spaced: 'a b',
        equals: 'a=b',
        quote: 'say "hi"',
        backslash: 'C:\\dir',
        controls: 'tab\there\rcr\u0001bell\u007f',
        unicode: 'phase dual_listen → complete',
        count: 3,
        ok: false,
        none: null,
        nodes: ['gitaly-1', 'gitaly-2'],
        nested: { a: 1, b: { c: 'x y' } },
        'bad key': 'v',
      };
      const line = toLogfmt(record);
      expect(line).to.contain('msg=plain empty="" spaced="a b" equals="a=b" quote="say \\"hi\\"" backslash=C:\\dir');
      expect(line).to.contain('controls="tab\\there\\rcr\\u0001bell\\u007f"');
      expect(line).to.contain('count=3 ok=false none=null nodes=gitaly-1,gitaly-2 nested.a=1 nested.b.c="x y" bad_key=v');
      expect(parseLogfmt(line)).to.deep.include({
        empty: '',
        spaced: 'a b',
        quote: 'say "hi"',
        backslash: 'C:\\dir',
        controls: 'tab\there\rcr\u0001bell\u007f',
        unicode: 'phase dual_listen → complete',
      });
    });

    it('keeps a multi-line message (a rejected configuration) on one line', () => {
      const { lines, logger } = capture('logfmt');
      logger.error('configuration reload rejected, the previous one keeps running:\nconfig.yml:3:1: soak_windw: unknown key');
      expect(lines).to.have.length(1);
      expect(parseLogfmt(lines[0]!.trimEnd()).msg).to.equal(
        'configuration reload rejected, the previous one keeps running:\nconfig.yml:3:1: soak_windw: unknown key',
      );
    });
  });

  describe('json', () => {
    it('writes one JSON object per line with an ISO-8601 UTC time and the level by name', () => {
      const { lines, logger } = capture('json');
      logger.info({ node: 'gitaly-1', from: 'dual_listen', to: 'tls_only_traffic' }, 'gitaly-1: phase dual_listen → tls_only_traffic');
      expect(lines).to.have.length(1);
      const record = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(record.time).to.match(ISO_UTC);
      expect(record).to.include({
        level: 'info',
        node: 'gitaly-1',
        from: 'dual_listen',
        msg: 'gitaly-1: phase dual_listen → tls_only_traffic',
      });
    });
  });

  for (const format of ['logfmt', 'json'] as const)
    it(`${format}: keeps a password, token or authorization field out of the log`, () => {
      const { lines, logger } = capture(format);
      logger.info(
        { password: 'hunter2', basicAuth: { password: 'hunter2' }, req: { headers: { authorization: 'Basic aHVudGVyMg==' } } },
        'x',
      );
      expect(lines.join('')).to.not.match(/hunter2|aHVudGVyMg/);
      expect(lines.join('')).to.contain('<redacted>');
    });

  it('writes nothing below its level', () => {
    const { lines, logger } = capture('logfmt');
    logger.debug('collection finished');
    expect(lines).to.deep.equal([]);
  });
});
