// Limits on password and setup-token guessing: per client address and for the
// whole appliance. After `perAddress` failures within `windowMs` an address is
// locked out, first for `lockMs`, then twice as long for each further lockout
// (up to `maxLockMs`); `global` failures within `windowMs` from all addresses
// together lock everyone out for the rest of that window, which bounds an
// attacker who has many addresses. A locked-out attempt is refused before the
// password is even checked, so it tells the guesser nothing.

export interface ThrottleOptions {
  perAddress: number;
  global: number;
  windowMs: number;
  lockMs: number;
  maxLockMs: number;
  /** Addresses tracked at once; the oldest are forgotten past this (the global limit still holds). */
  maxTracked: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  perAddress: 5,
  global: 30,
  windowMs: 60_000,
  lockMs: 60_000,
  maxLockMs: 60 * 60_000,
  maxTracked: 4096,
};

export type ThrottleVerdict = { allowed: true } | { allowed: false; retryAfterMs: number; scope: 'address' | 'global' };

interface AddressRecord {
  failures: number[];
  lockouts: number;
  blockedUntil: number;
  lastFailureAt: number;
}

export class AttemptThrottle {
  private readonly opts: ThrottleOptions;
  private readonly addresses = new Map<string, AddressRecord>();
  /** Times of recent failures from anyone, oldest first, at most `global` of them. */
  private globalFailures: number[] = [];

  constructor(opts: Partial<ThrottleOptions> = {}) {
    this.opts = { ...DEFAULT_THROTTLE, ...opts };
  }

  /** May `address` try now? */
  check(address: string, now: number): ThrottleVerdict {
    const record = this.addresses.get(address);
    if (record && record.blockedUntil > now) return { allowed: false, retryAfterMs: record.blockedUntil - now, scope: 'address' };
    const globalUntil = this.globalBlockedUntil(now);
    if (globalUntil > now) return { allowed: false, retryAfterMs: globalUntil - now, scope: 'global' };
    return { allowed: true };
  }

  /** Records a failed attempt; the verdict says whether the address is now locked out (and for how long). */
  failure(address: string, now: number): ThrottleVerdict & { lockoutStarted: boolean } {
    const { opts } = this;
    const globalWasBlocked = this.globalBlockedUntil(now) > now;
    this.globalFailures.push(now);
    if (this.globalFailures.length > opts.global) this.globalFailures.shift();

    let record = this.addresses.get(address);
    if (!record) {
      record = { failures: [], lockouts: 0, blockedUntil: 0, lastFailureAt: now };
      this.addresses.set(address, record);
      this.evict(now);
    }
    // A long quiet spell earns a fresh start; otherwise lockouts keep doubling.
    if (now - record.lastFailureAt > opts.maxLockMs) record.lockouts = 0;
    record.lastFailureAt = now;
    record.failures = record.failures.filter((at) => now - at < opts.windowMs);
    record.failures.push(now);
    let lockoutStarted = false;
    if (record.failures.length >= opts.perAddress) {
      const lock = Math.min(opts.lockMs * 2 ** record.lockouts, opts.maxLockMs);
      record.lockouts++;
      record.blockedUntil = now + lock;
      record.failures = [];
      lockoutStarted = true;
    }
    const verdict = this.check(address, now);
    if (!globalWasBlocked && this.globalBlockedUntil(now) > now) lockoutStarted = true;
    return { ...verdict, lockoutStarted };
  }

  /**
   * A correct attempt clears the address's record. Callers record every
   * attempt as a failure before checking it (so parallel guesses cannot all
   * slip in before the first one is counted); `attemptAt` withdraws that
   * provisional failure from the global count too.
   */
  success(address: string, attemptAt?: number): void {
    this.addresses.delete(address);
    if (attemptAt !== undefined) {
      const index = this.globalFailures.lastIndexOf(attemptAt);
      if (index >= 0) this.globalFailures.splice(index, 1);
    }
  }

  get trackedAddresses(): number {
    return this.addresses.size;
  }

  private globalBlockedUntil(now: number): number {
    const { opts } = this;
    if (this.globalFailures.length < opts.global) return 0;
    const oldest = this.globalFailures[0];
    return now - oldest < opts.windowMs ? oldest + opts.windowMs : 0;
  }

  private evict(now: number): void {
    if (this.addresses.size <= this.opts.maxTracked) return;
    for (const [address, record] of this.addresses) {
      if (record.blockedUntil <= now && now - record.lastFailureAt >= this.opts.windowMs) this.addresses.delete(address);
    }
    // Still too many: forget the oldest (Map iteration is insertion order).
    for (const address of this.addresses.keys()) {
      if (this.addresses.size <= this.opts.maxTracked) break;
      this.addresses.delete(address);
    }
  }
}
