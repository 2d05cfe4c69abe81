// Pacing for TFTP data, and the limit on concurrent transfers.
//
// Why pace at all: TFTP has no congestion control, and every transfer socket
// feeds the same interface queue as the DHCP and ARP answers, which rackboot
// sends directly on its packet socket and never through this scheduler. If
// TFTP were sent as fast as the sockets take it, the qdisc and the NIC ring
// would fill with DATA and a DHCPOFFER would wait behind it, or be dropped when
// the queue overflows (the ARP reply that a booting node needs next with it).
// So all TFTP data goes through one token bucket whose rate stays below the
// link rate (tftp.max_rate_mbit, 400 of 1000 by default): the queue drains
// between bursts, and the worst queueing delay a DHCP packet sees is one burst
// at link rate (the default burst of 5 ms of traffic is 2 ms on 1 Gbit/s).
// A per-transfer bucket (tftp.transfer_rate_mbit) stops one fast client from
// taking the whole budget, and waiting transfers are served byte-fairly in
// round-robin order (start-time fair queueing: the waiting transfer that has
// been served the fewest bytes goes next, ties in arrival order), so with equal
// blocks they strictly alternate and none starves.
//
// Timers are coarse (Node's are >= 1 ms), so a wake-up sends every packet the
// buckets allow, and a bucket's burst must hold at least a few ms of its rate.
// A packet larger than a bucket's burst may go when the bucket is full, leaving
// it in debt: any block size works with any rate.

import { monotonicTimers, type TimerHandle, type Timers, type TimerScheduler } from '../util/timers.js';

export interface SendGate {
  /**
   * Calls `send` when the packet may go: at once (inside this call) or later
   * from a timer. Requests of one gate are granted in FIFO order.
   */
  request(bytes: number, send: () => void): void;
  /** The transfer ended: its queued requests are dropped, never called. Idempotent. */
  release(): void;
}

export interface SchedulerOptions {
  /** Aggregate rate for all TFTP data. */
  rateBytesPerSecond: number;
  /** Default: the larger of 64 KiB and 5 ms at the aggregate rate. */
  burstBytes?: number;
  /** Cap per transfer; none when absent. */
  perTransferBytesPerSecond?: number;
  /** Default: the larger of 16 KiB and 5 ms at the per-transfer rate. */
  perTransferBurstBytes?: number;
  /** Added to every request for rate accounting: Ethernet (14) + IPv4 (20) + UDP (8) headers. Default 42. */
  overheadBytes?: number;
  /** Token refill and wake-ups; only intervals are measured. Default: monotonic. */
  timers?: Timers;
}

export interface SchedulerStats {
  /** Requests waiting for a token. */
  queued: number;
  /** Gates handed out and not released. */
  activeTransfers: number;
  /** Bytes granted (as requested, without the header overhead). */
  bytesSent: number;
}

interface Pending {
  bytes: number;
  send: () => void;
}

class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly bytesPerMs: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Milliseconds until `bytes` may go (0: now). */
  waitFor(bytes: number, now: number): number {
    this.refill(now);
    const need = Math.min(bytes, this.capacity);
    return this.tokens >= need ? 0 : (need - this.tokens) / this.bytesPerMs;
  }

  take(bytes: number): void {
    this.tokens -= bytes;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.bytesPerMs);
      this.last = now;
    }
  }
}

interface GateState {
  id: string;
  queue: Pending[];
  /** Bytes served, in the fair-queueing virtual time. */
  tag: number;
  bucket?: Bucket;
  released: boolean;
}

export class SendScheduler {
  private readonly aggregate: Bucket;
  private readonly perTransferBytesPerMs?: number;
  private readonly perTransferBurst: number;
  private readonly overhead: number;
  private readonly timers: Timers;
  private readonly gates = new Map<string, GateState>();
  /** Gates with queued requests, in the order they started waiting. */
  private ring: GateState[] = [];
  private virtualTime = 0;
  private bytesSent = 0;
  private timer: { handle: TimerHandle; at: number } | undefined;
  private draining = false;

