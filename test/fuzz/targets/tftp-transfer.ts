// Fuzz target: one TFTP read transfer (ReadTransfer) fed arbitrary packets and timer
// firings by a hostile or broken client.
// Input: u16 file size (mod 4096), a length-prefixed RRQ (anything that does not decode
// as an RRQ means a plain octet RRQ), then steps: a byte below 0x20 advances the fake
// clock by that many 100 ms, 0x20 is a repeated RRQ, anything else is a length byte
// followed by a packet for receive().
// Invariants: nothing throws; every packet sent decodes; each DATA block carries exactly
// the file's bytes for that block and no block past the end; one step sends at most a
// window (+ one probe block per timeout) of packets (no Sorcerer's Apprentice); an ERROR sent means the transfer
// failed. Afterwards a well-behaved client that ACKs what it receives completes the
// transfer (unless it had already failed) and gets the whole file.

import { decodeTftp, type TftpPacket } from '../../../firmware/src/tftp/codec.js';
import { ReadTransfer, type TransferEvent } from '../../../firmware/src/tftp/transfer.js';
import { DecodeError } from '../../../firmware/src/net/decode-error.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { allowing, check } from './_support.js';

export const maxLen = 2048;
const LIMITS = { maxBlksize: 1468, maxWindow: 16, maxRetries: 5, minRtoMs: 200, maxRtoMs: 5000, initialRtoMs: 1000 };

export function fuzz(data: Buffer): void {
  if (data.length < 3) return;
  const size = data.readUInt16BE(0) % 4096;
  const file = Buffer.alloc(size);
  for (let i = 0; i < size; i++) file[i] = (i * 7 + (i >> 8)) & 0xff;
  const requestLength = data[2];
  const decoded = allowing(() => decodeTftp(data.subarray(3, 3 + requestLength)), DecodeError);
  const request = decoded?.op === 'rrq' ? decoded : { op: 'rrq' as const, filename: 'undionly.kpxe', mode: 'octet', options: new Map<string, string>() };

  const clock = new FakeClock();
  const sent: TftpPacket[] = [];
  const events: TransferEvent[] = [];
  const transfer = new ReadTransfer({
    request,
    file: { size, read: (offset, length) => file.subarray(offset, offset + length) },
    env: {
      send: (packet) => {
        const p = allowing(() => decodeTftp(packet), DecodeError);
        check(p, 'the transfer sent a packet that does not decode');
        sent.push(p);
      },
      now: () => clock.now,
      setTimer: clock.setTimer,
      clearTimer: clock.clearTimer,
    },
    limits: LIMITS,
    onEvent: (e) => events.push(e),
  });
  const blocksOf = (): number => Math.floor(size / transfer.parameters.blksize) + 1;
  // The client answers the last thing it heard: a silent client may already have used up the server's retries.
  let lastBatch: TftpPacket[] = [];
  const checkSent = (packets: TftpPacket[]): void => {
    if (packets.length > 0) lastBatch = packets;
    const { blksize, windowsize } = transfer.parameters;
    // A window, plus probe blocks past it on resends after repeated timeouts: one more per timeout (transfer.ts).
    check(packets.length <= windowsize + LIMITS.maxRetries, `one step sent ${packets.length} packets with a window of ${windowsize}`);
    for (const p of packets) {
      if (p.op === 'error') check(transfer.state === 'failed', `ERROR ${p.code} sent while the transfer is ${transfer.state}`);
      if (p.op !== 'data') continue;
      check(p.block >= 1 && p.block <= blocksOf(), `DATA block ${p.block} outside 1..${blocksOf()}`);
      const expected = file.subarray((p.block - 1) * blksize, p.block * blksize);
      check(p.data.equals(expected), `DATA block ${p.block} does not carry the file's bytes`);
    }
  };

  transfer.start();
  checkSent(sent.splice(0));
  let at = 3 + requestLength;
  while (at < data.length && transfer.state !== 'done' && transfer.state !== 'failed') {
    const op = data[at++];
    if (op < 0x20) {
      // Timers fire one by one, each a step of its own.
      const target = clock.now + op * 100;
      while (clock.pending > 0 && clock.now < target) {
        clock.advance(Math.min(100, target - clock.now));
        checkSent(sent.splice(0));
      }
      clock.now = Math.max(clock.now, target);
    } else if (op === 0x20) {
      transfer.requestRepeated();
    } else {
      const length = data[at++] ?? 0;
      const packet = allowing(() => decodeTftp(data.subarray(at, at + length)), DecodeError);
      at += length;
      if (packet) transfer.receive(packet);
    }
    checkSent(sent.splice(0));
  }
  sent.unshift(...lastBatch);
  finishAsAGoodClient(transfer, clock, sent, checkSent, file);
}

function finishAsAGoodClient(transfer: ReadTransfer, clock: FakeClock, sent: TftpPacket[], checkSent: (p: TftpPacket[]) => void, file: Buffer): void {
  const failedBefore = transfer.state === 'failed';
  const got = new Map<number, Buffer>();
  for (let rounds = 0; transfer.state !== 'done' && transfer.state !== 'failed'; rounds++) {
    check(rounds < 100_000, 'a well-behaved client could not finish the transfer');
    const packets = sent.splice(0);
    if (packets.length === 0) {
      check(clock.next(), `transfer stalled in state ${transfer.state}: nothing sent and no timer armed`);
      checkSent([...sent]);
      continue;
    }
    let highest = -1;
    for (const p of packets) {
      if (p.op === 'oack') highest = Math.max(highest, 0);
      if (p.op === 'data') {
        got.set(p.block, p.data);
        highest = Math.max(highest, p.block);
      }
    }
    if (highest >= 0) transfer.receive({ op: 'ack', block: highest });
    checkSent([...sent]);
  }
  if (failedBefore) return;
  check(transfer.state === 'done', `a well-behaved client ended in state ${transfer.state}`);
  // The blocks the good client saw, plus those the fuzz steps had already acknowledged, make the file's tail.
  const blksize = transfer.parameters.blksize;
  for (const [block, bytes] of got) check(bytes.equals(file.subarray((block - 1) * blksize, block * blksize)), `block ${block} wrong at the end`);
}
