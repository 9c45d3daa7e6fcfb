import { expect } from 'chai';
import { gateNode } from '../../src/report/node-gate.ts';

describe('check --node: may this node drop listen_addr?', () => {
  const node = (phase: string, ...reasons: string[]) => ({ node: 'gitaly-1', phase, reasons });
  const gate = (n: ReturnType<typeof node>) => gateNode([n], 'gitaly-1', []);

  it('yes at tls_only_traffic, though listen_addr is still open or unchecked: removing it is the next step', () => {
    for (const reasons of [[], ['plaintext_listener_open'], ['plaintext_listener_unknown']]) {
      const g = gate(node('tls_only_traffic', ...reasons));
      expect(g, reasons.join()).to.deep.include({ found: true, may: true });
    }
    expect(gate(node('tls_only_traffic', 'plaintext_listener_open')).line).to.equal(
      'gitaly-1: tls_only_traffic, it is safe to remove listen_addr (plaintext_listener_open)',
    );
  });

  it('yes at complete with nothing blocking: listen_addr is already removed', () => {
    expect(gate(node('complete'))).to.deep.equal({ found: true, may: true, line: 'gitaly-1: complete, listen_addr is removed' });
  });

  it('no before tls_only_traffic, naming the phase and what blocks', () => {
    for (const phase of ['plaintext_only', 'dual_listen', 'unknown']) {
      expect(gate(node(phase)), phase).to.deep.include({ found: true, may: false });
      expect(gate(node(phase, 'source_down')), phase).to.deep.include({ found: true, may: false });
    }
    expect(gate(node('dual_listen', 'plaintext_connections_in_window')).line).to.equal(
      'gitaly-1: dual_listen, not yet: keep listen_addr (plaintext_connections_in_window)',
    );
  });

  it('no when the verdict contradicts itself: tls_only_traffic with a traffic or TLS blocker, complete with any reason', () => {
    const cases = [
      node('tls_only_traffic', 'plaintext_listener_open', 'insufficient_history'),
      node('tls_only_traffic', 'plaintext_connections_in_window'),
      node('tls_only_traffic', 'cert_expired'),
      node('tls_only_traffic', 'identity_conflict'),
      node('tls_only_traffic', 'a_reason_of_a_newer_exporter'),
      node('complete', 'plaintext_listener_open'),
      node('complete', 'missing_from_inventory'),
    ];
    for (const c of cases) expect(gate(c), `${c.phase} ${c.reasons.join()}`).to.deep.include({ found: true, may: false });
    expect(gate(cases[0]!).line).to.equal(
      'gitaly-1: the verdict contradicts itself: phase tls_only_traffic, but it lists insufficient_history\n' +
        'gitaly-1: not yet (decided from the reasons listed): keep listen_addr',
    );
  });

  it('a name the fleet does not have: not found, and nobody can tell only when a source of the node list failed', () => {
    expect(gateNode([node('complete')], 'gitaly-9', [])).to.deep.equal({
      found: false,
      cannotTell: false,
      line: '"gitaly-9" is not a node of this fleet (1 node(s))',
    });
    expect(gateNode([node('complete')], 'gitaly-9', ['file_sd /etc/gitaly-targets.json'])).to.deep.equal({
      found: false,
      cannotTell: true,
      line: '"gitaly-9" is not among the 1 node(s) found, but a source of the node list failed (file_sd /etc/gitaly-targets.json): it may be one of them',
    });
  });
});
