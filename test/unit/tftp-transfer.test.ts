// The RRQ state machine under a fake clock: sizes at block boundaries, options,
// windows with loss, lost and duplicate ACKs, rollover, the retransmission
// timer, client errors and PXE's tsize probe, netascii, pacing gates.
import { describe, expect, it } from 'vitest';
import { decodeTftp, TftpError, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { ReadTransfer, REPEAT_CROSSED_MS, type TransferEvent, type TransferLimits } from '../../firmware/src/tftp/transfer.js';
import type { SendGate } from '../../firmware/src/tftp/scheduler.js';
import { decodeNetascii, streamNetascii } from '../../firmware/src/tftp/netascii.js';
import { FakeClock } from '../helpers/fake-clock.js';

const LIMITS: TransferLimits = { maxBlksize: 1468, maxWindow: 64, maxRetries: 6, minRtoMs: 200, maxRtoMs: 5000, initialRtoMs: 1000 };

function pattern(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + (i >> 8)) & 0xff;
  return buf;
}

interface Harness {
  clock: FakeClock;
  transfer: ReadTransfer;
  events: TransferEvent[];
  /** Packets sent since the last take(). */
  take(): TftpPacket[];
  ack(block: number): void;
  data: Buffer;
}

function harness(
  opts: { size?: number; data?: Buffer; options?: [string, string][]; mode?: string; limits?: Partial<TransferLimits>; gate?: SendGate } = {},
): Harness {
  const clock = new FakeClock();
  const data = opts.data ?? pattern(opts.size ?? 0);
  const sent: TftpPacket[] = [];
  const events: TransferEvent[] = [];
  const transfer = new ReadTransfer({
    request: { filename: 'boot/undionly.kpxe', mode: opts.mode ?? 'octet', options: new Map(opts.options ?? []) },
    file: { size: data.length, read: (offset, length) => data.subarray(offset, offset + length) },
    env: {
      send: (packet) => sent.push(decodeTftp(packet)),
      now: () => clock.now,
      setTimer: (ms, fn) => clock.setTimer(ms, fn),
      clearTimer: (handle) => clock.clearTimer(handle),
    },
    limits: { ...LIMITS, ...opts.limits },
    onEvent: (e) => events.push(e),
    gate: opts.gate,
  });
  return {
    clock,
    transfer,
    events,
    data,
    take: () => sent.splice(0),
    ack: (block) => transfer.receive({ op: 'ack', block }),
  };
}

const blocks = (packets: TftpPacket[]): number[] => packets.map((p) => (p.op === 'data' ? p.block : -1));
const dataOf = (packets: TftpPacket[]): Buffer[] => packets.flatMap((p) => (p.op === 'data' ? [p.data] : []));
const last = <T>(items: T[]): T => items[items.length - 1];

/**
 * A client that ACKs the last in-order block: every `window` blocks, at the
 * short final block, and whenever a block arrives out of order (RFC 7440
 * section 4). `lose` drops DATA on the way (n counts every DATA sent).
 * `delayMs` passes between each batch and its ACKs.
 */
function runClient(
  h: Harness,
  opts: { window?: number; blksize?: number; lose?: (n: number, block: number) => boolean; delayMs?: number; from?: number } = {},
): Buffer {
  const window = opts.window ?? 1;
  const blksize = opts.blksize ?? 512;
  const got: Buffer[] = [];
  let expected = opts.from ?? 1; // absolute
  let sinceAck = 0;
  let n = 0;
  for (let rounds = 0; h.transfer.state !== 'done' && h.transfer.state !== 'failed'; rounds++) {
    if (rounds > 1_000_000) throw new Error('client loop did not finish');
    const packets = h.take();
    if (packets.length === 0) {
      if (!h.clock.next()) throw new Error('transfer stalled: nothing sent and no timer');
      continue;
    }
    const acks: number[] = [];
    for (const p of packets) {
      if (p.op === 'oack') acks.push(0);
      if (p.op !== 'data') continue;
      if (opts.lose?.(n++, p.block)) continue;
      if (p.block === (expected & 0xffff)) {
        got.push(p.data);
        expected++;
        sinceAck++;
        if (sinceAck >= window || p.data.length < blksize) {
          acks.push((expected - 1) & 0xffff);
          sinceAck = 0;
        }
      } else {
        acks.push((expected - 1) & 0xffff); // gap or duplicate: ACK the last in-order block
        sinceAck = 0;
      }
    }
    if (opts.delayMs) h.clock.advance(opts.delayMs);
    for (const block of acks) h.ack(block);
  }
  return Buffer.concat(got);
}

