import { expect } from 'chai';
import { judgeFleet, judgeNode, type NodeEvidence, type NodeVerdict } from '../../src/migration/verdict.ts';
import { missedByChanges } from '../../src/migration/verdict.ts';
import { REASONS, TLS_BLOCKERS } from '../../src/migration/types.ts';
import { cert, completeEvidence, coveredHistory, DAY, NOW, OPTIONS, plaintextClosed, tlsOk, WINDOW } from '../helpers/evidence.ts';

function judge(overrides: Partial<NodeEvidence> = {}): NodeVerdict {
  return judgeNode(completeEvidence(overrides), OPTIONS);
}

const promOk = (tcp: number, tls: number, coverage = 1, own = { tcp: 0, tls: 0 }): NodeEvidence['prometheus'] => ({
  ok: true,
  windowStartMs: NOW - WINDOW,
  windowEndMs: NOW,
  own,
  node: {
    instance: 'gitaly-1:9236',
    windowIncrease: { tcp, tls },
    coverage,
    processStartCoverage: coverage,
    exportersTls: 0,
    tcpLastChangeMs: null,
  },
});

/** A reason that keeps the node from tls_only_traffic because of its TLS listener. */
const tlsBlocked = (v: NodeVerdict): boolean => v.reasons.some((r) => (TLS_BLOCKERS as readonly string[]).includes(r));

