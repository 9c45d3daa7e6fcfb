// Reads one discovery file through the shared bounded reader; never throws.
import type { Result } from '../evidence/evidence.ts';
import { describeFileError, FileReadError, fileErrorCode, readFileBounded } from '../files/bounded-file.ts';

export interface FileLimits {
  timeoutMs: number;
  maxBytes: number;
}

export async function readBounded(file: string, limits: FileLimits): Promise<Result<{ text: string }>> {
  try {
    return { ok: true, text: (await readFileBounded(file, limits)).toString('utf8') };
  } catch (err) {
    // The setting to raise is named: the cap is the operator's own.
    const hint = err instanceof FileReadError && err.code === 'TOO_LARGE' ? ' (discovery.max_file_bytes)' : '';
    return { ok: false, error: { code: fileErrorCode(err), message: `${file} ${describeFileError(err)}${hint}` } };
  }
}
