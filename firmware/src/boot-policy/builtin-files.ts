// The iPXE binaries rackboot hands to PXE firmware ship with the appliance
// (Debian's `ipxe` package, /usr/lib/ipxe). A boot root that does not carry its
// own copy is served these, so `serve --root DIR` with only a kernel and an
// initrd on a USB stick still chainloads every PXE client into iPXE. The same
// holds for the Secure Boot chain when the appliance has Debian's signed shim
// (shim-signed) and network GRUB (grub-efi-amd64-signed) installed.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const IPXE_DIR = '/usr/lib/ipxe';

/** Names the boot policy hands out (boot/policy.ts) plus the other Debian iPXE images. */
const BUILTIN_NAMES = new Set(['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'ipxe.pxe', 'ipxe.lkrn']);

/** shim and GRUB as loader.ts names them, from Debian's signed packages. */
export const SIGNED_FILES: Readonly<Record<string, string>> = {
  'shimx64.efi': '/usr/lib/shim/shimx64.efi.signed',
  'grubx64.efi': '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed',
};

/**
 * The built-in file for a root-relative name missing from the boot root, if there is one:
 * iPXE images from `dir`; when `dir` is the appliance's own, the signed chain too.
 */
export function builtinBootFile(relative: string, dir = IPXE_DIR): string | undefined {
  const name = relative.replace(/^\/+/, '');
  const path = BUILTIN_NAMES.has(name) ? join(dir, name) : dir === IPXE_DIR && Object.hasOwn(SIGNED_FILES, name) ? SIGNED_FILES[name] : undefined;
  return path !== undefined && existsSync(path) ? path : undefined;
}
