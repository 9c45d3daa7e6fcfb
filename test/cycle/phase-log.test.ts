import { expect } from 'chai';
import pino from 'pino';
import { PhaseLog } from '../../src/cycle/phase-log.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { Phase, Reason } from '../../src/migration/types.ts';
import type { CollectionView } from '../../src/view/collection-view.ts';

type Line = { level: number; msg: string; node?: string; from?: string; to?: string; reasons?: string; next_step?: string };

function capture(): { lines: Line[]; log: PhaseLog } {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  return { lines, log: new PhaseLog(logger) };
}

/** Only the fields PhaseLog reads; the rest of a view does not matter here. */
function view(nodes: Array<{ node: string; phase: Phase; reasons?: Reason[]; nextStep?: string }>): CollectionView {
  return {
    nodes: nodes.map((n) => ({
      node: n.node,
      phase: n.phase,
      reasons: (n.reasons ?? []).map((reason) => ({ reason, text: '' })),
      nextStep: n.nextStep ?? 'Do the next thing.',
    })),
  } as unknown as CollectionView;
}

describe('phase log', () => {
  it('logs one info line when a node changes phase, with from, to, the reasons and the next step', () => {
    const { lines, log } = capture();
    log.logChanges(view([{ node: 'gitaly-1', phase: 'dual_listen', reasons: ['insufficient_history'] }]));
    expect(lines, 'the first collection is the baseline').to.deep.equal([]);
    log.logChanges(
      view([
        {
          node: 'gitaly-1',
          phase: 'tls_only_traffic',
          reasons: ['plaintext_listener_open'],
          nextStep: 'Safe to remove listen_addr (no plaintext client for 7d).',
        },
      ]),
    );
    expect(lines).to.have.length(1);
    expect(lines[0]).to.deep.include({
      level: 30,
      node: 'gitaly-1',
      from: 'dual_listen',
      to: 'tls_only_traffic',
      reasons: 'plaintext_listener_open',
      next_step: 'Safe to remove listen_addr (no plaintext client for 7d).',
      msg: 'gitaly-1: phase dual_listen → tls_only_traffic (plaintext_listener_open): Safe to remove listen_addr (no plaintext client for 7d).',
    });
  });

  it('stays quiet while a phase holds: a steady failure over 20 cycles logs once going in and once coming out', () => {
    const { lines, log } = capture();
    log.logChanges(
      view([
        { node: 'gitaly-1', phase: 'complete' },
        { node: 'gitaly-2', phase: 'complete' },
      ]),
    );
    for (let i = 0; i < 20; i++)
      log.logChanges(
        view([
          { node: 'gitaly-1', phase: 'unknown', reasons: ['source_down'] },
          { node: 'gitaly-2', phase: 'complete' },
        ]),
      );
    log.logChanges(
      view([
        { node: 'gitaly-1', phase: 'complete' },
        { node: 'gitaly-2', phase: 'complete' },
      ]),
    );
    expect(lines.map((l) => [l.node, l.from, l.to])).to.deep.equal([
      ['gitaly-1', 'complete', 'unknown'],
      ['gitaly-1', 'unknown', 'complete'],
    ]);
  });

  it('forgets a node that leaves the view, so its return is a new baseline', () => {
    const { lines, log } = capture();
    log.logChanges(view([{ node: 'gitaly-1', phase: 'dual_listen' }]));
    log.logChanges(view([]));
    log.logChanges(view([{ node: 'gitaly-1', phase: 'complete' }]));
    expect(lines).to.deep.equal([]);
  });
});

describe('phase log, as the process writes it', () => {
  it('is one logfmt line with time, level, the message, and from, to, reasons and next_step as fields', () => {
    const lines: string[] = [];
    const log = new PhaseLog(createLogger({ level: 'info', format: 'logfmt', destination: { write: (s: string) => void lines.push(s) } }));
    log.logChanges(view([{ node: 'gitaly-1', phase: 'dual_listen' }]));
    log.logChanges(view([{ node: 'gitaly-1', phase: 'complete', nextStep: 'Done: the plaintext listener is closed.' }]));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(
      /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg="gitaly-1: phase dual_listen → complete: Done: the plaintext listener is closed\." node=gitaly-1 from=dual_listen to=complete reasons="" next_step="Done: the plaintext listener is closed\."\n$/,
    );
  });
});