describe('ReadTransfer: plain octet transfers (RFC 1350)', () => {
  it('0 bytes: one empty DATA, done after its ACK', () => {
    const h = harness({ size: 0 });
    h.transfer.start();
    expect(h.take()).toEqual([{ op: 'data', block: 1, data: Buffer.alloc(0) }]);
    expect(h.transfer.state).toBe('sending');
    h.ack(1);
    expect(h.transfer.state).toBe('done');
    expect(h.events).toEqual([
      { type: 'start', filename: 'boot/undionly.kpxe', size: 0 },
      { type: 'done', bytes: 0, ms: 0, retransmits: 0 },
    ]);
    expect(h.clock.pending).toBe(0);
  });

  it('exactly one block (512): two DATA packets, the second empty', () => {
    const h = harness({ size: 512 });
    h.transfer.start();
    const first = h.take();
    expect(blocks(first)).toEqual([1]);
    expect(dataOf(first)[0]).toEqual(h.data);
    h.ack(1);
    expect(h.take()).toEqual([{ op: 'data', block: 2, data: Buffer.alloc(0) }]);
    h.ack(2);
    expect(h.transfer.state).toBe('done');
  });

  it('several blocks, the last one short, in lock-step', () => {
    const h = harness({ size: 3 * 512 + 100 });
    h.transfer.start();
    const seen: number[] = [];
    for (let block = 1; block <= 4; block++) {
      const packets = h.take();
      seen.push(...blocks(packets));
      expect(packets).toHaveLength(1); // never ahead of the ACKs without a window
      h.ack(block);
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(h.transfer.state).toBe('done');
  });

  it('delivers the file byte for byte', () => {
    const h = harness({ size: 10_000 });
    h.transfer.start();
    expect(runClient(h)).toEqual(h.data);
    expect(last(h.events)).toMatchObject({ type: 'done', bytes: 10_000, retransmits: 0 });
  });

  it('ignores ACKs and ERRORs after the end, and packets before start', () => {
    const h = harness({ size: 10 });
    h.ack(1);
    expect(h.take()).toEqual([]);
    h.transfer.start();
    h.transfer.start(); // a second start is a no-op
    expect(blocks(h.take())).toEqual([1]);
    h.ack(1);
    h.ack(1);
    h.transfer.receive({ op: 'error', code: 0, message: 'late' });
    h.transfer.abort('late');
    expect(h.take()).toEqual([]);
    expect(h.events.filter((e) => e.type === 'done' || e.type === 'failed')).toHaveLength(1);
  });

  it('a short read (file shrank underneath) fails the transfer instead of ending the file early', () => {
    const clock = new FakeClock();
    const sent: TftpPacket[] = [];
    const events: TransferEvent[] = [];
    const transfer = new ReadTransfer({
      request: { filename: 'big.img', mode: 'octet', options: new Map() },
      file: { size: 5000, read: (offset, length) => Buffer.alloc(offset >= 1024 ? length - 1 : length) },
      env: { send: (b) => sent.push(decodeTftp(b)), now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer },
      limits: LIMITS,
      onEvent: (e) => events.push(e),
    });
    transfer.start();
    transfer.receive({ op: 'ack', block: 1 });
    transfer.receive({ op: 'ack', block: 2 });
    expect(sent.map((p) => p.op)).toEqual(['data', 'data', 'error']);
    expect(sent[2]).toEqual({ op: 'error', code: 0, message: 'read error' });
    expect(last(events)).toMatchObject({
      type: 'failed',
      reason: 'aborted',
      detail: 'file changed during the transfer: read 511 of 512 bytes at offset 1024',
      lastBlockAcked: 2,
    });
    expect(clock.pending).toBe(0);
  });

  it('a read that throws (closed fd, I/O error) fails the transfer the same way', () => {
    const events: TransferEvent[] = [];
    const sent: TftpPacket[] = [];
    const clock = new FakeClock();
    const transfer = new ReadTransfer({
      request: { filename: 'x', mode: 'octet', options: new Map() },
      file: {
        size: 10,
        read: () => {
          throw new Error('EIO: i/o error');
        },
      },
      env: { send: (b) => sent.push(decodeTftp(b)), now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer },
      limits: LIMITS,
      onEvent: (e) => events.push(e),
    });
    transfer.start();
    expect(sent).toEqual([{ op: 'error', code: 0, message: 'read error' }]);
    expect(last(events)).toMatchObject({ type: 'failed', reason: 'aborted', detail: 'read error at offset 0: EIO: i/o error' });
  });

  it('refuses a mode other than octet and netascii with ERROR 4', () => {
    const h = harness({ size: 10, mode: 'mail' });
    h.transfer.start();
    expect(h.take()).toEqual([{ op: 'error', code: TftpError.IllegalOperation, message: 'transfer mode mail is not supported' }]);
    expect(h.transfer.state).toBe('failed');
    expect(last(h.events)).toMatchObject({ type: 'failed', reason: 'illegal-operation' });
  });

  it('takes the mode case-insensitively', () => {
    const h = harness({ size: 10, mode: 'OCTET' });
    h.transfer.start();
    expect(blocks(h.take())).toEqual([1]);
  });
});

describe('ReadTransfer: options (RFC 2347/2348/2349)', () => {
  it('sends an OACK, waits for ACK 0, then DATA in the negotiated blksize', () => {
    const h = harness({
      size: 4000,
      options: [
        ['tsize', '0'],
        ['blksize', '9000'],
      ],
    });
    h.transfer.start();
    expect(h.transfer.state).toBe('oack-sent');
    expect(h.take()).toEqual([
      {
        op: 'oack',
        options: new Map([
          ['tsize', '4000'],
          ['blksize', '1468'],
        ]),
      },
    ]);
    expect(h.events.slice(0, 2)).toEqual([
      { type: 'start', filename: 'boot/undionly.kpxe', size: 4000 },
      { type: 'options', accepted: { tsize: '4000', blksize: '1468' } },
    ]);
    expect(h.transfer.parameters).toMatchObject({ blksize: 1468, windowsize: 1, tsize: 4000 });
    h.ack(0);
    expect(h.transfer.state).toBe('sending');
    const first = h.take();
    expect(blocks(first)).toEqual([1]);
    expect(dataOf(first)[0]).toEqual(h.data.subarray(0, 1468));
    h.ack(1);
    expect(runClient(h, { blksize: 1468, from: 2 })).toEqual(h.data.subarray(1468));
  });

  it('no accepted option: no OACK, DATA 1 with RFC 1350 defaults', () => {
    const h = harness({
      size: 600,
      options: [
        ['blksize', '70000'],
        ['multicast', ''],
      ],
    });
    h.transfer.start();
    expect(blocks(h.take())).toEqual([1]);
    expect(h.transfer.parameters).toEqual({ blksize: 512, windowsize: 1 });
    expect(h.events.some((e) => e.type === 'options')).toBe(false);
  });

  it('at the OACK backstop sends nothing (no DATA before ACK 0, never a second OACK); gives up after UNPROVEN_RESENDS backstops', () => {
    const h = harness({ size: 10, options: [['tsize', '0']] });
    h.transfer.start();
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    // Without a negotiated timeout the OACK backstop waits 6 s (longer than clients' own 5 s).
    h.clock.advance(5999);
    expect(h.take()).toEqual([]);
    h.clock.advance(1);
    expect(h.take()).toEqual([]);
    expect(last(h.events)).toEqual({ type: 'retransmit', block: 0, count: 1, rtoMs: 2000 });
    for (let i = 0; i < 3; i++) {
      h.clock.advance(6000);
      expect(h.take()).toEqual([]);
    }
    h.clock.advance(6000);
    expect(h.take()).toEqual([{ op: 'error', code: 0, message: 'transfer timed out' }]);
    expect(last(h.events)).toEqual({
      type: 'failed',
      reason: 'timeout',
      detail: 'no answer to the OACK after 0 retransmissions',
      lastBlockAcked: 0,
      retransmits: 0,
      // OACK "tsize\0" "10\0" (2 + 9) and ERROR 0 "transfer timed out" (4 + 19)
      unansweredBytes: 11 + 23,
    });
    expect(h.events.filter((e) => e.type === 'options')).toHaveLength(1);
  });

  it('with a negotiated blksize, sends no DATA before ACK 0: a client that missed the OACK would read it with 512-byte blocks', () => {
    // curl asks for blksize 8; its OACK is lost and its repeated RRQ races the backstop. DATA 1
    // without the OACK would end its download after 8 bytes (RFC 2347: options refused).
    const h = harness({ size: 3000, options: [['blksize', '8']], limits: { maxRetries: 3 } });
    h.transfer.start();
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    h.clock.advance(6000);
    expect(h.take()).toEqual([]);
    h.clock.advance(6000);
    expect(h.take()).toEqual([]);
    h.transfer.requestRepeated(); // the client's repeated RRQ: the OACK again, at once
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);
    expect(h.transfer.parameters.blksize).toBe(8);
  });

  it('with a negotiated blksize, a client whose ACK 0 was lost gets DATA 1 once it repeats ACK 0, and finishes', () => {
    const h = harness({ size: 3000, options: [['blksize', '1024']] });
    h.transfer.start();
    h.take();
    h.clock.advance(6000);
    expect(h.take()).toEqual([]);
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);
    h.ack(1);
    expect(blocks(h.take())).toEqual([2]);
    h.ack(2);
    expect(blocks(h.take())).toEqual([3]);
    h.ack(3);
    expect(h.transfer.state).toBe('done');
  });

  it('a client with 512-byte blocks whose ACK 0 was lost gets DATA 1 once it repeats ACK 0, not at the backstop', () => {
    const h = harness({ size: 1300, options: [['tsize', '0']] });
    h.transfer.start();
    h.take();
    h.clock.advance(6000);
    expect(h.take()).toEqual([]);
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);
    h.ack(1);
    expect(blocks(h.take())).toEqual([2]);
    h.ack(2);
    expect(blocks(h.take())).toEqual([3]);
    h.ack(3);
    expect(h.transfer.state).toBe('done');
  });

  it('answers a repeated RRQ (lost OACK) with the OACK at once, and a repeat after DATA 1 with DATA 1', () => {
    const h = harness({ size: 10, options: [['blksize', '1024']] });
    h.transfer.start();
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    h.clock.advance(REPEAT_CROSSED_MS);
    h.transfer.requestRepeated();
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);

    const plain = harness({ size: 10 });
    plain.transfer.start();
    expect(blocks(plain.take())).toEqual([1]);
    plain.transfer.requestRepeated();
    expect(blocks(plain.take())).toEqual([1]);
  });

  it('a repeated RRQ that crossed our OACK gets nothing, nor one after ACK 0 (atftp aborts on a second OACK)', () => {
    const h = harness({ size: 3000, options: [['blksize', '1024']] });
    h.transfer.start();
    expect(h.take().map((p) => p.op)).toEqual(['oack']);
    h.clock.advance(REPEAT_CROSSED_MS - 1);
    h.transfer.requestRepeated(); // sent before the client had our OACK
    expect(h.take()).toEqual([]);
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);
    h.clock.advance(REPEAT_CROSSED_MS);
    h.transfer.requestRepeated(); // stale: the ACK 0 proved the client has the OACK
    expect(h.take()).toEqual([]);
    h.ack(1);
    expect(blocks(h.take())).toEqual([2]);
  });

  it('OACK answered with DATA: ERROR 4 and illegal-operation', () => {
    const h = harness({ size: 10, options: [['tsize', '0']] });
    h.transfer.start();
    h.take();
    h.transfer.receive({ op: 'data', block: 1, data: Buffer.from('x') });
    expect(h.take()).toEqual([{ op: 'error', code: TftpError.IllegalOperation, message: 'expected ACK 0 for the OACK' }]);
    expect(h.transfer.state).toBe('failed');
    expect(last(h.events)).toMatchObject({ type: 'failed', reason: 'illegal-operation', detail: 'DATA in answer to the OACK' });
  });

  it('OACK answered with a request or an OACK: illegal operation too', () => {
    for (const packet of [
      { op: 'rrq', filename: 'f', mode: 'octet', options: new Map() },
      { op: 'oack', options: new Map([['blksize', '512']]) },
    ] as TftpPacket[]) {
      const h = harness({ size: 10, options: [['tsize', '0']] });
      h.transfer.start();
      h.take();
      h.transfer.receive(packet);
      expect(h.take()[0]).toMatchObject({ op: 'error', code: 4 });
      expect(h.transfer.state).toBe('failed');
    }
  });

  it('an ACK other than 0 in answer to the OACK is ignored silently', () => {
    const h = harness({ size: 10, options: [['tsize', '0']] });
    h.transfer.start();
    h.take();
    h.ack(1);
    h.ack(65535);
    expect(h.take()).toEqual([]);
    expect(h.transfer.state).toBe('oack-sent');
    h.ack(0);
    expect(blocks(h.take())).toEqual([1]);
  });

  it("uses the client's timeout option as the first RTO (the OACK backstop 1 s longer), bounded by maxRtoMs", () => {
    const three = harness({ size: 10, options: [['timeout', '3']] });
    three.transfer.start();
    three.take();
    expect(three.transfer.rto).toBe(3000);
    three.clock.advance(3999);
    expect(three.take()).toEqual([]);
    three.clock.advance(1);
    expect(three.take()).toEqual([]);
    expect(last(three.events)).toMatchObject({ type: 'retransmit', block: 0, count: 1 });
    three.ack(0);
    expect(three.take().map((p) => p.op)).toEqual(['data']);

    const long = harness({ size: 10, options: [['timeout', '30']] });
    long.transfer.start();
    expect(long.transfer.rto).toBe(5000);
  });
});

