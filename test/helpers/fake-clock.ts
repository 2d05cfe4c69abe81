// A fake clock with timers, for state machines that take setTimer/clearTimer/now.
export class FakeClock {
  now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  setTimer = (ms: number, fn: () => void): unknown => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  };

  clearTimer = (handle: unknown): void => {
    this.timers.delete(handle as number);
  };

  get pending(): number {
    return this.timers.size;
  }

  /** Fires the earliest timer; false when there is none. */
  next(): boolean {
    let first: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of this.timers) if (!first || entry[1].at < first[1].at) first = entry;
    if (!first) return false;
    this.timers.delete(first[0]);
    this.now = Math.max(this.now, first[1].at);
    first[1].fn();
    return true;
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = target;
  }
}
