// Gitaly reads its certificate once at start and never reloads it: comparing the file on disk with the
// served leaf tells whether a renewed certificate is waiting for a restart.
import { open } from 'node:fs/promises';
import type { CertFileResult } from '../evidence.ts';
import { chainFacts, parsePemChain, PemError } from './x509-facts.ts';

export interface CertFileDeps {
  readFile?: (path: string) => Promise<Buffer | string>;
}

/** A certificate chain is a few KB; the cap keeps a wrong path (a log, a device) from being slurped. */
const MAX_BYTES = 1024 * 1024;

class TooLargeError extends Error {}

async function readCapped(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    // Sized from the file (a chain is a few KB), one byte over so growth past the cap is seen.
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(MAX_BYTES, size) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_BYTES) throw new TooLargeError();
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function failure(path: string, message: string): CertFileResult {
  return { ok: false, error: { code: 'CERT_FILE', message: `Certificate file ${path} ${message}.` } };
}

function readFailure(path: string, err: unknown): CertFileResult {
  if (err instanceof TooLargeError) return failure(path, `is larger than ${MAX_BYTES} bytes, not a certificate chain`);
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return failure(path, 'does not exist');
  if (code === 'EACCES' || code === 'EPERM') return failure(path, 'is not readable (permission denied)');
  if (code === 'EISDIR') return failure(path, 'is a directory');
  return failure(path, `could not be read (${code ?? (err instanceof Error ? err.message : String(err))})`);
}

export async function checkCertFile(path: string, servedLeafSha256: string | null, deps: CertFileDeps = {}): Promise<CertFileResult> {
  const readFile = deps.readFile ?? readCapped;
  let text: string;
  try {
    const content = await readFile(path);
    if (content.length > MAX_BYTES) throw new TooLargeError();
    text = typeof content === 'string' ? content : content.toString('utf8');
  } catch (err) {
    return readFailure(path, err);
  }
  let ders: Buffer[];
  try {
    ders = parsePemChain(text);
  } catch (err) {
    return failure(path, `is not a valid PEM chain: ${err instanceof PemError ? err.message : String(err)}`);
  }
  if (ders.length === 0) return failure(path, 'holds no PEM certificate');
  const chain = chainFacts(ders);
  const leaf = chain[0]!;
  return {
    ok: true,
    path,
    chain,
    matchesServed: servedLeafSha256 === null ? null : leaf.sha256 === servedLeafSha256.toLowerCase(),
  };
}
