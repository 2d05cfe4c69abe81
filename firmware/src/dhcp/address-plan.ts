// The static shape of the address space: subnets with dynamic ranges, static
// host reservations and addresses never to hand out (the server's own). Pure:
// what is currently leased lives in the lease table, not here.

import { intToIp, ipToInt, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import type { HostConfig, PoolConfig } from '../config/schema.js';

export class AddressPlan {
  private readonly hostsByMac = new Map<Mac, HostConfig>();
  private readonly staticIps = new Map<number, HostConfig>();
  private readonly reserved: Set<number>;
  private readonly ranges = new Map<PoolConfig, { start: number; end: number }>();

  constructor(
    readonly pools: readonly PoolConfig[],
    hosts: readonly HostConfig[],
    reserved: readonly Ipv4[],
  ) {
    for (const host of hosts) {
      this.hostsByMac.set(host.mac, host);
      if (host.ip) this.staticIps.set(ipToInt(host.ip), host);
    }
    this.reserved = new Set(reserved.map(ipToInt));
  }

  hostFor(mac: Mac): HostConfig | undefined {
    return this.hostsByMac.get(mac);
  }

  /** The host that owns `ip` by static reservation, if any. */
  staticOwner(ip: Ipv4): HostConfig | undefined {
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
