// One cause, one code: a name that does not resolve is DNS whichever source meets it.
import { expect } from 'chai';
import net, { type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { Agent } from 'undici';
import { probePlaintext } from '../../src/probes/plaintext.ts';
import { probeTls } from '../../src/probes/tls.ts';
import { scrapeGitalyMetrics } from '../../src/sources/gitaly-metrics.ts';
import { instantQuery } from '../../src/sources/prometheus-client.ts';

/** The resolver's answer for any name: ENOTFOUND, as getaddrinfo gives it for an unknown host. */
const notFound: LookupFunction = (hostname, _options, callback) =>
  callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);

describe('error codes: one code per cause', () => {
  let agent: Agent;
  beforeEach(() => {
    agent = new Agent({ connect: { lookup: notFound } });
  });
  afterEach(() => agent.destroy());

  it('calls an unresolvable name DNS in the metrics scrape, the Prometheus client and both probes', async () => {
    const scrape = await scrapeGitalyMetrics(
      'http://gitaly-1.invalid:9236/metrics',
      { role: 'gitaly', timeoutMs: 5_000, maxBytes: 1_000_000 },
      { dispatcher: agent },
    );
    const prometheus = await instantQuery(
      { url: 'http://prometheus.invalid:9090', instanceLabel: 'instance' },
      'up',
      Date.now(),
      { timeoutMs: 5_000, maxBytes: 1_000_000 },
      { dispatcher: agent },
    );
    const tlsConnect = ((opts: tls.ConnectionOptions) => tls.connect({ ...opts, lookup: notFound })) as typeof tls.connect;
    const netConnect = ((opts: net.NetConnectOpts) =>
      net.connect({ ...(opts as net.TcpNetConnectOpts), lookup: notFound })) as typeof net.connect;
    const tlsResult = await probeTls(
      { node: 'gitaly-1', address: 'gitaly-1.invalid:9999' },
      { timeoutMs: 5_000, ca: undefined, checkVersions: false },
      { connect: tlsConnect },
    );
    const plaintext = await probePlaintext(
      { node: 'gitaly-1', plaintextAddress: 'gitaly-1.invalid:8075' },
      { timeoutMs: 5_000, grpcHealth: false, checkTlsPortRejectsPlaintext: false },
      { connect: netConnect },
    );
    const codes = [scrape, prometheus].map((r) => (r.ok ? 'ok' : r.error.code));
    expect(codes).to.deep.equal(['DNS', 'DNS']);
    expect([tlsResult.error?.code, plaintext.error?.code]).to.deep.equal(['DNS', 'DNS']);
  });
});
