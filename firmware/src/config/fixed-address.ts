// What a node's fixed address may be: one rule, used by the configuration check
// (hosts[].ip) and by the inventory for addresses set through the API, so both
// refuse the same addresses with the same words. Each function returns what was
// expected (for "expected X, found Y" messages), or undefined when `ip` is fine.

import { ipToInt, type Ipv4 } from '../net/addr.js';
import type { PoolConfig, RackbootConfig } from './schema.js';
import { bounds, inSubnet, type Subnet } from './subnets.js';

export interface FixedAddressRules {
  mode: 'dhcp' | 'proxy';
  /** rackboot's own address on the serving link, when known. */
  serverAddress?: Ipv4;
  /** The pool subnets; undefined when one of them could not be read (nothing is checked against them then). */
  subnets?: readonly Subnet[];
  /** Router addresses, each with where it is set (options.router, pools[0].router). */
  routers: ReadonlyMap<Ipv4, string>;
}

/** Why `ip` may not be fixed for any node: rackboot's own, a router's, or an address DHCP cannot hand out on any pool's link. */
export function fixedAddressExpectation(ip: Ipv4, rules: FixedAddressRules): string | undefined {
  if (rules.serverAddress === ip) return `an address other than server_address ${ip}, which is rackboot's own`;
  const router = rules.routers.get(ip);
  if (router) return `an address other than the router's (${router})`;
  // In dhcp mode a fixed address is only handed out on a link rackboot has a pool (subnet, netmask, router) for.
  if (rules.mode !== 'dhcp' || !rules.subnets || rules.subnets.length === 0) return undefined;
  const subnet = rules.subnets.find((s) => inSubnet(s, ip));
  if (!subnet) {
    const list = [...new Set(rules.subnets.map((s) => `${s.subnet}/${s.prefix}`))].join(', ');
    return `an address inside one of the pool subnets (${list}), because mode is dhcp`;
  }
  const { network, broadcast, text } = bounds(subnet);
  const value = ipToInt(ip);
  if (value === network || value === broadcast) return `a host address of ${text}, not its network or broadcast address`;
  return undefined;
}

/** The address is already fixed for another host; `which` says for whom ("hosts[0].ip is the same address"). */
export function fixedElsewhereExpectation(which: string): string {
  return `an address no other host has (${which})`;
}

/** The address is leased to another client right now; `holder` names it. */
export function leasedElsewhereExpectation(ip: Ipv4, holder: string): string {
  return `an address not leased to another client (${ip} is leased to ${holder}; choose a free address or let that lease end first)`;
}

/** The rules of a loaded configuration, with the address rackboot serves on. */
export function fixedAddressRules(config: Pick<RackbootConfig, 'mode' | 'pools' | 'options'>, serverAddress: Ipv4 | undefined): FixedAddressRules {
  const routers = new Map<Ipv4, string>();
  if (config.options.router) routers.set(config.options.router, 'options.router');
  config.pools.forEach((pool: PoolConfig, i) => {
    if (pool.router) routers.set(pool.router, `pools[${i}].router`);
  });
  return { mode: config.mode, ...(serverAddress !== undefined && { serverAddress }), subnets: config.pools, routers };
}
