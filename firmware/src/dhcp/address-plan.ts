// The shape of the address space: subnets with dynamic ranges, the known hosts
// (fixed addresses are reservations: offered to their MAC only, never in the
// dynamic ranges) and addresses never to hand out (the server's own). The hosts
// follow the inventory at run time (setHosts); `generation` changes with them so
// caches built on the plan know to start over. What is currently leased lives in
// the lease table, not here.

import { intToIp, ipToInt, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import type { HostConfig, PoolConfig } from '../config/schema.js';

/** A known host as DHCP sees it: its fixed address and the host name it is sent (option 12). */
export type PlanHost = Pick<HostConfig, 'mac' | 'ip' | 'hostname'>;

export class AddressPlan {
  private hostsByMac = new Map<Mac, PlanHost>();
  private staticIps = new Map<number, PlanHost>();
  private readonly reserved: Set<number>;
  private readonly ranges = new Map<PoolConfig, { start: number; end: number }>();
  private hostsGeneration = 0;

  constructor(
    readonly pools: readonly PoolConfig[],
    hosts: readonly PlanHost[],
    reserved: readonly Ipv4[],
  ) {
    this.reserved = new Set(reserved.map(ipToInt));
    this.index(hosts);
  }

  /** Replaces the known hosts; takes effect for the next request. */
  setHosts(hosts: readonly PlanHost[]): void {
    const before = this.staticIps;
    this.index(hosts);
    // Only a changed set of fixed addresses changes what is assignable; a rename or a new
    // dynamic node (a boot storm discovers many) leaves the callers' caches valid.
    const same = before.size === this.staticIps.size && [...before].every(([ip, host]) => this.staticIps.get(ip)?.mac === host.mac);
    if (!same) this.hostsGeneration++;
  }

  /** Changes whenever the fixed addresses (and so the assignable addresses) change. */
  get generation(): number {
    return this.hostsGeneration;
  }

  /** Every known host. */
  hosts(): Iterable<PlanHost> {
    return this.hostsByMac.values();
  }

  private index(hosts: readonly PlanHost[]): void {
    const byMac = new Map<Mac, PlanHost>();
    const byIp = new Map<number, PlanHost>();
    for (const host of hosts) {
      byMac.set(host.mac, host);
      if (host.ip) byIp.set(ipToInt(host.ip), host);
    }
    this.hostsByMac = byMac;
    this.staticIps = byIp;
  }

  hostFor(mac: Mac): PlanHost | undefined {
    return this.hostsByMac.get(mac);
  }

  /** The host that owns `ip` by static reservation, if any. */
  staticOwner(ip: Ipv4): PlanHost | undefined {
    return this.staticIps.get(ipToInt(ip));
  }

  /**
   * Pools serving a link: the subnet that contains the address the request came
   * in on (the server's own address for local clients, giaddr for relayed ones).
   */
  poolsForLink(linkAddress: Ipv4): PoolConfig[] {
    return this.pools.filter((pool) => subnetContains(pool, linkAddress));
  }

  /** The pool whose subnet holds `ip` (for netmask/router of static hosts too). */
  subnetOf(ip: Ipv4): PoolConfig | undefined {
    return this.pools.find((pool) => subnetContains(pool, ip));
  }

  inDynamicRange(pool: PoolConfig, ip: Ipv4): boolean {
    const value = ipToInt(ip);
    return value >= ipToInt(pool.start) && value <= ipToInt(pool.end);
  }

  /** May `ip` be leased dynamically at all (ignoring who holds it now)? */
  isAssignable(pool: PoolConfig, ip: Ipv4): boolean {
    const value = ipToInt(ip);
    return this.inDynamicRange(pool, ip) && !this.reserved.has(value) && !this.staticIps.has(value);
  }

  /** isAssignable for an address as a number, without parsing (the free-address search runs it per address). */
  isAssignableValue(pool: PoolConfig, value: number): boolean {
    const range = this.rangeOf(pool);
    return value >= range.start && value <= range.end && !this.reserved.has(value) && !this.staticIps.has(value);
  }

  /** The pool's dynamic range as numbers. */
  rangeOf(pool: PoolConfig): { start: number; end: number } {
    let range = this.ranges.get(pool);
    if (!range) {
      range = { start: ipToInt(pool.start), end: ipToInt(pool.end) };
      this.ranges.set(pool, range);
    }
    return range;
  }

  /** Every dynamically assignable address of a pool, lowest first. */
  *assignable(pool: PoolConfig): Generator<Ipv4> {
    const end = ipToInt(pool.end);
    for (let value = ipToInt(pool.start); value <= end; value++) {
      if (!this.reserved.has(value) && !this.staticIps.has(value)) yield intToIp(value);
    }
  }
}

export function subnetContains(pool: Pick<PoolConfig, 'subnet' | 'prefix'>, ip: Ipv4): boolean {
  const mask = prefixToMask(pool.prefix);
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(pool.subnet) & mask) >>> 0;
}

export function netmaskOf(prefix: number): Ipv4 {
  return intToIp(prefixToMask(prefix));
}

export function broadcastOf(pool: Pick<PoolConfig, 'subnet' | 'prefix'>): Ipv4 {
  return intToIp((ipToInt(pool.subnet) | ~prefixToMask(pool.prefix)) >>> 0);
}
