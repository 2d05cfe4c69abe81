// TFTP request names, checked before anything touches the disk.
//
// resolveBootPath() is pure string checking; openWithinRoot() then asks the
// boot root for the file. Decisions (TFTP error codes from RFC 1350 section 5):
// - Empty name -> 1 (file not found). PXE ROMs send it when DHCP gave them no
//   boot file; "file not found" on the ROM's screen points at the DHCP filename,
//   which is what needs fixing.
// - Leading '/'s are stripped and the rest taken relative to the root, as
//   tftp-hpa -s does with one: many PXE configs say "/pxelinux.0" meaning the
//   root's file, and shim may ask for "//grubx64.efi" (the directory it was
//   loaded from, "/", joined with "/grubx64.efi"; it does over HTTP). "//etc/passwd"
//   is the root's etc/passwd, never the host's.
// - '..' segments -> 2, even when they would stay inside the root: no client
//   needs them and refusing them needs no path arithmetic to audit. '.' and
//   empty segments ("a//b") are dropped. A trailing '/' names a directory -> 2.
// - Backslashes -> 2, not translated: '\' is an ordinary byte in a Linux file
//   name, and translating it would open a second spelling of '..' to audit.
//   Windows-style clients (WDS) are not rackboot's clients.
// - NUL, control characters (0x00-0x1f, 0x7f) and bytes above 0x7e -> 2: RFC
//   1350 names are netascii, and a boot file name needs none of these.
// - Names over 255 bytes -> 2 (a Linux file name component's limit; boot
//   names are short).
// What lies behind a valid name (symlinks, file types, the appliance's built-in
// iPXE binaries) is the boot root's business (boot-policy/boot-root.ts); a
// refusal there is error 1 when the file is missing and 2 otherwise.
// PXELINUX lookups (pxelinux.cfg/01-aa-bb-cc-dd-ee-ff, pxelinux.cfg/C0A8010A,
// pxelinux.cfg/default) are plain relative names and need nothing special.

import { join } from 'node:path';
import type { BootRoot } from '../boot-policy/boot-root.js';
import { TftpError } from './codec.js';

export const MAX_NAME_BYTES = 255;

export type ResolvedPath = { ok: true; path: string; relative: string } | { ok: false; code: number; reason: string };
export type OpenedPath = { ok: true; path: string; size: number; mtimeMs: number } | { ok: false; code: number; reason: string };

export function resolveBootPath(root: string, requested: string): ResolvedPath {
  const refuse = (reason: string): ResolvedPath => ({ ok: false, code: TftpError.AccessViolation, reason });
  if (requested.length === 0) return { ok: false, code: TftpError.FileNotFound, reason: 'empty file name (no boot file name from DHCP?)' };
  if (requested.length > MAX_NAME_BYTES) return refuse(`file name of ${requested.length} bytes is longer than ${MAX_NAME_BYTES}`);
  for (let i = 0; i < requested.length; i++) {
    const code = requested.charCodeAt(i);
    if (code === 0) return refuse(`file name contains a NUL byte at ${i}`);
    if (code < 0x20 || code === 0x7f) return refuse(`file name contains control character 0x${code.toString(16).padStart(2, '0')} at ${i}`);
    if (code > 0x7e) return refuse(`file name contains a non-ASCII byte at ${i}`);
    if (code === 0x5c) return refuse('file name contains a backslash');
  }
  // tftp-hpa -s: "/pxelinux.0" is the root's pxelinux.0; shim's "//grubx64.efi" the root's grubx64.efi.
  const name = requested.replace(/^\/+/, '');
  if (name.endsWith('/') || name === '') return refuse('file name names a directory');
  const segments: string[] = [];
  for (const segment of name.split('/')) {
    if (segment === '..') return refuse("file name contains a '..' segment");
    if (segment === '' || segment === '.') continue;
    segments.push(segment);
  }
  if (segments.length === 0) return refuse('file name names the boot root directory');
  const relative = segments.join('/');
  return { ok: true, path: join(root, relative), relative };
}

/** Locates a name resolveBootPath accepted in the boot root, with the TFTP error code for a refusal. */
export async function openWithinRoot(root: BootRoot, relative: string): Promise<OpenedPath> {
  const located = await root.locate(relative);
  if (located.ok) return { ok: true, path: located.path, size: located.size, mtimeMs: located.mtimeMs };
  return {
    ok: false,
    code: located.refusal === 'missing' || located.refusal === 'no-root' ? TftpError.FileNotFound : TftpError.AccessViolation,
    reason: located.reason,
  };
}
