import { expect } from 'chai';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Agent, request } from 'undici';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import { BASIC_AUTH_REALM, basicAuthHook, parseBasicAuth, type BasicAuthDeps } from '../../src/http/basic-auth.ts';
import { MAX_PENDING_COMPARES } from '../../src/http/bcrypt-pool.ts';
import type { WebConfig } from '../../src/config/web-config.ts';
import { secureApp } from '../../src/http/web-config.ts';

// Cost 4 keeps the real bcrypt fast in tests; the hook treats every cost alike.
const ALICE_HASH = bcrypt.hashSync('alice-secret', 4).replace(/^\$2b\$/, '$2y$'); // the prefix htpasswd writes
const BOB_HASH = bcrypt.hashSync('bob-secret', 4);

const view: ExporterView = {
  snapshot: () => null,
  metricsText: () => 'gitaly_tls_exporter_build_info{version="test"} 1\n',
  configSource: () => '<test>',
  refreshSeconds: () => 30,
  probe: async () => ({ kind: 'bad_target' as const, message: 'no target' }),
  reload: async () => ({ ok: true, message: 'reloaded' }),
};

function webConfig(overrides: Partial<WebConfig> = {}): WebConfig {
  return {
    source: '/etc/web.yml',
    basicAuthUsers: new Map([
      ['alice', ALICE_HASH],
      ['bob', BOB_HASH],
    ]),
    unauthenticatedPaths: [],
    ...overrides,
  };
}

function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function basic(user: string, password: string): { authorization: string } {
  return { authorization: basicHeader(user, password) };
}

/** bcrypt compare that records the hashes it was asked about. */
function countingCompare(): { compare: NonNullable<BasicAuthDeps['compare']>; hashes: string[] } {
  const hashes: string[] = [];
  return {
    hashes,
    compare: async (password, hash) => {
      hashes.push(hash);
      return bcrypt.compare(password, hash);
    },
  };
}

