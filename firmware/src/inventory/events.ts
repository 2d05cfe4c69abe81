// The event log: every stage change, diagnosis, inventory edit and action, with
// an id that keeps increasing across restarts (SSE resumes from Last-Event-ID).
// Kept in the crash-safe journal (store `events`), newest `retain` kept.
//
// Appending never waits for the disk: the DHCP server must answer a DISCOVER
// whether or not the event it caused is on disk yet. append() returns the event
// at once and hands it to the journal, which writes records in order with group
// commit; a failed write is logged (once per failure streak) and counted.

import { Journal, type LoadReport } from '../store/journal.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Mac } from '../net/addr.js';
import { EVENT_TYPES, type EventType, type RackbootEvent } from '../model/event.js';

export { EVENT_TYPES };

export const DEFAULT_EVENT_RETENTION = 20_000;
/** Queries return at most this many events. */
export const MAX_QUERY_LIMIT = 10_000;
export const DEFAULT_QUERY_LIMIT = 1000;

export type EventInput = Omit<RackbootEvent, 'id' | 'at'> & { at?: number };

export interface EventQuery {
  mac?: Mac;
  type?: EventType | readonly EventType[];
  /** Events at or after this time (ms since the epoch). */
  since?: number;
  /** Events with an id greater than this (SSE's Last-Event-ID). */
  after?: number;
  /** Default DEFAULT_QUERY_LIMIT, at most MAX_QUERY_LIMIT. */
  limit?: number;
}

export type EventListener = (event: RackbootEvent) => void;

export interface EventLogOptions {
  clock: Clock;
  log: Logger;
  /** Keep this many of the newest events (default 20,000). */
  retain?: number;
  /** Prune when the log holds this many more than `retain` (default a tenth of `retain`): deletes go out in batches. */
  pruneBatch?: number;
  /** Journal compaction threshold (default 4 MiB: events are many and small, snapshots of 20,000 are not). */
  compactAfterBytes?: number;
}

const DEFAULT_COMPACT_AFTER_BYTES = 4 << 20;

export class EventLog {
  /** Oldest first; ids strictly increasing. */
  private readonly events: RackbootEvent[];
  private readonly listeners = new Set<EventListener>();
  private nextId: number;
  private lastWrite: Promise<void> = Promise.resolve();
  private writeFailing = false;
  private failedWrites = 0;
  private readonly retain: number;
  private readonly pruneBatch: number;

  private constructor(
    private readonly journal: Journal<RackbootEvent>,
    private readonly opts: EventLogOptions,
  ) {
    this.retain = Math.max(1, opts.retain ?? DEFAULT_EVENT_RETENTION);
    this.pruneBatch = Math.max(1, opts.pruneBatch ?? Math.ceil(this.retain / 10));
    this.events = [...journal.values()].sort((a, b) => a.id - b.id);
    this.nextId = (this.events.at(-1)?.id ?? 0) + 1;
  }

  static async open(stateDir: string, opts: EventLogOptions): Promise<EventLog> {
    const journal = await Journal.open<RackbootEvent>(stateDir, 'events', {
      validate: isStoredEvent,
      logger: opts.log,
      compactAfterBytes: opts.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES,
    });
    const log = new EventLog(journal, opts);
    log.pruneIfDue();
    return log;
  }

  /** A point-in-time copy of the stored events, oldest first, without opening the store for writing (CLI listings). */
  static async read(stateDir: string): Promise<RackbootEvent[]> {
    const { entries } = await Journal.read<RackbootEvent>(stateDir, 'events', { validate: isStoredEvent });
    return [...entries.values()].sort((a, b) => a.id - b.id);
  }

  get loadReport(): LoadReport {
    return this.journal.loadReport;
  }

  /** The id of the newest event (0 when there is none). */
  get lastId(): number {
    return this.nextId - 1;
  }

  get size(): number {
    return this.events.length;
  }

