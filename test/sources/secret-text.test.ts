import { expect } from 'chai';
import { scrub, scrubAndCut } from '../../src/sources/secret-text.ts';

describe('secret text', function () {
  it('removes every occurrence of every secret, a secret holding another one whole', function () {
    expect(scrub('a=abc123 b=abc123xyz c=abc123', ['abc123', 'abc123xyz'])).to.equal('a=<redacted> b=<redacted> c=<redacted>');
  });

  it('leaves a short text as one line, unchanged but for its whitespace', function () {
    expect(scrubAndCut('  no\nsecret\there  ', ['s3cret-token'], 300)).to.equal('no secret here');
  });

  it('scrubs before cutting: a secret the cut falls inside is removed whole, not kept in part', function () {
    const token = 'T0k3n-abcdefghijklmnopqrstuvwxyz0123456789';
    const text = `${'x'.repeat(90)} token ${token} rejected`;
    const out = scrubAndCut(text, [token], 110);
    expect(out).to.equal(`${'x'.repeat(90)} token <redacted> re…`);
  });

  it('keeps a <redacted> the cut falls inside whole rather than showing half of it', function () {
    const out = scrubAndCut(`${'x'.repeat(20)} secretvalue and more`, ['secretvalue'], 25);
    expect(out).to.equal(`${'x'.repeat(20)} <redacted>…`);
  });

  it("redacts a tail left at the cut that starts a secret (the sender's own shortened echo of it)", function () {
    const token = 'T0k3n-abcdefghijklmnopqrstuvwxyz';
    const out = scrubAndCut(`${'x'.repeat(20)} sent ${token.slice(0, 20)}... rejected`, [token], 35);
    expect(out).to.equal(`${'x'.repeat(20)} sent <redacted>…`);
  });

  it('leaves a tail of under 4 characters that only happens to start a secret', function () {
    expect(scrubAndCut(`${'x'.repeat(20)} abc and more`, ['abcdefgh'], 24)).to.equal(`${'x'.repeat(20)} abc…`);
  });
});
