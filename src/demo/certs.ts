// Certificate factory for the demo fleet and the tests: a CA, intermediates and leaf variants
// (expired, not yet valid, wrong SAN, IP SAN, Common Name only, self-signed).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;

const DAY_MS = 24 * 60 * 60 * 1000;

export type KeyKind = 'ec' | 'rsa';

export interface Issued {
  /** PEM of this certificate alone. */
  certPem: string;
  /** PKCS#8 PEM of its private key. */
  keyPem: string;
  /** DER-derived object, for issuing further certificates. */
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  serial: string;
}

export interface IssueOptions {
  /** Common Name of the subject. */
  commonName: string;
  /** DNS SANs. An empty list together with no ipAddresses gives a certificate with no SAN extension. */
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Validity relative to now (negative = in the past). Defaults: -1 day .. +90 days. */
  notBeforeOffsetMs?: number;
  notAfterOffsetMs?: number;
  /** Absolute validity, overrides the offsets. */
  notBefore?: Date;
  notAfter?: Date;
  isCa?: boolean;
  key?: KeyKind;
  serial?: string;
  /** Clock for the offsets; defaults to Date.now(). */
  nowMs?: number;
  /** Hash the issuer signs with (SHA-256 by default); SHA-1 for tests of weak signatures (ECDSA issuers). */
  signatureHash?: 'SHA-1' | 'SHA-256';
}

let serialCounter = 0x1000;

function nextSerial(): string {
  serialCounter += 1;
  // A leading non-zero nibble keeps the DER INTEGER positive and the hex stable across tools.
  const hex = `7A${Date.now().toString(16)}${serialCounter.toString(16)}`.toUpperCase();
  return hex.length % 2 === 0 ? hex : `${hex}0`;
}

async function generateKeys(kind: KeyKind): Promise<{ keys: CryptoKeyPair; algorithm: EcKeyGenParams | RsaHashedKeyGenParams }> {
  const algorithm: EcKeyGenParams | RsaHashedKeyGenParams =
    kind === 'ec'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  return { keys, algorithm };
}

function signingAlgorithm(keys: CryptoKeyPair, hash: 'SHA-1' | 'SHA-256' = 'SHA-256'): Algorithm | EcdsaParams {
  return keys.privateKey.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const body = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim();
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

function validity(options: IssueOptions): { notBefore: Date; notAfter: Date } {
  const now = options.nowMs ?? Date.now();
  return {
    notBefore: options.notBefore ?? new Date(now + (options.notBeforeOffsetMs ?? -DAY_MS)),
    notAfter: options.notAfter ?? new Date(now + (options.notAfterOffsetMs ?? 90 * DAY_MS)),
  };
}

async function extensionsFor(options: IssueOptions, keys: CryptoKeyPair, issuer: Issued | null): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [];
  if (options.isCa) {
    extensions.push(new x509.BasicConstraintsExtension(true, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true));
    extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]));
  }
  const names = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  return extensions;
}

/** Issues a certificate signed by `issuer`, or self-signed when `issuer` is null. */
export async function issue(options: IssueOptions, issuer: Issued | null = null): Promise<Issued> {
  const { keys } = await generateKeys(options.key ?? 'ec');
  const serial = options.serial ?? nextSerial();
  const { notBefore, notAfter } = validity(options);
  const extensions = await extensionsFor(options, keys, issuer);
  const name = `CN=${options.commonName}`;
  const cert = issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber: serial,
        subject: name,
        issuer: issuer.cert.subject,
        notBefore,
        notAfter,
        extensions,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
        signingAlgorithm: signingAlgorithm(issuer.keys, options.signatureHash),
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial,
        name,
        notBefore,
        notAfter,
        extensions,
        keys,
        signingAlgorithm: signingAlgorithm(keys, options.signatureHash),
      });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys), cert, keys, serial };
}

/** A root CA valid from a day ago for ten years. */
export function createCa(commonName = 'gitaly-tls-exporter test CA', options: Partial<IssueOptions> = {}): Promise<Issued> {
  return issue({ notAfterOffsetMs: 3650 * DAY_MS, ...options, commonName, isCa: true });
}

/** An intermediate CA signed by `parent`. */
export function createIntermediate(
  parent: Issued,
  commonName = 'gitaly-tls-exporter test intermediate',
  options: Partial<IssueOptions> = {},
): Promise<Issued> {
  return issue({ notAfterOffsetMs: 1825 * DAY_MS, ...options, commonName, isCa: true }, parent);
}

/** A server certificate for `host` (a DNS name or an IP literal goes in the matching SAN type). */
export function createLeaf(issuer: Issued | null, host: string, options: Partial<IssueOptions> = {}): Promise<Issued> {
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  return issue(
    {
      commonName: host,
      dnsNames: isIp ? [] : [host],
      ipAddresses: isIp ? [host] : [],
      ...options,
    },
    issuer,
  );
}

/** Concatenates PEMs into a chain file (leaf first, as Gitaly's certificate_path holds it). */
export function chainPem(...certs: Issued[]): string {
  return certs.map((c) => c.certPem).join('');
}

export { DAY_MS };
