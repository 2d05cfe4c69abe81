// TFTP reflection (issue 19 item 3): an RRQ's source address can be forged, so until the
// peer proves it is there (ACK 0 after an OACK, the ACK of block 1 without options) the
// transfer sends it only the OACK or block 1 and at most UNPROVEN_RESENDS retransmissions,
// then gives up; the bytes sent to a peer that never answered are reported.
import { describe, expect, it } from 'vitest';
import { decodeTftp, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { ReadTransfer, UNPROVEN_RESENDS, type TransferEvent, type TransferLimits } from '../../firmware/src/tftp/transfer.js';
import { FakeClock } from '../helpers/fake-clock.js';

// The server's own limits (tftp/server.ts).
const LIMITS: TransferLimits = { maxBlksize: 1468, maxWindow: 64, maxRetries: 16, minRtoMs: 5, maxRtoMs: 5000, initialRtoMs: 1000 };

function victim(options: [string, string][], size = 10 * 1024 * 1024) {
  const clock = new FakeClock();
  const data = Buffer.alloc(size, 0x42);
  const raw: Buffer[] = [];
  const events: TransferEvent[] = [];
  const transfer = new ReadTransfer({
    request: { filename: 'vmlinuz', mode: 'octet', options: new Map(options) },
    file: { size, read: (offset, length) => data.subarray(offset, offset + length) },
    env: { send: (p) => raw.push(p), now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer },
    limits: LIMITS,
    onEvent: (e) => events.push(e),
  });
  /** Runs the clock until the transfer ends (or a minute of fake time passes). */
  const runOut = () => {
    while (transfer.state !== 'failed' && transfer.state !== 'done' && clock.now < 600_000) if (!clock.next()) break;
  };
  const packets = (): TftpPacket[] => raw.map((p) => decodeTftp(p));
  const bytes = () => raw.reduce((sum, p) => sum + p.length, 0);
  return { clock, transfer, events, raw, runOut, packets, bytes };
}

describe('TFTP reflection: a peer that never answers', () => {
  it('a spoofed RRQ with windowsize 64 gets the OACK and nothing else, then ERROR; no DATA ever', () => {
    const v = victim([['windowsize', '64']]);
    v.transfer.start();
    v.runOut();
    const ops = v.packets().map((p) => p.op);
    expect(ops.filter((op) => op === 'data')).toEqual([]);
    expect(ops.filter((op) => op === 'oack').length).toBeLessThanOrEqual(1 + UNPROVEN_RESENDS);
    expect(ops.at(-1)).toBe('error');
    expect(v.transfer.state).toBe('failed');
    const failed = v.events.at(-1);
    expect(failed).toMatchObject({ type: 'failed', reason: 'timeout', unansweredBytes: v.bytes() });
    // The bound in bytes: the OACK and its resends plus one ERROR, whatever the file's size.
    expect(v.bytes()).toBeLessThan(200);
  });

  it('repeated spoofed RRQs draw at most UNPROVEN_RESENDS more OACKs', () => {
    const v = victim([
      ['blksize', '1468'],
      ['windowsize', '64'],
      ['tsize', '0'],
    ]);
    v.transfer.start();
    for (let i = 0; i < 50; i++) {
      v.transfer.requestRepeated();
      v.clock.advance(100);
    }
    v.runOut();
    const ops = v.packets().map((p) => p.op);
    expect(ops.filter((op) => op === 'oack')).toHaveLength(1 + UNPROVEN_RESENDS);
    expect(ops.filter((op) => op === 'data')).toEqual([]);
    expect(v.events.at(-1)).toMatchObject({ type: 'failed', reason: 'timeout', unansweredBytes: v.bytes() });
  });

  it('without options: block 1 and at most UNPROVEN_RESENDS copies of it, never a probe past it', () => {
    const v = victim([]);
    v.transfer.start();
    for (let i = 0; i < 20; i++) v.transfer.requestRepeated();
    v.runOut();
    const data = v.packets().filter((p) => p.op === 'data');
    expect(data.map((p) => p.op === 'data' && p.block)).toEqual(Array(1 + UNPROVEN_RESENDS).fill(1));
    expect(v.events.at(-1)).toMatchObject({ type: 'failed', reason: 'timeout', unansweredBytes: v.bytes() });
    expect(v.bytes()).toBeLessThan((1 + UNPROVEN_RESENDS) * 516 + 100);
  });

  it('the client timeout option only shortens the wait, never adds packets', () => {
    const v = victim([
      ['timeout', '1'],
      ['windowsize', '64'],
    ]);
    v.transfer.start();
    v.runOut();
    expect(v.packets().map((p) => p.op)).toEqual(['oack', 'error']);
    // Five backstops of the client's timeout + 1 s each.
    expect(v.clock.now).toBe((UNPROVEN_RESENDS + 1) * 2000);
  });

  it('a peer that answers the OACK with ACK 0 is proven: the full window follows', () => {
    const v = victim([['windowsize', '64']]);
    v.transfer.start();
    v.clock.advance(10_000);
    expect(v.packets().map((p) => p.op)).toEqual(['oack']);
    v.transfer.receive({ op: 'ack', block: 0 });
    expect(v.packets().filter((p) => p.op === 'data')).toHaveLength(64);
  });

  it('a peer that sent anything back is not counted as unanswered', () => {
    const v = victim([['windowsize', '64']]);
    v.transfer.start();
    v.transfer.receive({ op: 'ack', block: 7 }); // out of range: ignored, but the peer is there
    v.runOut();
    const failed = v.events.at(-1);
    expect(failed).toMatchObject({ type: 'failed', reason: 'timeout' });
    expect(failed && 'unansweredBytes' in failed).toBe(false);
  });
});
