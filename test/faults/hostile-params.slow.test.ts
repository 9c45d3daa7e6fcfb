// Hostile /probe and query parameters: very long, NUL bytes, unicode, repeated, path traversal,
// credentials. Each gets a 4xx with a sentence that names the problem (and never echoes a password),
// never a 500 and never a dial of a mangled address.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { realProbes } from '../../src/collect/probes.ts';
import type { Config } from '../../src/config/types.ts';
import { Exporter } from '../../src/exporter.ts';
import { buildApp } from '../../src/http/app.ts';
import { startTestFleet, type TestFleet } from '../helpers/exporter-process.ts';
import { fakeConfig } from '../helpers/fake-gitaly.ts';
import { scaled } from '../helpers/time-factor.ts';

const logger = pino({ level: 'silent' });

describe('faults: hostile /probe and query parameters', function () {
  this.timeout(scaled(30_000));
  let dir: string;
  let fleet: TestFleet | undefined;
  let app: ReturnType<typeof buildApp>;

  /** One configured node, gitaly-1, whose TLS listener is real. */
  const config = (overrides: Partial<Config> = {}): Config => {
    const n = fleet!.node('gitaly-1');
    const node = {
      name: 'gitaly-1',
      role: 'gitaly' as const,
      metricsUrl: n.metricsUrl,
      tlsAddress: n.tlsAddress!,
      plaintextAddress: n.plaintextAddress!,
    };
    return fakeConfig([node], join(dir, 'state.json'), { caFile: fleet!.caFile, ...overrides });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gte-hostile-params-'));
    fleet = await startTestFleet(dir, ['gitaly-1']);
    const exporter = new Exporter({ config: config(), logger, probes: realProbes });
    await exporter.init();
    app = buildApp({ logger, view: exporter });
    await app.ready();
  });

  after(async () => {
    await app?.close();
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const get = async (url: string): Promise<{ status: number; body: string }> => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.body };
  };

  it('a configured target is probed (the control case)', async () => {
    const res = await get(`/probe?target=${encodeURIComponent(fleet!.node('gitaly-1').tlsAddress!)}`);
    expect(res.status, res.body).to.equal(200);
    expect(res.body).to.contain('gitaly_tls_probe_success{node="gitaly-1"');
  });

  const hostileTargets: Array<[string, string, RegExp]> = [
    ['very long', `${'a'.repeat(20_000)}:9999`, /^Bad target: longer than 300 characters\.\n$/],
    ['a NUL byte in the port', '127.0.0.1:99%0099', /^Bad target: .*has no valid port/],
    ['full-width digits in the port', `127.0.0.1:${encodeURIComponent('９９９９')}`, /^Bad target: .*has no valid port/],
    ['path traversal', '../../../etc/passwd', /^Bad target: .*has no port/],
    ['path traversal after the port', 'tls://127.0.0.1:9999/../../etc/passwd', /^Bad target: .*has no valid port/],
    ['a file path as host', '/etc/passwd:22', /^Bad target: .*has no valid host/],
    ['an http:// URL', 'http://127.0.0.1:9999/', /^Bad target: unknown scheme/],
    ['broken percent-encoding', '%E0%A4%A', /^Bad target: /],
    ['empty', '', /^Missing parameter: target/],
  ];
  for (const [what, target, message] of hostileTargets) {
    it(`/probe with a target that is ${what}: 400 with a sentence`, async () => {
      const res = await get(`/probe?target=${target}`);
      expect(res.status, res.body.slice(0, 200)).to.equal(400);
      expect(res.body).to.match(message);
    });
  }

  it('/probe with a password in the target: 400, and the answer does not repeat the password', async () => {
    const res = await get('/probe?target=gitaly:s3cr3t-pa55@127.0.0.1:9999');
    expect(res.status).to.equal(400);
    expect(res.body).to.match(/^Bad target: /);
    expect(res.body, 'error sentences never carry URL userinfo').to.not.contain('s3cr3t-pa55');
  });

  it('/probe with a NUL byte in the host, where unlisted targets may be probed: 400, never a dial', async () => {
    const open = new Exporter({ config: config({ allowUnlistedTargets: true }), logger, probes: realProbes });
    const openApp = buildApp({ logger, view: open });
    try {
      const res = await openApp.inject({ method: 'GET', url: '/probe?target=127.0.0.1%00:9999' });
      expect(res.statusCode, JSON.stringify(res.body.slice(0, 300))).to.equal(400);
      expect(res.body).to.match(/^Bad target: /);
      expect(
        [...res.body].some((ch) => ch.charCodeAt(0) < 0x09),
        'no control byte is echoed',
      ).to.equal(false);
    } finally {
      await openApp.close();
    }
  });

  it('/probe with a unicode host that is not configured: 403 naming the rule, not a probe', async () => {
    const res = await get(`/probe?target=${encodeURIComponent('gïtaly-ü.example:9999')}`);
    expect(res.status).to.equal(403);
    expect(res.body).to.match(/is not the tls_address of a configured node/);
  });

  it('/probe with the target given twice: 400 that says so, not “missing”', async () => {
    const one = fleet!.node('gitaly-1').tlsAddress!;
    const res = await get(`/probe?target=${one}&target=127.0.0.1:1`);
    expect(res.status).to.equal(400);
    expect(res.body).to.match(/target/);
    expect(res.body, 'the parameter is not missing, it is repeated').to.not.match(/^Missing/);
  });

  it('hostile query strings on the other pages are ignored: never a 500', async () => {
    for (const url of [
      '/metrics?%00=%00',
      '/migration?x=%E0%A4%A',
      '/?target=%ff%fe&target=..%2F..%2F',
      `/migration?${'a=1&'.repeat(2_000)}`,
      '/-/ready?\u00e9=\u00e9',
    ]) {
      const res = await get(url);
      expect(res.status, url.slice(0, 60)).to.be.oneOf([200, 503]);
    }
    for (const url of ['/%00', '/..%2F..%2Fetc%2Fpasswd', '/probe/../../etc/passwd', `/${'x'.repeat(10_000)}`]) {
      const res = await get(url);
      expect(res.status, url.slice(0, 60)).to.equal(404);
      expect(res.body).to.match(/^Not found: GET /);
    }
  });

  it('a request line too long for the server: a 4xx from the listener, and the next request is served', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const raw = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        // Node 24 resets the connection right after its 431 (the rest of the request is unread):
        // the answer already arrived, and it is what a client sees.
        socket.on('error', (err) => (answer ? resolve(answer) : reject(err)));
        socket.on('close', () => resolve(answer));
      });
    const long = await raw(`/probe?target=${'a'.repeat(100_000)}`);
    expect(long).to.match(/^HTTP\/1\.1 4\d\d /);
    expect(await raw('/-/healthy')).to.match(/^HTTP\/1\.1 200 /);
  });
});
