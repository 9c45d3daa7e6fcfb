import { expect } from 'chai';
import pino from 'pino';
import { FailureLog, type FailureSubject } from '../../src/cycle/failure-log.ts';

type Line = { level: number; msg: string; node?: string; source?: string; code?: string; previous_code?: string; since?: string };

const T0 = Date.UTC(2026, 10, 30, 8);
const CYCLE_MS = 30_000;
const MIN = 60_000;
const TLS: FailureSubject = { key: 'gitaly-1\u0000tls', name: 'gitaly-1: tls', fields: { node: 'gitaly-1', source: 'tls' }, level: 'warn' };
const refused = { code: 'CONNECT', message: 'TLS connect to gitaly-1:9999 failed: connection refused.' };
const timeout = { code: 'TIMEOUT', message: 'TLS handshake with gitaly-1:9999 timed out after 5000 ms.' };

function capture(repeatMs?: number): { lines: Line[]; log: FailureLog } {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  return { lines, log: new FailureLog(logger, repeatMs) };
}

/** One collection every 30 s from `fromMs`, each reporting what `at(i)` says; returns the next time. */
function cycles(log: FailureLog, count: number, fromMs: number, at: (i: number) => { code: string; message: string } | null): number {
  let now = fromMs;
  for (let i = 0; i < count; i++) {
    log.update(TLS, at(i), now);
    log.sweep();
    now += CYCLE_MS;
  }
  return now;
}

describe('failure log', () => {
  it('logs a steady failure over 20 cycles once (no reminder within 15 min), and its recovery once', () => {
    const { lines, log } = capture();
    let now = cycles(log, 3, T0, () => null);
    expect(lines, 'a healthy source says nothing').to.deep.equal([]);
    now = cycles(log, 20, now, () => refused);
    expect(lines.map((l) => [l.level, l.msg, l.code])).to.deep.equal([
      [40, 'gitaly-1: tls failed: TLS connect to gitaly-1:9999 failed: connection refused.', 'CONNECT'],
    ]);
    expect(lines[0]).to.include({ node: 'gitaly-1', source: 'tls' });
    cycles(log, 5, now, () => null);
    expect(lines).to.have.length(2);
    expect(lines[1]).to.deep.include({
      level: 30,
      msg: 'gitaly-1: tls recovered after 10 min',
      node: 'gitaly-1',
      source: 'tls',
      previous_code: 'CONNECT',
      since: new Date(T0 + 3 * CYCLE_MS).toISOString(),
    });
  });

  it('reminds at most every repeat interval while a failure lasts: 40 cycles (20 min) log twice', () => {
    const { lines, log } = capture(15 * MIN);
    const start = T0;
    // The message changes every cycle (a count), the code does not: that is not a new failure.
    cycles(log, 40, start, (i) => ({ code: 'CONNECT', message: `connection refused (attempt ${i}).` }));
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'gitaly-1: tls failed: connection refused (attempt 0).',
      'gitaly-1: tls still failing after 15 min: connection refused (attempt 30).',
    ]);
    expect(lines[1]).to.include({ level: 40, code: 'CONNECT', since: new Date(start).toISOString() });
  });

  it('logs again when the error code changes, keeping when the failure began', () => {
    const { lines, log } = capture();
    const now = cycles(log, 4, T0, () => refused);
    cycles(log, 4, now, () => timeout);
    expect(lines.map((l) => [l.msg, l.code, l.previous_code])).to.deep.equal([
      ['gitaly-1: tls failed: TLS connect to gitaly-1:9999 failed: connection refused.', 'CONNECT', undefined],
      ['gitaly-1: tls failed: TLS handshake with gitaly-1:9999 timed out after 5000 ms.', 'TIMEOUT', 'CONNECT'],
    ]);
    expect(lines[1]!.since).to.equal(new Date(T0).toISOString());
  });

  it('an error sentence that names its subject is logged as it is (the state file), at the subject’s level', () => {
    const { lines, log } = capture();
    const state: FailureSubject = {
      key: 'state',
      name: null,
      recoveryName: 'state_file',
      fields: { source: 'state_file' },
      level: 'error',
    };
    log.update(state, { code: 'STATE_WRITE', message: 'cannot write state file /x/state.json: EACCES' }, T0);
    log.update(state, { code: 'STATE_WRITE', message: 'cannot write state file /x/state.json: EACCES' }, T0 + 16 * MIN);
    log.update(state, null, T0 + 17 * MIN);
    expect(lines.map((l) => [l.level, l.msg])).to.deep.equal([
      [50, 'cannot write state file /x/state.json: EACCES'],
      [50, 'still failing after 16 min: cannot write state file /x/state.json: EACCES'],
      [30, 'state_file recovered after 17 min'],
    ]);
  });

  it('forgets a subject that is no longer reported (a node that left), without a recovery line', () => {
    const { lines, log } = capture();
    log.update(TLS, refused, T0);
    log.sweep();
    log.sweep();
    log.update(TLS, null, T0 + MIN);
    log.update(TLS, refused, T0 + 2 * MIN);
    expect(lines.map((l) => l.msg)).to.deep.equal([
      'gitaly-1: tls failed: TLS connect to gitaly-1:9999 failed: connection refused.',
      'gitaly-1: tls failed: TLS connect to gitaly-1:9999 failed: connection refused.',
    ]);
  });
});
