// Reads `net set ADDR/PREFIX [gw GW]`: the appliance's own address must be a
// usable host address of its subnet and the gateway must be inside that subnet,
// or the box would lose the cluster the moment the change is applied.

import { intToIp, ipToInt, isIpv4, prefixToMask, sameSubnet } from '../net/addr.js';
import type { NetworkChange } from './host.js';

export const NET_SET_USAGE = 'net set ADDRESS/PREFIX [gw GATEWAY]   e.g. net set 10.0.0.2/24 gw 10.0.0.1';

export type NetSetParse = { ok: true; change: NetworkChange } | { ok: false; problem: string };

export function parseNetSet(args: readonly string[]): NetSetParse {
  if (args.length !== 1 && args.length !== 3) return { ok: false, problem: `expected ${NET_SET_USAGE}` };
  const match = /^([^/]+)\/(\d{1,2})$/.exec(args[0]);
  if (!match) return { ok: false, problem: `expected ADDRESS/PREFIX like 10.0.0.2/24, found '${args[0]}'` };
  const address = match[1];
  const prefix = Number(match[2]);
  if (!isIpv4(address)) return { ok: false, problem: `expected an IPv4 address like 10.0.0.2, found '${address}'` };
  if (prefix < 1 || prefix > 32) return { ok: false, problem: `expected a prefix length from 1 to 32, found ${prefix}` };
  const value = ipToInt(address);
  const first = value >>> 24;
  if (first === 0 || first === 127 || first >= 224) return { ok: false, problem: `expected a unicast host address, found ${address}` };
  if (prefix <= 30) {
    const mask = prefixToMask(prefix);
    const host = (value & ~mask) >>> 0;
    if (host === 0) return { ok: false, problem: `${address} is the network address of ${intToIp((value & mask) >>> 0)}/${prefix}, expected a host address` };
    if (host === ~mask >>> 0) return { ok: false, problem: `${address} is the broadcast address of /${prefix}, expected a host address` };
  }
  if (args.length === 1) return { ok: true, change: { address, prefix } };
  if (args[1] !== 'gw') return { ok: false, problem: `expected 'gw GATEWAY' after the address, found '${args[1]}'` };
  const gateway = args[2];
  if (!isIpv4(gateway)) return { ok: false, problem: `expected a gateway IPv4 address, found '${gateway}'` };
  if (gateway === address) return { ok: false, problem: 'expected a gateway other than the appliance itself' };
  if (!sameSubnet(address, gateway, prefix)) return { ok: false, problem: `expected a gateway inside ${address}/${prefix}, found ${gateway}` };
  return { ok: true, change: { address, prefix, gateway } };
}
