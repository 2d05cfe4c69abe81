// The management plane's self-signed certificate, written as DER by rackboot
// itself, checked by OpenSSL (parse, self-verify, fingerprint, public key pin)
// and by a real TLS handshake with Node's TLS client trusting only it.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { oid, time, tlv, unsignedInteger } from '../../firmware/src/http/tls/der.js';
import { GENERATED_CERT_FILE, GENERATED_KEY_FILE, loadManagementCert } from '../../firmware/src/http/tls/cert-store.js';
import { certificateIdentity, createSelfSignedCertificate } from '../../firmware/src/http/tls/self-signed-cert.js';
import { createLogger } from '../../firmware/src/util/log.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-auth-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (args: string[], input?: string) => execFileSync('openssl', args, { encoding: 'utf8', ...(input !== undefined && { input }) });

describe('DER writer', () => {
  it('encodes lengths, integers, object identifiers and times as X.690 and RFC 5280 say', () => {
    expect(tlv(0x04, Buffer.alloc(127)).subarray(0, 2)).toEqual(Buffer.from([0x04, 0x7f]));
    expect(tlv(0x04, Buffer.alloc(128)).subarray(0, 3)).toEqual(Buffer.from([0x04, 0x81, 0x80]));
    expect(tlv(0x04, Buffer.alloc(300)).subarray(0, 4)).toEqual(Buffer.from([0x04, 0x82, 0x01, 0x2c]));
    expect(unsignedInteger(Buffer.from([0x00, 0x00, 0x80]))).toEqual(Buffer.from([0x02, 0x02, 0x00, 0x80]));
    expect(unsignedInteger(Buffer.from([0x00, 0x00]))).toEqual(Buffer.from([0x02, 0x01, 0x00]));
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(oid('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(time(new Date('2026-12-06T02:20:05.900Z')).toString('latin1')).toBe('\x17\x0d261206022005Z');
    expect(time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });
});

describe('self-signed certificate', () => {
  const made = createSelfSignedCertificate({ commonName: 'rackboot rack-a', names: ['rack-a.local', '127.0.0.1', '10.0.0.1', 'fd00::1'], now: new Date() });
  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, made.certPem);

  it('is a valid X.509 v3 certificate with an ECDSA P-256 key, signed by that key, for the names given', () => {
    const text = openssl(['x509', '-in', certFile, '-noout', '-text']);
    expect(text).toMatch(/Version: 3 \(0x2\)/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/NIST CURVE: P-256|ASN1 OID: prime256v1/);
    expect(text).toMatch(/DNS:rack-a\.local, IP Address:127\.0\.0\.1, IP Address:10\.0\.0\.1, IP Address:FD00:0:0:0:0:0:0:1/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(text).toMatch(/Subject: O = rackboot, CN = rackboot rack-a/);
    expect(openssl(['verify', '-CAfile', certFile, certFile]).trim()).toBe(`${certFile}: OK`);
    const keyText = openssl(['pkey', '-noout', '-text'], made.keyPem);
    expect(keyText).toMatch(/P-256|prime256v1/);
    // The key belongs to the certificate.
    expect(openssl(['pkey', '-pubout'], made.keyPem)).toBe(openssl(['x509', '-in', certFile, '-noout', '-pubkey']));
  });

  it('reports the fingerprint OpenSSL computes, and the public key pin curl and Chromium take', () => {
    const identity = certificateIdentity(made.certPem);
    const fingerprint = openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256']).trim();
    expect(fingerprint).toBe(`sha256 Fingerprint=${identity.sha256}`);
    const spkiDer = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: openssl(['x509', '-in', certFile, '-noout', '-pubkey']) });
    expect(identity.spkiSha256).toBe(createHash('sha256').update(spkiDer).digest('base64'));
  });

  it('is a different key and serial each time', () => {
    const other = createSelfSignedCertificate({ commonName: 'x', names: [], now: new Date() });
    expect(other.keyPem).not.toBe(made.keyPem);
    expect(certificateIdentity(other.certPem).sha256).not.toBe(certificateIdentity(made.certPem).sha256);
  });

  it('serves TLS that a client trusting only this certificate accepts, checking the address', async () => {
    const server = createServer({ key: made.keyPem, cert: made.certPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    // Node's client checks the chain and that 127.0.0.1 is among the certificate's IP addresses.
    const handshake = (ca: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, ca }, () => {
          resolve(socket.authorized ? 'authorized' : String(socket.authorizationError));
          socket.end();
        });
        socket.on('error', (e: Error) => resolve(e.message));
      });
    expect(await handshake(made.certPem)).toBe('authorized');
    const stranger = createSelfSignedCertificate({ commonName: 'x', names: ['127.0.0.1'], now: new Date() });
    expect(await handshake(stranger.certPem)).not.toBe('authorized');
    const otherName = createSelfSignedCertificate({ commonName: 'x', names: ['10.9.9.9'], now: new Date() });
    const otherServer = createServer({ key: otherName.keyPem, cert: otherName.certPem });
    await new Promise<void>((r) => otherServer.listen(0, '127.0.0.1', r));
    const mismatch = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: (otherServer.address() as AddressInfo).port, ca: otherName.certPem }, () => resolve('authorized'));
      socket.on('error', (e: Error) => resolve(e.message));
    });
    expect(mismatch).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
    otherServer.close();
    server.close();
  });
});

