// The `pools:` list: the subnets rackboot hands out addresses on, each with its
// dynamic range, router and lease time. Checks within one pool live here; pools
// against each other and against hosts are in cross-checks.ts.

import { intToIp, ipToInt, type Ipv4 } from '../../net/addr.js';
import type { PoolConfig } from '../schema.js';
import { bounds, type Subnet } from '../subnets.js';
import { ipv4Spec, leaseTimeSpec, rangeSpec, subnetSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';
import type { Node as YamlNode } from 'yaml';

export const POOL_KEYS = ['subnet', 'range', 'router', 'lease_time'] as const;
const POOL_EXPECTED = 'a pool like {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199}';

/** One pool as read; a field is undefined when its value was wrong (reported), so later checks skip it. */
export interface PoolDraft {
  keyPath: string;
  subnet?: Subnet;
  range?: { start: Ipv4; end: Ipv4 };
  router?: Ipv4;
  leaseTime?: number;
}

export interface PoolsDraft {
  pools: PoolDraft[];
  /** How `pools` was written: the mode checks need to tell "left out" from "wrong". */
  poolsWritten: 'absent' | 'empty' | 'listed' | 'invalid';
}

export function readPoolsSection(r: DocumentReader, top: MapView): PoolsDraft {
  let poolsWritten: PoolsDraft['poolsWritten'] = !top.has('pools') ? 'absent' : top.node('pools') === undefined ? 'empty' : 'listed';
  const items = r.list(top.node('pools'), 'pools', `a list of pools, each ${POOL_EXPECTED.replace(/^a /, '')}`);
  if (items === undefined) poolsWritten = 'invalid';
  else if (items.length === 0 && poolsWritten === 'listed') poolsWritten = 'empty';
  return { pools: (items ?? []).map((item) => readPool(r, item.node, item.keyPath)), poolsWritten };
}

function readPool(r: DocumentReader, node: YamlNode | undefined, keyPath: string): PoolDraft {
  const draft: PoolDraft = { keyPath };
  const view = r.requiredMap(node, keyPath, POOL_EXPECTED);
  if (!view) return draft;
  view.rejectUnknown(POOL_KEYS);
  draft.subnet = view.need('subnet', subnetSpec);
  draft.range = view.need('range', rangeSpec(`${keyPath}.subnet`));
  draft.router = view.get('router', ipv4Spec);
  draft.leaseTime = view.get('lease_time', leaseTimeSpec);
  if (draft.subnet && draft.range && !rangeFits(r, view, draft.subnet, draft.range)) draft.range = undefined;
  if (draft.subnet && draft.router) checkRouter(r, view.path('router'), draft.router, { ...draft, subnet: draft.subnet });
  return draft;
}

/** The range runs low to high and lies inside the subnet, without its network and broadcast addresses; false is reported. */
function rangeFits(r: DocumentReader, view: MapView, subnet: Subnet, range: { start: Ipv4; end: Ipv4 }): boolean {
  const { network, broadcast, text } = bounds(subnet);
  const start = ipToInt(range.start);
  const end = ipToInt(range.end);
  const usable = `${intToIp(network + 1)}-${intToIp(broadcast - 1)}`;
  const rangeNode = view.node('range')!;
  const subnetPath = `${view.keyPath}.subnet`;
  if (start > end) {
    r.wrong(view.path('range'), rangeNode, `an IPv4 range from low to high, like ${range.end}-${range.start}`);
  } else if (start < network || end > broadcast) {
    r.wrong(view.path('range'), rangeNode, `an IPv4 range inside ${subnetPath} ${text} (${usable})`);
  } else if (start === network || end === broadcast) {
    r.wrong(
      view.path('range'),
      rangeNode,
      `an IPv4 range without ${subnetPath}'s network address ${intToIp(network)} and broadcast address ${intToIp(broadcast)} (${usable} at most)`,
    );
  } else {
    return true;
  }
  return false;
}

/** A router must be on the pool's link and must not be lent out as a dynamic address. */
export function checkRouter(r: DocumentReader, keyPath: string, router: Ipv4, pool: PoolDraft & { subnet: Subnet }): void {
  const { network, broadcast, text } = bounds(pool.subnet);
  const value = ipToInt(router);
  if (value <= network || value >= broadcast) {
    r.report(
      keyPath,
      undefined,
      JSON.stringify(router),
      `a host address inside ${pool.keyPath}.subnet ${text}${keyPath.startsWith('options') ? `, or a router set on ${pool.keyPath}` : ''}`,
    );
  } else if (pool.range && value >= ipToInt(pool.range.start) && value <= ipToInt(pool.range.end)) {
    r.report(
      keyPath,
      undefined,
      JSON.stringify(router),
      `an address outside ${pool.keyPath}.range ${pool.range.start}-${pool.range.end}, or the router's address would be leased to a client`,
    );
  }
}

/** The normalised pool of a draft that was read without problems. */
export function toPoolConfig(pool: PoolDraft): PoolConfig {
  return {
    subnet: pool.subnet!.subnet,
    prefix: pool.subnet!.prefix,
    start: pool.range!.start,
    end: pool.range!.end,
    ...(pool.router !== undefined && { router: pool.router }),
    ...(pool.leaseTime !== undefined && { leaseTime: pool.leaseTime }),
  };
}
