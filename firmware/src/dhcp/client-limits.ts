// Per-class limits against DHCP starvation (a flood of DISCOVERs or REQUESTs
// from random MACs). Clients are known (config hosts, inventory nodes an
// operator created or approved) or unknown (everyone else). Per MAC the lease
// table already allows one offer and one lease. Across MACs:
//  - unknown clients together hold at most `unknownSharePercent` of a pool's
//    addresses: offered, bound, or quarantined after a DECLINE one of them sent
//    (a DECLINE takes an address away as surely as a lease does, so a flood of
//    DISCOVER+DECLINE from made-up MACs meets the same share);
//  - addresses that known clients without a lease will need are held back from
//    unknown clients, so known nodes still get theirs during a flood.
// Known clients are never refused here. Counting the pool is a pass over the
// lease table, done at most once a second; in between, this module's own new
// allocations are added, so a burst cannot overshoot the limits.

import type { Mac } from '../net/addr.js';
import type { PoolConfig } from '../config/schema.js';
import type { AddressPlan } from './address-plan.js';
import type { Lease, LeaseTable } from './leases.js';
import { subnetContains } from './address-plan.js';

/** Tells known clients from unknown ones. */
export interface ClientDirectory {
  isKnown(mac: Mac): boolean;
  /** Every known MAC that takes a dynamic address (no static ip). */
  knownDynamic(): Iterable<Mac>;
}

export type LimitRefusal = 'unknown_share' | 'reserved_for_known';

const RECOUNT_MS = 1000;

interface PoolCount {
  size: number;
  /** Addresses held now: live offers, unexpired bindings and quarantines. */
  held: number;
  unknownHeld: number;
}

export class ClientLimits {
  private readonly sizes = new Map<PoolConfig, number>();
  private counts = new Map<PoolConfig, PoolCount>();
  /** Known dynamic clients with no address remembered for them: each will need one. */
  private knownWithout = 0;
  private countedAt = Number.NEGATIVE_INFINITY;
  /** The plan's generation the sizes and counts were made for. */
  private planGeneration: number;

  constructor(
    private readonly plan: AddressPlan,
    private readonly leases: LeaseTable,
    private readonly directory: ClientDirectory,
    private readonly unknownSharePercent: number,
  ) {
    this.planGeneration = plan.generation;
  }

  isKnown(mac: Mac): boolean {
    return this.directory.isKnown(mac);
  }

  /** Why an unknown client may not take a new address in `pool`, or undefined when it may. */
  refusal(pool: PoolConfig, now: number): LimitRefusal | undefined {
    const count = this.count(pool, now);
    const free = count.size - count.held;
    // A full pool is not a limit at work: the search finds nothing and says so (pool_exhausted).
    if (free <= 0) return undefined;
    if (this.unknownSharePercent < 100 && count.unknownHeld >= Math.floor((count.size * this.unknownSharePercent) / 100)) return 'unknown_share';
    if (this.knownWithout > 0 && free <= this.knownWithout) return 'reserved_for_known';
    return undefined;
  }

  /** A new address in `pool` went to a client (counted until the next recount sees it). */
  allocated(pool: PoolConfig, known: boolean, now: number): void {
    const count = this.count(pool, now);
    count.held++;
    if (!known) count.unknownHeld++;
  }

  private count(pool: PoolConfig, now: number): PoolCount {
    if (this.planGeneration !== this.plan.generation) {
      // Fixed addresses came or went: pool sizes and who holds what are counted again.
      this.planGeneration = this.plan.generation;
      this.sizes.clear();
      this.countedAt = Number.NEGATIVE_INFINITY;
    }
    if (now - this.countedAt >= RECOUNT_MS || now < this.countedAt) this.recount(now);
    let count = this.counts.get(pool);
    if (!count) {
      count = { size: this.sizeOf(pool), held: 0, unknownHeld: 0 };
      this.counts.set(pool, count);
    }
    return count;
  }

  private recount(now: number): void {
    this.countedAt = now;
    const counts = new Map<PoolConfig, PoolCount>();
    for (const pool of this.plan.pools) counts.set(pool, { size: this.sizeOf(pool), held: 0, unknownHeld: 0 });
    for (const lease of this.leases.all()) {
      if (lease.expires <= now || lease.state === 'released' || lease.state === 'expired') continue;
      const pool = this.plan.pools.find((p) => subnetContains(p, lease.ip) && this.plan.isAssignable(p, lease.ip));
      if (!pool) continue;
      const count = counts.get(pool)!;
      count.held++;
      if (this.heldByUnknown(lease)) count.unknownHeld++;
    }
    this.counts = counts;
    let without = 0;
    for (const mac of this.directory.knownDynamic()) {
      const lease = this.leases.byClient(mac);
      if (!lease || lease.state === 'declined') without++;
    }
    this.knownWithout = without;
  }

  /**
   * An address that counts against the unknown share: held by an unknown client,
   * or quarantined on an unknown client's DECLINE. A quarantine after our own
   * conflict probe counts for nobody: no client asked for it.
   */
  private heldByUnknown(lease: Lease): boolean {
    if (lease.state === 'declined' && lease.cause !== 'decline') return false;
    return !this.directory.isKnown(lease.mac);
  }

  private sizeOf(pool: PoolConfig): number {
    let size = this.sizes.get(pool);
    if (size === undefined) {
      size = 0;
      for (const _ of this.plan.assignable(pool)) size++;
      this.sizes.set(pool, size);
    }
    return size;
  }
}

/** The directory when the app gives none: the plan's hosts are the known clients. */
export function hostsDirectory(plan: AddressPlan): ClientDirectory {
  return {
    isKnown: (mac) => plan.hostFor(mac) !== undefined,
    knownDynamic: () => [...plan.hosts()].filter((h) => !h.ip).map((h) => h.mac),
  };
}