  /** Writes that failed since open (each one logged or folded into a logged streak). */
  get failedWriteCount(): number {
    return this.failedWrites;
  }

  /** Records an event: listeners see it now, the disk gets it in order, soon. */
  append(input: EventInput): RackbootEvent {
    const { at, ...rest } = input;
    const event: RackbootEvent = { id: this.nextId++, at: at ?? this.opts.clock.now(), ...stripUndefined(rest) };
    this.events.push(event);
    this.write(this.journal.put(keyOf(event.id), event));
    this.pruneIfDue();
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.opts.log.error('event listener failed', { type: event.type, error: error as Error });
      }
    }
    return event;
  }

  /** Matching events, oldest first. With `after` or `since`, the first `limit` from there (paging forward); without, the newest `limit`. */
  query(q: EventQuery = {}): RackbootEvent[] {
    const limit = Math.min(Math.max(0, Math.floor(q.limit ?? DEFAULT_QUERY_LIMIT)), MAX_QUERY_LIMIT);
    if (limit === 0) return [];
    const types = q.type === undefined ? undefined : new Set(typeof q.type === 'string' ? [q.type] : q.type);
    const start = q.after === undefined ? 0 : firstIndexAfter(this.events, q.after);
    const matches = (e: RackbootEvent) =>
      (q.mac === undefined || e.mac === q.mac) && (types === undefined || types.has(e.type)) && (q.since === undefined || e.at >= q.since);
    const out: RackbootEvent[] = [];
    if (q.after !== undefined || q.since !== undefined) {
      for (let i = start; i < this.events.length && out.length < limit; i++) if (matches(this.events[i])) out.push(this.events[i]);
      return out;
    }
    for (let i = this.events.length - 1; i >= start && out.length < limit; i--) if (matches(this.events[i])) out.push(this.events[i]);
    return out.reverse();
  }

  /** A node's events, oldest first (the newest `limit`). */
  timeline(mac: Mac, limit = DEFAULT_QUERY_LIMIT): RackbootEvent[] {
    return this.query({ mac, limit });
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Resolves when every event appended so far is on disk (or its write failed and was logged). */
  flush(): Promise<void> {
    return this.lastWrite;
  }

  async close(): Promise<void> {
    await this.flush();
    this.listeners.clear();
    await this.journal.close();
  }

  private write(done: Promise<void>): void {
    this.lastWrite = done.then(
      () => {
        if (this.writeFailing) {
          this.writeFailing = false;
          this.opts.log.info('event log: writes succeed again');
        }
      },
      (error: unknown) => {
        this.failedWrites++;
        if (!this.writeFailing) {
          this.writeFailing = true;
          this.opts.log.error('event log: could not write an event; it is kept in memory only', { error: error as Error });
        }
      },
    );
  }

  /** Drops the oldest events once there are pruneBatch more than retain, so deletes go out in batches. */
  private pruneIfDue(): void {
    if (this.events.length < this.retain + this.pruneBatch) return;
    const drop = this.events.splice(0, this.events.length - this.retain);
    for (const event of drop) this.write(this.journal.delete(keyOf(event.id)));
  }
}

/** Journal keys: the id as text. */
function keyOf(id: number): string {
  return String(id);
}

/** Index of the first event with an id greater than `id` (events are sorted by id). */
function firstIndexAfter(events: readonly RackbootEvent[], id: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid].id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function stripUndefined<T extends object>(value: T): T {
  const out = {} as T;
  for (const [k, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

const TYPES = new Set<string>(EVENT_TYPES);

function isStoredEvent(value: unknown, key: string): value is RackbootEvent {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.id === 'number' &&
    Number.isSafeInteger(e.id) &&
    e.id > 0 &&
    keyOf(e.id) === key &&
    typeof e.at === 'number' &&
    typeof e.type === 'string' &&
    TYPES.has(e.type) &&
    typeof e.message === 'string' &&
    (e.mac === undefined || typeof e.mac === 'string')
  );
}