describe('migration verdict: a node', () => {
  it('is complete when history covers the window, TLS is healthy and listen_addr refuses connections', () => {
    const v = judge();
    expect(v.phase).to.equal('complete');
    expect(v.reasons).to.deep.equal([]);
    expect(tlsBlocked(v)).to.be.false;
    expect(v.window).to.deep.equal({ tcp: 0, tls: 120, source: 'direct' });
  });

  it('is tls_only_traffic while listen_addr still accepts connections, and says so', () => {
    const v = judge({ plaintext: plaintextClosed({ open: true }) });
    expect(v.phase).to.equal('tls_only_traffic');
    expect(v.reasons).to.deep.equal(['plaintext_listener_open']);
  });

  it('is never tls_only_traffic or complete with a plaintext connection in the window', () => {
    for (const plaintext of [plaintextClosed(), plaintextClosed({ open: true })]) {
      const v = judge({ plaintext, history: coveredHistory({ plaintextLastSeenMs: NOW - DAY }) });
      // Both listeners open: dual listen. listen_addr closed since: past it, but not complete.
      expect(v.phase).to.equal(plaintext.open ? 'dual_listen' : 'unknown');
      expect(v.reasons).to.include('plaintext_connections_in_window');
    }
  });

  it('a TLS listener never seen up is not configured yet (plaintext_only, the start of the migration), not failed', () => {
    const refused = tlsOk({
      handshakeOk: false,
      error: { code: 'CONNECT', message: 'Could not connect to gitaly-1:9999 (ECONNREFUSED).' },
      chain: [],
      trusted: null,
      hostnameMatch: null,
      alpnProtocol: null,
      tlsVersion: null,
      connectionsMade: 0,
    });
    const v = judge({ history: coveredHistory({ tlsLastUpMs: null, plaintextLastSeenMs: NOW - 60_000 }), tls: refused });
    expect(v.phase).to.equal('plaintext_only');
    expect(v.reasons).to.include('tls_not_configured');
    expect(v.reasons).not.to.include('tls_handshake_failed');
    expect(v.details.join(' ')).to.contain(
      'has never completed a handshake (Could not connect to gitaly-1:9999 (ECONNREFUSED)): configure tls_listen_addr',
    );
    // Something that accepts and never completes a handshake is a broken listener, seen up or not.
    const silent = judge({
      history: coveredHistory({ tlsLastUpMs: null }),
      tls: { ...refused, connectionsMade: 1, error: { code: 'TIMEOUT', message: 'no handshake within 5000 ms.' } },
    });
    expect(silent.reasons).to.include('tls_handshake_failed');
    // Once it has worked, the same failure is a broken listener.
    const broken = judge({ history: coveredHistory({ plaintextLastSeenMs: NOW - 60_000 }), tls: refused });
    expect(broken.reasons).to.include('tls_handshake_failed');
    expect(broken.reasons).not.to.include('tls_not_configured');
  });

  it('is plaintext_only when plaintext is used and TLS does not answer', () => {
    const v = judge({
      plaintext: plaintextClosed({ open: true }),
      history: coveredHistory({ plaintextLastSeenMs: NOW - 60_000 }),
      tls: tlsOk({
        handshakeOk: false,
        error: { code: 'CONNECT', message: 'connection refused' },
        chain: [],
        trusted: null,
        hostnameMatch: null,
        alpnProtocol: null,
        tlsVersion: null,
      }),
    });
    expect(v.phase).to.equal('plaintext_only');
    expect(v.reasons).to.include.members(['plaintext_connections_in_window', 'tls_handshake_failed']);
  });

  it('says insufficient_history and is not complete while observation does not cover the window', () => {
    const v = judge({ history: coveredHistory({ firstObservedMs: NOW - 2 * DAY, plaintextLastSeenMs: null }) });
    expect(v.phase).to.equal('unknown');
    expect(v.reasons).to.deep.equal(['insufficient_history']);
    expect(v.window).to.equal(null);
  });

  it('is unknown, not complete, when the only source of traffic evidence is down and nothing was observed', () => {
    const v = judge({
      history: coveredHistory({ firstObservedMs: null, plaintextLastSeenMs: null }),
      scrape: { ok: false, error: { code: 'CONNECT', message: 'connection refused' }, durationMs: 1 },
    });
    expect(v.phase).to.equal('unknown');
    expect(v.reasons).to.include('source_down');
    expect(v.facts.sources.filter((s) => !s.up).map((s) => s.source)).to.deep.equal(['gitaly_metrics']);
  });

  it('blocks on source_down when Prometheus is configured and does not answer', () => {
    const v = judge({ prometheus: { ok: false, error: { code: 'CONNECT', message: 'Prometheus: connection refused' } } });
    expect(v.phase).to.not.be.oneOf(['tls_only_traffic', 'complete']);
    expect(v.reasons).to.include('source_down');
    expect(v.details.join(' ')).to.contain('connection refused');
  });

  it('says no_traffic_evidence for a node with neither metrics_url nor Prometheus', () => {
    const v = judge({ scrape: null, history: coveredHistory({ firstObservedMs: null, plaintextLastSeenMs: null }) });
    expect(v.phase).to.equal('unknown');
    expect(v.reasons).to.include('no_traffic_evidence');
  });

  describe('with Prometheus', () => {
    it('is complete with a covered window and no plaintext', () => {
      const v = judge({ prometheus: promOk(0, 400) });
      expect(v.phase).to.equal('complete');
      expect(v.window).to.deep.equal({ tcp: 0, tls: 400, source: 'prometheus' });
    });

    it('subtracts the exporter’s own connections before deciding', () => {
      const v = judge({ prometheus: promOk(3.05, 400, 1, { tcp: 3, tls: 50 }) });
      expect(v.phase).to.equal('complete');
      expect(v.window).to.deep.equal({ tcp: 0, tls: 350, source: 'prometheus' });
    });

    it('counts what is left after subtracting own connections as plaintext use', () => {
      const v = judge({ prometheus: promOk(4.1, 400, 1, { tcp: 3, tls: 0 }) });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.include('plaintext_connections_in_window');
      expect(v.window?.tcp).to.equal(1);
    });

    it('says insufficient_history when the node was not scraped for the whole window', () => {
      const v = judge({ prometheus: promOk(0, 400, 0.6) });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.deep.equal(['insufficient_history']);
      expect(v.coverage).to.equal(0.6);
    });

    it('says insufficient_history, naming the fix, when Prometheus does not keep process_start_time_seconds for the window', () => {
      for (const share of [0, 0.5]) {
        const prometheus = promOk(0, 400);
        if (!prometheus?.ok || !prometheus.node) throw new Error('fixture');
        prometheus.node.processStartCoverage = share;
        const v = judge({ prometheus, scrape: null });
        expect(v.phase, String(share)).to.equal('unknown');
        expect(v.reasons).to.deep.equal(['insufficient_history']);
        expect(v.details.join(' ')).to.contain('keep process_start_time_seconds for the Gitaly job');
      }
    });

    it('says insufficient_history when Prometheus has no data for the node at all', () => {
      const prometheus: NodeEvidence['prometheus'] = {
        ok: true,
        windowStartMs: NOW - WINDOW,
        windowEndMs: NOW,
        own: { tcp: 0, tls: 0 },
        node: null,
      };
      const v = judge({ prometheus, scrape: null });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.include('insufficient_history');
    });

    it('still blocks on plaintext the direct scrape saw, even when Prometheus shows none', () => {
      const v = judge({ prometheus: promOk(0, 400), history: coveredHistory({ plaintextLastSeenMs: NOW - 3_600_000 }) });
      expect(v.phase).to.equal('unknown');
    });
  });

  describe('direct scrapes alone are evidence only when the counter is known to count plaintext', () => {
    const untested = { canary: null };
    it('a counter never seen counting a plaintext dial of ours blocks while listen_addr may have been open in the window', () => {
      for (const listenerClosedSinceMs of [null, NOW - WINDOW + 60_000]) {
        const v = judge({ history: coveredHistory({ ...untested, listenerClosedSinceMs }) });
        expect(v.phase, String(listenerClosedSinceMs)).to.equal('unknown');
        expect(v.reasons).to.deep.equal(['insufficient_history']);
        expect(v.details.join(' ')).to.include('has not yet been seen counting a plaintext connection');
      }
    });

    it('the same counter is evidence once listen_addr was seen closed for the whole window', () => {
      const v = judge({ history: coveredHistory({ ...untested, listenerClosedSinceMs: NOW - WINDOW - 60_000 }) });
      expect(v.phase).to.equal('complete');
    });

    it('a page without process_start_time_seconds is no evidence: a restart its counters hide hides its clients too', () => {
      const v = judge({ history: coveredHistory({ processStartSeconds: null }) });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.deep.equal(['insufficient_history']);
      expect(v.details.join(' ')).to.include('no process_start_time_seconds');
    });
  });

  describe('local socket evidence', () => {
    it('blocks on established plaintext connections even with no new ones in the window', () => {
      const v = judge({ sockets: { ok: true, established: { tcp: 2, tls: 30 } } });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.deep.equal(['plaintext_established']);
      expect(v.establishedPlaintext).to.equal(2);
    });

    it('does not block when no plaintext connection is established', () => {
      expect(judge({ sockets: { ok: true, established: { tcp: 0, tls: 30 } } }).phase).to.equal('complete');
    });

    it('blocks with source_down when /proc cannot be read', () => {
      const v = judge({ sockets: { ok: false, error: { code: 'READ', message: 'cannot read /proc/net/tcp' } } });
      expect(v.reasons).to.deep.equal(['source_down']);
      expect(v.phase).to.equal('unknown');
    });
  });

  describe('TLS health blocks tls_only_traffic and complete', () => {
    const cases: Array<[string, Partial<NodeEvidence>, string]> = [
      ['no tls_address', { tlsAddress: null, tls: null }, 'tls_not_configured'],
      [
        'a failed handshake',
        {
          tls: tlsOk({
            handshakeOk: false,
            error: { code: 'TIMEOUT', message: 'no handshake within 5 s' },
            chain: [],
            trusted: null,
            hostnameMatch: null,
            alpnProtocol: null,
          }),
        },
        'tls_handshake_failed',
      ],
      ['an untrusted chain', { tls: tlsOk({ trusted: false, trustError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }) }, 'cert_untrusted'],
      ['a SAN that does not name the address', { tls: tlsOk({ hostnameMatch: false }) }, 'hostname_mismatch'],
      ['no ALPN h2', { tls: tlsOk({ alpnProtocol: null }) }, 'alpn_not_h2'],
      [
        'a handshake after which gRPC fails (client certificate demanded, reset)',
        { tls: tlsOk({ grpcHealthOk: false, grpcHealthError: { code: 'GRPC_HEALTH', message: 'reset after the handshake' } }) },
        'grpc_health_failed',
      ],
      ['a leaf expiring in 10 days', { tls: tlsOk({ chain: [cert({ notAfterMs: NOW + 10 * DAY })] }) }, 'cert_expiring'],
      [
        'an intermediate expiring in 10 days',
        { tls: tlsOk({ chain: [cert(), cert({ position: 'intermediate', notAfterMs: NOW + 10 * DAY })] }) },
        'cert_expiring',
      ],
      [
        'an expired leaf',
        { tls: tlsOk({ trusted: false, trustError: 'CERT_HAS_EXPIRED', chain: [cert({ notAfterMs: NOW - DAY })] }) },
        'cert_expired',
      ],
      [
        'a leaf not valid yet',
        { tls: tlsOk({ trusted: false, trustError: 'CERT_NOT_YET_VALID', chain: [cert({ notBeforeMs: NOW + DAY })] }) },
        'cert_expired',
      ],
      [
        'a renewed file not loaded',
        { certFile: { ok: true, path: '/etc/gitlab/ssl/gitaly.crt', chain: [cert({ sha256: 'bb'.repeat(32) })], matchesServed: false } },
        'restart_needed',
      ],
    ];
    for (const [what, overrides, reason] of cases) {
      it(`${what} → ${reason}`, () => {
        const v = judge(overrides);
        expect(v.reasons).to.include(reason);
        expect(v.phase).to.not.be.oneOf(['tls_only_traffic', 'complete']);
        expect(tlsBlocked(v)).to.be.true;
      });
    }

    it('an expired certificate is cert_expired, not also cert_untrusted', () => {
      const v = judge({ tls: tlsOk({ trusted: false, trustError: 'CERT_HAS_EXPIRED', chain: [cert({ notAfterMs: NOW - DAY })] }) });
      expect(v.reasons).to.not.include('cert_untrusted');
    });

    it('reports the soonest expiry across the chain', () => {
      const v = judge({
        tls: tlsOk({ chain: [cert({ notAfterMs: NOW + 100 * DAY }), cert({ position: 'intermediate', notAfterMs: NOW + 40 * DAY })] }),
      });
      expect(v.facts.certExpiry.atMs).to.equal(NOW + 40 * DAY);
    });

    it('judges the expiry of a trust anchor the server did not send, and says it came from the CA bundle', () => {
      const anchor = cert({ position: 'root', sent: false, subject: 'CN=Test CA', notAfterMs: NOW + 10 * DAY });
      const v = judge({ tls: tlsOk({ chain: [cert({ sent: true }), anchor] }) });
      expect(v.reasons).to.include('cert_expiring');
      expect(v.facts.certExpiry.atMs).to.equal(NOW + 10 * DAY);
      expect(v.details).to.include(
        `root from the CA bundle (not sent by the server) CN=Test CA expires ${new Date(NOW + 10 * DAY).toISOString()}`,
      );
    });

    it('a certificate file that cannot be read is source_down, not a pass', () => {
      const v = judge({ certFile: { ok: false, error: { code: 'CERT_FILE', message: 'cannot read /x.crt' } } });
      expect(v.reasons).to.include('source_down');
      expect(v.phase).to.equal('unknown');
    });
  });

  describe('the plaintext listener', () => {
    it('without plaintext_address is unknown and blocks complete only', () => {
      const v = judge({ plaintextAddress: null, plaintext: null });
      expect(v.phase).to.equal('tls_only_traffic');
      expect(v.reasons).to.deep.equal(['plaintext_listener_unknown']);
    });

    it('declared removed (plaintext_address: none) completes; a missing key says how to declare it', () => {
      const removed = judge({ plaintextAddress: null, plaintextListenerRemoved: true, plaintext: null });
      expect(removed.phase).to.equal('complete');
      expect(removed.reasons).to.deep.equal([]);
      expect(removed.facts.checks.plaintextListenerOpen.value).to.equal(false);
      const missing = judge({ plaintextAddress: null, plaintext: null });
      expect(missing.phase).to.equal('tls_only_traffic');
      expect(missing.details.join(' ')).to.contain('plaintext_address: none');
    });

    it('declared removed still needs clean traffic: plaintext in the window keeps it from complete', () => {
      const v = judge({
        plaintextAddress: null,
        plaintextListenerRemoved: true,
        plaintext: null,
        history: coveredHistory({ plaintextLastSeenMs: NOW - 1_000 }),
      });
      expect(v.phase).to.equal('unknown');
      expect(v.reasons).to.include('plaintext_connections_in_window');
    });

    it('not checked yet, or inconclusive, is unknown', () => {
      expect(judge({ plaintext: null }).reasons).to.deep.equal(['plaintext_listener_unknown']);
      const v = judge({ plaintext: plaintextClosed({ open: null, error: { code: 'TIMEOUT', message: 'no answer within 5 s' } }) });
      expect(v.phase).to.equal('tls_only_traffic');
      expect(v.details.join(' ')).to.contain('no answer within 5 s');
    });
  });

  it('every reason the engine emits is in the published list', () => {
    const all = new Set<string>(REASONS);
    const v = judge({
      plaintextAddress: null,
      history: coveredHistory({ plaintextLastSeenMs: NOW }),
      tls: tlsOk({ trusted: false, hostnameMatch: false, alpnProtocol: null, chain: [cert({ notAfterMs: NOW + DAY })] }),
      sockets: { ok: true, established: { tcp: 1, tls: 0 } },
    });
    for (const r of v.reasons) expect(all.has(r), r).to.be.true;
  });
});

