// Where the management plane's key and certificate come from: the operator's
// files (http.management.cert / key), or a pair rackboot generated at its first
// start and keeps in the state directory (management-key.pem,
// management-cert.pem, mode 0600), written atomically: each file goes to a
// temporary name, is fsynced, renamed into place, and the directory fsynced.
// A missing, damaged or mismatched stored pair is replaced by a new one (and
// said so in the log: its fingerprint changes).

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../util/log.js';
import { certificateIdentity, createSelfSignedCertificate, type CertificateIdentity } from './self-signed-cert.js';

export const GENERATED_KEY_FILE = 'management-key.pem';
export const GENERATED_CERT_FILE = 'management-cert.pem';

export interface ManagementCertOptions {
  stateDir: string;
  /** The operator's own pair; both or neither. */
  certFile?: string;
  keyFile?: string;
  /** For a generated certificate: its common name and the DNS names and addresses it lists. */
  commonName: string;
  names: readonly string[];
  log: Logger;
  now?: () => Date;
}

export interface ManagementCert {
  key: string;
  cert: string;
  identity: CertificateIdentity;
  source: 'operator' | 'generated';
  certFile: string;
  keyFile: string;
}

/** A problem with the operator's files: names the config key, the file and what is wrong. */
export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

export async function loadManagementCert(opts: ManagementCertOptions): Promise<ManagementCert> {
  if (opts.certFile !== undefined && opts.keyFile !== undefined) return loadOperatorPair(opts.certFile, opts.keyFile);
  const certFile = join(opts.stateDir, GENERATED_CERT_FILE);
  const keyFile = join(opts.stateDir, GENERATED_KEY_FILE);
  const stored = await readStoredPair(certFile, keyFile);
  if (stored.ok) return { ...stored.pair, identity: certificateIdentity(stored.pair.cert), source: 'generated', certFile, keyFile };
  if (stored.reason !== 'missing')
    opts.log.warn('the stored management certificate is unusable; making a new one (its fingerprint changes)', { reason: stored.reason });
  const made = createSelfSignedCertificate({ commonName: opts.commonName, names: opts.names, now: (opts.now ?? (() => new Date()))() });
  // The key first: a crash between the two leaves a pair that does not match, which the next start replaces.
  await writeFileAtomic(keyFile, made.keyPem);
  await writeFileAtomic(certFile, made.certPem);
  await syncDirectory(opts.stateDir);
  opts.log.info('made a self-signed management certificate', { certFile, names: opts.names.join(' ') });
  return { key: made.keyPem, cert: made.certPem, identity: certificateIdentity(made.certPem), source: 'generated', certFile, keyFile };
}

async function loadOperatorPair(certFile: string, keyFile: string): Promise<ManagementCert> {
  const read = async (file: string, key: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new CertificateError(`http.management.${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const cert = await read(certFile, 'cert');
  const key = await read(keyFile, 'key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new CertificateError(`http.management.cert: ${certFile} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('mismatch');
  } catch (error) {
    throw new CertificateError(
      (error as Error).message === 'mismatch'
        ? `http.management.key: ${keyFile} is not the key of the certificate in ${certFile}`
        : `http.management.key: ${keyFile} is not a PEM private key (unencrypted PKCS#8, PKCS#1 or SEC1)`,
    );
  }
  return { key, cert, identity: certificateIdentity(cert), source: 'operator', certFile, keyFile };
}

type Stored = { ok: true; pair: { key: string; cert: string } } | { ok: false; reason: string };

async function readStoredPair(certFile: string, keyFile: string): Promise<Stored> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'missing' : `cannot read: ${code ?? (error as Error).message}` };
  }
  try {
    if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) return { ok: false, reason: 'the key does not match the certificate' };
  } catch (error) {
    return { ok: false, reason: `damaged: ${(error as Error).message}` };
  }
  return { ok: true, pair: { key, cert } };
}

/** tmp (0600) + write + fsync + rename: a reader sees the old file or the whole new one. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await unlink(tmp).catch(() => undefined);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
