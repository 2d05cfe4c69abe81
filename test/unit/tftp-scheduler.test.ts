// TFTP pacing (aggregate and per-transfer token buckets, fair order) and the
// transfer slot limit, over simulated time.
import { describe, expect, it } from 'vitest';
import { SendScheduler, TransferSlots, type SchedulerOptions, type SendGate } from '../../firmware/src/tftp/scheduler.js';
import { decodeTftp } from '../../firmware/src/tftp/codec.js';
import { ReadTransfer, type TransferEvent } from '../../firmware/src/tftp/transfer.js';
import { FakeClock } from '../helpers/fake-clock.js';

function scheduler(clock: FakeClock, opts: Partial<SchedulerOptions> = {}): SendScheduler {
  return new SendScheduler({
    rateBytesPerSecond: 100_000,
    burstBytes: 10_000,
    overheadBytes: 0,
    timers: clock.timers,
    ...opts,
  });
}

/** A sender that asks again each time it is granted, like a transfer with a big window. */
function greedy(gate: SendGate, bytes: number, log: { at: number; bytes: number }[], clock: FakeClock, limit = Infinity) {
  let granted = 0;
  const ask = (): void => {
    if (granted >= limit) return;
    gate.request(bytes, () => {
      granted++;
      log.push({ at: clock.now, bytes });
      ask();
    });
  };
  ask();
  return {
    get granted() {
      return granted;
    },
  };
}

