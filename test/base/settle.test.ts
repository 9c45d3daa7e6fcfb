import { expect } from 'chai';
import { settleOnce } from '../../src/base/settle.ts';

describe('settleOnce', () => {
  it('answers with the first finish, cleans up once, and ignores later events and the timer', async () => {
    const cleaned: string[] = [];
    let late: boolean | undefined;
    const answer = await settleOnce(
      60_000,
      () => 'timeout',
      (s) => {
        s.finish('first');
        late = s.finish('second');
      },
      (v) => cleaned.push(v),
    );
    expect(answer).to.equal('first');
    expect(late).to.equal(false);
    expect(cleaned).to.deep.equal(['first']);
  });

  it('answers with the timeout value when nothing finishes in time', async () => {
    let finishLater: ((v: string) => boolean) | undefined;
    const answer = await settleOnce(
      1,
      () => 'timeout',
      (s) => (finishLater = s.finish),
    );
    expect(answer).to.equal('timeout');
    expect(finishLater!('too late')).to.equal(false);
  });
});
