// The view presents the verdict's settled facts beside what a person needs (next step, soak
// progress, chart), and judges nothing itself.
import { expect } from 'chai';
import { emptyHistory } from '../../src/migration/types.ts';
import { judgeNode } from '../../src/migration/verdict.ts';
import { nodeView } from '../../src/view/node-view.ts';
import { completeEvidence, NOW, OPTIONS, plaintextClosed, WINDOW } from '../helpers/evidence.ts';
import { fakeNodeConfig } from '../helpers/fake-gitaly.ts';

const CHECK = 3_600_000;
const options = {
  nowMs: NOW,
  soakWindowMs: WINDOW,
  expiryWarningMs: OPTIONS.expiryWarningMs,
  bucketMs: OPTIONS.bucketMs,
  plaintextCheckIntervalMs: CHECK,
};

describe('the node view', () => {
  it('shows the verdict’s facts as they are: checks, expiry, sources, certificates', () => {
    const e = completeEvidence();
    const verdict = judgeNode(e, OPTIONS);
    const v = nodeView({ node: fakeNodeConfig('gitaly-1'), verdict, history: e.history, instance: 'gitaly-1:9236' }, options);
    expect(v.checks).to.equal(verdict.facts.checks);
    expect(v.certExpiry).to.equal(verdict.facts.certExpiry);
    expect(v.sources).to.equal(verdict.facts.sources);
    expect(v.tls).to.equal(verdict.facts.tls);
    expect(v.phase).to.equal(verdict.phase);
  });

  it('announces the next own dial of listen_addr one interval after the last, and none when the last check dialled nothing', () => {
    const dialled = plaintextClosed({ open: true, atMs: NOW - 60_000, connectionsMade: { tcp: 1, tls: 1 } });
    const e = completeEvidence({ name: 'gitaly-7', plaintext: dialled });
    const history = { ...e.history, lastPlaintextProbe: dialled };
    const v = nodeView({ node: fakeNodeConfig('gitaly-7'), verdict: judgeNode(e, OPTIONS), history, instance: null }, options);
    expect(v.nextOwnDialMs).to.equal(NOW - 60_000 + CHECK);
    const refused = { ...dialled, connectionsMade: { tcp: 0, tls: 1 } };
    const quiet = nodeView(
      {
        node: fakeNodeConfig('gitaly-7'),
        verdict: judgeNode(e, OPTIONS),
        history: { ...history, lastPlaintextProbe: refused },
        instance: null,
      },
      options,
    );
    expect(quiet.nextOwnDialMs).to.equal(null);
  });

  it('says why there is no chart when the exporter does not scrape the node itself', () => {
    const e = completeEvidence({ scrape: null, history: emptyHistory() });
    const v = nodeView(
      { node: fakeNodeConfig('gitaly-1', { metricsUrl: undefined }), verdict: judgeNode(e, OPTIONS), history: e.history, instance: null },
      options,
    );
    expect(v.chart.why).to.contain('no metrics_url is configured');
  });
});
