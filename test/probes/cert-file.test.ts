import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainPem, createCa, createIntermediate, createLeaf, type Issued } from '../../src/demo/certs.ts';
import { checkCertFile } from '../../src/probes/cert-file.ts';
import { chainFacts, parsePemChain } from '../../src/probes/x509-facts.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

describe('checkCertFile', () => {
  let dir: string;
  let intermediate: Issued;
  let served: Issued;
  let renewed: Issued;
  let servedSha256: string;

  before(async () => {
    const ca = await createCa();
    intermediate = await createIntermediate(ca);
    served = await createLeaf(intermediate, 'gitaly.example.com');
    renewed = await createLeaf(intermediate, 'gitaly.example.com');
    servedSha256 = chainFacts(parsePemChain(served.certPem))[0]!.sha256;
    dir = mkdtempSync(join(tmpdir(), 'cert-file-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('matches when the file holds the served certificate, with facts for the whole chain', async () => {
    const path = join(dir, 'gitaly.crt');
    writeFileSync(path, chainPem(served, intermediate));
    expect(await checkCertFile(path, servedSha256)).to.deep.equal({
      ok: true,
      path,
      chain: chainFacts(parsePemChain(served.certPem + intermediate.certPem)),
      matchesServed: true,
    });
  });

  it('does not match when the file was renewed but Gitaly still serves the old certificate', async () => {
    const path = join(dir, 'renewed.crt');
    writeFileSync(path, chainPem(renewed, intermediate));
    const result = await checkCertFile(path, servedSha256);
    expect(result.ok && result.matchesServed).to.equal(false);
    expect(result.ok && result.chain.map((c) => [c.position, c.serial])).to.deep.equal([
      ['leaf', renewed.serial],
      ['intermediate', intermediate.serial],
    ]);
  });

  it('cannot compare when nothing was served', async () => {
    const path = join(dir, 'only.crt');
    writeFileSync(path, served.certPem);
    const result = await checkCertFile(path, null);
    expect(result.ok && result.matchesServed).to.equal(null);
  });

  it('reports a missing file, a directory, a file without certificates and a broken one, naming the path', async () => {
    const missing = join(dir, 'missing.crt');
    expect(await checkCertFile(missing, servedSha256)).to.deep.equal({
      ok: false,
      error: { code: 'CERT_FILE', message: `Certificate file ${missing} does not exist.` },
    });
    expect(await checkCertFile(dir, servedSha256)).to.deep.equal({
      ok: false,
      error: { code: 'CERT_FILE', message: `Certificate file ${dir} is a directory, not a regular file.` },
    });
    const key = join(dir, 'key.pem');
    writeFileSync(key, served.keyPem);
    expect(await checkCertFile(key, servedSha256)).to.deep.equal({
      ok: false,
      error: { code: 'CERT_FILE', message: `Certificate file ${key} holds no PEM certificate.` },
    });
    const broken = join(dir, 'broken.crt');
    writeFileSync(broken, served.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'));
    expect(await checkCertFile(broken, servedSha256)).to.deep.equal({
      ok: false,
      error: {
        code: 'CERT_FILE',
        message: `Certificate file ${broken} is not a valid PEM chain: certificate block 1 is not valid base64.`,
      },
    });
  });

  it('refuses a FIFO at once, naming it, instead of waiting for a writer for ever', async () => {
    const fifo = makeFifo(join(dir, 'gitaly.crt.fifo'));
    try {
      expect(await within(checkCertFile(fifo, null), 2_000, 'checkCertFile of a FIFO')).to.deep.equal({
        ok: false,
        error: { code: 'CERT_FILE', message: `Certificate file ${fifo} is a FIFO, not a regular file.` },
      });
    } finally {
      releaseFifo(fifo);
    }
  });

  it('reports a file too large to be a certificate chain, and reads through an injected reader', async () => {
    const huge = join(dir, 'huge.log');
    writeFileSync(huge, Buffer.alloc(1024 * 1024 + 1, 'a'));
    expect(await checkCertFile(huge, null)).to.deep.equal({
      ok: false,
      error: { code: 'CERT_FILE', message: `Certificate file ${huge} is larger than 1048576 bytes, not a certificate chain.` },
    });
    const injected = await checkCertFile('/etc/gitlab/ssl/gitaly.crt', servedSha256, { readFile: () => Promise.resolve(served.certPem) });
    expect(injected.ok && injected.matchesServed).to.equal(true);
  });
});
