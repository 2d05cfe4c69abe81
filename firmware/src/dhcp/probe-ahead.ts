// Conflict probes ahead of need. Each DISCOVER for a new address waits for a
// conflict probe of it (RFC 5227 ARP, or ICMP beyond a relay); under load that
// wait, not the server, sets the offer rate. So while new addresses are offered
// fast enough, the next free candidates are probed in the background, and the
// DISCOVERs that get them find a fresh "free" verdict and are answered at once.
//
// Contract: the server calls offered() once per new address it offers. While
// offers of the current or the previous one-second window reach
// PROBE_AHEAD_MIN_PER_SECOND, and at most every PROBE_AHEAD_EVERY_MS, it walks
// the candidates as far as PROBE_AHEAD_SECONDS of offers at that rate and
// starts `probe` for those neither being probed nor known free, at most a
// bounded burst per walk. Probes run unawaited; `probe` itself quarantines a
// conflict, and a probe that throws is logged. Nothing is probed ahead when the
// verdicts have no knownFree (a prober without a cache of free verdicts).

import type { Ipv4 } from '../net/addr.js';
import type { PoolConfig } from '../config/schema.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

/**
 * How far ahead the walk reaches, in seconds of offers at the current rate:
 * enough to cover a probe's wait and the walk's cadence, and inside the time a
 * free verdict is trusted, so an address is not probed long before it is wanted
 * and then probed again because its verdict lapsed.
 */
const PROBE_AHEAD_SECONDS = 0.5;
/** Least addresses looked ahead at any rate that triggers the look-ahead. */
const PROBE_AHEAD_MIN = 8;
/** Most addresses looked ahead: a depth bounded for any rate. */
const PROBE_AHEAD_MAX = 5000;
/**
 * New probes one walk may start: four walks' worth of offers, so the look-ahead
 * catches up within a few walks, and never a burst (two ARP frames each) that
 * fills the interface queue the OFFERs leave by.
 */
const PROBE_AHEAD_BURST_MAX = 500;
/** The walk runs at most this often, not per DISCOVER. */
const PROBE_AHEAD_EVERY_MS = 50;
/**
 * Below this many new addresses offered per second nothing is probed ahead:
 * each OFFER probes its own address, as fresh as can be, and a PXE ROM does not
 * notice the wait. Above it, waiting for the probe is what limits the rate.
 */
const PROBE_AHEAD_MIN_PER_SECOND = 20;
const WINDOW_MS = 1000;

/** The prober's cache of recent verdicts (ConflictProber.knownFree). */
export interface FreeVerdicts {
  /** True when a recent probe found `ip` free. Absent: nothing is probed ahead. */
  knownFree?(ip: Ipv4): boolean;
}

/** Free addresses of `pools` in offer order, lazily (FreeAddressFinder). */
export interface CandidateSource {
  candidates(pools: readonly PoolConfig[], now: number): Iterable<Ipv4>;
}

export interface ProbeAheadOptions {
  clock: Clock;
  verdicts: FreeVerdicts;
  free: CandidateSource;
  /** Probes `ip` and quarantines it when something answers; reports failure by rejecting, never by throwing. */
  probe(ip: Ipv4): Promise<unknown>;
  log: Logger;
}

export class ProbeAhead {
  /** Addresses whose background probe has not finished: never probed twice at once. */
  private readonly probing = new Set<Ipv4>();
  /** The next walk may run from this time on. */
  private nextWalkAt = 0;
  /** New addresses offered in the current one-second window, and in the one before. */
  private window = { start: 0, count: 0, previous: 0 };

  constructor(private readonly opts: ProbeAheadOptions) {}

  /** Addresses being probed ahead right now. */
  get inFlight(): number {
    return this.probing.size;
  }

  /** A new address from `pools` was offered; may start background probes of the next candidates. */
  offered(pools: readonly PoolConfig[]): void {
    const { clock, verdicts } = this.opts;
    const now = clock.now();
    const rate = this.countOffer(now);
    if (!verdicts.knownFree || now < this.nextWalkAt || rate < PROBE_AHEAD_MIN_PER_SECOND) return;
    this.nextWalkAt = now + PROBE_AHEAD_EVERY_MS;
    const depth = Math.min(PROBE_AHEAD_MAX, Math.max(PROBE_AHEAD_MIN, Math.ceil(rate * PROBE_AHEAD_SECONDS)));
    let budget = Math.min(PROBE_AHEAD_BURST_MAX, Math.max(PROBE_AHEAD_MIN, Math.ceil((4 * rate * PROBE_AHEAD_EVERY_MS) / 1000)));
    let looked = 0;
    for (const ip of this.opts.free.candidates(pools, clock.now())) {
      if (++looked > depth || budget === 0) break;
      if (this.probing.has(ip) || verdicts.knownFree(ip)) continue;
      budget--;
      this.start(ip);
    }
  }

  /** Counts one offer; returns offers per second, the larger of this window and the one before. */
  private countOffer(now: number): number {
    if (now - this.window.start >= WINDOW_MS) {
      // A window left unfinished for more than a second had no load worth remembering.
      const previous = now - this.window.start < 2 * WINDOW_MS ? this.window.count : 0;
      this.window = { start: now, count: 0, previous };
    }
    this.window.count++;
    return Math.max(this.window.count, this.window.previous);
  }

  private start(ip: Ipv4): void {
    this.probing.add(ip);
    void this.opts
      .probe(ip)
      .catch((error: unknown) => this.opts.log.warn('background conflict probe failed', { ip, error: error as Error }))
      .finally(() => this.probing.delete(ip));
  }
}
