// The iPXE binaries rackboot hands to PXE firmware ship with the appliance
// (Debian's `ipxe` package, /usr/lib/ipxe). A boot root that does not carry its
// own copy is served these, so `serve --root DIR` with only a kernel and an
// initrd on a USB stick still chainloads every PXE client into iPXE.

import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const IPXE_DIR = '/usr/lib/ipxe';

/** Names the boot policy hands out (boot/policy.ts) plus the other Debian iPXE images. */
const BUILTIN_NAMES = new Set(['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'ipxe.pxe', 'ipxe.lkrn']);

/** The built-in file for a root-relative name missing from the boot root, if there is one. */
export function builtinBootFile(relative: string, dir = IPXE_DIR): string | undefined {
  const name = relative.replace(/^\/+/, '');
  if (!BUILTIN_NAMES.has(name)) return undefined;
  const path = join(dir, name);
  return existsSync(path) ? path : undefined;
}
