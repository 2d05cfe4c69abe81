// GRUB configurations for nodes booting through shim + GRUB (Secure Boot),
// generated per node the way boot.ipxe is, and served by TFTP.
//
// What the other end does (Debian 12's grub-efi-amd64-signed, grubnetx64.efi,
// GRUB 2.06): shim, loaded by the firmware's PXE client, reads `grubx64.efi`
// over TFTP from the directory it was loaded from; GRUB takes the firmware's
// cached DHCP answer (no DHCP of its own), sets `net_default_mac` (lower-case
// hex with colons, grub-core/net/net.c grub_net_hwaddr_to_str), `root` to the
// TFTP server and `prefix` to `/grub` on it, and its normal mode reads
// `$prefix/grub.cfg` (after `grub.cfg-01-<mac with dashes>` and the address
// forms where the build has net_search_cfg). It has no `http` module, so the
// kernel and initrd come over TFTP as well, verified by shim's protocol (the
// kernel must be signed; Debian's is).
//
// rackboot answers `grub/grub.cfg` with a fixed entry that loads the node's own
// `grub/node-<mac>.cfg` (GRUB expands `${net_default_mac}` itself), and the
// per-node names `grub/node-<mac>.cfg` and `grub/grub.cfg-01-<mac>` with the
// node's profile: its kernel, initrds and command line with the node's fields
// filled in and `rackboot.booted=URL` last, as boot.ipxe does.
//
// GRUB's script syntax: words split at blanks; in single quotes nothing is
// special and a single quote cannot occur, so every value from the
// configuration or inventory is written as single-quoted words, a quote in it
// as '\'' (close, escaped quote, reopen). A failed command does not stop a
// GRUB script: after `boot` returns (a load failed) the config says so, waits
// and reboots, so the node tries its whole network boot again.

import { isMac, normalizeMac, type Mac } from '../net/addr.js';
import type { ProfileConfig } from '../config/schema.js';
import { nodeTemplateFields, renderTemplate } from './template.js';

/** GRUB's prefix directory on the TFTP server (Debian's grubnetx64 is built with `-p /grub`). */
export const GRUB_PREFIX = 'grub';
/** The file every GRUB node reads first. */
export const GRUB_ENTRY = `${GRUB_PREFIX}/grub.cfg`;
/** Seconds a GRUB node waits after a failed load before it reboots into a new network boot. */
const RETRY_AFTER_SECONDS = 10;

/** What a TFTP name under the boot root means to GRUB, if it is one of rackboot's generated GRUB files. */
export type GrubFileName = { kind: 'entry' } | { kind: 'node'; mac: Mac };

/** `grub/grub.cfg` -> entry; `grub/node-<mac>.cfg` and `grub/grub.cfg-01-<mac-with-dashes>` -> that node; anything else undefined. */
export function grubFileName(relative: string): GrubFileName | undefined {
  if (relative === GRUB_ENTRY) return { kind: 'entry' };
  const node = /^grub\/node-([0-9A-Fa-f:]{17})\.cfg$/.exec(relative) ?? /^grub\/grub\.cfg-01-([0-9A-Fa-f-]{17})$/.exec(relative);
  if (!node) return undefined;
  const mac = node[1].replace(/-/g, ':');
  return isMac(mac) ? { kind: 'node', mac: normalizeMac(mac) } : undefined;
}

/** The per-node file name GRUB is sent to by the entry config. */
export function grubNodeFile(mac: Mac): string {
  return `${GRUB_PREFIX}/node-${mac}.cfg`;
}

/** `grub/grub.cfg`: the same for every node; GRUB fills in its own MAC. */
export function grubEntryConfig(): string {
  return [
    '# rackboot: every node reads its own configuration, generated from its profile',
    `configfile "$prefix/node-\${net_default_mac}.cfg"`,
    // Only reached when that file could not be read.
    `echo ${grubWord(`rackboot: could not read this node's configuration; rebooting in ${RETRY_AFTER_SECONDS} seconds`)}`,
    `sleep ${RETRY_AFTER_SECONDS}`,
    'reboot',
    '',
  ].join('\n');
}

export interface GrubNodeContext {
  node: { name: string; mac: string; ip: string };
  profileName: string;
  /** `http://10.0.0.1`: {server} and {server_url} in templates. */
  serverBase: string;
  bootServerSerial?: string;
  /** Where the booted OS reports that it is up; the last kernel argument, `rackboot.booted=URL`. */
  bootedUrl?: string;
}

export interface GrubNodeConfig {
  text: string;
  /** `{placeholders}` in the profile's command line that have no value, left verbatim. */
  unknownPlaceholders: string[];
}

/** The node's own configuration for its profile. */
export function grubNodeConfig(profile: ProfileConfig, ctx: GrubNodeContext): GrubNodeConfig {
  const who = `${ctx.node.name || 'unknown node'} (${ctx.node.mac})`;
  const lines = [`# rackboot: profile ${oneLine(ctx.profileName)}, ${oneLine(who)}`];
  let unknownPlaceholders: string[] = [];
  switch (profile.kind) {
    case 'linux': {
      const fields = nodeTemplateFields(ctx.node, ctx.serverBase.replace(/\/+$/, ''), ctx.profileName, ctx.bootServerSerial);
      const rendered = renderTemplate(profile.cmdline, fields);
      unknownPlaceholders = rendered.unknown;
      const args = rendered.text.split(/\s+/).filter((word) => word !== '');
      if (ctx.bootedUrl !== undefined) args.push(`rackboot.booted=${ctx.bootedUrl}`);
      lines.push(
        `echo ${grubWord(`rackboot: booting ${ctx.profileName} on ${who}`)}`,
        ['linux', grubWord(rootPath(profile.kernel)), ...args.map(grubWord)].join(' '),
        ...(profile.initrds.length > 0 ? [['initrd', ...profile.initrds.map((path) => grubWord(rootPath(path)))].join(' ')] : []),
        'boot',
        `echo ${grubWord(`rackboot: loading profile ${ctx.profileName} failed; rebooting in ${RETRY_AFTER_SECONDS} seconds`)}`,
        `sleep ${RETRY_AFTER_SECONDS}`,
        'reboot',
      );
      break;
    }
    case 'local':
      // Back to the firmware, which goes on to its next boot option (the local disk).
      lines.push(`echo ${grubWord(`rackboot: ${who} boots from its local disk`)}`, 'exit');
      break;
    case 'chain':
    case 'menu':
      // The configuration refuses loader grub on these; a profile changed at run time can still get here.
      lines.push(
        `echo ${grubWord(`rackboot: profile ${ctx.profileName} is a ${profile.kind} profile, which only iPXE can boot; give this node loader ipxe or another profile`)}`,
        `sleep ${RETRY_AFTER_SECONDS * 3}`,
        'reboot',
      );
      break;
  }
  lines.push('');
  return { text: lines.join('\n'), unknownPlaceholders };
}

/** One GRUB word holding `value` verbatim: single-quoted, a quote as '\'' . Line breaks become blanks. */
export function grubWord(value: string): string {
  return `'${oneLine(value).replace(/'/g, `'\\''`)}'`;
}

function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/** A boot-root path as GRUB names it on its root device (the TFTP server): `/vmlinuz`. */
function rootPath(path: string): string {
  return `/${path.replace(/^\/+/, '')}`;
}
