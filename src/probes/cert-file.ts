// Gitaly reads its certificate once at start and never reloads it: comparing the file on disk with the
// served leaf tells whether a renewed certificate is waiting for a restart.
import type { CertFileResult } from '../evidence/evidence.ts';
import { describeFileError, fileErrorCode, FILE_TIMEOUT_MS, FileReadError, readFileBounded } from '../files/bounded-file.ts';
import { chainFacts, parsePemChain, PemError } from './x509-facts.ts';

export interface CertFileDeps {
  readFile?: (path: string) => Promise<Buffer | string>;
}

/** A certificate chain is a few KB; the cap keeps a wrong path (a log, a device) from being slurped. */
const MAX_BYTES = 1024 * 1024;

function failure(path: string, message: string, code: 'CERT_FILE' | 'TIMEOUT' = 'CERT_FILE'): CertFileResult {
  return { ok: false, error: { code, message: `Certificate file ${path} ${message}.` } };
}

function readFailure(path: string, err: unknown): CertFileResult {
  if (err instanceof FileReadError && err.code === 'TOO_LARGE')
    return failure(path, `is larger than ${MAX_BYTES} bytes, not a certificate chain`);
  return failure(path, describeFileError(err), fileErrorCode(err) === 'TIMEOUT' ? 'TIMEOUT' : 'CERT_FILE');
}

export async function checkCertFile(path: string, servedLeafSha256: string | null, deps: CertFileDeps = {}): Promise<CertFileResult> {
  const readFile = deps.readFile ?? ((p: string) => readFileBounded(p, { timeoutMs: FILE_TIMEOUT_MS, maxBytes: MAX_BYTES }));
  let text: string;
  try {
    const content = await readFile(path);
    if (content.length > MAX_BYTES) throw new FileReadError('TOO_LARGE', 'injected reader');
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
