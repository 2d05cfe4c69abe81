// How many events the DHCP layer may write about traffic from the segment
// (rogue servers, impersonation, forged sources). Anyone on the segment can
// forge such traffic with fresh identities, and each event is a line in the
// operator's event log: unbounded, a flood of forged replies would push every
// real event out of it. A budget allows at most one event per source per
// window and `overall` events per window across all sources; what it refuses
// the caller counts in a metric and folds into the source's next event.

/** The window both limits count over. */
export const EVENT_WINDOW_MS = 10 * 60_000;
/** Events per window across all sources. */
export const EVENTS_PER_WINDOW = 8;
/** Sources remembered at once; the least recently heard is forgotten first. */
const MAX_SOURCES = 256;

export type BudgetVerdict = 'write' | 'quiet' | 'over_budget';

export class EventBudget {
  /** Source -> when its last event was written (or refused by the overall limit). */
  private readonly sources = new Map<string, number>();
  /** Times of the events written in the current window, oldest first. */
  private readonly written: number[] = [];

  constructor(
    private readonly windowMs = EVENT_WINDOW_MS,
    private readonly overall = EVENTS_PER_WINDOW,
  ) {}

  /**
   * Whether an event about `source` may be written now: `write` (and it is
   * counted), `quiet` (this source had its event within the window; not a
   * refusal, the caller aggregates) or `over_budget` (the overall limit is
   * reached; the source's window restarts as if it had been written, so a
   * refused source is not retried on every packet).
   */
  take(source: string, now: number): BudgetVerdict {
    const last = this.sources.get(source);
    if (last !== undefined && now - last < this.windowMs && now >= last) return 'quiet';
    this.sources.delete(source);
    if (this.sources.size >= MAX_SOURCES) this.sources.delete(this.sources.keys().next().value as string);
    this.sources.set(source, now);
    while (this.written.length > 0 && (now - this.written[0] >= this.windowMs || now < this.written[0])) this.written.shift();
    if (this.written.length >= this.overall) return 'over_budget';
    this.written.push(now);
    return 'write';
  }
}