describe('SendScheduler', () => {
  it('sends at once, inside request(), while the buckets have tokens', () => {
    const clock = new FakeClock();
    const s = scheduler(clock);
    const gate = s.gate('a');
    let sent = 0;
    gate.request(1000, () => sent++);
    expect(sent).toBe(1);
    expect(s.stats()).toEqual({ queued: 0, activeTransfers: 1, bytesSent: 1000 });
  });

  it('interleaves two waiting transfers one packet each (fair round robin)', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { burstBytes: 1000 });
    const order: string[] = [];
    const a = s.gate('a');
    const b = s.gate('b');
    for (let i = 1; i <= 5; i++) a.request(1000, () => order.push(`a${i}`));
    for (let i = 1; i <= 5; i++) b.request(1000, () => order.push(`b${i}`));
    expect(order).toEqual(['a1']);
    expect(s.stats().queued).toBe(9);
    clock.advance(1000);
    expect(order).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4', 'a5', 'b5']);
    expect(s.stats()).toMatchObject({ queued: 0, bytesSent: 10_000 });
  });

  it('is fair in bytes: a transfer with small blocks gets as many bytes, not as many packets', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { burstBytes: 2000 });
    const small: { at: number; bytes: number }[] = [];
    const big: { at: number; bytes: number }[] = [];
    greedy(s.gate('small'), 500, small, clock);
    greedy(s.gate('big'), 2000, big, clock);
    clock.advance(10_000);
    const sum = (log: { bytes: number }[]) => log.reduce((n, e) => n + e.bytes, 0);
    expect(Math.abs(sum(small) - sum(big))).toBeLessThanOrEqual(2500);
    expect(small.length).toBeGreaterThan(3 * big.length);
  });

  it('never starves a transfer behind a greedy one', () => {
    const clock = new FakeClock();
    const s = scheduler(clock);
    const greedyLog: { at: number; bytes: number }[] = [];
    greedy(s.gate('greedy'), 1000, greedyLog, clock);
    clock.advance(5000);
    const late = s.gate('late');
    const lateLog: { at: number; bytes: number }[] = [];
    greedy(late, 1000, lateLog, clock);
    clock.advance(1000);
    // From its arrival the newcomer gets half the link; it does not wait for the other's backlog.
    expect(lateLog.length).toBeGreaterThanOrEqual(49);
    expect(lateLog[0].at - 5000).toBeLessThanOrEqual(10);
  });

  it('keeps the aggregate rate over simulated time: burst + rate * t, in every interval', () => {
    const clock = new FakeClock();
    const s = scheduler(clock); // 100 kB/s, 10 kB burst
    const log: { at: number; bytes: number }[] = [];
    const senders = ['a', 'b', 'c'].map((id) => greedy(s.gate(id), 1468, log, clock));
    // 'a' was alone at t=0 and took the whole burst (work-conserving); shares count from here.
    const atStart = senders.map((sender) => sender.granted);
    expect(atStart).toEqual([6, 0, 0]); // 6 * 1468 fits the 10 kB burst
    clock.advance(20_000);
    const total = log.reduce((n, e) => n + e.bytes, 0);
    expect(total).toBeLessThanOrEqual(10_000 + 100_000 * 20 + 1468);
    expect(total).toBeGreaterThanOrEqual(10_000 + 100_000 * 20 - 2 * 1468);
    expect(s.stats().bytesSent).toBe(total);
    // Any 1-second window: at most one burst above the rate.
    for (let start = 0; start < 19_000; start += 250) {
      const inWindow = log.filter((e) => e.at >= start && e.at < start + 1000).reduce((n, e) => n + e.bytes, 0);
      expect(inWindow).toBeLessThanOrEqual(100_000 + 10_000 + 1468);
    }
    // All three got a fair share.
    expect(senders.reduce((n, sender) => n + sender.granted, 0)).toBe(log.length);
    const counts = senders.map((sender, i) => sender.granted - atStart[i]);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('counts the per-packet header overhead against the rate', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { overheadBytes: 500, burstBytes: 1000 });
    const log: { at: number; bytes: number }[] = [];
    greedy(s.gate('a'), 500, log, clock);
    clock.advance(10_000);
    // 1000 wire bytes per 500-byte packet at 100 kB/s: about 100 packets a second.
    expect(log.length).toBeGreaterThanOrEqual(999);
    expect(log.length).toBeLessThanOrEqual(1002);
  });

  it('caps each transfer at its own rate and lets the others use the rest', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { rateBytesPerSecond: 1_000_000, burstBytes: 20_000, perTransferBytesPerSecond: 50_000, perTransferBurstBytes: 5000 });
    const capped: { at: number; bytes: number }[] = [];
    const other: { at: number; bytes: number }[] = [];
    greedy(s.gate('a'), 1000, capped, clock);
    greedy(s.gate('b'), 1000, other, clock);
    clock.advance(10_000);
    for (const log of [capped, other]) {
      const total = log.reduce((n, e) => n + e.bytes, 0);
      expect(total).toBeLessThanOrEqual(5000 + 50_000 * 10 + 1000);
      expect(total).toBeGreaterThanOrEqual(50_000 * 10 - 2000);
    }
  });

  it('lets a packet larger than the burst through when the bucket is full', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { burstBytes: 1000 });
    const log: { at: number; bytes: number }[] = [];
    greedy(s.gate('jumbo'), 65_468, log, clock, 3);
    clock.advance(5000);
    expect(log.map((e) => e.at)).toEqual([0, 655, 1310]); // each one repays its debt at 100 kB/s first
  });

  it('release() drops queued requests: their callbacks never run', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { burstBytes: 1000 });
    const gate = s.gate('a');
    let sent = 0;
    for (let i = 0; i < 5; i++) gate.request(1000, () => sent++);
    expect(sent).toBe(1);
    gate.release();
    gate.release();
    expect(s.stats()).toEqual({ queued: 0, activeTransfers: 0, bytesSent: 1000 });
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    gate.request(10, () => sent++);
    expect(sent).toBe(1);
    expect(() => s.gate('b')).not.toThrow();
    expect(() => s.gate('b')).toThrow(/already has a gate/);
  });

  it('paces real transfers: two ReadTransfers with windows interleave their DATA', () => {
    const clock = new FakeClock();
    const s = scheduler(clock, { rateBytesPerSecond: 1_000_000, burstBytes: 2000 });
    const wire: string[] = [];
    const events: TransferEvent[] = [];
    const transfers = ['a', 'b'].map((id) => {
      const data = Buffer.alloc(8 * 512, id);
      const transfer = new ReadTransfer({
        request: { filename: id, mode: 'octet', options: new Map([['windowsize', '8']]) },
        file: { size: data.length, read: (o, l) => data.subarray(o, o + l) },
        env: {
          send: (packet) => {
            const p = decodeTftp(packet);
            if (p.op === 'data') wire.push(`${id}${p.block}`);
          },
          now: () => clock.now,
          setTimer: clock.setTimer,
          clearTimer: clock.clearTimer,
        },
        limits: { maxBlksize: 1468, maxWindow: 8, maxRetries: 6, minRtoMs: 200, maxRtoMs: 5000, initialRtoMs: 1000 },
        onEvent: (e) => events.push(e),
        gate: s.gate(id),
      });
      transfer.start();
      return transfer;
    });
    for (const t of transfers) t.receive({ op: 'ack', block: 0 });
    clock.advance(100);
    expect(wire.slice(0, 12)).toEqual(['a1', 'a2', 'a3', 'b1', 'a4', 'b2', 'a5', 'b3', 'a6', 'b4', 'a7', 'b5']);
    expect(wire).toHaveLength(16);
    for (const t of transfers) t.receive({ op: 'ack', block: 8 });
    clock.advance(100);
    for (const t of transfers) t.receive({ op: 'ack', block: 9 });
    expect(transfers.map((t) => t.state)).toEqual(['done', 'done']);
    expect(s.stats()).toMatchObject({ queued: 0, activeTransfers: 0 });
  });
});

