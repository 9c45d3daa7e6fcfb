import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { createCa, createIntermediate, type Issued } from '../../src/demo/certs.ts';
import { loadCaBundle } from '../../src/probes/ca-bundle.ts';
import { parsePemChain } from '../../src/probes/x509-facts.ts';
import { makeFifo, releaseFifo, within } from '../helpers/fifo.ts';

describe('loadCaBundle', () => {
  let dir: string;
  let caA: Issued;
  let caB: Issued;
  let intermediate: Issued;

  before(async () => {
    caA = await createCa('CA A');
    caB = await createCa('CA B');
    intermediate = await createIntermediate(caA);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ca-bundle-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the system store when no path is given', async () => {
    expect(await loadCaBundle(undefined)).to.deep.equal({ ok: true, pems: undefined, source: 'system', count: rootCertificates.length });
  });

  it('loads every certificate of a PEM bundle file', async () => {
    const file = join(dir, 'bundle.pem');
    writeFileSync(file, `# my CAs\n${caA.certPem}\n${caB.certPem}${intermediate.certPem}`);
    expect(await loadCaBundle(file)).to.deep.equal({
      ok: true,
      pems: [caA.certPem, caB.certPem, intermediate.certPem],
      source: file,
      count: 3,
    });
  });

  it('loads a trusted-certs directory: .pem/.crt/.cer files, skipping other names, DER files, subdirectories and duplicates', async () => {
    writeFileSync(join(dir, 'a.crt'), caA.certPem);
    writeFileSync(join(dir, 'b.PEM'), caB.certPem + intermediate.certPem);
    writeFileSync(join(dir, 'c.cer'), parsePemChain(caA.certPem)[0]!); // DER
    writeFileSync(join(dir, 'README.txt'), caB.certPem);
    mkdirSync(join(dir, 'old.pem'));
    symlinkSync('a.crt', join(dir, 'a-copy.pem')); // same certificate twice
    symlinkSync('missing.crt', join(dir, 'dangling.pem'));
    expect(await loadCaBundle(dir)).to.deep.equal({
      ok: true,
      pems: [caA.certPem, caB.certPem, intermediate.certPem],
      source: dir,
      count: 3,
    });
  });

  it('rejects a directory that holds no certificate', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'nothing');
    expect(await loadCaBundle(dir)).to.deep.equal({
      ok: false,
      error: { code: 'CA_BUNDLE', message: `CA directory ${dir} holds no PEM certificate (.pem, .crt, .cer).` },
    });
  });

  it('rejects a missing path, naming it', async () => {
    const missing = join(dir, 'nope.pem');
    expect(await loadCaBundle(missing)).to.deep.equal({
      ok: false,
      error: { code: 'CA_BUNDLE', message: `CA bundle ${missing} does not exist.` },
    });
  });

  it('rejects a file without certificates and a file with a broken block', async () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'hello\n');
    expect(await loadCaBundle(empty)).to.deep.equal({
      ok: false,
      error: { code: 'CA_BUNDLE', message: `CA file ${empty} holds no PEM certificate.` },
    });
    const broken = join(dir, 'broken.crt');
    writeFileSync(broken, caA.certPem + caB.certPem.slice(0, 120));
    expect(await loadCaBundle(dir)).to.deep.equal({
      ok: false,
      error: { code: 'CA_BUNDLE', message: `CA file ${broken}: certificate block 2 has no "-----END CERTIFICATE-----" line.` },
    });
  });

  it('refuses a FIFO as the CA file at once, naming it (a blocking read stopped the whole process)', async () => {
    const fifo = makeFifo(join(dir, 'ca.pem'));
    try {
      expect(await within(loadCaBundle(fifo), 2_000, 'loading a FIFO CA file')).to.deep.equal({
        ok: false,
        error: { code: 'CA_BUNDLE', message: `CA file ${fifo} is a FIFO, not a regular file.` },
      });
    } finally {
      releaseFifo(fifo);
    }
  });

  it('reads through the injected file system', async () => {
    const result = await loadCaBundle('/etc/gitlab/trusted-certs', {
      stat: (path) => ({ isFile: () => path !== '/etc/gitlab/trusted-certs', isDirectory: () => path === '/etc/gitlab/trusted-certs' }),
      readdir: () => ['ca.crt'],
      readFile: () => caB.certPem,
    });
    expect(result).to.deep.equal({ ok: true, pems: [caB.certPem], source: '/etc/gitlab/trusted-certs', count: 1 });
  });
});
