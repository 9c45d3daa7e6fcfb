import { expect } from 'chai';
import { soakProgress, type SoakProgressInput } from '../../src/view/soak-progress.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const H = 3_600_000;
const DAY = 24 * H;
const WINDOW = 7 * DAY;

const input = (over: Partial<SoakProgressInput>): SoakProgressInput => ({
  windowMs: WINDOW,
  window: { source: 'direct' },
  coverage: null,
  observedSinceMs: NOW - 2 * DAY,
  plaintextLastSeenMs: null,
  establishedPlaintext: null,
  ...over,
});

describe('soak progress', () => {
  it('projects a clean node safe one window after observation started', () => {
    expect(soakProgress(input({}), NOW)).to.deep.equal({
      observedForMs: 2 * DAY,
      plaintextLastSeenAgeMs: null,
      projectedSafe: { atMs: NOW + 5 * DAY },
    });
  });

  it('restarts the window at the last plaintext connection', () => {
    const p = soakProgress(input({ observedSinceMs: NOW - 30 * DAY, plaintextLastSeenMs: NOW - 3 * 60_000 }), NOW);
    expect(p.plaintextLastSeenAgeMs).to.equal(3 * 60_000);
    expect(p.projectedSafe).to.deep.equal({ atMs: NOW - 3 * 60_000 + WINDOW });
  });

  it('keeps a time already past for a node observed longer than the window', () => {
    const p = soakProgress(input({ observedSinceMs: NOW - 30 * DAY, plaintextLastSeenMs: NOW - 10 * DAY }), NOW);
    expect(p.projectedSafe).to.deep.equal({ atMs: NOW - 3 * DAY });
  });

  it('counts Prometheus coverage as observation when direct scrapes have not started', () => {
    const p = soakProgress(input({ observedSinceMs: null, window: { source: 'prometheus' }, coverage: 0.5 }), NOW);
    expect(p.observedForMs).to.equal(WINDOW / 2);
    expect(p.projectedSafe).to.deep.equal({ atMs: NOW + WINDOW / 2 });
  });

  it('gives no projection, with the reason, while unobserved or while plaintext clients are connected', () => {
    const unobserved = soakProgress(input({ observedSinceMs: null, window: null }), NOW);
    expect(unobserved.observedForMs).to.equal(null);
    expect(unobserved.projectedSafe).to.deep.equal({ atMs: null, why: 'the node’s connection counts have not been observed yet' });
    const connected = soakProgress(input({ establishedPlaintext: 2 }), NOW);
    expect(connected.projectedSafe.atMs).to.equal(null);
    expect(connected.projectedSafe).to.have.property('why').that.contains('2 plaintext connection(s) are established right now');
  });
});
