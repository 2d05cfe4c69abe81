// The boot root: the one directory whose regular files TFTP and HTTP serve.
// Each protocol first checks its own name syntax (tftp/paths.ts for RRQ names,
// http/boot-files.ts for URL paths) and hands over a relative path whose
// segments are plain names; this module is the only place that touches the file
// system with it. Contract of `locate`:
// - the file's real path, with every symlink resolved, lies inside the root's
//   real path (symlinks within the root are fine: vmlinuz -> vmlinuz-6.1.0-18,
//   pxelinux.cfg/01-<mac> -> ../profiles/compute; one that leads out is refused);
// - only regular files are served: directories, devices, FIFOs and sockets are refused;
// - a name missing from the root that is one of the appliance's own iPXE
//   binaries is served from those (builtin-files.ts), so a root with only a
//   kernel and an initrd still chainloads every PXE client;
// - refusals carry a kind the protocols map to their own codes, and a reason
//   for the operator's log.
// The root is the administrator's: network clients cannot create files in it
// (TFTP refuses WRQ, HTTP serves GET and HEAD only), so the time between these
// checks and the open is not a race a client can use; HTTP still opens with
// O_NOFOLLOW and checks the open file again.

import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { builtinBootFile, IPXE_DIR } from './builtin-files.js';

/** Why a file is not served. */
export type RootRefusal =
  | 'missing' //        no such file (ENOENT, or a path through a non-directory)
  | 'no-root' //        the boot root itself cannot be resolved
  | 'outside' //        a symlink leads out of the root
  | 'denied' //         permission denied
  | 'symlink-loop' //   too many levels of symlinks
  | 'name-too-long'
  | 'directory'
  | 'not-regular'; //   device, FIFO, socket

export type LocatedFile =
  { ok: true; /** real path */ path: string; size: number; mtimeMs: number; builtin: boolean } | { ok: false; refusal: RootRefusal; reason: string };

export interface BootRootOptions {
  /** Where the appliance's iPXE binaries are (default /usr/lib/ipxe); false serves none. */
  builtinDir?: string | false;
}

export class BootRoot {
  private readonly builtinDir: string | false;

  constructor(
    readonly dir: string,
    opts: BootRootOptions = {},
  ) {
    this.builtinDir = opts.builtinDir ?? IPXE_DIR;
  }

  /** Finds `relative` (segments joined by '/', none of them '', '.' or '..') under the root; see the contract above. */
  async locate(relative: string): Promise<LocatedFile> {
    let rootReal: string;
    try {
      rootReal = await realpath(this.dir);
    } catch (error) {
      return { ok: false, refusal: 'no-root', reason: `boot root ${this.dir} is not accessible (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
    }
    let real: string;
    try {
      real = await realpath(join(rootReal, relative));
    } catch (error) {
      const refused = fileSystemRefusal(error, relative);
      if (refused.refusal !== 'missing') return refused;
      const builtin = this.builtinDir === false ? undefined : builtinBootFile(relative, this.builtinDir);
      if (!builtin) return refused;
      try {
        return await this.describe(await realpath(builtin), relative, true);
      } catch (builtinError) {
        return fileSystemRefusal(builtinError, relative);
      }
    }
    const prefix = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
    if (real !== rootReal && !real.startsWith(prefix)) return { ok: false, refusal: 'outside', reason: `${relative} leads outside the boot root (symlink)` };
    return this.describe(real, relative, false);
  }

  private async describe(real: string, relative: string, builtin: boolean): Promise<LocatedFile> {
    let info;
    try {
      info = await stat(real);
    } catch (error) {
      return fileSystemRefusal(error, relative);
    }
    if (info.isDirectory()) return { ok: false, refusal: 'directory', reason: `${relative} is a directory` };
    if (!info.isFile()) return { ok: false, refusal: 'not-regular', reason: `${relative} is not a regular file` };
    return { ok: true, path: real, size: info.size, mtimeMs: info.mtimeMs, builtin };
  }
}

function fileSystemRefusal(error: unknown, relative: string): Extract<LocatedFile, { ok: false }> {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return { ok: false, refusal: 'missing', reason: `${relative}: file not found` };
    case 'EACCES':
    case 'EPERM':
      return { ok: false, refusal: 'denied', reason: `${relative}: permission denied` };
    case 'ELOOP':
      return { ok: false, refusal: 'symlink-loop', reason: `${relative}: too many symlinks` };
    case 'ENAMETOOLONG':
      return { ok: false, refusal: 'name-too-long', reason: `${relative}: name too long` };
    default:
      throw error;
  }
}