describe('management certificate store', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', write: (line) => lines.push(line) });
  const base = { commonName: 'rackboot t', names: ['127.0.0.1'], log };

  it('makes a pair at first start, 0600 in the state directory, and keeps it across starts', async () => {
    const stateDir = mkdtempSync(join(dir, 'state-'));
    const first = await loadManagementCert({ ...base, stateDir });
    expect(first.source).toBe('generated');
    expect(readdirSync(stateDir).sort()).toEqual([GENERATED_CERT_FILE, GENERATED_KEY_FILE]);
    for (const file of readdirSync(stateDir)) expect(statSync(join(stateDir, file)).mode & 0o777).toBe(0o600);
    const again = await loadManagementCert({ ...base, stateDir });
    expect(again.identity.sha256).toBe(first.identity.sha256);
    expect(again.key).toBe(first.key);
  });

  it('replaces a damaged or mismatched stored pair, and says so', async () => {
    const stateDir = mkdtempSync(join(dir, 'state-'));
    const first = await loadManagementCert({ ...base, stateDir });
    writeFileSync(join(stateDir, GENERATED_CERT_FILE), createSelfSignedCertificate({ commonName: 'x', names: [], now: new Date() }).certPem);
    lines.length = 0;
    const replaced = await loadManagementCert({ ...base, stateDir });
    expect(replaced.identity.sha256).not.toBe(first.identity.sha256);
    expect(lines.join('\n')).toMatch(/unusable.*does not match/);
    writeFileSync(join(stateDir, GENERATED_KEY_FILE), 'garbage');
    const again = await loadManagementCert({ ...base, stateDir });
    expect(again.identity.sha256).not.toBe(replaced.identity.sha256);
    expect(readdirSync(stateDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it("uses the operator's pair, and names the key and file of a bad one", async () => {
    const own = createSelfSignedCertificate({ commonName: 'operator', names: ['127.0.0.1'], now: new Date() });
    const other = createSelfSignedCertificate({ commonName: 'other', names: [], now: new Date() });
    const certFile = join(dir, 'own-cert.pem');
    const keyFile = join(dir, 'own-key.pem');
    const wrongKey = join(dir, 'other-key.pem');
    writeFileSync(certFile, own.certPem);
    writeFileSync(keyFile, own.keyPem);
    writeFileSync(wrongKey, other.keyPem);
    const stateDir = mkdtempSync(join(dir, 'state-'));
    const loaded = await loadManagementCert({ ...base, stateDir, certFile, keyFile });
    expect(loaded.source).toBe('operator');
    expect(loaded.identity.sha256).toBe(certificateIdentity(own.certPem).sha256);
    expect(readdirSync(stateDir)).toEqual([]);
    await expect(loadManagementCert({ ...base, stateDir, certFile, keyFile: wrongKey })).rejects.toThrow(
      `http.management.key: ${wrongKey} is not the key of the certificate in ${certFile}`,
    );
    await expect(loadManagementCert({ ...base, stateDir, certFile: join(dir, 'nope.pem'), keyFile })).rejects.toThrow(
      `http.management.cert: cannot read ${join(dir, 'nope.pem')}: ENOENT`,
    );
    await expect(loadManagementCert({ ...base, stateDir, certFile: keyFile, keyFile })).rejects.toThrow(/http.management.cert: .* is not a PEM certificate/);
  });
});