describe('TransferSlots', () => {
  it('grants up to max at once and queues the rest in FIFO order', async () => {
    const slots = new TransferSlots(2);
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    for (const key of ['a', 'b', 'c', 'd', 'e']) {
      void slots.acquire(key).then((release) => {
        order.push(key);
        releases.set(key, release);
      });
    }
    await Promise.resolve();
    expect(order).toEqual(['a', 'b']);
    expect([slots.active, slots.waiting]).toEqual([2, 3]);
    releases.get('b')!();
    releases.get('b')!(); // idempotent: does not free a second slot
    await Promise.resolve();
    expect(order).toEqual(['a', 'b', 'c']);
    expect([slots.active, slots.waiting]).toEqual([2, 2]);
    releases.get('a')!();
    releases.get('c')!();
    await Promise.resolve();
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([slots.active, slots.waiting]).toEqual([2, 0]);
  });

  it('serves a request that waited the overflow time from an overflow slot, up to twice the limit', async () => {
    const clock = new FakeClock();
    const slots = new TransferSlots(1, { waitMs: 2000, extra: 1, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
    const granted: string[] = [];
    const releases = new Map<string, () => void>();
    for (const key of ['a', 'b', 'c']) {
      void slots.acquire(key).then((release) => {
        granted.push(key);
        releases.set(key, release);
      });
    }
    await Promise.resolve();
    expect(granted).toEqual(['a']);
    clock.advance(1999);
    await Promise.resolve();
    expect(granted).toEqual(['a']);
    clock.advance(1);
    await Promise.resolve();
    // b and c waited 2 s; one overflow slot: b gets it, c keeps waiting for a slot to free.
    expect(granted).toEqual(['a', 'b']);
    expect([slots.active, slots.waiting]).toEqual([2, 1]);
    releases.get('a')!();
    await Promise.resolve();
    expect([slots.active, slots.waiting]).toEqual([1, 1]); // b holds the one regular slot: c waits
    releases.get('b')!();
    await Promise.resolve();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect([slots.active, slots.waiting]).toEqual([1, 0]);
    expect(clock.pending).toBe(0);
  });

  it('does not queue a waiting key twice: the retransmitted request shares the place', async () => {
    const slots = new TransferSlots(1);
    const first = await slots.acquire('10.0.0.2:2070 pxelinux.0');
    const w1 = slots.acquire('10.0.0.9:1024 undionly.kpxe');
    const w2 = slots.acquire('10.0.0.9:1024 undionly.kpxe');
    const other = slots.acquire('10.0.0.7:1024 undionly.kpxe');
    expect(w2).toBe(w1);
    expect(slots.waiting).toBe(2);
    expect(slots.isWaiting('10.0.0.9:1024 undionly.kpxe')).toBe(true);
    first();
    const release = await w1;
    expect(slots.waiting).toBe(1);
    release();
    await other;
    expect(slots.active).toBe(1);
  });

  it('a holder may queue again; cancel() removes a waiting request', async () => {
    const slots = new TransferSlots(1);
    const held = await slots.acquire('k');
    let again = false;
    void slots.acquire('k').then(() => {
      again = true;
    });
    let cancelled = false;
    void slots.acquire('gone').then(() => {
      cancelled = true;
    });
    expect(slots.cancel('gone')).toBe(true);
    expect(slots.cancel('gone')).toBe(false);
    held();
    await Promise.resolve();
    await Promise.resolve();
    expect(again).toBe(true);
    expect(cancelled).toBe(false);
    expect(slots.waiting).toBe(0);
  });

  it('a newcomer does not jump the queue', async () => {
    const slots = new TransferSlots(1);
    const a = await slots.acquire('a');
    const order: string[] = [];
    void slots.acquire('b').then((r) => {
      order.push('b');
      r();
    });
    a();
    void slots.acquire('c').then(() => order.push('c'));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(order).toEqual(['b', 'c']);
  });

  it('refuses a nonsensical limit', () => {
    expect(() => new TransferSlots(0)).toThrow(RangeError);
  });
});
