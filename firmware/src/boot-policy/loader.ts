// Which boot loader a node is handed, and the generated files of the GRUB one.
//
// Two loader families: Debian's iPXE (unsigned: firmware with Secure Boot on
// refuses it) and shim + GRUB, the chain distributions sign (shim by
// Microsoft's UEFI CA, GRUB and the kernel by Debian). The firmware does not
// tell the server whether Secure Boot is on, so the operator decides: a host's
// `loader`, else its profile's, else `boot.loader` (default ipxe). Chain and
// menu profiles are iPXE scripts and always get iPXE.
//
// shim + GRUB is signed for UEFI x64 only, and Debian's signed GRUB can boot
// only after PXE (over HTTP Boot it has an address but no http module): an x86 node
// of any other kind whose loader is grub gets iPXE, and the caller is told so it
// can warn (booter.ts). arm64 UEFI nodes get GRUB whatever their loader: the
// unsigned arm64 network image rackboot builds, which has the http module.

import type { Ipv4, Mac } from '../net/addr.js';
import type { BootLoader, HostConfig, ProfileConfig } from '../config/schema.js';
import type { NodeLoader } from '../model/api.js';
import type { ClientKind } from '../model/boot.js';
import { grubEntryConfig, grubFileName, grubNodeConfig } from './grub-config.js';
import type { NodeResolver } from './nodes.js';

/** The NBP a GRUB node is given over TFTP: shim, which then loads grubx64.efi beside it. */
export const SHIM_FILE = 'shimx64.efi';
export const GRUB_FILE = 'grubx64.efi';
/**
 * The NBP of every arm64 UEFI node (PXE and HTTP Boot), whatever its loader: GRUB's
 * arm64-efi network image that build/payload-arm64.sh makes (unsigned; Debian 12
 * has no arm64 iPXE). It reads the same generated grub/grub.cfg as the x64 chain.
 */
export const GRUB_ARM64_FILE = 'arm64/grubaa64.efi';

export interface LoaderPolicyOptions {
  hosts: readonly HostConfig[];
  profiles: Readonly<Record<string, ProfileConfig>>;
  defaultLoader: BootLoader;
  /** The profile the node boots next (its one-shot profile, its own, or the default). */
  profileOf(mac: Mac): string;
}

/** host `loader`, else the profile's, else boot.loader; chain and menu profiles always iPXE. */
export function loaderPolicy(opts: LoaderPolicyOptions): (mac: Mac) => BootLoader {
  const byMac = new Map(opts.hosts.filter((host) => host.loader !== undefined).map((host) => [host.mac, host.loader!]));
  return (mac) => {
    const profile = Object.hasOwn(opts.profiles, opts.profileOf(mac)) ? opts.profiles[opts.profileOf(mac)] : undefined;
    if (profile?.kind === 'chain' || profile?.kind === 'menu') return 'ipxe';
    return byMac.get(mac) ?? profile?.loader ?? opts.defaultLoader;
  };
}

/** Debian's signed shim + GRUB boot only UEFI x64 PXE clients. */
export function grubCanBoot(kind: ClientKind): boolean {
  return kind === 'uefi-x64-pxe';
}

/**
 * The loader a node is handed given its policy's choice and its boot firmware's class
 * (NodeBootState.platform; unknown until its firmware asked, when the choice stands).
 */
export function nodeLoader(chosen: BootLoader, platform: ClientKind | undefined): NodeLoader {
  if (platform === 'rpi-boot') return 'rpi';
  // arm64 UEFI nodes always get the arm64 GRUB network image (there is no arm64 iPXE; booter.ts).
  if (platform === 'uefi-arm64-pxe' || platform === 'uefi-arm64-http') return 'grub';
  return chosen === 'grub' && (platform === undefined || grubCanBoot(platform)) ? 'grub' : 'ipxe';
}

export interface GrubFilesOptions {
  nodes: NodeResolver;
  profiles: Readonly<Record<string, ProfileConfig>>;
  serverBase: string;
  /** The callback URL for a node's `rackboot.booted=` with its boot token (http/booted-url.ts, one builder for iPXE and GRUB). */
  bootedUrl?(mac: Mac, token: string): string;
  bootServerSerial?: string;
  /** Told once per profile about `{placeholders}` that have no value. */
  onUnknownPlaceholders?(profile: string, names: string[]): void;
}

export interface GrubFile {
  content: Buffer;
  /** Set for a node's own configuration. */
  mac?: Mac;
  profile?: string;
}

/** The GRUB files rackboot generates (grub-config.ts), for the TFTP server to serve in place of boot-root files. */
export class GrubFiles {
  private readonly reported = new Set<string>();

  constructor(private readonly opts: GrubFilesOptions) {}

  /** The generated content for `relative` (a checked TFTP name), or undefined when it is not one of GRUB's names. */
  async file(relative: string, client: Ipv4): Promise<GrubFile | undefined> {
    const name = grubFileName(relative);
    if (!name) return undefined;
    if (name.kind === 'entry') return { content: Buffer.from(grubEntryConfig(), 'utf8') };
    const node = await this.opts.nodes.resolve({ mac: name.mac, ip: client });
    // A held node gets no configuration (as it gets no iPXE script).
    if (!node || 'held' in node) return undefined;
    const profile = Object.hasOwn(this.opts.profiles, node.profile) ? this.opts.profiles[node.profile] : undefined;
    if (!profile) return undefined;
    const built = grubNodeConfig(profile, {
      node: { name: node.name, mac: node.mac, ip: node.ip },
      profileName: node.profile,
      serverBase: this.opts.serverBase,
      ...(this.opts.bootServerSerial !== undefined && { bootServerSerial: this.opts.bootServerSerial }),
      ...(this.opts.bootedUrl && node.token !== undefined && { bootedUrl: this.opts.bootedUrl(node.mac, node.token) }),
    });
    if (built.unknownPlaceholders.length > 0 && !this.reported.has(node.profile)) {
      this.reported.add(node.profile);
      this.opts.onUnknownPlaceholders?.(node.profile, built.unknownPlaceholders);
    }
    return { content: Buffer.from(built.text, 'utf8'), mac: node.mac, profile: node.profile };
  }
}