describe('ReadTransfer: tsize probe and client errors', () => {
  for (const [name, code, message] of [
    ['ERROR 8', 8, 'Option negotiation failed'],
    ['ERROR 0 "TFTP Aborted"', 0, 'TFTP Aborted'],
  ] as const) {
    it(`PXE tsize probe ending with ${name}: aborted quietly, no answer`, () => {
      const h = harness({ size: 70_000, options: [['tsize', '0']] });
      h.transfer.start();
      expect(h.take()).toEqual([{ op: 'oack', options: new Map([['tsize', '70000']]) }]);
      h.transfer.receive({ op: 'error', code, message });
      expect(h.take()).toEqual([]);
      expect(h.transfer.state).toBe('failed');
      expect(last(h.events)).toEqual({ type: 'failed', reason: 'aborted', detail: 'tsize probe', lastBlockAcked: 0, retransmits: 0 });
      expect(h.clock.pending).toBe(0);
    });
  }

  it('ERROR 8 after an OACK without tsize: aborted, not a probe', () => {
    const h = harness({ size: 10, options: [['blksize', '1024']] });
    h.transfer.start();
    h.transfer.receive({ op: 'error', code: 8, message: 'no' });
    expect(last(h.events)).toMatchObject({ type: 'failed', reason: 'aborted', detail: 'client ended the transfer after the OACK (error 8: no)' });
  });

  it('another ERROR in answer to the OACK is a client error', () => {
    const h = harness({ size: 10, options: [['tsize', '0']] });
    h.transfer.start();
    h.transfer.receive({ op: 'error', code: 0, message: 'out of memory' });
    expect(last(h.events)).toMatchObject({ type: 'failed', reason: 'client-error', detail: 'error 0: out of memory' });
  });

  it('a client ERROR mid-transfer ends it: no answer, no more DATA, no timer', () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.ack(1);
    h.ack(2);
    h.take();
    h.transfer.receive({ op: 'error', code: TftpError.DiskFull, message: 'Disk full' });
    expect(h.transfer.state).toBe('failed');
    expect(last(h.events)).toEqual({ type: 'failed', reason: 'client-error', detail: 'error 3: Disk full', lastBlockAcked: 2, retransmits: 0 });
    h.clock.advance(60_000);
    expect(h.take()).toEqual([]);
    h.ack(3);
    expect(h.take()).toEqual([]);
  });

  it('abort() tells the client with ERROR 0 and reports aborted', () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.take();
    h.transfer.abort('server stopping');
    expect(h.take()).toEqual([{ op: 'error', code: 0, message: 'server stopping' }]);
    // The client never answered: DATA 1 (4 + 512) and the ERROR (4 + 16) count as unanswered.
    expect(last(h.events)).toEqual({ type: 'failed', reason: 'aborted', detail: 'server stopping', lastBlockAcked: 0, retransmits: 0, unansweredBytes: 536 });
    expect(h.clock.pending).toBe(0);
  });
});

