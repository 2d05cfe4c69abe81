// Which MAC is behind a client address? TFTP and HTTP see only IP addresses,
// but the boot tracker follows nodes by MAC. rackboot learns the pairs from
// what it already sees: its own DHCP ACKs, and the sender fields of every ARP
// packet on the link (in proxy mode, the node's ARP for the boot server is the
// first place its address shows up). The lease table and the kernel's
// neighbour table are the fallbacks.

import type { Ipv4, Mac } from '../net/addr.js';

/** Pairs kept; a starvation attack with random MACs must not grow this without bound. */
const DEFAULT_CAPACITY = 8192;

export interface AddressBookOptions {
  capacity?: number;
  /** Asked when the book has no entry (the lease table). */
  fallback?(ip: Ipv4): Mac | undefined;
  /** Asked last, asynchronously (the kernel's neighbour table, /proc/net/arp). */
  slowFallback?(ip: Ipv4): Promise<Mac | undefined>;
}

export class AddressBook {
  /** Insertion-ordered: the oldest pair is the first key, evicted first. */
  private readonly byIp = new Map<Ipv4, Mac>();
  /** The newest address each MAC was seen with. */
  private readonly byMac = new Map<Mac, Ipv4>();
  private readonly capacity: number;

  constructor(private readonly opts: AddressBookOptions = {}) {
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
  }

  learn(ip: Ipv4, mac: Mac): void {
    if (ip === '0.0.0.0') return;
    this.byIp.delete(ip);
    this.byIp.set(ip, mac);
    this.byMac.delete(mac);
    this.byMac.set(mac, ip);
    if (this.byIp.size > this.capacity) {
      const oldest = this.byIp.keys().next().value as Ipv4;
      const owner = this.byIp.get(oldest)!;
      this.byIp.delete(oldest);
      if (this.byMac.get(owner) === oldest) this.byMac.delete(owner);
    }
    if (this.byMac.size > this.capacity) this.byMac.delete(this.byMac.keys().next().value as Mac);
  }

  /** The address `mac` was last seen with on the link (its own ARP, or our ACK). */
  addressOf(mac: Mac): Ipv4 | undefined {
    const ip = this.byMac.get(mac);
    return ip !== undefined && this.byIp.get(ip) === mac ? ip : undefined;
  }

  lookup(ip: Ipv4): Mac | undefined {
    return this.byIp.get(ip) ?? this.opts.fallback?.(ip);
  }

  async resolve(ip: Ipv4): Promise<Mac | undefined> {
    return this.lookup(ip) ?? (await this.opts.slowFallback?.(ip));
  }

  get size(): number {
    return this.byIp.size;
  }
}
