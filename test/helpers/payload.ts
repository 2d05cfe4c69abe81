/**
 * The test boot payload: Debian's kernel, a busybox initrd whose /init prints
 *
 *   RACKBOOT-NODE-UP cmdline=<contents of /proc/cmdline>
 *
 * on the serial console and powers off, Debian's iPXE binaries and its signed
 * shim + GRUB (build/payload.sh says where each comes from), all in one
 * directory that can serve as a boot root. build/payload.sh builds it; this
 * module runs that script once per process into node_modules/.cache/rackboot-payload,
 * under an flock(1) lock so test files running in parallel (other workers, other
 * vitest runs) never build into the same directory at the same time. The script
 * itself skips the work when the payload is up to date.
 *
 *   const payload = await ensurePayload();   // { dir, kernel, initrd, ... }
 */

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export const PAYLOAD_DIR = join(REPO_ROOT, 'node_modules/.cache/rackboot-payload');
const SCRIPT = join(REPO_ROOT, 'build/payload.sh');
const LOCK = join(REPO_ROOT, 'node_modules/.cache/rackboot-payload.lock');
/** Downloading the kernel package (about 70 MB) on a slow mirror, plus waiting for another builder. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** The marker line's prefix; the initrd prints `${NODE_MARKER} cmdline=...`. */
export const NODE_MARKER = 'RACKBOOT-NODE-UP';

export interface Payload {
  /** The boot root: everything below is in here. */
  dir: string;
  /** dir/vmlinuz, Debian's kernel (8250 serial console built in; no network needed). */
  kernel: string;
  /** dir/initrd.img, gzip'ed newc cpio with static busybox and the marker /init. */
  initrd: string;
  /** dir/undionly.kpxe (BIOS PXE -> iPXE chainload), if Debian's ipxe package has it. */
  undionly?: string;
  /** dir/ipxe.efi (UEFI, iPXE's own NIC drivers). */
  ipxeEfi?: string;
  /** dir/snponly.efi (UEFI, iPXE over the firmware's SNP driver). */
  snponly?: string;
  /** dir/shimx64.efi and dir/grubx64.efi: Debian's signed shim and network GRUB (Secure Boot). */
  shim?: string;
  grub?: string;
  /** What build/payload.sh printed. */
  log: string;
}

let pending: Promise<Payload> | undefined;

/** Builds (or finds up to date) the payload; the first call in a process does the work. */
export function ensurePayload(): Promise<Payload> {
  pending ??= build().catch((err: unknown) => {
    pending = undefined; // let a later call retry (e.g. after apt-get update)
    throw err;
  });
  return pending;
}

function build(): Promise<Payload> {
  mkdirSync(join(REPO_ROOT, 'node_modules/.cache'), { recursive: true });
  const argv = ['flock', '--exclusive', '--timeout', String(BUILD_TIMEOUT_MS / 1000), LOCK, 'bash', SCRIPT, PAYLOAD_DIR];
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const log = `${stdout}${stderr}`;
      if (err) {
        const how = err.killed ? `killed after ${BUILD_TIMEOUT_MS} ms` : `exit code ${String(err.code)}`;
        reject(new Error(`build/payload.sh ${PAYLOAD_DIR} failed (${how}):\n${log.trim()}`));
        return;
      }
      const file = (name: string): string | undefined => (existsSync(join(PAYLOAD_DIR, name)) ? join(PAYLOAD_DIR, name) : undefined);
      const kernel = file('vmlinuz');
      const initrd = file('initrd.img');
      if (!kernel || !initrd) {
        reject(new Error(`build/payload.sh succeeded but ${PAYLOAD_DIR} lacks vmlinuz or initrd.img:\n${log.trim()}`));
        return;
      }
      resolve({
        dir: PAYLOAD_DIR,
        kernel,
        initrd,
        undionly: file('undionly.kpxe'),
        ipxeEfi: file('ipxe.efi'),
        snponly: file('snponly.efi'),
        shim: file('shimx64.efi'),
        grub: file('grubx64.efi'),
        log,
      });
    });
  });
}