describe('ReadTransfer: loss, duplicates and the timer', () => {
  it('lost ACK: the timer resends the block, the RTO doubles', () => {
    const h = harness({ size: 2000 });
    h.transfer.start();
    expect(blocks(h.take())).toEqual([1]);
    h.clock.advance(999);
    expect(h.take()).toEqual([]);
    h.clock.advance(1);
    expect(blocks(h.take())).toEqual([1]);
    expect(last(h.events)).toEqual({ type: 'retransmit', block: 1, count: 1, rtoMs: 2000 });
    h.ack(1);
    expect(blocks(h.take())).toEqual([2]);
    expect(h.transfer.rto).toBe(2000); // Karn: the ACK of a resent block is no sample
  });

  it("duplicate ACKs never cause DATA (Sorcerer's Apprentice, RFC 1123 4.2.3.1)", () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.ack(1);
    expect(blocks(h.take())).toEqual([1, 2]);
    for (let i = 0; i < 5; i++) h.ack(1);
    h.ack(0);
    expect(h.take()).toEqual([]);
    h.ack(2);
    expect(blocks(h.take())).toEqual([3]);
  });

  it('ACKs for blocks not sent yet are ignored silently, never answered with ERROR', () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.take();
    for (const block of [2, 9, 40000, 65535]) h.ack(block);
    expect(h.take()).toEqual([]);
    expect(h.transfer.state).toBe('sending');
    h.ack(1);
    expect(blocks(h.take())).toEqual([2]);
  });

  it('stray packets while sending are ignored', () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.take();
    h.transfer.receive({ op: 'data', block: 1, data: Buffer.alloc(3) });
    h.transfer.receive({ op: 'oack', options: new Map() });
    expect(h.take()).toEqual([]);
    expect(h.transfer.state).toBe('sending');
  });

  it('gives up after maxRetries with an exponentially growing RTO', () => {
    // The client ACKs block 1 at once (RTT 0: the RTO is minRtoMs), then falls silent.
    const h = harness({ size: 5000, limits: { maxRtoMs: 100_000, minRtoMs: 1000 } });
    h.transfer.start();
    h.ack(1);
    h.take();
    const times: number[] = [];
    let packets: TftpPacket[] = [];
    const resends: number[][] = [];
    while (h.transfer.state === 'sending') {
      h.clock.next();
      packets = h.take();
      if (packets.some((p) => p.op === 'data')) {
        times.push(h.clock.now);
        resends.push(blocks(packets));
      }
    }
    // From the second timeout on, probes past the highest block sent: one block more each time.
    expect(resends).toEqual([[2], [2, 3], [2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7]]);
    expect(packets).toEqual([{ op: 'error', code: 0, message: 'transfer timed out' }]); // the last expiry
    const gaps = times.map((t, i) => t - (i === 0 ? 0 : times[i - 1]));
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16000, 32000]);
    const retransmits = h.events.filter((e) => e.type === 'retransmit');
    expect(retransmits.map((e) => e.type === 'retransmit' && [e.block, e.count, e.rtoMs])).toEqual([
      [2, 1, 2000],
      [2, 2, 4000],
      [2, 3, 8000],
      [2, 4, 16000],
      [2, 5, 32000],
      [2, 6, 64000],
    ]);
    expect(h.clock.now - times[5]).toBe(64000);
    expect(last(h.events)).toEqual({
      type: 'failed',
      reason: 'timeout',
      detail: 'no ACK for block 2 after 6 retransmissions',
      lastBlockAcked: 1,
      retransmits: 16,
    });
  });

  it('after a measured round trip, backs off from the adapted RTO', () => {
    const h = harness({ size: 5000 });
    h.transfer.start();
    h.clock.advance(50);
    h.ack(1); // sample 50 ms: RTO = 50 + 4 * 25 = 150, bounded to minRtoMs
    expect(h.transfer.rto).toBe(200);
    h.take();
    while (h.transfer.state === 'sending') h.clock.next();
    expect(h.events.filter((e) => e.type === 'retransmit').map((e) => e.type === 'retransmit' && e.rtoMs)).toEqual([400, 800, 1600, 3200, 5000, 5000]);
  });

  it('caps the backed-off RTO at maxRtoMs', () => {
    const h = harness({ size: 5000, limits: { minRtoMs: 1000 } });
    h.transfer.start();
    h.ack(1);
    while (h.transfer.state === 'sending') h.clock.next();
    expect(h.events.filter((e) => e.type === 'retransmit').map((e) => e.type === 'retransmit' && e.rtoMs)).toEqual([2000, 4000, 5000, 5000, 5000, 5000]);
    const fast = harness({ size: 5000, limits: { maxRtoMs: 2500 } });
    fast.transfer.start();
    fast.clock.next();
    expect(fast.events.filter((e) => e.type === 'retransmit').map((e) => e.type === 'retransmit' && e.rtoMs)).toEqual([2000]);
  });

  it('adapts the RTO to the measured round trip (RFC 6298), within minRtoMs', () => {
    const h = harness({ size: 100 * 512 });
    h.transfer.start();
    runClient(h, { delayMs: 30 });
    expect(h.transfer.state).toBe('done');
    expect(h.transfer.rto).toBeGreaterThanOrEqual(200);
    expect(h.transfer.rto).toBeLessThan(300);

    const slow = harness({ size: 30 * 512 });
    slow.transfer.start();
    runClient(slow, { delayMs: 400 });
    expect(slow.transfer.rto).toBeGreaterThan(400);
    expect(slow.transfer.rto).toBeLessThan(1000);
    expect(last(slow.events)).toMatchObject({ type: 'done', retransmits: 0 });
  });

  it('an ACK for a resent block within the estimated RTO of the resend ends the backoff (a loss); a later one keeps it until the next sample (Karn, RFC 6298 5.7)', () => {
    const h = harness({ size: 20 * 512 });
    h.transfer.start();
    h.clock.advance(50);
    h.ack(1); // sample 50 ms: RTO 200 (the floor)
    h.take();
    h.clock.advance(200); // block 2 times out: RTO 400
    h.clock.advance(400); // again: RTO 800, and the probe (block 3) goes with block 2
    expect(h.transfer.rto).toBe(800);
    h.clock.advance(50);
    h.ack(2); // resent, back 50 ms after the resend: the known RTT, so a loss; the backoff ends
    expect(h.transfer.rto).toBe(200);
    h.take();
    h.clock.advance(200); // block 3 (the probe) times out: RTO 400
    expect(blocks(h.take())).toEqual([3]);
    h.clock.advance(300);
    h.ack(3); // 300 ms after its resend, past the 200 ms estimate: the RTT grew, the backoff stays
    expect(h.transfer.rto).toBe(400);
    expect(blocks(h.take())).toEqual([4]);
    h.clock.advance(300);
    h.ack(4); // sent once: a sample (300 ms), and the RTO comes from the estimate again
    expect(h.transfer.rto).toBeCloseTo(406.25);
  });

  it('learns an RTT that grew past the RTO (a slow link filling up) instead of resending every block', () => {
    // Every ACK comes 1 s after the first copy of its block, whatever was resent meanwhile.
    const h = harness({ size: 12 * 512 - 100 });
    h.transfer.start();
    h.clock.advance(50);
    h.ack(1); // RTT 50 ms: RTO 200
    const copies = new Map<number, number>();
    const firstSent = new Map<number, number>();
    const record = () => {
      for (const b of blocks(h.take())) {
        copies.set(b, (copies.get(b) ?? 0) + 1);
        if (!firstSent.has(b)) firstSent.set(b, h.clock.now);
      }
    };
    for (let block = 2; block <= 12; block++) {
      record();
      const due = firstSent.get(block)! + 1000;
      while (h.clock.now < due) {
        h.clock.advance(Math.min(10, due - h.clock.now));
        record();
      }
      h.ack(block);
    }
    expect(h.transfer.state).toBe('done');
    // The first blocks are resent while the RTO backs off; once a block sent once is ACKed
    // the RTO holds the new RTT, and the rest go once each.
    expect([...copies].filter(([b]) => b >= 6).map(([, n]) => n)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('a lost ACK, then a lost extra ACK (atftp 0.8 then ignores repeats): the second resend probes the next block', () => {
    // atftp 0.8 answers the first repeated block with one extra ACK and then ignores repeats
    // until an in-order block arrives or its own 5 s timer fires (every packet restarts it).
    const h = harness({ size: 10 * 512, limits: { minRtoMs: 1000 } });
    h.transfer.start();
    h.ack(1);
    expect(blocks(h.take())).toEqual([1, 2]); // the client has 2; its ACK 2 is lost
    h.clock.advance(1000);
    expect(blocks(h.take())).toEqual([2]); // the client's extra ACK 2 is lost too
    h.clock.advance(2000);
    expect(blocks(h.take())).toEqual([2, 3]); // 2 is ignored; 3 is in order: the client ACKs it
    h.ack(3);
    expect(blocks(h.take())).toEqual([4]); // lock-step again
    expect(h.clock.now).toBe(3000); // not the client's 5 s timer
  });

  it('a client missing the block ignores the probe, and the transfer goes on in order', () => {
    const h = harness({ size: 10 * 512, limits: { minRtoMs: 1000 } });
    h.transfer.start();
    h.ack(1);
    h.take(); // DATA 2 lost
    h.clock.advance(1000);
    h.take(); // lost again
    h.clock.advance(2000);
    expect(blocks(h.take())).toEqual([2, 3]);
    h.ack(2); // 3 may be on its way: nothing more yet
    expect(h.take()).toEqual([]);
    h.ack(3);
    expect(blocks(h.take())).toEqual([4]);
  });

  it('uses one timer, not one per packet', () => {
    const h = harness({ size: 200 * 512 });
    let timers = 0;
    const setTimer = h.clock.setTimer;
    h.clock.setTimer = (ms, fn) => {
      timers++;
      return setTimer(ms, fn);
    };
    h.transfer.start();
    expect(runClient(h, { delayMs: 1 })).toEqual(h.data);
    expect(timers).toBeLessThan(10); // 201 blocks
  });

  it('recovers from random loss with the right bytes', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const h = harness({ size: 200 * 512 + 5, limits: { maxRetries: 20 } });
    h.transfer.start();
    expect(runClient(h, { lose: () => random() < 0.1 })).toEqual(h.data);
    expect(h.transfer.state).toBe('done');
  });
});

