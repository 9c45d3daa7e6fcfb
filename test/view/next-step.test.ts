import { expect } from 'chai';
import { REASON_TEXT, type Phase, type Reason } from '../../src/migration/types.ts';
import { duration, nextStep, type NextStepInput } from '../../src/view/next-step.ts';
import type { SourceView } from '../../src/view/node-view.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const H = 3_600_000;
const DAY = 24 * H;

function soak(over: Partial<NextStepInput['soak']> = {}): NextStepInput['soak'] {
  return { windowMs: 7 * DAY, observedForMs: 10 * DAY, plaintextLastSeenMs: null, coverage: null, projectedSafe: { atMs: NOW }, ...over };
}

function input(phase: Phase, reasons: Reason[], over: Partial<NextStepInput> = {}): NextStepInput {
  return {
    phase,
    reasons: reasons.map((reason) => ({ reason, text: REASON_TEXT[reason] })),
    sources: [],
    soak: soak({ observedForMs: 10 * DAY }),
    certExpiry: { atMs: NOW + 80 * DAY, days: 80 },
    ...over,
  };
}

describe('next step', () => {
  it('formats durations with the two largest units', () => {
    expect(duration(7 * DAY + 2 * H + 59_000)).to.equal('7d 2h');
    expect(duration(3 * 60_000 + 5_000)).to.equal('3 min');
    expect(duration(2 * H + 30 * 60_000)).to.equal('2h 30min');
    expect(duration(-5)).to.equal('0 s');
  });

  it('says listen_addr may go, with how long no plaintext client connected', () => {
    const v = input('tls_only_traffic', ['plaintext_listener_open'], {
      soak: soak({ observedForMs: 30 * DAY, plaintextLastSeenMs: NOW - 7 * DAY - 2 * H }),
    });
    expect(nextStep(v, NOW)).to.equal('Safe to remove listen_addr (no plaintext client for 7d 2h).');
  });

  it('counts from the start of observation when no plaintext client was ever seen', () => {
    expect(nextStep(input('tls_only_traffic', ['plaintext_listener_open']), NOW)).to.equal(
      'Safe to remove listen_addr (no plaintext client for 10d).',
    );
  });

  it('asks for a restart when the file on disk differs from the served certificate', () => {
    const v = input('dual_listen', ['restart_needed', 'plaintext_listener_open']);
    expect(nextStep(v, NOW)).to.equal('Restart Gitaly to load the renewed certificate.');
  });

  it('points at a recent plaintext client before anything about listen_addr', () => {
    const v = input('dual_listen', ['plaintext_connections_in_window', 'plaintext_listener_open'], {
      soak: soak({ plaintextLastSeenMs: NOW - 3 * 60_000, projectedSafe: { atMs: NOW - 3 * 60_000 + 7 * DAY } }),
    });
    expect(nextStep(v, NOW)).to.equal(
      'Plaintext client seen 3 min ago. If it has moved to TLS, the soak window is clean at 2026-12-02T11:57:00.000Z (in 6d 23h) unless another connects; if not, find it first.',
    );
  });

  it('reads unknown, naming the source and its error, when a source is down', () => {
    const sources: SourceView[] = [
      { source: 'tls', up: true, error: null },
      { source: 'prometheus', up: false, error: { code: 'TIMEOUT', message: 'No answer from Prometheus within 5000 ms.' } },
    ];
    const v = input('unknown', ['source_down', 'plaintext_listener_open'], { sources });
    expect(nextStep(v, NOW)).to.equal('Unknown: Prometheus did not answer (No answer from Prometheus within 5000 ms).');
  });

  it('says how far through the soak window a young node is', () => {
    const v = input('dual_listen', ['insufficient_history', 'plaintext_listener_open'], {
      soak: soak({ observedForMs: 2 * DAY + 3 * H }),
    });
    expect(nextStep(v, NOW)).to.equal('Wait: observed for 2d 3h of the 7d soak window.');
  });

  it('never says observed for longer than the window: names the gap in Prometheus’ scrapes instead', () => {
    const gap = input('tls_only_traffic', ['insufficient_history'], { soak: soak({ observedForMs: 9 * DAY, coverage: 0.974 }) });
    expect(nextStep(gap, NOW)).to.equal(
      'Wait: Prometheus scraped this node for 97.4% of the 7d soak window; it is covered once the gap has passed out of the window (within 7d).',
    );
    const signal = input('dual_listen', ['insufficient_history'], { soak: soak({ observedForMs: 9 * DAY }) });
    expect(nextStep(signal, NOW)).to.equal(
      'Wait: the whole soak window was watched, but its counts are not evidence yet (the details say what is missing).',
    );
  });

  it('puts a broken TLS listener before traffic, and says done when complete', () => {
    const broken = input('dual_listen', ['plaintext_connections_in_window', 'hostname_mismatch']);
    expect(nextStep(broken, NOW)).to.equal(`Fix the TLS listener before moving clients: ${REASON_TEXT.hostname_mismatch}`);
    const refused = { code: 'CONNECT' as const, message: 'Could not connect to g1:9999 (ECONNREFUSED).' };
    const noHandshake = input('dual_listen', ['tls_handshake_failed'], { sources: [{ source: 'tls', up: false, error: refused }] });
    expect(nextStep(noHandshake, NOW)).to.equal(
      `Fix the TLS listener before moving clients: ${REASON_TEXT.tls_handshake_failed} (${refused.message})`,
    );
    expect(nextStep(input('complete', []), NOW)).to.match(/^Done:/);
  });
});
