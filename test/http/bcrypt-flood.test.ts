// A flood of wrong passwords against a real listening exporter endpoint: bcrypt runs in a worker
// thread with a bounded queue, so a scraper whose credentials are already verified keeps being
// answered while the flood is checked, and a flood beyond the queue is turned away at once.
import { expect } from 'chai';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Agent, request } from 'undici';
import { MAX_PENDING_COMPARES } from '../../src/http/bcrypt-pool.ts';
import { buildApp, type ExporterView } from '../../src/http/app.ts';
import { secureApp } from '../../src/http/web-config.ts';

// Cost 5: each wrong password costs real work (milliseconds), and 200 of them take seconds.
const HASH = bcrypt.hashSync('scraper-secret', 5);
const view: ExporterView = {
  snapshot: () => null,
  metricsText: () => 'gitaly_tls_exporter_build_info{version="test"} 1\n',
  configSource: () => '<test>',
  refreshSeconds: () => 30,
  probe: async () => ({ status: 400, body: 'no target\n' }),
  reload: async () => ({ ok: true, message: 'reloaded' }),
};
const auth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('faults: a bcrypt flood (wrong passwords) against basic auth', function () {
  this.timeout(120_000);
  let app: FastifyInstance;
  let url: string;
  const dispatcher = new Agent({ connections: 100 });

  beforeEach(async () => {
    app = buildApp({ logger: pino({ level: 'silent' }), view });
    secureApp(app, { source: '<test>', basicAuthUsers: new Map([['prometheus', HASH]]), unauthenticatedPaths: [] }, null);
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
    expect(await get(auth('prometheus', 'scraper-secret')), 'the scraper is verified (and cached)').to.equal(200);
    let floodDone = false;
    const statuses: number[] = [];
    let next = 0;
    const flood = Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < 200) {
          next += 1;
          statuses.push(await get(auth('prometheus', `wrong-${next}`)));
        }
      }),
    ).then(() => (floodDone = true));

    // While the flood is being checked, the scraper's requests are answered, not queued behind it.
    let scrapes = 0;
    while (!floodDone && scrapes < 20) {
      expect(await get(auth('prometheus', 'scraper-secret'))).to.equal(200);
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
    expect(await get(auth('prometheus', 'scraper-secret'))).to.equal(200);
    const answers = await Promise.all(
      Array.from({ length: MAX_PENDING_COMPARES + 40 }, async (_, i) => {
        const res = await request(`${url}/metrics`, { headers: { authorization: auth('prometheus', `wrong-${i}`) }, dispatcher });
        const body = await res.body.text();
        return { status: res.statusCode, retryAfter: res.headers['retry-after'], body };
      }),
    );
    const busy = answers.filter((a) => a.status === 429);
    expect(busy.length, 'some were turned away').to.be.greaterThan(0);
    expect(busy[0]).to.deep.include({ retryAfter: '1', body: 'Too many password checks in progress; try again in a second.\n' });
    expect(answers.filter((a) => a.status === 401).length).to.be.at.least(MAX_PENDING_COMPARES);
    expect(answers.every((a) => a.status === 401 || a.status === 429)).to.equal(true);
    expect(await get(auth('prometheus', 'scraper-secret')), 'the verified scraper is still answered').to.equal(200);
  });
});