  constructor(opts: SchedulerOptions) {
    if (!(opts.rateBytesPerSecond > 0)) throw new RangeError(`rateBytesPerSecond must be positive, not ${opts.rateBytesPerSecond}`);
    this.timers = opts.timers ?? monotonicTimers;
    this.overhead = opts.overheadBytes ?? 42;
    const rate = opts.rateBytesPerSecond / 1000;
    this.aggregate = new Bucket(rate, opts.burstBytes ?? Math.max(64 * 1024, rate * 5), this.timers.now());
    if (opts.perTransferBytesPerSecond !== undefined) {
      if (!(opts.perTransferBytesPerSecond > 0)) throw new RangeError(`perTransferBytesPerSecond must be positive, not ${opts.perTransferBytesPerSecond}`);
      this.perTransferBytesPerMs = opts.perTransferBytesPerSecond / 1000;
    }
    this.perTransferBurst = opts.perTransferBurstBytes ?? Math.max(16 * 1024, (this.perTransferBytesPerMs ?? 0) * 5);
  }

  /** A gate for one transfer; `transferId` must be unique among live gates. */
  gate(transferId: string): SendGate {
    if (this.gates.has(transferId)) throw new Error(`transfer ${transferId} already has a gate`);
    const state: GateState = {
      id: transferId,
      queue: [],
      tag: this.virtualTime,
      bucket: this.perTransferBytesPerMs === undefined ? undefined : new Bucket(this.perTransferBytesPerMs, this.perTransferBurst, this.timers.now()),
      released: false,
    };
    this.gates.set(transferId, state);
    return {
      request: (bytes, send) => this.request(state, bytes, send),
      release: () => this.release(state),
    };
  }

  stats(): SchedulerStats {
    let queued = 0;
    for (const gate of this.ring) queued += gate.queue.length;
    return { queued, activeTransfers: this.gates.size, bytesSent: this.bytesSent };
  }

  private request(gate: GateState, bytes: number, send: () => void): void {
    if (gate.released) return;
    if (!(bytes >= 0)) throw new RangeError(`cannot request ${bytes} bytes`);
    if (gate.queue.length === 0) {
      // A transfer that starts waiting joins at the current virtual time: idle time earns no credit.
      gate.tag = Math.max(gate.tag, this.virtualTime);
      this.ring.push(gate);
    }
    gate.queue.push({ bytes, send });
    this.drain();
  }

  private release(gate: GateState): void {
    if (gate.released) return;
    gate.released = true;
    gate.queue = [];
    this.ring = this.ring.filter((g) => g !== gate);
    this.gates.delete(gate.id);
    if (this.ring.length === 0) this.cancelTimer();
  }

  /** Grants every request the buckets allow, fairest first; sets a timer for the rest. */
  private drain(): void {
    if (this.draining) return; // a send() that requests again is served by the running loop
    this.draining = true;
    try {
      while (this.ring.length > 0) {
        const now = this.timers.now();
        let chosen = -1;
        let perTransferWait = Infinity;
        for (let i = 0; i < this.ring.length; i++) {
          const gate = this.ring[i];
          const wire = gate.queue[0].bytes + this.overhead;
          const wait = gate.bucket?.waitFor(wire, now) ?? 0;
          if (wait > 0) {
            perTransferWait = Math.min(perTransferWait, wait);
            continue;
          }
          if (chosen < 0 || gate.tag < this.ring[chosen].tag) chosen = i;
        }
        if (chosen < 0) {
          this.wakeIn(perTransferWait);
          return;
        }
        const gate = this.ring[chosen];
        const item = gate.queue[0];
        const wire = item.bytes + this.overhead;
        const aggregateWait = this.aggregate.waitFor(wire, now);
        if (aggregateWait > 0) {
          this.wakeIn(aggregateWait);
          return;
        }
        this.aggregate.take(wire);
        gate.bucket?.take(wire);
        gate.queue.shift();
        this.virtualTime = gate.tag;
        gate.tag += wire;
        this.ring.splice(chosen, 1);
        if (gate.queue.length > 0) this.ring.push(gate);
        this.bytesSent += item.bytes;
        item.send();
      }
      this.cancelTimer();
    } finally {
      this.draining = false;
    }
  }

