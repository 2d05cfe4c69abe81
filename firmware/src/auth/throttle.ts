// Limits on password and setup-token guessing, per client address and for the
// whole appliance, built so that a flood from many addresses can never lock the
// owner out:
//
// - Per address: after `perAddress` failures within `windowMs` an address is
//   locked out, first for `lockMs`, then twice as long for each further lockout
//   (up to `maxLockMs`, so every lockout ends). An IPv6 address counts by its
//   /64, which one host can fill with addresses of its own.
// - Overall: once `global` failures from all addresses together fall within
//   `windowMs`, an address with a failure of its own in the last `windowMs`
//   waits until that failure is `windowMs` old. An address with no recent
//   failure (the owner at their own desk) still gets its attempts. This bounds
//   an attacker with many addresses to about one guess per address per window,
//   without a lockout of everyone that the attacker could keep renewing.
// A refused attempt is refused before the password is checked, so it tells the
// guesser nothing. API tokens and the serial console are not throttled here.

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
    const record = this.addresses.get(throttleKey(address));
    if (record && record.blockedUntil > now) return { allowed: false, retryAfterMs: record.blockedUntil - now, scope: 'address' };
    if (record && this.globalBusy(now)) {
      const recentUntil = record.lastFailureAt + this.opts.windowMs;
      if (recentUntil > now) return { allowed: false, retryAfterMs: recentUntil - now, scope: 'global' };
    }
    return { allowed: true };
  }

  /** Records a failed attempt; the verdict says whether the address must now wait (and for how long). */
  failure(address: string, now: number): ThrottleVerdict & { lockoutStarted: boolean } {
    const { opts } = this;
    const globalWasBusy = this.globalBusy(now);
    this.globalFailures.push(now);
    if (this.globalFailures.length > opts.global) this.globalFailures.shift();

    const key = throttleKey(address);
    let record = this.addresses.get(key);
    if (!record) {
      record = { failures: [], lockouts: 0, blockedUntil: 0, lastFailureAt: now };
      this.addresses.set(key, record);
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
    if (!globalWasBusy && this.globalBusy(now)) lockoutStarted = true;
    return { ...verdict, lockoutStarted };
  }

  /**
   * A correct attempt clears the address's record. Callers record every
   * attempt as a failure before checking it (so parallel guesses cannot all
   * slip in before the first one is counted); `attemptAt` withdraws that
   * provisional failure from the global count too.
   */
  success(address: string, attemptAt?: number): void {
    this.addresses.delete(throttleKey(address));
    if (attemptAt !== undefined) {
      const index = this.globalFailures.lastIndexOf(attemptAt);
      if (index >= 0) this.globalFailures.splice(index, 1);
    }
  }

  get trackedAddresses(): number {
    return this.addresses.size;
  }

  /** Whether `global` failures from everyone fall within the last window. */
  private globalBusy(now: number): boolean {
    const { opts } = this;
    return this.globalFailures.length >= opts.global && now - this.globalFailures[0] < opts.windowMs;
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

/** The unit an address is throttled by: IPv4 addresses as they are, IPv6 ones by their /64 (one host may hold all of it). */
export function throttleKey(address: string): string {
  if (!address.includes(':') || address.includes('.')) return address;
  const [head, tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  if (tail === undefined) return `${left.slice(0, 4).join(':')}::/64`;
  const right = tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).join(':')}::/64`;
}