describe('ReadTransfer: windowsize (RFC 7440)', () => {
  it('sends a window of 4, then the next on the ACK of its last block', () => {
    const h = harness({ size: 20 * 512, options: [['windowsize', '4']] });
    h.transfer.start();
    h.take();
    h.ack(0);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.ack(4);
    expect(blocks(h.take())).toEqual([5, 6, 7, 8]);
  });

  it('a DATA lost inside the window: resend from the block after the ACKed one', () => {
    const h = harness({ size: 10 * 512 + 1, options: [['windowsize', '4']] });
    h.transfer.start();
    h.take();
    h.ack(0);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    // Block 2 lost: the client got 1, then 3 out of order, and ACKs 1.
    h.ack(1);
    expect(blocks(h.take())).toEqual([2, 3, 4, 5]);
    h.ack(1); // the same ACK again (the client saw 4 out of order too): a duplicate, nothing
    expect(h.take()).toEqual([]);
    h.ack(5);
    expect(blocks(h.take())).toEqual([6, 7, 8, 9]);
    h.ack(9);
    expect(blocks(h.take())).toEqual([10, 11]);
    h.ack(11);
    expect(last(h.events)).toMatchObject({ type: 'done', retransmits: 3 });
  });

  it('the ACK of a window lost: the timer resends the whole window', () => {
    const h = harness({ size: 10 * 512, options: [['windowsize', '4']] });
    h.transfer.start();
    h.take();
    h.ack(0);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.clock.advance(h.transfer.rto);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.ack(4);
    expect(blocks(h.take())).toEqual([5, 6, 7, 8]);
  });

  it("recovers from atftp 0.8's silence: one extra ACK for blocks it has, lost, then only its own 5 s timer", () => {
    // atftp 0.8 (tftp_file.c): ACKs every `window` in-order blocks; answers the first
    // out-of-order or repeated block with one extra ACK and ignores the rest until an
    // in-order block arrives or 5 s pass without any packet (then it ACKs again).
    const h = harness({ size: 40 * 512 + 100, options: [['windowsize', '4']] });
    h.transfer.start();
    h.take(); // OACK
    h.ack(0);
    let last = 0;
    let extraAckSent = false;
    let inWindow = 0;
    let lastRx = h.clock.now;
    let acksSent = 0;
    const lostAcks = new Set([1, 2]); // the first window's ACK and the extra ACK that follows
    const sendAck = () => {
      acksSent++;
      inWindow = 0;
      if (!lostAcks.has(acksSent)) h.ack(last & 0xffff);
    };
    while (h.transfer.state === 'sending' && h.clock.now < 120_000) {
      for (const packet of h.take()) {
        if (packet.op !== 'data') continue;
        lastRx = h.clock.now;
        if (packet.block === ((last + 1) & 0xffff)) {
          last++;
          extraAckSent = false;
          inWindow++;
          if (inWindow >= 4 || packet.data.length < 512) sendAck();
        } else if (!extraAckSent) {
          extraAckSent = true;
          sendAck();
        }
      }
      if (h.clock.now - lastRx >= 5000) {
        lastRx = h.clock.now;
        extraAckSent = false;
        sendAck();
      }
      h.clock.advance(100);
    }
    expect(h.transfer.state).toBe('done');
    expect(last).toBe(41);
    // Recovered by the probe past the window, without waiting out the client's 5 s timer.
    expect(h.clock.now).toBeLessThan(5000);
  });

  it('an ACK whose next block is overdue goes back at once, even a duplicate, even after a go-back', () => {
    const h = harness({ size: 10 * 512, options: [['windowsize', '4']] });
    h.transfer.start();
    h.take();
    h.ack(0);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.clock.advance(h.transfer.rto); // timeout: the window again (a go-back)
    expect(blocks(h.take())).toEqual([1, 2, 3, 4]);
    h.ack(2); // 3 and 4 may still be on their way: only the window moves
    expect(blocks(h.take())).toEqual([5, 6]);
    h.clock.advance(300); // longer than the round-trip estimate (200 ms), before our own timer (400 ms)
    h.ack(2); // the client timed out waiting for 3: it is lost
    expect(blocks(h.take())).toEqual([3, 4, 5, 6]);
    h.ack(2); // and once resent, the same duplicate sends nothing
    expect(h.take()).toEqual([]);
  });

  it('duplicate window ACKs send nothing', () => {
    const h = harness({ size: 10 * 512, options: [['windowsize', '4']] });
    h.transfer.start();
    h.ack(0);
    h.ack(4);
    h.take();
    h.ack(4);
    h.ack(4);
    h.ack(3);
    expect(h.take()).toEqual([]);
  });

  it('goes back once per window: later ACKs for blocks already resent only move the window', () => {
    const h = harness({ size: 40 * 512, options: [['windowsize', '8']] });
    h.transfer.start();
    h.take();
    h.ack(0);
    expect(blocks(h.take())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    h.ack(2); // 3 lost
    expect(blocks(h.take())).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    h.ack(5); // a second gap in the old window: 6..8 went out again already
    expect(blocks(h.take())).toEqual([11, 12, 13]);
    h.ack(13);
    expect(blocks(h.take())).toEqual([14, 15, 16, 17, 18, 19, 20, 21]);
    h.ack(15); // a gap in a new window goes back again
    expect(blocks(h.take())).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
  });

  it('completes with random loss with the right bytes', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const lossy = harness({ size: 300 * 512 + 77, options: [['windowsize', '8']], limits: { maxRetries: 20 } });
    lossy.transfer.start();
    expect(runClient(lossy, { window: 8, lose: () => random() < 0.05 })).toEqual(lossy.data);
    expect(lossy.transfer.state).toBe('done');
  });
});