  private wakeIn(ms: number): void {
    const delay = Math.max(1, Math.ceil(ms));
    const at = this.timers.now() + delay;
    if (this.timer && this.timer.at <= at) return;
    this.cancelTimer();
    const timer = {
      at,
      handle: this.timers.setTimer(delay, () => {
        if (this.timer === timer) this.timer = undefined;
        this.drain();
      }),
    };
    this.timer = timer;
  }

  private cancelTimer(): void {
    if (this.timer) this.timers.clearTimer(this.timer.handle);
    this.timer = undefined;
  }
}

/**
 * Overflow slots: when all slots are taken, a request waits at most `waitMs`,
 * since firmware repeats its RRQ after 1-4 s and gives up after a handful of
 * tries (PXE-E32), so it must be answered inside that window. Past it, the
 * request gets one of `extra` overflow slots: it shares the paced bandwidth
 * with the rest instead of failing the boot. Only beyond both does a request
 * keep waiting for a slot to free up.
 */
export interface SlotOverflow extends TimerScheduler {
  waitMs: number;
  extra: number;
}

interface SlotWaiter {
  promise: Promise<() => void>;
  grant: (release: () => void) => void;
  timer?: TimerHandle;
}

/**
 * A limit on concurrent transfers. Requests beyond it wait in FIFO order rather
 * than being refused: a refused PXE ROM gives up or retries on its own slow
 * schedule, a waiting one boots as soon as a slot frees. A key (the server uses
 * client ip:port + filename) that is already waiting is not queued again: the
 * second acquire() gets the same promise, so an RRQ retransmitted while waiting
 * holds one place in the queue. A key that holds a slot may queue again.
 */
export class TransferSlots {
  private inUse = 0;
  private readonly waiters = new Map<string, SlotWaiter>();

  constructor(
    readonly max: number,
    private readonly overflow?: SlotOverflow,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`slot count must be a positive integer, not ${max}`);
  }

  /** Resolves with the release function once a slot is free; release is idempotent. */
  acquire(key: string): Promise<() => void> {
    const waiting = this.waiters.get(key);
    if (waiting) return waiting.promise;
    if (this.inUse < this.max && this.waiters.size === 0) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    let grant!: (release: () => void) => void;
    const promise = new Promise<() => void>((resolve) => {
      grant = resolve;
    });
    const waiter: SlotWaiter = { promise, grant };
    if (this.overflow) {
      const { waitMs, extra } = this.overflow;
      waiter.timer = this.overflow.setTimer(waitMs, () => {
        waiter.timer = undefined;
        if (this.waiters.get(key) !== waiter || this.inUse >= this.max + extra) return;
        this.waiters.delete(key);
        this.inUse++;
        waiter.grant(this.releaser());
      });
    }
    this.waiters.set(key, waiter);
    return promise;
  }

  /** Drops a waiting request (its client went away); its promise never resolves. True if it was waiting. */
  cancel(key: string): boolean {
    const waiter = this.waiters.get(key);
    if (!waiter) return false;
    this.stopTimer(waiter);
    return this.waiters.delete(key);
  }

  isWaiting(key: string): boolean {
    return this.waiters.has(key);
  }

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.handOn();
    };
  }

  private handOn(): void {
    while (this.inUse < this.max && this.waiters.size > 0) {
      const [key, waiter] = this.waiters.entries().next().value as [string, SlotWaiter];
      this.waiters.delete(key);
      this.stopTimer(waiter);
      this.inUse++;
      waiter.grant(this.releaser());
    }
  }

  private stopTimer(waiter: SlotWaiter): void {
    if (waiter.timer !== undefined) this.overflow?.clearTimer(waiter.timer);
    waiter.timer = undefined;
  }
}
