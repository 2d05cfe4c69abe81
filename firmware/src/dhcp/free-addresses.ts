// Finds free addresses to offer without walking the whole pool per DISCOVER:
// a walk from the start of the pool would make the n-th DISCOVER cost n lease
// lookups, which on a large pool under a boot storm is most of the CPU.
//
// Order (the reuse rule of leases.ts): never-used addresses first, then
// released or expired ones, least recently used first.
//  - Never-used: a cursor per pool that only moves past addresses that have a
//    lease record, so each address is skipped once, not once per DISCOVER.
//  - When the cursor reaches the end, one full scan collects what is left
//    (never-used addresses behind the cursor, e.g. offers that lapsed, then the
//    reusable ones oldest first) into a list that is reused for a second, each
//    entry checked again when it is handed out. An exhausted pool therefore
//    costs one scan per second, not one per DISCOVER (a flood of forged
//    DISCOVERs on a full pool stays cheap).

import { intToIp, type Ipv4 } from '../net/addr.js';
import type { PoolConfig } from '../config/schema.js';
import type { AddressPlan } from './address-plan.js';
import type { LeaseTable } from './leases.js';

/** How long the list from a full scan is trusted (an address freed meanwhile waits at most this long). */
const RESCAN_MS = 1000;

interface PoolState {
  /** Every assignable address below the cursor had a lease record when the cursor passed it. */
  cursor: number;
  end: number;
  leftovers?: { ips: Ipv4[]; next: number; until: number };
}

export class FreeAddressFinder {
  private readonly pools = new Map<PoolConfig, PoolState>();
  /** The plan's generation the cursors were made for: a fixed address removed from a range is free again. */
  private planGeneration: number;

  constructor(
    private readonly plan: AddressPlan,
    private readonly leases: LeaseTable,
  ) {
    this.planGeneration = plan.generation;
  }

  /** Free addresses of `pools` in offer order. Lazy: the caller stops once it reserved one. */
  *candidates(pools: readonly PoolConfig[], now: number): Generator<Ipv4> {
    for (const pool of pools) yield* this.neverUsed(pool);
    for (const pool of pools) yield* this.leftovers(pool, now);
  }

  private state(pool: PoolConfig): PoolState {
    if (this.planGeneration !== this.plan.generation) {
      this.planGeneration = this.plan.generation;
      this.pools.clear();
    }
    let state = this.pools.get(pool);
    if (!state) {
      const range = this.plan.rangeOf(pool);
      state = { cursor: range.start, end: range.end };
      this.pools.set(pool, state);
    }
    return state;
  }

  private *neverUsed(pool: PoolConfig): Generator<Ipv4> {
    const state = this.state(pool);
    let contiguous = true;
    for (let value = state.cursor; value <= state.end; value++) {
      if (!this.plan.isAssignableValue(pool, value)) {
        if (contiguous) state.cursor = value + 1;
        continue;
      }
      const ip = intToIp(value);
      if (this.leases.byIp(ip) !== undefined) {
        if (contiguous) state.cursor = value + 1;
        continue;
      }
      contiguous = false;
      yield ip;
    }
  }

  private *leftovers(pool: PoolConfig, now: number): Generator<Ipv4> {
    const state = this.state(pool);
    if (!state.leftovers || state.leftovers.until <= now) state.leftovers = { ips: this.scan(pool, now), next: 0, until: now + RESCAN_MS };
    const list = state.leftovers;
    for (let i = list.next; i < list.ips.length; i++) {
      const ip = list.ips[i];
      if (!this.leases.isFree(ip, now)) {
        // Taken since the scan: never look at it again in this list.
        if (i === list.next) list.next++;
        continue;
      }
      yield ip;
    }
  }

  private scan(pool: PoolConfig, now: number): Ipv4[] {
    const unused: Ipv4[] = [];
    const reusable: { ip: Ipv4; expires: number }[] = [];
    for (const ip of this.plan.assignable(pool)) {
      const lease = this.leases.byIp(ip);
      if (!lease) unused.push(ip);
      else if (this.leases.isFree(ip, now)) reusable.push({ ip, expires: lease.expires });
    }
    reusable.sort((a, b) => a.expires - b.expires);
    return [...unused, ...reusable.map((r) => r.ip)];
  }
}
