// Rate limits on DHCPDECLINE. A DECLINE takes an address out of the pool for
// the quarantine (10 minutes), so a host that makes up MACs and follows each
// DISCOVER with a DECLINE of its offer could empty a pool in seconds. Real
// clients decline rarely: only after their own ARP check found the offered
// address in use, and then they start over with a DISCOVER that takes seconds.
// So a client (MAC) may have one DECLINE obeyed per CLIENT_INTERVAL_MS, and all
// clients together a burst of BURST, then PER_SECOND a second (a token
// bucket). What is over either limit is dropped; the caller counts it.
// Declined addresses also count against the unknown clients' share of the pool
// (client-limits.ts), so even within these rates a flood cannot hold more than
// that share.

import type { Mac } from '../net/addr.js';

/** One DECLINE per client per this long. */
export const DECLINE_CLIENT_INTERVAL_MS = 10_000;
/** DECLINEs all clients together may send at once... */
export const DECLINE_BURST = 8;
/** ...and then per second. */
export const DECLINE_PER_SECOND = 1;
/** Clients remembered at once; beyond it the oldest is forgotten (the overall bucket still holds). */
const MAX_CLIENTS = 4096;

export type DeclineRefusal = 'decline_rate_client' | 'decline_rate_overall';

export class DeclineLimiter {
  private readonly lastByClient = new Map<Mac, number>();
  private tokens = DECLINE_BURST;
  private filledAt: number | undefined;

  /** Undefined when a DECLINE from `mac` may be obeyed now (and counts it), else why not. */
  admit(mac: Mac, now: number): DeclineRefusal | undefined {
    const last = this.lastByClient.get(mac);
    if (last !== undefined && now - last < DECLINE_CLIENT_INTERVAL_MS && now >= last) return 'decline_rate_client';
    this.refill(now);
    if (this.tokens < 1) return 'decline_rate_overall';
    this.tokens--;
    this.lastByClient.delete(mac);
    if (this.lastByClient.size >= MAX_CLIENTS) this.lastByClient.delete(this.lastByClient.keys().next().value as Mac);
    this.lastByClient.set(mac, now);
    return undefined;
  }

  private refill(now: number): void {
    if (this.filledAt !== undefined && now > this.filledAt) {
      this.tokens = Math.min(DECLINE_BURST, this.tokens + ((now - this.filledAt) / 1000) * DECLINE_PER_SECOND);
    }
    this.filledAt = now;
  }
}