describe('ReadTransfer: block number rollover', () => {
  it('rolls over from 65535 to 0 for a file of 65,536 * 8 + 3 bytes at blksize 8', () => {
    const size = 65_536 * 8 + 3;
    const h = harness({ size, options: [['blksize', '8']] });
    h.transfer.start();
    expect(h.take()[0]).toEqual({ op: 'oack', options: new Map([['blksize', '8']]) });
    h.ack(0);
    const got: Buffer[] = [];
    const wire: number[] = [];
    let expected = 1;
    while (h.transfer.state === 'sending') {
      // Plain checks in this 65,537-round loop: expect() per packet would take seconds.
      const packets = h.take();
      const p = packets[0];
      if (packets.length !== 1 || p.op !== 'data') throw new Error(`expected one DATA, got ${JSON.stringify(packets)}`);
      if (expected >= 65_534) wire.push(p.block);
      if (p.block !== (expected & 0xffff)) throw new Error(`block ${p.block} where ${expected & 0xffff} was due`);
      got.push(p.data);
      h.ack(p.block);
      expected++;
    }
    expect(wire).toEqual([65534, 65535, 0, 1]);
    expect(got.at(-1)).toHaveLength(3);
    expect(Buffer.concat(got)).toEqual(h.data);
    expect(last(h.events)).toMatchObject({ type: 'done', bytes: size, retransmits: 0 });
    expect(h.transfer.lastBlockAcked).toBe(65_537);
  });

  it('after the rollover, an ACK 65535 is stale and an ACK for block 0 moves on', () => {
    const size = 65_540 * 8;
    const h = harness({
      size,
      options: [
        ['blksize', '8'],
        ['windowsize', '4'],
      ],
    });
    h.transfer.start();
    h.ack(0);
    let acked = 0;
    while (acked < 65_532) {
      acked += 4;
      h.ack(acked & 0xffff);
    }
    h.take();
    h.ack(65_535); // block 65535 is in the window just sent (65533..65536): goes back
    expect(blocks(h.take())).toEqual([0, 1, 2, 3]);
    h.ack(0); // absolute 65536
    expect(h.transfer.lastBlockAcked).toBe(65_536);
    h.take();
    h.ack(65_535); // stale now
    h.ack(65_534);
    expect(h.take()).toEqual([]);
    expect(h.transfer.lastBlockAcked).toBe(65_536);
  });
});

