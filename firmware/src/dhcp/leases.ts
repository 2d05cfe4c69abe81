// The DHCP lease table: which address belongs to which client, and until when.
// Bound, released, expired and declined leases are kept in a Journal named
// 'leases' (keyed by IP) so an acknowledged lease survives kill -9 and power
// loss; offers are kept in memory only.
//
// Lease states (one transition per method):
//   (none|released|expired|declined-over) --offer--> offered   (memory only, ttl)
//   offered|any free state --bind--> bound                     (durable before the ACK)
//   bound --release--> released      (keeps the client: RFC 2131 4.3.1 "previous address")
//   bound --sweep, past expiry--> expired                      (written lazily)
//   any --decline--> declined        (quarantined, forgets the client)
//
// Address reuse rule (FreeAddressFinder in free-addresses.ts and the server's chooseAddress follow it):
// a client is offered first the address it holds or last held (byClient /
// isFreeFor), then never-used addresses, and only then released or expired ones
// that remember another client, least recently used (smallest `expires`) first —
// so a node that comes back after a while still finds its old address.

import { isIpv4, type Ipv4, type Mac } from '../net/addr.js';
import { Journal, type JournalLogger, type LoadReport } from '../store/journal.js';
import type { Clock } from '../util/clock.js';

export type LeaseState = 'offered' | 'bound' | 'released' | 'expired' | 'declined';

export interface Lease {
  ip: Ipv4;
  /** The holder's MAC; for a declined address, the client that reported the conflict (for the record only). */
  mac: Mac;
  /** Option 61 as hex, when the client sent one. */
  clientId?: string;
  /**
   * The key the server identifies the client by (LeaseClient.key). Stored rather
   * than derived, since which identity counts is the server's policy. Absent when
   * the address remembers no client (declined, or handed over to another client).
   */
  clientKey?: string;
  hostname?: string;
  state: LeaseState;
  /**
   * Declined leases only: what quarantined the address, a client's DHCPDECLINE
   * (`mac` sent it) or a conflict probe rackboot made. Absent in records
   * written before it existed.
   */
  cause?: 'decline' | 'probe';
  /** ms since the epoch: when this offer, binding, or quarantine began. */
  start: number;
  /** ms since the epoch: end of the offer, binding or quarantine; for released leases, when they were released. */
  expires: number;
}

export interface LeaseClient {
  key: string;
  mac: Mac;
  clientId?: string;
}

export interface LeaseTableOptions {
  /** Passed to the journal: compact once the journal file exceeds this many bytes. */
  compactAfterBytes?: number;
  logger?: JournalLogger;
}

/** How long an offered address stays reserved when the caller does not say. */
export const DEFAULT_OFFER_TTL_MS = 60_000;
/** The MAC recorded for an address quarantined before anyone held it (a conflict probe answered). */
const UNKNOWN_MAC: Mac = '00:00:00:00:00:00';
const STATES: ReadonlySet<string> = new Set<LeaseState>(['offered', 'bound', 'released', 'expired', 'declined']);

export class LeaseTable {
  /** clientKey -> IP of the stored lease that remembers the client; bind keeps it to one per client. */
  private readonly clientIndex = new Map<string, Ipv4>();
  /** Offers are not acknowledged, so they are not persisted: a client that loses one just asks again. */
  private readonly offers = new Map<Ipv4, Lease>();
  private readonly offerIndex = new Map<string, Ipv4>();
  /** Bound on unconfirmed offers (a flood of forged DISCOVERs); the oldest is forgotten first. */
  private maxOffers = Number.POSITIVE_INFINITY;
  /** Offers forgotten to stay within maxOffers, since open. */
  offersEvicted = 0;

  private constructor(
    private readonly journal: Journal<Lease>,
    private readonly clock: Clock,
    private readonly logger: JournalLogger | undefined,
  ) {
    for (const lease of journal.values()) {
      Object.freeze(lease);
      if (!lease.clientKey) continue;
      // Two stored leases can remember one client only if a crash split a bind's two
      // records; the more recent one is the client's.
      const other = this.clientIndex.get(lease.clientKey);
      if (other === undefined || journal.get(other)!.start <= lease.start) this.clientIndex.set(lease.clientKey, lease.ip);
    }
  }

  static async open(dir: string, clock: Clock, opts: LeaseTableOptions = {}): Promise<LeaseTable> {
    const journal = await Journal.open<Lease>(dir, 'leases', {
      compactAfterBytes: opts.compactAfterBytes,
      logger: opts.logger,
      validate: isStoredLease,
    });
    return new LeaseTable(journal, clock, opts.logger);
  }

  /** The stored leases of a state directory, read without opening it for writing (safe beside a running server). */
  static async readStored(dir: string): Promise<Lease[]> {
    const { entries } = await Journal.read<Lease>(dir, 'leases', { validate: isStoredLease });
    return [...entries.values()];
  }

  /** What loading the store found (records, damaged records skipped, torn tail dropped). */
  get loadReport(): LoadReport {
    return this.journal.loadReport;
  }

  // ---- lookups -------------------------------------------------------------