describe('basic auth (basic_auth_users)', () => {
  let app: FastifyInstance;
  let logLines: string[];

  function start(config: WebConfig, deps: BasicAuthDeps = {}): FastifyInstance {
    logLines = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
    app = buildApp({ logger, view });
    secureApp(app, config, null, deps);
    return app;
  }

  afterEach(async () => {
    await app.close();
  });

  it('answers 401 with a Basic challenge when there are no credentials', async () => {
    const res = await start(webConfig()).inject('/metrics');
    expect(res.statusCode).to.equal(401);
    expect(res.headers['www-authenticate']).to.equal(`Basic realm="${BASIC_AUTH_REALM}"`);
    expect(BASIC_AUTH_REALM).to.equal('gitaly-tls-exporter');
    expect(res.body).to.not.contain('gitaly_tls_exporter_build_info');
  });

  it('answers 401 for a wrong password and 200 for the right one, for each user', async () => {
    start(webConfig());
    expect((await app.inject({ url: '/metrics', headers: basic('alice', 'bob-secret') })).statusCode).to.equal(401);
    const alice = await app.inject({ url: '/metrics', headers: basic('alice', 'alice-secret') });
    expect(alice.statusCode).to.equal(200);
    expect(alice.body).to.contain('gitaly_tls_exporter_build_info');
    expect((await app.inject({ url: '/metrics', headers: basic('bob', 'bob-secret') })).statusCode).to.equal(200);
  });

  it('answers 401 for an unknown user after checking a dummy hash as costly as the real ones', async () => {
    const counting = countingCompare();
    start(webConfig(), { compare: counting.compare });
    const res = await app.inject({ url: '/metrics', headers: basic('mallory', 'alice-secret') });
    expect(res.statusCode).to.equal(401);
    expect(counting.hashes).to.have.length(1);
    const [dummy] = counting.hashes;
    expect(dummy).to.not.be.oneOf([ALICE_HASH, BOB_HASH]);
    expect(bcrypt.getRounds(dummy!)).to.equal(4);
  });

  it('rejects malformed Authorization headers without calling bcrypt', async () => {
    const counting = countingCompare();
    start(webConfig(), { compare: counting.compare });
    const headers = [
      'Bearer abc',
      'Basic',
      'Basic !!!',
      `Basic ${Buffer.from('alice').toString('base64')}`,
      `Digest ${Buffer.from('alice:alice-secret').toString('base64')}`,
    ];
    for (const authorization of headers) {
      expect((await app.inject({ url: '/metrics', headers: { authorization } })).statusCode, authorization).to.equal(401);
    }
    expect(counting.hashes).to.deep.equal([]);
    expect(
      (await app.inject({ url: '/metrics', headers: { authorization: `basic  ${Buffer.from('alice:alice-secret').toString('base64')}` } }))
        .statusCode,
    ).to.equal(200);
  });

  it('remembers a successful check, so repeated scrapes cost one bcrypt, but never a failed one', async () => {
    const counting = countingCompare();
    start(webConfig(), { compare: counting.compare });
    for (let i = 0; i < 3; i++)
      expect((await app.inject({ url: '/metrics', headers: basic('alice', 'alice-secret') })).statusCode).to.equal(200);
    expect(counting.hashes).to.deep.equal([ALICE_HASH]);
    for (let i = 0; i < 2; i++) expect((await app.inject({ url: '/metrics', headers: basic('alice', 'wrong') })).statusCode).to.equal(401);
    expect(
      (await app.inject({ url: '/metrics', headers: basic('bob', 'alice-secret') })).statusCode,
      'a remembered password is only good for its user',
    ).to.equal(401);
    expect(counting.hashes).to.deep.equal([ALICE_HASH, ALICE_HASH, ALICE_HASH, BOB_HASH]);
  });

  it('keeps the cache bounded, forgetting the least recently used first', async () => {
    const carolHash = bcrypt.hashSync('carol-secret', 4);
    const counting = countingCompare();
    start(
      webConfig({
        basicAuthUsers: new Map([
          ['alice', ALICE_HASH],
          ['bob', BOB_HASH],
          ['carol', carolHash],
        ]),
      }),
      { compare: counting.compare, cacheSize: 2 },
    );
    for (const user of ['alice', 'bob', 'alice', 'carol', 'alice', 'bob']) {
      expect((await app.inject({ url: '/metrics', headers: basic(user, `${user}-secret`) })).statusCode).to.equal(200);
    }
    // carol pushes out bob (used before alice's second visit), not alice.
    expect(counting.hashes).to.deep.equal([ALICE_HASH, BOB_HASH, carolHash, BOB_HASH]);
  });

  it('serves unauthenticated_paths without credentials, and nothing else', async () => {
    start(webConfig({ unauthenticatedPaths: ['/-/healthy'] }));
    expect((await app.inject('/-/healthy')).statusCode).to.equal(200);
    expect((await app.inject('/-/healthy?verbose=1')).statusCode).to.equal(200);
    for (const url of ['/-/ready', '/metrics', '/node/gitaly-1', '/?phase=complete', '/-/healthy/', '/-/HEALTHY', '/no-such-page']) {
      expect((await app.inject(url)).statusCode, url).to.equal(401);
    }
    expect((await app.inject({ url: '/-/reload', method: 'POST' })).statusCode).to.equal(401);
  });

  it('protects every path when unauthenticated_paths is not set', async () => {
    start(webConfig());
    expect((await app.inject('/-/healthy')).statusCode).to.equal(401);
  });

  it('checks passwords with real bcrypt by default, $2y$ hashes included', async () => {
    start(webConfig());
    expect((await app.inject({ url: '/', headers: basic('alice', 'alice-secret') })).statusCode).to.equal(200);
    expect((await app.inject({ url: '/', headers: basic('alice', 'alice-secret!') })).statusCode).to.equal(401);
  });

  it('never logs the password or the Authorization header', async () => {
    start(webConfig());
    const header = basic('alice', 'alice-secret');
    await app.inject({ url: '/metrics', headers: header });
    await app.inject({ url: '/metrics', headers: basic('alice', 'hunter2-wrong') });
    await app.inject({ url: '/no-such-page', headers: header });
    const logged = logLines.join('');
    for (const secret of ['alice-secret', 'hunter2-wrong', header.authorization.slice(6)]) expect(logged).to.not.contain(secret);
  });

  it('adds no check when the web config has no users', async () => {
    expect(basicAuthHook(webConfig({ basicAuthUsers: new Map() }))).to.equal(null);
    start(webConfig({ basicAuthUsers: new Map() }));
    expect((await app.inject('/metrics')).statusCode).to.equal(200);
  });

  describe('parseBasicAuth', () => {
    it('splits at the first colon, so passwords may contain colons', () => {
      expect(parseBasicAuth(basic('alice', 'pass:word').authorization)).to.deep.equal({ user: 'alice', password: 'pass:word' });
      expect(parseBasicAuth(basic('', '').authorization)).to.deep.equal({ user: '', password: '' });
      expect(parseBasicAuth(basic('jürgen', 'pässwörd').authorization)).to.deep.equal({ user: 'jürgen', password: 'pässwörd' });
      expect(parseBasicAuth(undefined)).to.equal(null);
    });
  });
});

