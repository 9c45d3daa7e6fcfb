import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { Agent, fetch } from 'undici';
import { ConfigError } from '../../src/config/load.ts';
import { createCa, createLeaf, type Issued } from '../../src/demo/certs.ts';
import { loadWebConfig, parseWebConfig, WebConfigError, type ClientAuthType, type WebConfig } from '../../src/config/web-config.ts';
import { createHttpsOptions, secureApp, type HttpsSetup } from '../../src/http/web-config.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { makeFifo, releaseFifo } from '../helpers/fifo.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/web-config/', import.meta.url));
const ALICE_HASH = '$2y$04$FNyBt.b91gf/dotx8RqJDuqBqyR/aEh0q9IxyBcvRE9LwD/zZgQEC'; // alice-secret
const BOB_HASH = '$2b$04$gtQmmvNClFzxReDvIpbB6.OQN.2UhyG2eN5hYF/AIQixvMIwmLL8i'; // bob-secret
const NOT_A_HASH = 'must be a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from `htpasswd -nBC 10 USER`); the value is not shown';
const PATH_RULE = 'must be a path like /-/healthy (starting with /, without ? or #)';
const UNSUPPORTED = 'is an exporter-toolkit option that gitaly-tls-exporter does not support: remove it';

/** Expected messages for test/fixtures/web-config/invalid/*.yml; `<tmp>` is the directory they are loaded from. */
const INVALID: Record<string, string[]> = {
  'empty.yml': ['empty.yml: the file is empty: it needs tls_server_config or basic_auth_users'],
  'comments-only.yml': ['comments-only.yml: the file is empty: it needs tls_server_config or basic_auth_users'],
  'top-level-list.yml': [
    'top-level-list.yml:1:1: the top level must be a mapping (tls_server_config:, basic_auth_users:, ...), not a single value or a list',
  ],
  'yaml-syntax-error.yml': ['yaml-syntax-error.yml:3:1: invalid YAML: Missing closing "quote'],
  'unknown-keys.yml': [
    'unknown-keys.yml:1:1: tls_config: unknown key',
    'unknown-keys.yml:3:1: basic_auth_user: unknown key (did you mean basic_auth_users?)',
  ],
  'unknown-tls-keys.yml': [
    'unknown-tls-keys.yml:4:3: tls_server_config.certfile: unknown key (did you mean cert_file?)',
    'unknown-tls-keys.yml:5:3: tls_server_config.client_auth: unknown key (did you mean client_auth_type?)',
  ],
  'unsupported-options.yml': [
    `unsupported-options.yml:4:18: tls_server_config.cipher_suites: ${UNSUPPORTED}`,
    `unsupported-options.yml:5:16: tls_server_config.max_version: ${UNSUPPORTED}`,
    `unsupported-options.yml:7:3: http_server_config: ${UNSUPPORTED}`,
  ],
  'tls-no-value.yml': ['tls-no-value.yml:1:1: tls_server_config: has no value (fill it in or remove the key)'],
  'missing-cert-and-key.yml': [
    'missing-cert-and-key.yml:2:3: tls_server_config.cert_file: is required',
    'missing-cert-and-key.yml:2:3: tls_server_config.key_file: is required',
  ],
  'missing-files.yml': [
    'missing-files.yml:2:14: tls_server_config.cert_file: <tmp>/no-such.crt: no such file',
    'missing-files.yml:3:13: tls_server_config.key_file: <tmp>/certs: is a directory, not a regular file',
  ],
  'not-pem.yml': [
    'not-pem.yml:2:14: tls_server_config.cert_file: <tmp>/not-pem.crt holds no PEM certificate',
    'not-pem.yml:3:13: tls_server_config.key_file: <tmp>/server.crt holds no PEM private key',
  ],
  'garbage-pem.yml': [
    'garbage-pem.yml:2:14: tls_server_config.cert_file: <tmp>/garbage.crt holds a PEM block that is not a readable certificate',
  ],
  'key-mismatch.yml': [
    'key-mismatch.yml:3:13: tls_server_config.key_file: cannot be used with cert_file: the private key does not belong to the certificate',
  ],
  'bad-enums.yml': [
    'bad-enums.yml:4:21: tls_server_config.client_auth_type: must be NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert',
    'bad-enums.yml:5:16: tls_server_config.min_version: must be TLS12 or TLS13',
  ],
  'client-ca-without-auth.yml': [
    'client-ca-without-auth.yml:4:19: tls_server_config.client_ca_file: is set but client_auth_type is NoClientCert, so no client certificate is asked for: set client_auth_type or remove client_ca_file',
  ],
  'verify-without-ca.yml': [
    'verify-without-ca.yml:4:21: tls_server_config.client_auth_type: VerifyClientCertIfGiven needs client_ca_file (the CA that issues client certificates)',
  ],
  'bad-hashes.yml': [
    `bad-hashes.yml:2:10: basic_auth_users.alice: ${NOT_A_HASH}`,
    `bad-hashes.yml:3:8: basic_auth_users.bob: ${NOT_A_HASH}`,
    `bad-hashes.yml:4:10: basic_auth_users.carol: ${NOT_A_HASH}`,
    `bad-hashes.yml:5:9: basic_auth_users.dave: ${NOT_A_HASH}`,
    "bad-hashes.yml:6:16: basic_auth_users.eve:admin: user names cannot contain ':' (basic auth splits user and password at the first colon)",
    'bad-hashes.yml:7:3: basic_auth_users.frank: has no value (give one or remove the key)',
    'bad-hashes.yml:8:10: basic_auth_users.grace: must be a single value, not a list',
  ],
  'empty-users.yml': ['empty-users.yml:1:19: basic_auth_users: lists no users: add one or remove the key'],
  'duplicate-users.yml': ['duplicate-users.yml:4:3: basic_auth_users.alice: duplicate key (first set at line 2)'],
  'bad-unauthenticated-paths.yml': [
    `bad-unauthenticated-paths.yml:3:25: unauthenticated_paths[0]: ${PATH_RULE}`,
    `bad-unauthenticated-paths.yml:3:38: unauthenticated_paths[1]: ${PATH_RULE}`,
    `bad-unauthenticated-paths.yml:3:58: unauthenticated_paths[2]: ${PATH_RULE}`,
    `bad-unauthenticated-paths.yml:3:69: unauthenticated_paths[4]: ${PATH_RULE}`,
  ],
  'unauthenticated-paths-not-a-list.yml': [
    'unauthenticated-paths-not-a-list.yml:3:24: unauthenticated_paths: must be a list (paths like /-/healthy), not a single value',
  ],
  'unauthenticated-without-users.yml': [
    'unauthenticated-without-users.yml:4:24: unauthenticated_paths: has no effect without basic_auth_users: remove it',
  ],
};

