import { expect } from 'chai';
import { REASON_TEXT, type Phase, type Reason } from '../../src/migration/types.ts';
import { duration, nextStep, type NextStepInput } from '../../src/view/next-step.ts';
import type { SourceView } from '../../src/view/node-view.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const H = 3_600_000;
const DAY = 24 * H;

function input(phase: Phase, reasons: Reason[], over: Partial<NextStepInput> = {}): NextStepInput {
  return {
    phase,
    reasons: reasons.map((reason) => ({ reason, text: REASON_TEXT[reason] })),
    sources: [],
    soak: { windowMs: 7 * DAY, observedForMs: 10 * DAY, plaintextLastSeenMs: null },
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
      soak: { windowMs: 7 * DAY, observedForMs: 30 * DAY, plaintextLastSeenMs: NOW - 7 * DAY - 2 * H },
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
      soak: { windowMs: 7 * DAY, observedForMs: 10 * DAY, plaintextLastSeenMs: NOW - 3 * 60_000 },
    });
    expect(nextStep(v, NOW)).to.equal('Plaintext client seen 3 min ago — find it before going further.');
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
      soak: { windowMs: 7 * DAY, observedForMs: 2 * DAY + 3 * H, plaintextLastSeenMs: null },
    });
    expect(nextStep(v, NOW)).to.equal('Wait: observed for 2d 3h of the 7d soak window.');
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
