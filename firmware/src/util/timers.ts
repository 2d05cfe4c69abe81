// One-shot timers and the time they are measured in, behind one interface, so
// every retry, backoff and timeout runs under test/helpers/fake-clock.ts in tests.

import type { Clock } from './clock.js';

/** Whatever setTimer returned; only ever passed back to clearTimer. */
export type TimerHandle = unknown;

/**
 * A clock that can also call back later. `now()` is in milliseconds; which
 * zero it counts from belongs to the implementation (systemTimers: the epoch,
 * like Clock; monotonicTimers: process start). A module that puts now() into
 * records needs systemTimers; one that only subtracts readings may take either.
 */
export interface Timers extends Clock {
  /** Calls `fn` once, `ms` milliseconds from now, unless cleared first. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer that has not fired; a handle that fired or was cleared, or undefined, is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/** The subset a module needs when it only starts and cancels timers. */
export type TimerScheduler = Pick<Timers, 'setTimer' | 'clearTimer'>;

const setTimer = (ms: number, fn: () => void): TimerHandle => setTimeout(fn, ms);
const clearTimer = (handle: TimerHandle): void => clearTimeout(handle as NodeJS.Timeout | undefined);

/** Node's timers, with now() the wall clock in ms since the epoch (Date.now()). */
export const systemTimers: Timers = { now: () => Date.now(), setTimer, clearTimer };

/** Node's timers, with now() monotonic (performance.now()): for intervals that a wall-clock step must not stretch or shrink. */
export const monotonicTimers: Timers = { now: () => performance.now(), setTimer, clearTimer };

/** Resolves after `ms` on `timers`. */
export function sleep(timers: TimerScheduler, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimer(ms, resolve));
}
