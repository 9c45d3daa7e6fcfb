// Facts about one X.509 certificate, as the metrics and the status page show them, and PEM chain parsing.
// node:crypto gives names, SANs, dates and the key; the signature algorithm, which node:crypto does not
// expose, is read from the DER by OID.
import { createHash, X509Certificate } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { CertificateFacts, ChainPosition } from '../evidence/evidence.ts';

/** A PEM text that holds a broken CERTIFICATE block; the message says which block and why. */
export class PemError extends Error {
  override name = 'PemError';
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n?([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BEGIN_CERTIFICATE = /-----BEGIN CERTIFICATE-----/g;

/**
 * DER of each CERTIFICATE block, in file order. Other blocks (keys, parameters) are ignored.
 * Throws PemError when a certificate block is unterminated, not base64, or not a parseable certificate.
 */
export function parsePemChain(pem: string): Buffer[] {
  const ders: Buffer[] = [];
  let blocks = 0;
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const [, begin, body = '', end] = match;
    if (begin !== 'CERTIFICATE') continue;
    blocks += 1;
    if (end !== 'CERTIFICATE') throw new PemError(`certificate block ${blocks} ends with "-----END ${end}-----"`);
    const base64 = body.replace(/\s+/g, '');
    if (base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new PemError(`certificate block ${blocks} is not valid base64`);
    }
    const der = Buffer.from(base64, 'base64');
    try {
      new X509Certificate(der);
    } catch {
      throw new PemError(`certificate block ${blocks} is not a valid X.509 certificate`);
    }
    ders.push(der);
  }
  const begins = pem.match(BEGIN_CERTIFICATE)?.length ?? 0;
  if (begins !== blocks) throw new PemError(`certificate block ${blocks + 1} has no "-----END CERTIFICATE-----" line`);
  return ders;
}

/** PEM text of one DER certificate (64-column base64, as OpenSSL writes it). */
export function derToPem(der: Buffer): string {
  const body = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** Signed by its own key under its own name: a root (or a self-signed leaf). */
export function isSelfSigned(der: Buffer): boolean {
  try {
    const cert = new X509Certificate(der);
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

/** Canonical text of an IP address: IPv6 compressed and lower case, IPv4-mapped IPv6 as IPv4 (as Go prints it). */
export function normalizeIp(ip: string): string {
  const bare = ip.trim().replace(/^\[(.*)\]$/, '$1');
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare.toLowerCase();
  try {
    // The WHATWG URL parser is a ready-made RFC 5952 serialiser.
    const compressed = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
    if (!mapped) return compressed;
    const high = parseInt(mapped[1]!, 16);
    const low = parseInt(mapped[2]!, 16);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  } catch {
    return bare.toLowerCase();
  }
}

/**
 * Splits node:crypto's subjectAltName ("DNS:a, IP Address:1.2.3.4, DNS:\"x\\u002cy\"").
 * Node quotes (JSON) any value holding a comma, quote or control character, so ", " outside quotes
 * always separates entries.
 */
function parseSubjectAltName(text: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  if (!text) return { dnsNames, ipAddresses };
  const entry = /([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  let match: RegExpExecArray | null;
  while (entry.lastIndex < text.length && (match = entry.exec(text)) !== null) {
    const [, type = '', raw = ''] = match;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw;
      }
    }
    if (type === 'DNS') dnsNames.push(value);
    else if (type === 'IP Address') ipAddresses.push(normalizeIp(value));
  }
  return { dnsNames, ipAddresses };
}

/** node:crypto prints names one attribute per line, most general first; RFC 4514 puts the most specific first. */
function oneLineName(multiline: string): string {
  return multiline
    .split('\n')
    .filter((part) => part !== '')
    .reverse()
    .join(',');
}

const EC_CURVE_BITS: Record<string, number> = {
  prime256v1: 256,
  'P-256': 256,
  secp384r1: 384,
  'P-384': 384,
  secp521r1: 521,
  'P-521': 521,
  secp256k1: 256,
};

function keyFacts(cert: X509Certificate): { keyType: string; keyBits: number | null } {
  const key = cert.publicKey;
  const keyType = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};
  if (typeof details.modulusLength === 'number') return { keyType, keyBits: details.modulusLength };
  if (details.namedCurve) return { keyType, keyBits: EC_CURVE_BITS[details.namedCurve] ?? null };
  if (keyType === 'ed25519') return { keyType, keyBits: 256 };
  if (keyType === 'ed448') return { keyType, keyBits: 456 };
  return { keyType, keyBits: null };
}

/** Signature algorithms by OID, named as `openssl x509 -text` prints them, which is what admins compare against. */
const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10040.4.3': 'dsa_with_SHA1',
  '2.16.840.1.101.3.4.3.2': 'dsa_with_SHA256',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};

/** One DER element at `offset`: its tag and where its contents start and end; null if malformed. */
function derElement(der: Buffer, offset: number): { tag: number; start: number; end: number } | null {
  if (offset + 2 > der.length) return null;
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > der.length) return null;
    length = 0;
    for (let i = 0; i < bytes; i += 1) length = length * 256 + der[start + i]!;
    start += bytes;
  }
  return start + length > der.length ? null : { tag, start, end: start + length };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/**
 * The outer signatureAlgorithm of Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, … },
 * read from the DER by OID: every algorithm gets its name (SHA-1 included), an unknown one its OID.
 */
function signatureAlgorithmName(der: Buffer): string {
  const certificate = derElement(der, 0);
  const tbs = certificate && certificate.tag === 0x30 ? derElement(der, certificate.start) : null;
  const algorithm = tbs ? derElement(der, tbs.end) : null;
  const oid = algorithm && algorithm.tag === 0x30 ? derElement(der, algorithm.start) : null;
  if (!oid || oid.tag !== 0x06) return 'unknown';
  const dotted = decodeOid(der.subarray(oid.start, oid.end));
  return SIGNATURE_ALGORITHMS[dotted] ?? dotted;
}

/** `der` must be a certificate OpenSSL parses (parsePemChain and a TLS handshake guarantee that). */
export function certificateFacts(der: Buffer, position: ChainPosition): CertificateFacts {
  const cert = new X509Certificate(der);
  const { dnsNames, ipAddresses } = parseSubjectAltName(cert.subjectAltName);
  return {
    position,
    serial: cert.serialNumber.toUpperCase(),
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    dnsNames,
    ipAddresses,
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    sha256: createHash('sha256').update(der).digest('hex'),
    ...keyFacts(cert),
    signatureAlgorithm: signatureAlgorithmName(der),
  };
}

// The same few certificates come back every cycle from every node: parsing them (two X.509
// parsers and a signature check) costs more than the handshake, so facts are kept by DER hash.
const FACTS_CACHE_LIMIT = 4096;
const factsCache = new Map<string, { facts: Omit<CertificateFacts, 'position'>; selfSigned: boolean }>();

function cachedFacts(der: Buffer): { facts: Omit<CertificateFacts, 'position'>; selfSigned: boolean } {
  const key = createHash('sha256').update(der).digest('hex');
  let entry = factsCache.get(key);
  if (!entry) {
    const { position: _, ...facts } = certificateFacts(der, 'leaf');
    entry = { facts, selfSigned: isSelfSigned(der) };
    if (factsCache.size >= FACTS_CACHE_LIMIT) factsCache.delete(factsCache.keys().next().value as string);
    factsCache.set(key, entry);
  }
  return entry;
}

/**
 * Facts for a chain given leaf first: index 0 is the leaf, later self-signed ones are roots.
 * `sent`, for a chain from a handshake: whether the server sent each certificate.
 */
export function chainFacts(ders: Buffer[], sent?: readonly boolean[]): CertificateFacts[] {
  return ders.map((der, index) => {
    const { facts, selfSigned } = cachedFacts(der);
    const position = index === 0 ? 'leaf' : selfSigned ? 'root' : 'intermediate';
    return sent ? { position, ...facts, sent: sent[index] === true } : { position, ...facts };
  });
}
