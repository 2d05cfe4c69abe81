// Server-Sent Events: the live event feed for the web UI and for scripts
// (GET /api/v1/events/stream). Each event goes out as
//   id: <event id>\nevent: <type>\ndata: <RackbootEvent JSON>\n\n
// A client that reconnects with Last-Event-ID first gets what it missed (from
// the event log), then live events, without gaps or repeats. A comment line
// every 15 s keeps proxies and the server's idle timer from closing the stream.
//
// Memory stays bounded however clients behave: live events are written only
// while the stream's unsent output is below maxBufferedBytes; a client that
// stops reading is disconnected once it falls that far behind (it can resume
// with Last-Event-ID). The number of streams is capped.
//
// A stream lives no longer than the access it was opened with: when that
// session or API token ends (logout, password change, expiry, revocation),
// endAccess() closes its streams at once, and every keep-alive tick checks
// each stream's access again, so none outlives it by more than keepAliveMs.
//
// Counters: sse.opened, sse.dropped.slow_client, sse.refused.too_many,
// sse.closed.access_ended.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RackbootEvent } from '../model/event.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { Access } from '../auth/service.js';
import type { Awaitable, EventsQuery } from './api/host.js';

export interface EventFeed {
  events(query: EventsQuery): Awaitable<RackbootEvent[]>;
  subscribeEvents(listener: (event: RackbootEvent) => void): () => void;
}

export interface SseLimits {
  maxStreams: number;
  keepAliveMs: number;
  /**
   * Unsent bytes a stream may hold before its client counts as gone. Writes
   * made in one tick sit in the response until the next, so this must hold a
   * burst (a rack powering on makes hundreds of events at once), not just a
   * steady trickle: 1 MiB x maxStreams bounds the memory.
   */
  maxBufferedBytes: number;
  /** Events fetched per page when resuming from Last-Event-ID. */
  resumePageSize: number;
  /** At most this many missed events are replayed on resume (the client reloads state anyway when it reconnects). */
  maxResumeEvents: number;
  /** Browser reconnection delay advertised in `retry:`. */
  retryMs: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = {
  maxStreams: 32,
  keepAliveMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  resumePageSize: 500,
  maxResumeEvents: 10_000,
  retryMs: 5_000,
};

export interface EventStreamsOptions {
  source: EventFeed;
  /** Whether the access a stream was opened with still grants access (asked on every keep-alive tick). */
  isLive?(access: Access): boolean;
  log: Logger;
  counters: Counters;
  limits?: Partial<SseLimits>;
}

const KEEP_ALIVE = ': keep-alive\n\n';

export type OpenResult = { ok: true } | { ok: false; reason: 'too_many' };

interface Stream {
  res: ServerResponse;
  /** The session or token the stream was opened with. */
  access: Access | undefined;
  /** Live events that arrived while the backlog was being sent. */
  pending: RackbootEvent[] | null;
  /** The newest event this stream has sent; live events at or below it were already sent by the replay. */
  lastSentId: number;
  close: () => void;
}

export class EventStreams {
  readonly limits: SseLimits;
  private readonly streams = new Set<Stream>();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: EventStreamsOptions) {
    this.limits = { ...DEFAULT_SSE_LIMITS, ...opts.limits };
    this.log = opts.log.child({ component: 'sse' });
  }

  get active(): number {
    return this.streams.size;
  }

  /** Bytes written to streams that their clients have not taken yet, all streams together (bounded by active × maxBufferedBytes). */
  bufferedBytes(): number {
    let total = 0;
    for (const stream of this.streams) total += stream.res.writableLength;
    return total;
  }

  /**
   * Starts a stream on `res` (the caller has authenticated the request). With
   * `lastEventId` the events after it are sent first. Resolves once the
   * backlog is out; the stream then lives until either side closes it.
   */
  async open(req: IncomingMessage, res: ServerResponse, lastEventId: number | undefined, access?: Access): Promise<OpenResult> {
    if (this.streams.size >= this.limits.maxStreams) {
      this.opts.counters.inc('sse.refused.too_many');
      return { ok: false, reason: 'too_many' };
    }
    this.opts.counters.inc('sse.opened');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    res.write(`retry: ${this.limits.retryMs}\n: connected\n\n`);
    req.socket.setNoDelay(true);

    let unsubscribe = () => {};
    let closed = false;
    const stream: Stream = {
      res,
      access,
      pending: lastEventId !== undefined ? [] : null,
      // Not the client's Last-Event-ID: if the log started over (a wiped state directory), ids below it are new events.
      lastSentId: -1,
      close: () => {
        if (closed) return;
        closed = true;
        this.streams.delete(stream);
        unsubscribe();
        if (this.streams.size === 0) this.stopKeepAlive();
      },
    };
    this.streams.add(stream);
    // Subscribe before reading the backlog, so nothing appended in between is lost; duplicates are skipped by id.
    unsubscribe = this.opts.source.subscribeEvents((event) => this.onLive(stream, event));
    res.once('close', stream.close);
    if (res.destroyed) stream.close();
    else this.startKeepAlive();

    if (lastEventId !== undefined) {
      try {
        await this.sendBacklog(stream, lastEventId);
      } catch (error) {
        this.log.warn('could not replay missed events', { after: lastEventId, error: error as Error });
      }
      const pending = stream.pending ?? [];
      stream.pending = null;
      for (const event of pending) this.sendLive(stream, event);
    }
    return { ok: true };
  }

