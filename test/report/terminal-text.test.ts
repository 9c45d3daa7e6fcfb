import { expect } from 'chai';
import { printable, shownValue } from '../../src/report/terminal-text.ts';

describe('text from an answer, made safe for a terminal', () => {
  it('escapes C0 and C1 controls, DEL, line separators and bidi controls, and leaves other text alone', () => {
    expect(printable('\u001b[2J\u0000\t\n\u007f\u0085\u009b')).to.equal('\\u001b[2J\\u0000\\u0009\\u000a\\u007f\\u0085\\u009b');
    // A right-to-left override would show "gitaly-1" as something else; a separator would start a line.
    expect(printable('a\u202egitaly-1\u2066\u2028b')).to.equal('a\\u202egitaly-1\\u2066\\u2028b');
    expect(printable('gitaly-1 — plaintext client seen 3 min ago, ünïcode ok')).to.equal(
      'gitaly-1 — plaintext client seen 3 min ago, ünïcode ok',
    );
  });

  it('shows a value in an error quoted and cut short, or by its kind', () => {
    expect(shownValue(`\u001b${'x'.repeat(100)}`)).to.equal(`"\\u001b${'x'.repeat(79)}…"`);
    expect([undefined, null, 3, false, [], {}].map(shownValue)).to.deep.equal(['missing', 'null', '3', 'false', 'an array', 'an object']);
  });
});