  /** The lease on `ip`: a live offer if there is one, else the stored lease. */
  byIp(ip: Ipv4): Lease | undefined {
    return this.liveOffer(ip, this.clock.now()) ?? this.journal.get(ip);
  }

  /** The client's live offer, else the stored lease that remembers it (bound, released or expired). */
  byClient(clientKey: string): Lease | undefined {
    const offered = this.offerIndex.get(clientKey);
    const offer = offered === undefined ? undefined : this.liveOffer(offered, this.clock.now());
    if (offer) return offer;
    const ip = this.clientIndex.get(clientKey);
    return ip === undefined ? undefined : this.journal.get(ip);
  }

  /** Every stored lease, with live offers in place of the stored lease on their address. */
  all(): Lease[] {
    const now = this.clock.now();
    const merged = new Map<Ipv4, Lease>(this.journal.entries());
    for (const offer of this.offers.values()) if (offer.expires > now) merged.set(offer.ip, offer);
    return [...merged.values()];
  }

  /**
   * May `ip` be given to a client that has no claim on it? Free: no lease, released,
   * expired, a binding or offer past its expiry, a quarantine that is over.
   */
  isFree(ip: Ipv4, now: number): boolean {
    if (this.liveOffer(ip, now)) return false;
    const lease = this.journal.get(ip);
    if (!lease) return true;
    switch (lease.state) {
      case 'released':
      case 'expired':
        return true;
      case 'bound':
      case 'offered':
      case 'declined':
        return lease.expires <= now;
    }
  }

  /** Like isFree, but an address offered to, bound to or remembering `clientKey` is free for that client. */
  isFreeFor(ip: Ipv4, clientKey: string, now: number): boolean {
    const offer = this.liveOffer(ip, now);
    if (offer) return offer.clientKey === clientKey;
    const lease = this.journal.get(ip);
    if (lease?.clientKey === clientKey && lease.state !== 'declined') return true;
    return this.isFree(ip, now);
  }

  // ---- transitions ---------------------------------------------------------

  /**
   * Keeps at most `max` unconfirmed offers: beyond it, the oldest is forgotten (its
   * client may still REQUEST the address, which is bound if nobody took it since).
   */
  limitOffers(max: number): void {
    this.maxOffers = max;
  }

  /** Unconfirmed offers held now (including lapsed ones not yet swept). */
  get offerCount(): number {
    return this.offers.size;
  }

  /** Reserves `ip` for `client` for `ttlMs`, in memory. A client holds at most one offer. */
  offer(ip: Ipv4, client: LeaseClient, ttlMs = DEFAULT_OFFER_TTL_MS): Lease {
    const now = this.clock.now();
    if (!this.isFreeFor(ip, client.key, now)) throw new Error(`address ${ip} is not free for client ${client.key}`);
    this.dropOfferOf(client.key);
    this.dropOfferOn(ip);
    // The map is in offer order (every offer is deleted before it is set again): the first is the oldest.
    while (this.offers.size >= this.maxOffers) {
      this.dropOfferOn(this.offers.keys().next().value as Ipv4);
      this.offersEvicted++;
    }
    const stored = this.journal.get(ip);
    const hostname = stored?.clientKey === client.key ? stored.hostname : undefined;
    const lease = makeLease(ip, client, hostname, 'offered', now, now + ttlMs);
    this.offers.set(ip, lease);
    this.offerIndex.set(client.key, ip);
    return lease;
  }

  /** Forgets the client's offer (it chose another server). */
  withdrawOffer(clientKey: string): void {
    this.dropOfferOf(clientKey);
  }

  /**
   * Binds `ip` to `client` for `leaseSeconds`. Resolves once the lease is durable:
   * the server sends the ACK only then. An address the client held before is let
   * go in the same write, so each client is remembered by one address.
   */
  async bind(ip: Ipv4, client: LeaseClient, leaseSeconds: number, hostname?: string): Promise<Lease> {
    const now = this.clock.now();
    if (!(leaseSeconds >= 0)) throw new RangeError(`lease time must be a non-negative number of seconds, got ${leaseSeconds}`);
    if (!this.isFreeFor(ip, client.key, now)) throw new Error(`address ${ip} is not free for client ${client.key}`);
    this.dropOfferOf(client.key);
    this.dropOfferOn(ip);
    const writes: Promise<void>[] = [];
    const heldIp = this.clientIndex.get(client.key);
    const held = heldIp !== undefined && heldIp !== ip ? this.journal.get(heldIp) : undefined;
    // Written before the new binding, in the same batch: a crash between the two
    // leaves the old address forgotten, never two addresses claiming the client.
    if (held) writes.push(this.store(forgetClient(held, now)));
    const stored = this.journal.get(ip);
    const keptHostname = hostname ?? (stored?.clientKey === client.key ? stored.hostname : undefined);
    const lease = makeLease(ip, client, keptHostname, 'bound', now, now + leaseSeconds * 1000);
    writes.push(this.store(lease));
    await Promise.all(writes);
    return lease;
  }