  /** Ends the streams opened with `ended` (its session or token no longer grants access). Returns how many. */
  endAccess(ended: Access): number {
    let closed = 0;
    for (const stream of [...this.streams]) {
      if (stream.access?.kind !== ended.kind || stream.access.key !== ended.key) continue;
      this.endForAccess(stream);
      closed++;
    }
    return closed;
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    for (const stream of [...this.streams]) {
      stream.close();
      stream.res.end();
    }
    this.stopKeepAlive();
  }

  private onLive(stream: Stream, event: RackbootEvent): void {
    if (stream.pending) {
      if (stream.pending.length >= this.limits.maxResumeEvents) return this.drop(stream);
      stream.pending.push(event);
      return;
    }
    this.sendLive(stream, event);
  }

  private sendLive(stream: Stream, event: RackbootEvent): void {
    if (event.id <= stream.lastSentId || stream.res.destroyed) return;
    const frame = formatEvent(event);
    // writableLength: bytes the response holds that the socket has not taken yet (the client is not reading).
    if (stream.res.writableLength + frame.length > this.limits.maxBufferedBytes) return this.drop(stream);
    stream.res.write(frame);
    stream.lastSentId = event.id;
  }

  /** Missed events, page by page, waiting for the client to take each page (it may be far behind). */
  private async sendBacklog(stream: Stream, after: number): Promise<void> {
    let sent = 0;
    let cursor = after;
    while (sent < this.limits.maxResumeEvents && !stream.res.destroyed) {
      const limit = Math.min(this.limits.resumePageSize, this.limits.maxResumeEvents - sent);
      const page = await this.opts.source.events({ after: cursor, limit });
      for (const event of page) {
        if (event.id <= stream.lastSentId) continue;
        const flushed = stream.res.write(formatEvent(event));
        stream.lastSentId = event.id;
        cursor = event.id;
        sent++;
        if (!flushed && !(await drained(stream.res))) return;
      }
      if (page.length < limit) return;
    }
  }

  private drop(stream: Stream): void {
    this.opts.counters.inc('sse.dropped.slow_client');
    this.log.info('event stream client fell behind; disconnected (it can resume with Last-Event-ID)', {
      remote: stream.res.req?.socket.remoteAddress,
      unsentBytes: stream.res.writableLength,
    });
    stream.close();
    stream.res.destroy();
  }

  /** The stream's access ended: the response ends cleanly (an EventSource then reconnects and is refused with 401). */
  private endForAccess(stream: Stream): void {
    this.opts.counters.inc('sse.closed.access_ended');
    stream.close();
    stream.res.end();
  }

  private startKeepAlive(): void {
    if (this.keepAlive) return;
    this.keepAlive = setInterval(() => {
      for (const stream of [...this.streams]) {
        if (stream.access && this.opts.isLive && !this.opts.isLive(stream.access)) this.endForAccess(stream);
        else if (stream.res.writableLength + KEEP_ALIVE.length > this.limits.maxBufferedBytes) this.drop(stream);
        else stream.res.write(KEEP_ALIVE);
      }
    }, this.limits.keepAliveMs);
    this.keepAlive.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }
}

export function formatEvent(event: RackbootEvent): string {
  // JSON.stringify never emits a raw newline, so one data: line carries the whole event.
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Last-Event-ID (header, or ?lastEventId= for clients that cannot set headers): a non-negative integer, else undefined. */
export function parseLastEventId(header: string | string[] | undefined, query: string | null): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header) ?? query ?? undefined;
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) return undefined;
  const value = Number(text.trim());
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Resolves true on 'drain', false if the response closes first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const done = (value: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(value);
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
