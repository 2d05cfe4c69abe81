// Who is this node, and which profile does it boot? The HTTP script request
// carries the MAC iPXE booted from (?mac=${netX/mac}); failing that, the
// client's address is looked up (rackboot's own DHCP answers and ARP, the lease
// table, then the kernel's neighbour table: proxy mode leases nothing). Names
// and profiles come from the inventory; a one-shot next-boot profile (re-image)
// wins over the node's own until that boot has begun (boot/one-shot.ts clears it).

import { readFile } from 'node:fs/promises';
import { isMac, normalizeMac, type Ipv4, type Mac } from '../net/addr.js';
import { defaultNodeName, type NodeRecord } from '../model/node.js';

export interface BootNode {
  name: string;
  mac: Mac;
  ip: Ipv4;
  profile: string;
}

/** The inventory, as far as boot scripts need it. */
export interface NodeDirectory {
  get(mac: Mac): NodeRecord | undefined;
  /** The node's one-shot profile for its next boot, if one is set. */
  nextBoot(mac: Mac): string | undefined;
}

/** The lease table, as far as resolving a node needs it. */
export interface LeaseLookup {
  byIp(ip: Ipv4): { mac: Mac } | undefined;
  byClient(mac: Mac): { hostname?: string } | undefined;
}

export interface NodeResolverOptions {
  directory: NodeDirectory;
  /** The default profile now (it can change at run time). */
  defaultProfile(): string;
  leases?: LeaseLookup;
  /** ip -> MAC from what rackboot saw on the link (boot/address-book.ts). */
  addressOf?(ip: Ipv4): Mac | undefined;
  /** Reads ip -> MAC from the kernel; /proc/net/arp by default. */
  neighbourLookup?(ip: Ipv4): Promise<Mac | undefined>;
  /**
   * Told which profile a node's script was built from (the boot tracker names kernel
   * and initrd downloads by it), and whether that was its one-shot next-boot profile.
   */
  onProfileServed?(mac: Mac, profile: string, oneShot: boolean): void;
}

export class NodeResolver {
  constructor(private readonly opts: NodeResolverOptions) {}

  async resolve(query: { mac?: string; ip: Ipv4; profile?: string }): Promise<BootNode | undefined> {
    const mac =
      (query.mac && isMac(query.mac) ? normalizeMac(query.mac) : undefined) ??
      this.opts.addressOf?.(query.ip) ??
      this.opts.leases?.byIp(query.ip)?.mac ??
      (await (this.opts.neighbourLookup ?? procNetArpLookup)(query.ip));
    if (!mac) return undefined;
    const record = this.opts.directory.get(mac);
    const lease = this.opts.leases?.byClient(mac);
    // A menu choice (?profile=) is this boot's choice: the one-shot profile stays for the next boot.
    const nextBoot = query.profile === undefined ? this.opts.directory.nextBoot(mac) : undefined;
    const profile = query.profile ?? nextBoot ?? record?.profile ?? this.opts.defaultProfile();
    this.opts.onProfileServed?.(mac, profile, nextBoot !== undefined);
    return {
      name: record?.name ?? lease?.hostname ?? defaultNodeName(mac),
      mac,
      ip: query.ip,
      profile,
    };
  }
}

/** /proc/net/arp: "IP address  HW type  Flags  HW address  Mask  Device". */
export async function procNetArpLookup(ip: Ipv4): Promise<Mac | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/net/arp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const [address, , flags, hw] = line.trim().split(/\s+/);
    // Flags 0x0 is an incomplete entry (no answer yet).
    if (address === ip && hw && flags !== '0x0' && isMac(hw) && hw !== '00:00:00:00:00:00') return normalizeMac(hw);
  }
  return undefined;
}