interface Pki {
  serverCa: Issued;
  server: Issued;
  clientCa: Issued;
  client: Issued;
  /** A client certificate from a CA the server does not trust. */
  rogueClient: Issued;
}

async function makePki(): Promise<Pki> {
  const serverCa = await createCa('web-config test server CA');
  const clientCa = await createCa('web-config test client CA');
  return {
    serverCa,
    server: await createLeaf(serverCa, 'localhost', { ipAddresses: ['127.0.0.1'] }),
    clientCa,
    client: await createLeaf(clientCa, 'prometheus'),
    rogueClient: await createLeaf(await createCa('somebody else'), 'prometheus'),
  };
}

function webConfigError(fn: () => unknown): WebConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(WebConfigError);
    expect(error, 'reported like any bad config file').to.be.instanceOf(ConfigError);
    return error as WebConfigError;
  }
  throw new Error('expected a WebConfigError');
}

describe('web config (--web.config.file)', function () {
  let tmp: string;
  let pki: Pki;

  before(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'gitaly-tls-exporter-web-config-'));
    pki = await makePki();
    mkdirSync(path.join(tmp, 'certs'));
    writeFileSync(path.join(tmp, 'server.crt'), pki.server.certPem);
    writeFileSync(path.join(tmp, 'server.key'), pki.server.keyPem);
    writeFileSync(path.join(tmp, 'other.key'), pki.client.keyPem);
    writeFileSync(path.join(tmp, 'certs/client-ca.crt'), pki.clientCa.certPem);
    writeFileSync(path.join(tmp, 'not-pem.crt'), 'this is not PEM\n');
    writeFileSync(path.join(tmp, 'garbage.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    for (const kind of ['valid', 'invalid']) {
      for (const name of readdirSync(path.join(FIXTURES, kind))) {
        writeFileSync(path.join(tmp, name), readFileSync(path.join(FIXTURES, kind, name), 'utf8').replaceAll('/ABS/', `${tmp}/`));
      }
    }
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('loading', () => {
    for (const [fixture, lines] of Object.entries(INVALID)) {
      it(`rejects ${fixture}, naming file:line:col and field`, () => {
        const error = webConfigError(() => loadWebConfig(fixture, { cwd: tmp }));
        expect(error.message).to.equal(lines.map((line) => line.replaceAll('<tmp>', tmp)).join('\n'));
      });
    }

    it('refuses a FIFO as cert_file at once, naming it (a blocking read would stop the start for ever)', () => {
      const fifo = makeFifo(path.join(tmp, 'fifo.crt'));
      try {
        writeFileSync(path.join(tmp, 'fifo-cert.yml'), `tls_server_config:\n  cert_file: ${fifo}\n  key_file: server.key\n`);
        const error = webConfigError(() => loadWebConfig('fifo-cert.yml', { cwd: tmp }));
        expect(error.message).to.equal(`fifo-cert.yml:2:14: tls_server_config.cert_file: ${fifo}: is a FIFO, not a regular file`);
      } finally {
        releaseFifo(fifo);
      }
    });

    it('has an expected message for every invalid fixture', () => {
      expect(readdirSync(path.join(FIXTURES, 'invalid')).sort()).to.deep.equal(Object.keys(INVALID).sort());
    });

    it('never shows a password or a hash, even one pasted into the wrong place', () => {
      const error = webConfigError(() => loadWebConfig('bad-hashes.yml', { cwd: tmp }));
      for (const secret of ['hunter2', 'w5Tm0TsJ', '12345', 'tooShort', ALICE_HASH.slice(7)]) expect(error.message).to.not.contain(secret);
    });

    it('reads every supported key, resolving relative paths against the web config file', () => {
      const config = loadWebConfig(path.join(tmp, 'full.yml'));
      expect(config).to.deep.equal({
        source: path.join(tmp, 'full.yml'),
        tls: {
          certFile: path.join(tmp, 'server.crt'),
          keyFile: path.join(tmp, 'server.key'),
          clientCaFile: path.join(tmp, 'certs/client-ca.crt'),
          clientAuthType: 'RequireAndVerifyClientCert',
          minVersion: 'TLSv1.3',
        },
        basicAuthUsers: new Map([
          ['alice', ALICE_HASH],
          ['bob', BOB_HASH],
        ]),
        unauthenticatedPaths: ['/-/healthy', '/-/ready'],
      });
    });

    it('defaults to no client certificate and TLS 1.2, and to no basic auth', () => {
      expect(loadWebConfig('tls-only.yml', { cwd: tmp })).to.deep.equal({
        source: path.join(tmp, 'tls-only.yml'),
        tls: {
          certFile: path.join(tmp, 'server.crt'),
          keyFile: path.join(tmp, 'server.key'),
          clientAuthType: 'NoClientCert',
          minVersion: 'TLSv1.2',
        },
        basicAuthUsers: new Map(),
        unauthenticatedPaths: [],
      });
      expect(loadWebConfig('basic-auth-only.yml', { cwd: tmp })).to.deep.equal({
        source: path.join(tmp, 'basic-auth-only.yml'),
        basicAuthUsers: new Map([['alice', ALICE_HASH]]),
        unauthenticatedPaths: [],
      });
    });

    it('says when the file itself cannot be read', () => {
      expect(webConfigError(() => loadWebConfig('no-such-web.yml', { cwd: tmp })).message).to.equal(
        'no-such-web.yml: cannot read the web config file: no such file',
      );
      expect(webConfigError(() => loadWebConfig(tmp)).message).to.equal(
        `${tmp}: cannot read the web config file: is a directory, not a regular file`,
      );
    });
  });

  describe('HTTPS', () => {
    let app: FastifyInstance | null = null;
    let https: HttpsSetup | null = null;
    const agents: Agent[] = [];
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });

    afterEach(async () => {
      await Promise.all(agents.splice(0).map((agent) => agent.close()));
      await app?.close();
      https?.close();
      app = null;
      https = null;
      logLines.length = 0;
    });

    /** Serves GET /hello over HTTPS from files in a fresh directory, protected by a web config of these lines. */
    async function serve(
      yaml: string[],
      checkIntervalMs = 60_000,
    ): Promise<{ url: string; port: number; dir: string; webConfig: WebConfig }> {
      const dir = mkdtempSync(path.join(tmp, 'serve-'));
      writeFileSync(path.join(dir, 'server.crt'), pki.server.certPem);
      writeFileSync(path.join(dir, 'server.key'), pki.server.keyPem);
      writeFileSync(path.join(dir, 'client-ca.crt'), pki.clientCa.certPem);
      const webConfig = parseWebConfig(yaml.join('\n'), 'web.yml', { cwd: dir });
      https = createHttpsOptions(webConfig, { logger, checkIntervalMs });
      expect(https).to.not.equal(null);
      app = Fastify({ https: https!.options });
      app.get('/hello', async () => 'hello\n');
      secureApp(app, webConfig, https);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      return { url: `https://127.0.0.1:${port}/hello`, port, dir, webConfig };
    }

    function agent(client?: Issued): Agent {
      const created = new Agent({ connect: { ca: pki.serverCa.certPem, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) } });
      agents.push(created);
      return created;
    }

    async function get(url: string, client?: Issued): Promise<{ status: number; body: string }> {
      const res = await fetch(url, { dispatcher: agent(client) });
      return { status: res.status, body: await res.text() };
    }

    /** Serial of the certificate a new connection is served, with or without SNI. */
    function servedSerial(port: number, servername?: string): Promise<string> {
      return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.serverCa.certPem, ...(servername ? { servername } : {}) }, () => {
          const serial = socket.getPeerCertificate().serialNumber.toUpperCase();
          socket.destroy();
          resolve(serial);
        });
        socket.once('error', reject);
      });
    }

    /** Replaces a file the way certificate tooling does: write beside, then rename over. */
    function replace(file: string, content: string): void {
      writeFileSync(`${file}.new`, content);
      renameSync(`${file}.new`, file);
    }

    it('serves the configured certificate to a client that trusts its CA', async () => {
      const { url } = await serve(['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key']);
      expect(await get(url)).to.deep.equal({ status: 200, body: 'hello\n' });
      const untrusting = new Agent();
      agents.push(untrusting);
      let refusal: unknown = null;
      await fetch(url, { dispatcher: untrusting }).catch((error: unknown) => (refusal = error));
      expect(String((refusal as Error & { cause?: unknown })?.cause)).to.match(/self.signed|unable to verify|certificate/i);
    });

    it('honours min_version TLS13', async () => {
      const { port } = await serve(['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key', '  min_version: TLS13']);
      const handshake = (maxVersion: tls.SecureVersion) =>
        new Promise<string>((resolve) => {
          const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.serverCa.certPem, maxVersion }, () => {
            resolve(socket.getProtocol() ?? 'none');
            socket.destroy();
          });
          socket.once('error', () => resolve('refused'));
        });
      expect(await handshake('TLSv1.2')).to.equal('refused');
      expect(await handshake('TLSv1.3')).to.equal('TLSv1.3');
    });

    it('serves a renewed certificate to new connections once the files change, with and without SNI', async () => {
      const { port, dir } = await serve(['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key'], 50);
      expect(await servedSerial(port)).to.equal(pki.server.serial);
      const renewed = await createLeaf(pki.serverCa, 'localhost', { ipAddresses: ['127.0.0.1'] });
      replace(path.join(dir, 'server.key'), renewed.keyPem);
      replace(path.join(dir, 'server.crt'), renewed.certPem);
      await waitFor(async () => (await servedSerial(port)) === renewed.serial, {
        timeoutMs: 5_000,
        intervalMs: 50,
        what: 'the renewed certificate to be served',
      });
      expect(await servedSerial(port, 'localhost'), 'with SNI').to.equal(renewed.serial);
      expect(logLines.join('')).to.contain('TLS certificate files changed: new connections get the new certificate');
    });

    it('keeps serving the previous certificate when the new files are broken, and says so', async () => {
      const { port, dir } = await serve(['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key'], 60_000);
      const renewed = await createLeaf(pki.serverCa, 'localhost', { ipAddresses: ['127.0.0.1'] });
      replace(path.join(dir, 'server.crt'), renewed.certPem); // the key is still the old one
      await https!.refresh();
      expect(await servedSerial(port)).to.equal(pki.server.serial);
      const logged = logLines.map((line) => JSON.parse(line) as { level: number; msg: string; reason?: string });
      expect(logged).to.have.length(1);
      expect(logged[0]).to.include({
        level: 50,
        msg: 'TLS certificate files changed but cannot be used; still serving the previous certificate',
        reason: 'the private key does not belong to the certificate',
      });
      replace(path.join(dir, 'server.key'), renewed.keyPem);
      await https!.refresh();
      expect(await servedSerial(port)).to.equal(renewed.serial);
      replace(path.join(dir, 'server.crt'), 'garbage\n');
      await https!.refresh();
      expect(await servedSerial(port)).to.equal(renewed.serial);
      expect(await get(`https://127.0.0.1:${port}/hello`)).to.deep.include({ status: 200 });
    });

    const CLIENT_AUTH: Array<{ type: ClientAuthType; none: number | 'refused'; trusted: number | 'refused'; rogue: number | 'refused' }> = [
      { type: 'RequestClientCert', none: 200, trusted: 200, rogue: 200 },
      { type: 'RequireAnyClientCert', none: 403, trusted: 200, rogue: 200 },
      { type: 'VerifyClientCertIfGiven', none: 200, trusted: 200, rogue: 403 },
      { type: 'RequireAndVerifyClientCert', none: 'refused', trusted: 200, rogue: 'refused' },
    ];
    for (const { type, none, trusted, rogue } of CLIENT_AUTH) {
      it(`${type}: no client certificate ${none}, one from client_ca_file ${trusted}, one from another CA ${rogue}`, async () => {
        const { url } = await serve([
          'tls_server_config:',
          '  cert_file: server.crt',
          '  key_file: server.key',
          '  client_ca_file: client-ca.crt',
          `  client_auth_type: ${type}`,
        ]);
        const outcome = (client?: Issued) =>
          get(url, client).then(
            (res) => res.status,
            () => 'refused' as const,
          );
        expect({ none: await outcome(), trusted: await outcome(pki.client), rogue: await outcome(pki.rogueClient) }).to.deep.equal({
          none,
          trusted,
          rogue,
        });
      });
    }

    it('combines client certificates with basic auth', async () => {
      const { url } = await serve([
        'tls_server_config:',
        '  cert_file: server.crt',
        '  key_file: server.key',
        '  client_ca_file: client-ca.crt',
        '  client_auth_type: RequireAndVerifyClientCert',
        'basic_auth_users:',
        `  alice: ${ALICE_HASH}`,
      ]);
      expect((await get(url, pki.client)).status).to.equal(401);
      const res = await fetch(url, {
        dispatcher: agent(pki.client),
        headers: { authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` },
      });
      expect(res.status).to.equal(200);
      await res.body?.cancel();
    });

    it('refuses to run an app without TLS when the web config asks for TLS', async () => {
      const webConfig = loadWebConfig('tls-only.yml', { cwd: tmp });
      const plain = Fastify();
      try {
        expect(() => secureApp(plain, webConfig, createHttpsOptions(webConfig, { logger }))).to.throw(
          `${path.join(tmp, 'tls-only.yml')} configures TLS, but the app was built without its https options`,
        );
      } finally {
        await plain.close();
      }
    });

    it('needs no https options when the web config has no tls_server_config', () => {
      expect(createHttpsOptions(loadWebConfig('basic-auth-only.yml', { cwd: tmp }), { logger })).to.equal(null);
    });
  });
});
