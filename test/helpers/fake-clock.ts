// A fake clock with timers: simulated time that moves only when a test says so.
import type { TimerHandle, Timers, TimerScheduler } from '../../firmware/src/util/timers.js';

/**
 * `now` is a plain number that tests set and advance; `timers` is the same clock
 * as the Timers interface (util/timers.ts) that modules take. `timers` calls
 * through to setTimer/clearTimer, so a test that replaces them sees its own.
 */
export class FakeClock implements TimerScheduler {
  now = 0;
  readonly timers: Timers = {
    now: () => this.now,
    setTimer: (ms, fn) => this.setTimer(ms, fn),
    clearTimer: (handle) => this.clearTimer(handle),
  };
  private seq = 0;
  private readonly scheduled = new Map<number, { at: number; fn: () => void }>();

  setTimer = (ms: number, fn: () => void): TimerHandle => {
    const id = ++this.seq;
    this.scheduled.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimer = (handle: TimerHandle): void => {
    this.scheduled.delete(handle as number);
  };

  get pending(): number {
    return this.scheduled.size;
  }

  /** Fires the earliest timer; false when there is none. */
  next(): boolean {
    let first: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of this.scheduled) if (!first || entry[1].at < first[1].at) first = entry;
    if (!first) return false;
    this.scheduled.delete(first[0]);
    this.now = Math.max(this.now, first[1].at);
    first[1].fn();
    return true;
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.scheduled) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.scheduled.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = target;
  }
}