describe('migration verdict: the fleet', () => {
  const node = (name: string, phase: NodeVerdict['phase']): NodeVerdict => ({ ...judge(), node: name, phase });

  it('is complete only when every node is complete and Prometheus sees no undeclared node', () => {
    expect(judgeFleet([node('a', 'complete'), node('b', 'complete')], [], true).complete).to.be.true;
    const f = judgeFleet([node('a', 'complete'), node('b', 'tls_only_traffic')], [], true);
    expect(f.complete).to.be.false;
    expect(f.phase).to.equal('tls_only_traffic');
    expect(f.blocking).to.deep.equal(['1 of 2 node(s) not complete: b']);
  });

  it('an undeclared node seen in Prometheus blocks the fleet', () => {
    const f = judgeFleet([node('a', 'complete')], ['gitaly-9:9236'], true);
    expect(f.complete).to.be.false;
    expect(f.undeclaredInstances).to.deep.equal(['gitaly-9:9236']);
    expect(f.blocking[0]).to.contain('gitaly-9:9236');
  });

  it('Prometheus down blocks the fleet: undeclared nodes cannot be ruled out', () => {
    expect(judgeFleet([node('a', 'complete')], [], false).complete).to.be.false;
  });

  it('an empty configuration is not a complete fleet', () => {
    const f = judgeFleet([], [], null);
    expect(f.complete).to.be.false;
    expect(f.phase).to.equal('unknown');
  });

  it('the least advanced node gives the fleet phase, unknown being least', () => {
    expect(judgeFleet([node('a', 'complete'), node('b', 'unknown'), node('c', 'plaintext_only')], [], null).phase).to.equal('unknown');
    expect(judgeFleet([node('a', 'dual_listen'), node('b', 'plaintext_only')], [], null).nodesByPhase).to.include({
      dual_listen: 1,
      plaintext_only: 1,
    });
  });
});

describe('missedByChanges: counts the window total has and the change list lacks', () => {
  const node = (tcp: number, changes: Array<[number, number]>) => ({
    instance: 'g:9236',
    windowIncrease: { tcp, tls: 0 },
    coverage: 1,
    processStartCoverage: 1,
    exportersTls: 0,
    tcpLastChangeMs: null,
    tcpChanges: changes.map(([atMs, n]) => ({ atMs, n })),
  });

  it('a restart back at the same value (3 in the total, no change listed) is 3 clients', () => {
    expect(missedByChanges(node(3, []), 1000, 2000)).to.equal(3);
  });

  it('dials and clients listed as changes inside the window leave nothing over; changes outside do not count', () => {
    expect(
      missedByChanges(
        node(2.045, [
          [1500, 1],
          [1900, 1],
        ]),
        1000,
        2000,
      ),
    ).to.equal(0);
    expect(
      missedByChanges(
        node(2, [
          [900, 1],
          [1500, 1],
        ]),
        1000,
        2000,
      ),
    ).to.equal(1);
    expect(
      missedByChanges(
        node(1, [
          [1500, 1],
          [2100, 4],
        ]),
        1000,
        2000,
      ),
    ).to.equal(0);
  });
});