// A flood of wrong passwords against a real listening endpoint: bcrypt runs in a worker thread with a
// bounded queue, so a scraper whose credentials are already verified keeps being answered while the
// flood is checked, and a flood beyond the queue is turned away at once.
// Cost 5: each wrong password costs real work (milliseconds), and 200 of them take seconds.
const FLOOD_HASH = bcrypt.hashSync('scraper-secret', 5);

describe('faults: a bcrypt flood (wrong passwords) against basic auth', function () {
  this.timeout(120_000);
  let app: FastifyInstance;
  let url: string;
  const dispatcher = new Agent({ connections: 100 });

  beforeEach(async () => {
    app = buildApp({ logger: pino({ level: 'silent' }), view });
    secureApp(app, { source: '<test>', basicAuthUsers: new Map([['prometheus', FLOOD_HASH]]), unauthenticatedPaths: [] }, null);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterEach(async () => {
    await app.close();
  });
  after(() => dispatcher.close());

  const get = async (authorization: string): Promise<number> => {
    const res = await request(`${url}/metrics`, { headers: { authorization }, dispatcher });
    await res.body.dump();
    return res.statusCode;
  };

  it('answers a verified scraper throughout 200 wrong passwords at concurrency 20', async () => {
    expect(await get(basicHeader('prometheus', 'scraper-secret')), 'the scraper is verified (and cached)').to.equal(200);
    let floodDone = false;
    const statuses: number[] = [];
    let next = 0;
    const flood = Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 200) {
          next += 1;
          statuses.push(await get(basicHeader('prometheus', `wrong-${next}`)));
        }
      }),
    ).then(() => (floodDone = true));

    // While the flood is being checked, the scraper's requests are answered, not queued behind it.
    let scrapes = 0;
    while (!floodDone && scrapes < 20) {
      expect(await get(basicHeader('prometheus', 'scraper-secret'))).to.equal(200);
      scrapes += 1;
    }
    const scrapedDuringFlood = !floodDone;
    await flood;
    expect(scrapes).to.equal(20);
    expect(scrapedDuringFlood, '20 scrapes answered before the flood was through').to.equal(true);
    expect(statuses).to.have.length(200);
    expect(
      statuses.every((s) => s === 401),
      'every wrong password refused (20 at once fit the queue)',
    ).to.equal(true);
  });

  it(`turns away checks beyond ${MAX_PENDING_COMPARES} waiting with 429 and Retry-After, at once`, async () => {
    expect(await get(basicHeader('prometheus', 'scraper-secret'))).to.equal(200);
    const answers = await Promise.all(
      Array.from({ length: MAX_PENDING_COMPARES + 40 }, async (_, i) => {
        const res = await request(`${url}/metrics`, { headers: { authorization: basicHeader('prometheus', `wrong-${i}`) }, dispatcher });
        const body = await res.body.text();
        return { status: res.statusCode, retryAfter: res.headers['retry-after'], body };
      }),
    );
    const busy = answers.filter((a) => a.status === 429);
    expect(busy.length, 'some were turned away').to.be.greaterThan(0);
    expect(busy[0]).to.deep.include({ retryAfter: '1', body: 'Too many password checks in progress; try again in a second.\n' });
    expect(answers.filter((a) => a.status === 401).length).to.be.at.least(MAX_PENDING_COMPARES);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).to.equal(true);
    expect(await get(basicHeader('prometheus', 'scraper-secret')), 'the verified scraper is still answered').to.equal(200);
  });
});
