// The CA certificates a TLS probe trusts: a PEM bundle, a directory of certificates
// (like the Linux package's /etc/gitlab/trusted-certs), or the system store.
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Result } from '../evidence/evidence.ts';
import { describeFileError, FILE_TIMEOUT_MS, readdirBounded, readFileBounded, statBounded } from '../files/bounded-file.ts';
import { derToPem, parsePemChain, PemError } from './x509-facts.ts';

type Maybe<T> = T | Promise<T>;

export interface CaBundleDeps {
  readFile?: (path: string) => Maybe<Buffer | string>;
  readdir?: (path: string) => Maybe<string[]>;
  stat?: (path: string) => Maybe<{ isFile(): boolean; isDirectory(): boolean }>;
}

export type CaBundle = Result<{
  /** One PEM per certificate; undefined = Node's default roots. */
  pems: string[] | undefined;
  /** The path the certificates came from, or 'system'. */
  source: string;
  count: number;
}>;

/** A bundle of every public root is ~200 KB; anything far beyond that is not a CA file. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CERTIFICATE_FILE = /\.(pem|crt|cer)$/i;

function caError(message: string): CaBundle {
  return { ok: false, error: { code: 'CA_BUNDLE', message } };
}

const reason = describeFileError;

async function readText(path: string, readFile: NonNullable<CaBundleDeps['readFile']>): Promise<string> {
  const content = await readFile(path);
  if (content.length > MAX_FILE_BYTES) throw new PemError(`the file is larger than ${MAX_FILE_BYTES} bytes`);
  return typeof content === 'string' ? content : content.toString('utf8');
}

export async function loadCaBundle(path: string | undefined, deps: CaBundleDeps = {}): Promise<CaBundle> {
  if (path === undefined) return { ok: true, pems: undefined, source: 'system', count: rootCertificates.length };
  // Read at collections and /probe: a FIFO or a hung mount here must not stop the event loop.
  const readFile = deps.readFile ?? ((p: string) => readFileBounded(p, { timeoutMs: FILE_TIMEOUT_MS, maxBytes: MAX_FILE_BYTES }));
  const readdir = deps.readdir ?? ((p: string) => readdirBounded(p));
  const stat = deps.stat ?? ((p: string) => statBounded(p));

  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (err) {
    return caError(`CA bundle ${path} ${reason(err)}.`);
  }

  const files: string[] = [];
  if (isDirectory) {
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      return caError(`CA directory ${path} ${reason(err)}.`);
    }
    for (const name of [...names].sort()) {
      if (!CERTIFICATE_FILE.test(name)) continue;
      const file = join(path, name);
      try {
        if ((await stat(file)).isFile()) files.push(file);
      } catch {
        // A dangling symlink in a certificate directory is common and harmless.
      }
    }
  } else {
    files.push(path);
  }

  const seen = new Set<string>();
  const pems: string[] = [];
  for (const file of files) {
    let ders: Buffer[];
    try {
      const text = await readText(file, readFile);
      // In a directory, a DER or otherwise non-PEM file is skipped, as OpenSSL's c_rehash does.
      if (isDirectory && !text.includes('-----BEGIN CERTIFICATE-----')) continue;
      ders = parsePemChain(text);
    } catch (err) {
      return caError(err instanceof PemError ? `CA file ${file}: ${err.message}.` : `CA file ${file} ${reason(err)}.`);
    }
    for (const der of ders) {
      const pem = derToPem(der);
      if (seen.has(pem)) continue;
      seen.add(pem);
      pems.push(pem);
    }
  }
  if (pems.length === 0) {
    return caError(
      isDirectory ? `CA directory ${path} holds no PEM certificate (.pem, .crt, .cer).` : `CA file ${path} holds no PEM certificate.`,
    );
  }
  return { ok: true, pems, source: path, count: pems.length };
}

/** How long a loaded bundle is reused before the files are looked at (stat only) again. */
const RECHECK_MS = 1_000;

async function fingerprint(path: string | undefined): Promise<string> {
  if (path === undefined) return 'system';
  try {
    const top = await statBounded(path);
    const parts = [`${top.ino}:${top.size}:${top.mtimeMs}`];
    // A directory's own mtime changes when a file is added or removed, not when one is rewritten.
    if (top.isDirectory())
      for (const name of (await readdirBounded(path)).sort()) {
        if (!CERTIFICATE_FILE.test(name)) continue;
        try {
          const s = await statBounded(join(path, name));
          parts.push(`${name}:${s.ino}:${s.size}:${s.mtimeMs}`);
        } catch {
          parts.push(`${name}:gone`);
        }
      }
    return parts.join('|');
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

/**
 * Parsing a bundle of a hundred certificates, and the TLS contexts built from it, cost ~200 ms of
 * blocking work. One cache serves the collector and /probe: the same `pems` array comes back until
 * the files change (checked by stat at most once a second), so the TLS contexts keyed by it are
 * built once too.
 */
export class CaBundleCache {
  private entry: { path: string | undefined; print: string; checkedMs: number; bundle: CaBundle } | null = null;
  /** The look in progress: the collector and /probe calls that arrive meanwhile share it. */
  private pending: { path: string | undefined; bundle: Promise<CaBundle> } | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  get(path: string | undefined): Promise<CaBundle> {
    const entry = this.entry;
    if (entry && entry.path === path && this.now() - entry.checkedMs < RECHECK_MS) return Promise.resolve(entry.bundle);
    if (this.pending && this.pending.path === path) return this.pending.bundle;
    const pending = { path, bundle: this.refresh(path) };
    this.pending = pending;
    void pending.bundle.finally(() => {
      if (this.pending === pending) this.pending = null;
    });
    return pending.bundle;
  }

  private async refresh(path: string | undefined): Promise<CaBundle> {
    const nowMs = this.now();
    const print = await fingerprint(path);
    const entry = this.entry;
    if (entry && entry.path === path && entry.print === print) {
      entry.checkedMs = nowMs;
      return entry.bundle;
    }
    const bundle = await loadCaBundle(path);
    this.entry = { path, print, checkedMs: nowMs, bundle };
    return bundle;
  }
}