describe('ReadTransfer: netascii', () => {
  it('sends the converted stream; tsize is not offered (the converted size is unknown until the end)', () => {
    const text = Buffer.from('DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\r\n'.repeat(20));
    const clock = new FakeClock();
    const sent: TftpPacket[] = [];
    const events: TransferEvent[] = [];
    const file = streamNetascii({ size: text.length, read: (o, l) => text.subarray(o, o + l) });
    const transfer = new ReadTransfer({
      request: { filename: 'pxelinux.cfg/default', mode: 'netascii', options: new Map([['tsize', '0']]) },
      file,
      env: { send: (b) => sent.push(decodeTftp(b)), now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer },
      limits: LIMITS,
      onEvent: (e) => events.push(e),
    });
    const h: Harness = { clock, transfer, events, data: text, take: () => sent.splice(0), ack: (block) => transfer.receive({ op: 'ack', block }) };
    transfer.start();
    const wire = runClient(h);
    expect(wire.length).toBe(text.length + 80);
    expect(decodeNetascii(wire)).toEqual(text);
    expect(events.at(-1)).toMatchObject({ type: 'done', bytes: text.length + 80 });
  });
});

describe('ReadTransfer: pacing gate', () => {
  /** A gate that holds every request until the test grants it. */
  function manualGate() {
    const queue: { bytes: number; send: () => void }[] = [];
    let released = 0;
    const gate: SendGate = {
      request: (bytes, send) => queue.push({ bytes, send }),
      release: () => released++,
    };
    return {
      gate,
      queue,
      grant: () => queue.shift()!.send(),
      get released() {
        return released;
      },
    };
  }

  it('asks before each DATA, one request at a time, with the packet size', () => {
    const g = manualGate();
    const h = harness({ size: 3 * 512 + 10, options: [['windowsize', '8']], gate: g.gate });
    h.transfer.start();
    expect(h.take().map((p) => p.op)).toEqual(['oack']); // the OACK is not paced
    h.ack(0);
    expect(h.take()).toEqual([]);
    expect(g.queue.map((r) => r.bytes)).toEqual([516]);
    g.grant();
    expect(blocks(h.take())).toEqual([1]);
    expect(g.queue).toHaveLength(1);
    g.grant();
    g.grant();
    expect(g.queue.map((r) => r.bytes)).toEqual([14]);
    g.grant();
    expect(blocks(h.take())).toEqual([2, 3, 4]);
    expect(g.queue).toHaveLength(0);
    h.ack(4);
    expect(h.transfer.state).toBe('done');
    expect(g.released).toBeGreaterThanOrEqual(1);
  });

  it('decides which block to send when the grant comes: a go-back while waiting sends the right one', () => {
    const g = manualGate();
    const h = harness({ size: 10 * 512, options: [['windowsize', '4']], gate: g.gate });
    h.transfer.start();
    h.ack(0);
    h.take();
    g.grant();
    g.grant();
    g.grant();
    expect(blocks(h.take())).toEqual([1, 2, 3]);
    h.ack(1); // loss of 2 reported while block 4 waits for its grant
    g.grant();
    expect(blocks(h.take())).toEqual([2]);
  });

  it('a timer retransmission waits for the gate too; the end drops pending grants', () => {
    const g = manualGate();
    const h = harness({ size: 100, gate: g.gate });
    h.transfer.start();
    g.grant();
    expect(blocks(h.take())).toEqual([1]);
    h.clock.advance(1000);
    expect(h.take()).toEqual([]);
    expect(g.queue).toHaveLength(1);
    g.grant();
    expect(blocks(h.take())).toEqual([1]);
    h.transfer.abort('stop');
    h.take();
    expect(g.released).toBe(1);
  });

  it('a gate that grants at once behaves like no gate', () => {
    const gate: SendGate = { request: (_bytes, send) => send(), release: () => {} };
    const h = harness({ size: 50 * 512, options: [['windowsize', '16']], gate });
    h.transfer.start();
    expect(runClient(h, { window: 16 })).toEqual(h.data);
  });
});
