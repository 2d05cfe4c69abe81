// Who is this node? The HTTP script request carries the MAC iPXE booted from
// (?mac=${netX/mac}); failing that, the client's IP is looked up in the lease
// table, then in the kernel's neighbour table (proxy mode leases nothing).
// Until the inventory issue lands, names and profiles come from the config's
// static hosts.

import { readFile } from 'node:fs/promises';
import { isMac, normalizeMac, type Ipv4, type Mac } from '../net/addr.js';
import type { HostConfig } from '../config/schema.js';
import type { LeaseTable } from '../dhcp/leases.js';

export interface BootNode {
  name: string;
  mac: Mac;
  ip: Ipv4;
  profile: string;
}

export interface NodeResolverOptions {
  hosts: readonly HostConfig[];
  defaultProfile: string;
  leases?: LeaseTable;
  /** Reads ip -> MAC from the kernel; /proc/net/arp by default. */
  neighbourLookup?(ip: Ipv4): Promise<Mac | undefined>;
}

export class NodeResolver {
  private readonly hostsByMac: Map<Mac, HostConfig>;

  constructor(private readonly opts: NodeResolverOptions) {
    this.hostsByMac = new Map(opts.hosts.map((h) => [h.mac, h]));
  }

  async resolve(query: { mac?: string; ip: Ipv4 }): Promise<BootNode | undefined> {
    const mac =
      (query.mac && isMac(query.mac) ? normalizeMac(query.mac) : undefined) ??
      this.opts.leases?.byIp(query.ip)?.mac ??
      (await (this.opts.neighbourLookup ?? procNetArpLookup)(query.ip));
    if (!mac) return undefined;
    const host = this.hostsByMac.get(mac);
    const lease = this.opts.leases?.byClient(mac);
    return {
      name: host?.hostname ?? lease?.hostname ?? defaultNodeName(mac),
      mac,
      ip: query.ip,
      profile: host?.profile ?? this.opts.defaultProfile,
    };
  }
}

/** "node-525400aabbcc": stable, valid as a host name, and unique per NIC. */
export function defaultNodeName(mac: Mac): string {
  return `node-${mac.replace(/:/g, '')}`;
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
