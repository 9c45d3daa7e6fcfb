// A saved TLS session, as Node hands it out ('session' event), is OpenSSL's DER encoding of
// SSL_SESSION (ssl/ssl_asn1.c): a SEQUENCE of fields, the server's leaf certificate among them as
// [3] peer. Resuming with it (TLSSocket#setSession) decodes that certificate again, public key
// included: 115 - 190 µs per probe on Node 20 (OpenSSL 3.0) and 1.4 - 1.8 µs without it; on
// Node 24 (OpenSSL 3.5) 14 - 21 µs and 2.3 - 3.9 µs. At 10,000 nodes per collection on Node 20 it
// was the costliest step of a resumed probe. A resumed probe never reads the peer certificate: it
// reports the chain verified at the full handshake (tls-sessions.ts), so the copy kept for
// resuming goes without it. Resumption itself needs only the ticket and the keys, which stay;
// checked on TLS 1.2 and 1.3 in test/probes/tls-resumption.test.ts.

const SEQUENCE = 0x30;
/** Context-specific, constructed, tag number 3: the `peer` field. */
const PEER_FIELD = 0xa3;
const HIGH_TAG_NUMBER = 0x1f;

function readLength(der: Buffer, at: number): { length: number; next: number } | null {
  const first = der[at];
  if (first === undefined) return null;
  if (first < 0x80) return { length: first, next: at + 1 };
  const count = first & 0x7f;
  if (count === 0 || count > 3 || at + 1 + count > der.length) return null;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[at + 1 + i]!;
  return { length, next: at + 1 + count };
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/**
 * The session without the server's certificate; the input itself when it holds none or is not
 * laid out as expected (resuming with it then works as before, only slower).
 */
export function withoutPeerCertificate(session: Buffer): Buffer {
  const derAt = nodeHeaderLength(session);
  if (derAt === null) return session;
  const der = session.subarray(derAt);
  const stripped = derWithoutPeer(der);
  return stripped === der ? session : Buffer.concat([session.subarray(0, derAt), stripped]);
}

/**
 * Node 24 (checked on 24.22) puts its own header before OpenSSL's encoding: this magic, then the
 * server name as a 2-byte length and its bytes. Node 20 hands out the bare encoding.
 */
const NODE_HEADER = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');

/** Where the DER starts: 0 for a bare encoding, past Node's header, or null for a header not understood. */
function nodeHeaderLength(session: Buffer): number | null {
  if (session[0] === SEQUENCE) return 0;
  if (session.length < NODE_HEADER.length + 2 || !session.subarray(0, NODE_HEADER.length).equals(NODE_HEADER)) return null;
  const end = NODE_HEADER.length + 2 + session.readUInt16BE(NODE_HEADER.length);
  return end < session.length ? end : null;
}

function derWithoutPeer(der: Buffer): Buffer {
  if (der[0] !== SEQUENCE) return der;
  const outer = readLength(der, 1);
  if (!outer || outer.next + outer.length !== der.length) return der;
  const kept: Buffer[] = [];
  let dropped = false;
  for (let at = outer.next; at < der.length;) {
    const tag = der[at]!;
    if ((tag & HIGH_TAG_NUMBER) === HIGH_TAG_NUMBER) return der;
    const field = readLength(der, at + 1);
    if (!field || field.next + field.length > der.length) return der;
    const end = field.next + field.length;
    if (tag === PEER_FIELD) dropped = true;
    else kept.push(der.subarray(at, end));
    at = end;
  }
  if (!dropped) return der;
  const body = Buffer.concat(kept);
  return Buffer.concat([Buffer.from([SEQUENCE]), encodeLength(body.length), body]);
}
