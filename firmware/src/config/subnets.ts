// Subnet arithmetic for the checks on pools, routers and host addresses.

import { ipToInt, prefixToMask, type Ipv4 } from '../net/addr.js';

export interface Subnet {
  subnet: Ipv4;
  prefix: number;
}

/** The integer bounds of a subnet, and its network/prefix text. */
export function bounds(subnet: Subnet): { network: number; broadcast: number; text: string } {
  const network = (ipToInt(subnet.subnet) & prefixToMask(subnet.prefix)) >>> 0;
  return { network, broadcast: network + 2 ** (32 - subnet.prefix) - 1, text: `${subnet.subnet}/${subnet.prefix}` };
}

export function inSubnet(subnet: Subnet, ip: Ipv4): boolean {
  const { network, broadcast } = bounds(subnet);
  const value = ipToInt(ip);
  return value >= network && value <= broadcast;
}

/** Two different subnets that overlap (one nested in the other); equal subnets do not conflict. */
export function subnetsConflict(a: Subnet, b: Subnet): boolean {
  const x = bounds(a);
  const y = bounds(b);
  const same = x.network === y.network && x.broadcast === y.broadcast;
  return !same && x.network <= y.broadcast && y.network <= x.broadcast;
}