  /** The client gave the address back (DHCPRELEASE). It keeps its claim for the next DISCOVER. */
  async release(ip: Ipv4): Promise<Lease | undefined> {
    const lease = this.journal.get(ip);
    if (!lease || lease.state !== 'bound') return lease;
    const released: Lease = Object.freeze({ ...lease, state: 'released', expires: Math.min(lease.expires, this.clock.now()) });
    await this.store(released);
    return released;
  }

  /** Something else answers at `ip` (DHCPDECLINE or a conflict probe): keep it out of use for a while. */
  async decline(ip: Ipv4, quarantineSeconds: number, cause: 'decline' | 'probe'): Promise<Lease> {
    const now = this.clock.now();
    const offer = this.offers.get(ip);
    this.dropOfferOn(ip);
    // The client the address is offered to is the one declining it (or the one probed for),
    // not whoever held it before: the unknown share counts declines by this MAC.
    const live = offer && offer.expires > now ? offer : undefined;
    const mac = live?.mac ?? this.journal.get(ip)?.mac ?? UNKNOWN_MAC;
    const lease: Lease = Object.freeze({ ip, mac, state: 'declined', cause, start: now, expires: now + quarantineSeconds * 1000 });
    await this.store(lease);
    return lease;
  }

  /**
   * Marks bound leases past their expiry as expired and forgets stale offers.
   * Expiry is not waited for: losing it in a crash only means the next sweep does
   * it again, and isFree already treats a bound lease past expiry as free.
   * Returns how many leases expired.
   */
  sweep(now: number): number {
    for (const [ip, offer] of this.offers) if (offer.expires <= now) this.dropOfferOn(ip);
    let expired = 0;
    for (const lease of [...this.journal.values()]) {
      if (lease.state !== 'bound' || lease.expires > now) continue;
      expired++;
      this.store(Object.freeze({ ...lease, state: 'expired' })).catch((error: unknown) => {
        this.logger?.warn('lease expiry not written', { ip: lease.ip, error: error instanceof Error ? error.message : String(error) });
      });
    }
    return expired;
  }

  /** Folds the journal into a snapshot now (it also happens in the background). */
  compact(): Promise<void> {
    return this.journal.compact();
  }

  /** Waits for lease writes in flight, then closes the store. */
  async close(): Promise<void> {
    this.offers.clear();
    this.offerIndex.clear();
    await this.journal.close();
  }

  // ---- internals -----------------------------------------------------------

  /** Puts `lease` into the journal and keeps the client index in step; resolves when durable. */
  private store(lease: Lease): Promise<void> {
    const previous = this.journal.get(lease.ip);
    const durable = this.journal.put(lease.ip, lease);
    if (this.journal.get(lease.ip) !== lease) return durable; // refused (closed store): nothing changed
    const oldKey = previous?.clientKey;
    if (oldKey !== undefined && oldKey !== lease.clientKey && this.clientIndex.get(oldKey) === lease.ip) this.clientIndex.delete(oldKey);
    if (lease.clientKey !== undefined && (oldKey !== lease.clientKey || !this.clientIndex.has(lease.clientKey))) {
      this.clientIndex.set(lease.clientKey, lease.ip);
    }
    return durable;
  }

  private liveOffer(ip: Ipv4, now: number): Lease | undefined {
    const offer = this.offers.get(ip);
    return offer && offer.expires > now ? offer : undefined;
  }

  private dropOfferOf(clientKey: string): void {
    const ip = this.offerIndex.get(clientKey);
    if (ip !== undefined) this.dropOfferOn(ip);
  }

  private dropOfferOn(ip: Ipv4): void {
    const offer = this.offers.get(ip);
    if (!offer) return;
    this.offers.delete(ip);
    if (offer.clientKey !== undefined && this.offerIndex.get(offer.clientKey) === ip) this.offerIndex.delete(offer.clientKey);
  }
}

function makeLease(ip: Ipv4, client: LeaseClient, hostname: string | undefined, state: LeaseState, start: number, expires: number): Lease {
  // No undefined-valued fields: a lease read back from disk must equal the one written.
  const lease: Lease = { ip, mac: client.mac, clientKey: client.key, state, start, expires };
  if (client.clientId !== undefined) lease.clientId = client.clientId;
  if (hostname !== undefined) lease.hostname = hostname;
  return Object.freeze(lease);
}

/** The lease a client leaves behind when it binds another address: free, and no longer its. */
function forgetClient(lease: Lease, now: number): Lease {
  const free: Lease = { ...lease };
  delete free.clientKey;
  delete free.clientId;
  if (lease.state !== 'bound') return Object.freeze(free);
  return Object.freeze({ ...free, state: 'released', expires: Math.min(lease.expires, now) });
}

/** Shape check for records read from disk; the journal skips (and counts) what fails it. */
function isStoredLease(value: unknown, key: string): value is Lease {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    v.ip === key &&
    isIpv4(key) &&
    typeof v.mac === 'string' &&
    typeof v.state === 'string' &&
    STATES.has(v.state) &&
    Number.isFinite(v.start) &&
    Number.isFinite(v.expires) &&
    optionalString(v.clientId) &&
    optionalString(v.clientKey) &&
    optionalString(v.hostname) &&
    (v.cause === undefined || v.cause === 'decline' || v.cause === 'probe')
  );
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}
