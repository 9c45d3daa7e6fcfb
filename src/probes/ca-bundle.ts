// The CA certificates a TLS probe trusts: a PEM bundle, a directory of certificates
// (like the Linux package's /etc/gitlab/trusted-certs), or the system store.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Result } from '../evidence.ts';
import { derToPem, parsePemChain, PemError } from './x509-facts.ts';

export interface CaBundleDeps {
  readFile?: (path: string) => Buffer | string;
  readdir?: (path: string) => string[];
  stat?: (path: string) => { isFile(): boolean; isDirectory(): boolean };
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

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable (permission denied)';
  return `could not be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
}

function readText(path: string, readFile: (path: string) => Buffer | string): string {
  const content = readFile(path);
  if (content.length > MAX_FILE_BYTES) throw new PemError(`the file is larger than ${MAX_FILE_BYTES} bytes`);
  return typeof content === 'string' ? content : content.toString('utf8');
}

export function loadCaBundle(path: string | undefined, deps: CaBundleDeps = {}): CaBundle {
  if (path === undefined) return { ok: true, pems: undefined, source: 'system', count: rootCertificates.length };
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p));
  const readdir = deps.readdir ?? ((p: string) => readdirSync(p));
  const stat = deps.stat ?? ((p: string) => statSync(p));

  let isDirectory: boolean;
  try {
    isDirectory = stat(path).isDirectory();
  } catch (err) {
    return caError(`CA bundle ${path} ${reason(err)}.`);
  }

  const files: string[] = [];
  if (isDirectory) {
    let names: string[];
    try {
      names = readdir(path);
    } catch (err) {
      return caError(`CA directory ${path} ${reason(err)}.`);
    }
    for (const name of [...names].sort()) {
      if (!CERTIFICATE_FILE.test(name)) continue;
      const file = join(path, name);
      try {
        if (stat(file).isFile()) files.push(file);
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
      const text = readText(file, readFile);
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

function fingerprint(path: string | undefined): string {
  if (path === undefined) return 'system';
  try {
    const top = statSync(path);
    const parts = [`${top.ino}:${top.size}:${top.mtimeMs}`];
    // A directory's own mtime changes when a file is added or removed, not when one is rewritten.
    if (top.isDirectory())
      for (const name of readdirSync(path).sort()) {
        if (!CERTIFICATE_FILE.test(name)) continue;
        try {
          const s = statSync(join(path, name));
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

  constructor(private readonly now: () => number = Date.now) {}

  get(path: string | undefined): CaBundle {
    const nowMs = this.now();
    const entry = this.entry;
    if (entry && entry.path === path && nowMs - entry.checkedMs < RECHECK_MS) return entry.bundle;
    const print = fingerprint(path);
    if (entry && entry.path === path && entry.print === print) {
      entry.checkedMs = nowMs;
      return entry.bundle;
    }
    const bundle = loadCaBundle(path);
    this.entry = { path, print, checkedMs: nowMs, bundle };
    return bundle;
  }
}
