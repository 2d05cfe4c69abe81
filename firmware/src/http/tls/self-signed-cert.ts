// The management plane's own certificate: an ECDSA P-256 key and a
// self-signed X.509 v3 certificate for it, made with Node's crypto and the DER
// writer in der.ts (Node can make keys and signatures but not certificates).
// Browsers and curl trust it by its fingerprint (pinned), not by a CA, so the
// subject alternative names list what the box is reachable as for clients
// that also check names (curl --cacert).

import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, explicit, implicit, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';
const SUBJECT_ALT_NAME = '2.5.29.17';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXT_KEY_USAGE = '2.5.29.37';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const SUBJECT_KEY_ID = '2.5.29.14';

export interface SelfSignedOptions {
  /** The subject's common name, e.g. "rackboot rack-a". */
  commonName: string;
  /** DNS names and IP addresses (v4 or v6) the certificate is for. */
  names: readonly string[];
  /** Start of validity (a day before this, for clocks a little behind). */
  now: Date;
  /** Years the certificate is valid. */
  years?: number;
}

export interface KeyAndCertificate {
  /** PKCS#8 PEM. */
  keyPem: string;
  /** X.509 PEM. */
  certPem: string;
}

export function createSelfSignedCertificate(opts: SelfSignedOptions): KeyAndCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const name = sequence(set(sequence(oid(ORGANIZATION), utf8String('rackboot'))), set(sequence(oid(COMMON_NAME), utf8String(opts.commonName.slice(0, 64)))));
  const notBefore = new Date(opts.now.getTime() - 24 * 3600_000);
  const notAfter = new Date(opts.now.getTime());
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (opts.years ?? 10));
  // Serial: 16 random bytes, top bit cleared so it stays positive and at most 20 bytes (RFC 5280 4.1.2.2).
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, sequence(...extensions(opts.names, spki))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const cert = sequence(tbs, algorithm, bitString(signature));
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: toPem(cert, 'CERTIFICATE') };
}

function extensions(names: readonly string[], spki: Buffer): Buffer[] {
  const general = [...new Set(names)].filter((n) => n !== '').map(generalName);
  const list = [
    extension(BASIC_CONSTRAINTS, true, sequence()), // not a CA
    extension(KEY_USAGE, true, bitString(Buffer.from([0x80]))), // digitalSignature
    extension(EXT_KEY_USAGE, false, sequence(oid(SERVER_AUTH))),
    extension(SUBJECT_KEY_ID, false, octetString(createHash('sha1').update(spki).digest())),
  ];
  if (general.length > 0) list.push(extension(SUBJECT_ALT_NAME, false, sequence(...general)));
  return list;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function generalName(name: string): Buffer {
  const family = isIP(name);
  if (family === 4) return implicit(7, Buffer.from(name.split('.').map(Number)));
  if (family === 6) return implicit(7, ipv6Bytes(name));
  return implicit(2, Buffer.from(name, 'ascii')); // dNSName (IA5String)
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const groups = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** What operators compare: the certificate's SHA-256 fingerprint (as `openssl x509 -fingerprint -sha256` prints it) and its key's SPKI pin. */
export interface CertificateIdentity {
  /** "AB:CD:…" (32 bytes). */
  sha256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: curl --pinnedpubkey sha256//PIN, Chromium --ignore-certificate-errors-spki-list=PIN. */
  spkiSha256: string;
  subject: string;
  validTo: string;
  names: string;
}

export function certificateIdentity(certPem: string | Buffer): CertificateIdentity {
  const cert = new X509Certificate(certPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return {
    sha256: cert.fingerprint256,
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
    subject: cert.subject.replace(/\n/g, ', '),
    validTo: cert.validTo,
    names: cert.subjectAltName ?? '',
  };
}
