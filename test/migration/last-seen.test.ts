import { expect } from 'chai';
import {
  mergeDials,
  plaintextSeenFromChanges,
  plaintextSince,
  settledLastSeen,
  unexplainedChanges,
} from '../../src/migration/last-seen.ts';

const O = { toleranceMs: 9_000, skewMs: 1_000 };
const SEEN = { ...O, soakWindowMs: 90_000, settleMs: 14_000, lateMs: 16_000, recordDelayMs: 20_000 };
const s = (seconds: number): number => seconds * 1000;

describe('migration: last seen, every exporter’s dials excluded', () => {
  it('a dial explains the change that follows it, not an earlier real one', () => {
    // Client at 15 s (seen at 16 s); dials at 60 s and 90 s (seen a scrape later).
    const changes = [
      { atMs: s(16), n: 1 },
      { atMs: s(62), n: 1 },
      { atMs: s(92), n: 1 },
    ];
    const real = unexplainedChanges(changes, [s(60), s(90)], O);
    expect(real).to.deep.equal([{ atMs: s(16), n: 1 }]);
    expect(plaintextSince(real, 0)).to.deep.equal({ count: 1, lastSeenMs: s(16) });
  });

  it('a dial whose count shows only after a gap in Prometheus’ samples explains it, when no sample came between', () => {
    // Dial at 60 s; Prometheus took no sample from 59 s to 75 s (beyond the 9 s tolerance).
    const late = { atMs: s(75), n: 1, prevSampleMs: s(59) };
    expect(unexplainedChanges([late], [s(60)], O), 'the sample before was scraped before the dial').to.deep.equal([]);
    // A sample at 61 s showed no growth... then the growth at 75 s is not the dial's: a client.
    expect(unexplainedChanges([{ ...late, prevSampleMs: s(61) }], [s(60)], O)).to.deep.equal([{ ...late, prevSampleMs: s(61) }]);
    // Without the time of the sample before, only the tolerance counts.
    expect(unexplainedChanges([{ atMs: s(75), n: 1 }], [s(60)], O)).to.deep.equal([{ atMs: s(75), n: 1 }]);
    // Two dials in the gap explain two counts of it, never a third.
    expect(unexplainedChanges([{ ...late, n: 3 }], [s(60), s(62)], O)).to.deep.equal([{ ...late, n: 1 }]);
    // Only the first change after the dial can hold it: a later one, after a gap too, is a client.
    const next = { atMs: s(95), n: 1, prevSampleMs: s(75) };
    expect(unexplainedChanges([late, next], [s(60)], O)).to.deep.equal([next]);
  });

  it('a client just before a dial keeps its own time: the dial explains the sample after it', () => {
    const real = unexplainedChanges(
      [
        { atMs: s(59.5), n: 1 },
        { atMs: s(61), n: 1 },
      ],
      [s(60)],
      O,
    );
    expect(real).to.deep.equal([{ atMs: s(59.5), n: 1 }]);
    // With no sample after it, a sample stamped a moment before the dial may hold it.
    expect(unexplainedChanges([{ atMs: s(59.5), n: 1 }], [s(60)], O)).to.deep.equal([]);
  });

  it('a client in the same step as a dial is still counted', () => {
    const real = unexplainedChanges([{ atMs: s(62), n: 2 }], [s(60)], O);
    expect(real).to.deep.equal([{ atMs: s(62), n: 1 }]);
  });

  it('a change before the dial’s reach, or long after it, is not explained by it', () => {
    const real = unexplainedChanges(
      [
        { atMs: s(55), n: 1 },
        { atMs: s(75), n: 1 },
      ],
      [s(60)],
      O,
    );
    expect(real.map((c) => c.atMs)).to.deep.equal([s(55), s(75)]);
  });

  it('each dial explains one count once, however many dials are listed twice', () => {
    expect(mergeDials([s(60)], [s(60), s(30)])).to.deep.equal([s(30), s(60)]);
    const real = unexplainedChanges([{ atMs: s(61), n: 3 }], mergeDials([s(60)], [s(60)]), O);
    expect(real).to.deep.equal([{ atMs: s(61), n: 2 }]);
  });

  it('two exporters’ dials a few seconds apart are both explained', () => {
    const real = unexplainedChanges(
      [
        { atMs: s(61), n: 1 },
        { atMs: s(64), n: 1 },
      ],
      [s(60), s(63)],
      O,
    );
    expect(real).to.deep.equal([]);
  });

  it('after a Gitaly restart the whole new value counts, less the dials after it', () => {
    // Client at 50 s, restart at 55 s, our dial at 60 s: the series reappears at 1 at 61 s.
    const real = unexplainedChanges(
      [
        { atMs: s(51), n: 1 },
        { atMs: s(61), n: 1 },
      ],
      [s(60)],
      O,
    );
    expect(plaintextSince(real, 0).lastSeenMs).to.equal(s(51));
  });

  it('counts only changes inside the window; last seen may be older', () => {
    const real = [
      { atMs: s(5), n: 2 },
      { atMs: s(20), n: 1 },
    ];
    expect(plaintextSince(real, s(10))).to.deep.equal({ count: 1, lastSeenMs: s(20) });
    expect(plaintextSince([], s(10))).to.deep.equal({ count: 0, lastSeenMs: null });
  });

  it('remembers only settled changes; a young one counts now but is not kept', () => {
    const real = [
      { atMs: s(10), n: 1 },
      { atMs: s(95), n: 1 },
    ];
    expect(settledLastSeen(real, s(99), SEEN.settleMs)).to.equal(s(10));
    const seen = plaintextSeenFromChanges(real, { ownMs: [], publishedMs: [] }, null, s(99), SEEN);
    expect(seen).to.deep.equal({ windowTcp: 2, lastSeenMs: s(95), rememberMs: s(10), pendingTcp: 0 });
  });

  it('a peer’s dial that reaches Prometheus late takes back the young change it explains', () => {
    const changes = [{ atMs: s(95), n: 1 }];
    // Without peers a young change counts at once.
    const alone = plaintextSeenFromChanges(changes, { ownMs: [], publishedMs: [] }, s(10), s(100), SEEN);
    expect(alone.windowTcp).to.equal(1);
    expect(alone.rememberMs, 'not remembered while young').to.equal(s(10));
    // A peer dials this node (its earlier dial is published): one young count is held back, not flapped.
    const before = plaintextSeenFromChanges(changes, { ownMs: [], publishedMs: [s(64)] }, s(10), s(100), SEEN);
    expect(before).to.deep.equal({ windowTcp: 0, lastSeenMs: s(10), rememberMs: s(10), pendingTcp: 1 });
    const after = plaintextSeenFromChanges(changes, { ownMs: [], publishedMs: [s(64), s(94)] }, before.rememberMs, s(105), SEEN);
    expect(after).to.deep.equal({ windowTcp: 0, lastSeenMs: s(10), rememberMs: s(10), pendingTcp: 0 });
    // Had no record come, the count is judged once it is older than the settle time.
    const late = plaintextSeenFromChanges(changes, { ownMs: [], publishedMs: [s(64)] }, s(10), s(110), SEEN);
    expect(late).to.deep.equal({ windowTcp: 1, lastSeenMs: s(95), rememberMs: s(95), pendingTcp: 0 });
  });

  it('where Prometheus covered the window, its changes replace a remembered time inside it (an old own dial)', () => {
    const own = [s(60)];
    const changes = [{ atMs: s(61), n: 1 }];
    // A state file from an older version remembered its own dial at 61 s as a plaintext client.
    const covered = plaintextSeenFromChanges(changes, { ownMs: own, publishedMs: [] }, s(61), s(100), SEEN, s(10));
    expect(covered).to.deep.equal({ windowTcp: 0, lastSeenMs: null, rememberMs: null, pendingTcp: 0 });
    // Not covered (Prometheus has a gap): the remembered time stands.
    const gap = plaintextSeenFromChanges(changes, { ownMs: own, publishedMs: [] }, s(61), s(100), SEEN, null);
    expect(gap.lastSeenMs).to.equal(s(61));
    // A remembered time from before the covered range stands too.
    const older = plaintextSeenFromChanges(changes, { ownMs: own, publishedMs: [] }, s(5), s(100), SEEN, s(10));
    expect(older.lastSeenMs).to.equal(s(5));
  });

  it('with peers, two young counts are never held back', () => {
    const changes = [
      { atMs: s(95), n: 1 },
      { atMs: s(97), n: 1 },
    ];
    const seen = plaintextSeenFromChanges(changes, { ownMs: [], publishedMs: [s(64)] }, null, s(100), SEEN);
    expect(seen.windowTcp).to.equal(2);
  });

  it('a peer’s dial announced ahead is never last seen, however late its record comes within the bound', () => {
    // The peer announced a dial at 60 s; it dialled at 70 s (its collection ran late), Gitaly's
    // counter showed it at 72 s, and the dial's own record reaches Prometheus only at 100 s (load).
    const changes = [{ atMs: s(72), n: 1 }];
    const waiting = { ownMs: [], publishedMs: [s(30)], plannedMs: [s(60)] };
    for (const at of [75, 85, 95]) {
      const seen = plaintextSeenFromChanges(changes, waiting, null, s(at), SEEN);
      expect(seen, `at ${at} s`).to.deep.equal({ windowTcp: 0, lastSeenMs: null, rememberMs: null, pendingTcp: 1 });
    }
    // The record arrives: the dial explains the count for good.
    const recorded = plaintextSeenFromChanges(changes, { ...waiting, publishedMs: [s(30), s(70)] }, null, s(100), SEEN);
    expect(recorded).to.deep.equal({ windowTcp: 0, lastSeenMs: null, rememberMs: null, pendingTcp: 0 });
    // No record by plan + late + record delay (96 s): the count is a client after all.
    const lateRecord = plaintextSeenFromChanges(changes, waiting, null, s(97), SEEN);
    expect(lateRecord).to.deep.equal({ windowTcp: 1, lastSeenMs: s(72), rememberMs: s(72), pendingTcp: 0 });
  });

  it('a Gitaly restart announces every peer’s re-check: its count waits for the peer’s record, however late within the bound', () => {
    // Gitaly restarted at 60 s; this exporter re-checked at 61 s (its own dial explains the change
    // at 62 s), the peer at 70 s, whose record reaches Prometheus late.
    const changes = [
      { atMs: s(62), n: 1 },
      { atMs: s(72), n: 1 },
    ];
    const dials = { ownMs: [s(61)], publishedMs: [s(30)], restartsMs: [s(60)] };
    const waiting = plaintextSeenFromChanges(changes, dials, null, s(90), SEEN);
    expect(waiting).to.deep.equal({ windowTcp: 0, lastSeenMs: null, rememberMs: null, pendingTcp: 1 });
    const recorded = plaintextSeenFromChanges(changes, { ...dials, publishedMs: [s(30), s(70)] }, null, s(90), SEEN);
    expect(recorded).to.deep.equal({ windowTcp: 0, lastSeenMs: null, rememberMs: null, pendingTcp: 0 });
    // No record by the bound: a client after all. And without peers nothing is held.
    expect(plaintextSeenFromChanges(changes, dials, null, s(97), SEEN).windowTcp).to.equal(1);
    expect(plaintextSeenFromChanges(changes, { ...dials, publishedMs: [] }, null, s(90), SEEN).windowTcp).to.equal(1);
  });

  it('an announced dial holds back one count only, and none of a change outside its reach', () => {
    const plan = { ownMs: [], publishedMs: [], plannedMs: [s(60)] };
    // A client in the same change as the peer's dial: one of the two counts.
    expect(plaintextSeenFromChanges([{ atMs: s(72), n: 2 }], plan, null, s(80), SEEN).windowTcp).to.equal(1);
    // A change before the plan, or past its reach (60 + 16 + 9 s), is no dial of it.
    expect(plaintextSeenFromChanges([{ atMs: s(50), n: 1 }], plan, null, s(80), SEEN).windowTcp).to.equal(1);
    expect(plaintextSeenFromChanges([{ atMs: s(86), n: 1 }], plan, null, s(90), SEEN).windowTcp).to.equal(1);
    // A plan a dial done already answered (this exporter's own at 61 s, say) holds nothing more.
    const answered = plaintextSeenFromChanges(
      [
        { atMs: s(62), n: 1 },
        { atMs: s(64), n: 1 },
      ],
      { ownMs: [s(61)], publishedMs: [], plannedMs: [s(60)] },
      null,
      s(80),
      SEEN,
    );
    expect(answered.windowTcp).to.equal(1);
  });

  it('a remembered last seen is never moved back, and own dials never become last seen', () => {
    const own = [s(30), s(60), s(90)];
    const changes = own.map((d) => ({ atMs: d + 1_500, n: 1 }));
    const seen = plaintextSeenFromChanges(changes, { ownMs: own, publishedMs: [] }, s(12), s(200), SEEN);
    expect(seen).to.deep.equal({ windowTcp: 0, lastSeenMs: s(12), rememberMs: s(12), pendingTcp: 0 });
  });
});
