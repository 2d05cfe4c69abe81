// One TFTP read transfer (RRQ): a state machine with its socket and timers
// injected, so every rule below runs under a fake clock.
//
//   idle --start()--> oack-sent --ACK 0--> sending --final ACK--> done
//     \--(no accepted option)-----------> sending
//   any state but done: ERROR from the client, timeout, illegal packet, abort() --> failed
//
// Unproven peers: an RRQ's source address can be forged, so until the peer
// proves it is there (ACK 0 for the OACK; with no options, the ACK of block 1)
// it is sent only the OACK (or block 1) and at most UNPROVEN_RESENDS
// retransmissions of it, whether a timer or a repeated RRQ asks for them; no
// window, no probe. The transfer gives up at the timeout after that
// (UNPROVEN_RESENDS + 1 timeouts while unproven). The bytes sent to a peer
// that never answered at all are reported in the failed event
// (unansweredBytes), so a reflection attempt is bounded and visible.
//
// Rules:
// - Options (RFC 2347): accepted options go out in an OACK, answered by ACK 0;
//   DATA, a request or an OACK in answer is an illegal operation (ERROR 4).
//   With no accepted option, DATA 1 starts at once with RFC 1350 defaults.
//   After an OACK no DATA goes out before ACK 0 (see unproven peers above).
// - Blocks are numbered 1..N internally; on the wire the number is taken mod
//   65536 (65535 rolls over to 0, as tftp-hpa, atftp and curl expect). The last
//   block is shorter than blksize, 0 bytes for an exact multiple (RFC 1350 6).
// - Window (RFC 7440): up to windowsize blocks past the last ACKed one are in
//   flight. An ACK short of the newest block sent means the rest was lost:
//   sending goes back to the block after it (go-back-N), once per window, so a
//   client that ACKs every block cannot make us resend a window per ACK; unless
//   that block is overdue (sent longer ago than the RTT estimate allows), when
//   waiting for our own timer would only stall.
// - A duplicate ACK never causes a resend (RFC 1123 4.2.3.1, Sorcerer's
//   Apprentice); only the timer does. ACKs for blocks not yet sent, or older
//   than the last ACKed one, are ignored, never answered with ERROR.
// - Retransmission timeout: util/rto.ts (RFC 6298), samples only from blocks
//   sent once (Karn). It starts at initialRtoMs, or at the client's negotiated
//   timeout (RFC 2349). On expiry it doubles and the unacknowledged blocks are
//   sent again; an ACK for a resent block ends the backoff only when it came
//   back within the estimate (RtoEstimator.ackOfResent). After maxRetries
//   expiries without progress the transfer fails with 'timeout' and ERROR 0.
//   The timer is lazy (a send only moves the deadline), so a transfer does not
//   create and cancel a timer per packet.
// - From the second expiry without progress on, the resend also carries one
//   block past the window and past any block sent (a probe). A client that
//   answers one repeated block and then ignores repeats until an in-order block
//   comes (atftp) gets the block it waits for and answers at once, instead of
//   after its own timer; a client still missing an earlier block ignores the
//   probe or ACKs what it has (RFC 7440).
// - An ERROR from the client ends the transfer ('client-error') and is never
//   answered (RFC 1350 7). ERROR 8, or ERROR 0 "TFTP Aborted", in answer to the
//   OACK is a PXE ROM reading tsize before its real RRQ: 'aborted', detail
//   'tsize probe' when tsize was asked for.
// - A lost OACK shows as a repeated RRQ (requestRepeated() answers it at once,
//   within the unproven budget, unless it came within REPEAT_CROSSED_MS of our
//   OACK and so crossed it); a lost ACK 0 as a repeated ACK 0. Our own OACK
//   timer is only a backstop, longer than clients wait: on expiry nothing is
//   sent (the OACK is never resent unasked: atftp aborts on a second OACK after
//   its ACK 0), and DATA never starts without ACK 0.
// - Packets other than ACK and ERROR while sending are ignored (as tftp-hpa
//   does): a stray packet must not end a transfer.
// - The file is sent as it is: for netascii the caller passes the converted
//   stream (netascii.ts), whose size is unknown until a short read marks the
//   last block; tsize is then not offered. Blocks the client has ACKed are
//   released from the source (they are never resent).
// - Pacing: with a gate, each DATA packet (first sends and resends) waits for
//   its grant, one request at a time; the block is chosen when the grant
//   comes, so a go-back or the end never leaves stale packets queued. OACK and
//   ERROR are not paced.

import { encodeTftp, TftpError, type TftpPacket } from './codec.js';
import { negotiate, type TransferParams } from './options.js';
import type { SendGate } from './scheduler.js';
import { RtoEstimator } from '../util/rto.js';
import type { TimerHandle, Timers } from '../util/timers.js';

/** Longer than common client timeouts (atftp and tftp-hpa: 5 s), see the rules above. */
const OACK_BACKSTOP_MS = 6000;
/**
 * Retransmissions of the OACK (or of block 1) a peer gets before it has proven it
 * is there; the transfer gives up at the timeout after them (see the top of this file).
 */
export const UNPROVEN_RESENDS = 4;
/**
 * A repeated RRQ this soon after our last OACK crossed it on the wire (or is a ROM's
 * back-to-back duplicate): answering would hand the client a second OACK after its
 * ACK 0, which atftp treats as fatal. A client that really lost the OACK repeats
 * again after its own timer, which is longer.
 */
export const REPEAT_CROSSED_MS = 1000;
/** How much longer than the client's negotiated timeout the OACK backstop waits. */
const CLIENT_TIMER_MARGIN_MS = 1000;
/**
 * Timeouts without progress after which a resend probes one block past the window
 * and past any block sent (see the rules above). Each further silent timeout adds
 * one block (the last probe may have been lost, or taken with its ACK lost), so a
 * client that is gone gets at most windowsize + maxRetries blocks per resend.
 */
const PROBE_AFTER_RETRIES = 2;

/** The socket and the timers of one transfer; now() is only subtracted, so either real Timers will do. */
export interface TransferEnv extends Timers {
  /** To the client's TID (the server owns the socket). */
  send(packet: Buffer): void;
}

/**
 * The bytes to send; read() returns exactly `length` bytes unless the range ends at
 * `size`. An undefined size is known only at the end: the first read() shorter than
 * asked is the last block.
 */
export interface FileSource {
  size: number | undefined;
  read(offset: number, length: number): Buffer;
  /** Bytes before `offset` are never read again (the client has them). */
  release?(offset: number): void;
}

export interface TransferLimits {
  /** Largest blksize granted: MTU - 20 - 8 - 4. */
  maxBlksize: number;
  maxWindow: number;
  /** Retransmissions without progress before giving up, e.g. 6. */
  maxRetries: number;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
}

export type TransferFailure = 'timeout' | 'client-error' | 'aborted' | 'illegal-operation';

export type TransferEvent =
  | { type: 'start'; filename: string; size: number | undefined }
  | { type: 'options'; accepted: Record<string, string> }
  | { type: 'retransmit'; block: number; count: number; rtoMs: number }
  | { type: 'done'; bytes: number; ms: number; retransmits: number }
  | {
      type: 'failed';
      reason: TransferFailure;
      detail: string;
      lastBlockAcked: number;
      retransmits: number;
      /** UDP payload bytes sent to a peer that never sent a packet back (a forged request's victim). */
      unansweredBytes?: number;
    };

export type TransferState = 'idle' | 'oack-sent' | 'sending' | 'done' | 'failed';

export interface ReadTransferOptions {
  request: { filename: string; mode: string; options: Map<string, string> };
  file: FileSource;
  env: TransferEnv;
  limits: TransferLimits;
  onEvent: (e: TransferEvent) => void;
  gate?: SendGate;
}

const TFTP_DATA_HEADER = 4;
const MODES = new Set(['octet', 'netascii']);

export class ReadTransfer {
  private currentState: TransferState = 'idle';
  private readonly request: ReadTransferOptions['request'];
  private readonly file: FileSource;
  private readonly env: TransferEnv;
  private readonly limits: TransferLimits;
  private readonly onEvent: (e: TransferEvent) => void;
  private readonly gate?: SendGate;

  private params: TransferParams = { blksize: 512, windowsize: 1 };
  private oack?: Buffer;
  private oackSentAt = 0;
  /** When the OACK last went out (first send or an answer to a repeated RRQ). */
  private oackLastSentAt = 0;
  private oackResent = false;
  /** Blocks in the file; Infinity until a short read marks the end of a file of unknown size. */
  private totalBlocks = 1;
  /** Bytes sent in all, once known. */
  private totalBytes: number | undefined;
  private startedAt = 0;

  /** The peer ACKed our first answer (see unproven peers at the top). */
  private proven = false;
  /** The peer sent anything at all on this transfer. */
  private heard = false;
  /** Retransmissions sent while unproven. */
  private unprovenResends = 0;
  /** Payload bytes sent while unproven. */
  private unprovenBytes = 0;

  /** Highest block the client has ACKed in order (absolute). */
  private acked = 0;
  /** Next block to send (absolute); goes back on loss. */
  private nextToSend = 1;
  private highestSent = 0;
  /** ACKs up to here may follow a go-back or timeout and do not trigger another go-back. */
  private recoverUntil = 0;
  /** Highest block ever sent more than once: ACKs up to it give no RTT sample (Karn). */
  private retransmittedUpTo = 0;
  private readonly sentAt = new Map<number, number>();

  private readonly estimator: RtoEstimator;
  private timer: TimerHandle;
  /** When the running timer (if any) fires. */
  private timerDueAt = 0;
  /** When the retransmission timeout is due; undefined: disarmed (the running timer, if any, is ignored). */
  private deadline: number | undefined;
  /** While probing (until the next progress), resends go up to here: one block past any sent (see the rules above). */
  private probeUpTo = 0;
  /** Consecutive timeouts without progress. */
  private retries = 0;
  private retransmits = 0;

  private pumping = false;
  private awaitingGrant = false;

  constructor(opts: ReadTransferOptions) {
    this.request = opts.request;
    this.file = opts.file;
    this.env = opts.env;
    this.limits = opts.limits;
    this.onEvent = opts.onEvent;
    this.gate = opts.gate;
    this.estimator = new RtoEstimator({ minMs: opts.limits.minRtoMs, maxMs: opts.limits.maxRtoMs, initialMs: opts.limits.initialRtoMs });
  }

  get state(): TransferState {
    return this.currentState;
  }

  /** Effective blksize and windowsize (and the client's timeout and tsize) after negotiation. */
  get parameters(): Readonly<TransferParams> {
    return this.params;
  }

  /** Highest block the client has acknowledged, absolute (not wrapped). */
  get lastBlockAcked(): number {
    return this.acked;
  }

  /** Sends the OACK when options were accepted, else DATA 1. */
  start(): void {
    if (this.currentState !== 'idle') return;
    this.startedAt = this.env.now();
    const mode = this.request.mode.toLowerCase();
    if (!MODES.has(mode)) {
      this.fail(
        'illegal-operation',
        `transfer mode ${this.request.mode} is not supported`,
        TftpError.IllegalOperation,
        `transfer mode ${this.request.mode} is not supported`,
      );
      return;
    }
    const negotiation = negotiate(this.request.options, {
      maxBlksize: this.limits.maxBlksize,
      maxWindow: this.limits.maxWindow,
      fileSize: this.file.size,
      op: 'rrq',
    });
    this.params = negotiation.params;
    this.totalBytes = this.file.size;
    this.totalBlocks = this.file.size === undefined ? Infinity : Math.floor(this.file.size / this.params.blksize) + 1;
    if (this.params.timeoutMs !== undefined) this.estimator.startWith(this.params.timeoutMs);
    this.onEvent({ type: 'start', filename: this.request.filename, size: this.file.size });
    if (negotiation.accepted.size > 0) {
      this.onEvent({ type: 'options', accepted: Object.fromEntries(negotiation.accepted) });
      this.oack = encodeTftp({ op: 'oack', options: negotiation.accepted });
      this.currentState = 'oack-sent';
      this.oackSentAt = this.env.now();
      this.oackLastSentAt = this.oackSentAt;
      this.send(this.oack);
      this.armTimer();
    } else {
      this.currentState = 'sending';
      this.pump();
    }
  }

  /**
   * The client sent its RRQ again (same address and port): our first answer was
   * lost. Answer again now rather than waiting for a timer.
   */
  requestRepeated(): void {
    if (this.currentState === 'oack-sent') {
      if (this.env.now() - this.oackLastSentAt < REPEAT_CROSSED_MS) return;
      if (!this.takeUnprovenResend()) return;
      this.oackResent = true;
      this.retransmits++;
      this.oackLastSentAt = this.env.now();
      this.send(this.oack!);
      this.armTimer();
    } else if (this.currentState === 'sending' && this.oack === undefined && this.acked === 0 && this.highestSent > 0) {
      // Without options a repeated RRQ means block 1 was lost. After an OACK the client's
      // ACK 0 proved it has the OACK: a repeat is stale and gets nothing.
      if (!this.proven && !this.takeUnprovenResend()) return;
      this.recoverUntil = Math.max(this.recoverUntil, this.highestSent);
      this.nextToSend = 1;
      this.pump();
    }
  }

  /** An ACK or ERROR from the client's TID (the server has checked the TID). */
  receive(packet: TftpPacket): void {
    this.heard = true;
    switch (this.currentState) {
      case 'oack-sent':
        return this.receiveInOack(packet);
      case 'sending':
        return this.receiveWhileSending(packet);
      default:
        return; // idle, done, failed: nothing to answer
    }
  }

  /** Ends the transfer from the server's side (shutdown, client gone): ERROR 0 to the client. */
  abort(reason: string): void {
    if (this.isOver()) return;
    this.fail('aborted', reason, TftpError.NotDefined, reason);
  }

  // ---- transitions ---------------------------------------------------------------

  private receiveInOack(packet: TftpPacket): void {
    switch (packet.op) {
      case 'ack':
        if (packet.block !== 0) return; // out of range: ignored, never answered
        {
          // The OACK is never resent unasked, so a late ACK 0 is the client's own
          // retransmission after its timer (atftp: 5 s), not a round trip: a sample
          // from it would set the RTO to seconds for the whole transfer.
          const sample = this.env.now() - this.oackSentAt;
          if (!this.oackResent && sample < this.limits.initialRtoMs) this.estimator.sample(sample);
        }
        this.retries = 0;
        this.proven = true;
        this.currentState = 'sending';
        this.disarmTimer();
        this.pump();
        return;
      case 'error':
        if (isOptionAbort(packet.code, packet.message)) {
          const probe = this.request.options.has('tsize');
          this.finishFailed('aborted', probe ? 'tsize probe' : `client ended the transfer after the OACK (error ${packet.code}: ${packet.message})`);
        } else {
          this.finishFailed('client-error', `error ${packet.code}: ${packet.message}`);
        }
        return;
      default:
        this.fail('illegal-operation', `${packet.op.toUpperCase()} in answer to the OACK`, TftpError.IllegalOperation, 'expected ACK 0 for the OACK');
    }
  }

  private receiveWhileSending(packet: TftpPacket): void {
    if (packet.op === 'error') {
      this.finishFailed('client-error', `error ${packet.code}: ${packet.message}`);
      return;
    }
    if (packet.op !== 'ack') return;
    // The wire number is the absolute one mod 65536: find it in (acked, highestSent].
    const distance = (packet.block - (this.acked & 0xffff)) & 0xffff;
    if (distance === 0) {
      // A duplicate ACK never causes a resend (RFC 1123 4.2.3.1), unless the block after
      // it is overdue: then the client timed out waiting for it, and so would we, later.
      if (this.acked < this.highestSent && this.overdue(this.acked + 1)) {
        if (!this.takeUnprovenResend()) return;
        this.recoverUntil = this.highestSent;
        this.nextToSend = this.acked + 1;
        this.armTimer();
        this.pump();
      }
      return;
    }
    const block = this.acked + distance;
    if (block > this.highestSent) return; // not sent yet, or from long ago: ignore silently

    // Karn's rule: only a block sent once gives an RTT sample; an ACK for a resent one may end the backoff.
    const sent = this.sentAt.get(block);
    if (block > this.retransmittedUpTo) {
      if (sent !== undefined) this.estimator.sample(this.env.now() - sent);
    } else {
      this.estimator.ackOfResent(sent === undefined ? undefined : this.env.now() - sent);
    }
    for (let b = this.acked + 1; b <= block; b++) this.sentAt.delete(b);
    this.acked = block;
    this.proven = true;
    this.retries = 0;
    this.probeUpTo = 0;
    this.file.release?.(block * this.params.blksize);

    if (block >= this.totalBlocks) {
      this.disarmTimer();
      this.stopTimer();
      this.currentState = 'done';
      this.gate?.release();
      this.onEvent({ type: 'done', bytes: this.totalBytes ?? 0, ms: this.env.now() - this.startedAt, retransmits: this.retransmits });
      return;
    }
    if (block < this.highestSent && (block > this.recoverUntil || this.overdue(block + 1))) {
      // RFC 7440 section 4: the client saw a gap after `block`; start the window again there.
      this.recoverUntil = this.highestSent;
      this.nextToSend = block + 1;
    }
    if (this.nextToSend <= block) this.nextToSend = block + 1;
    if (this.highestSent > this.acked) this.armTimer();
    else this.disarmTimer();
    this.pump();
  }

  /** The running timer fired: a real timeout only when the deadline has come (the timer is lazy). */
  private onTimer(): void {
    this.timer = undefined;
    if (this.deadline === undefined || this.isOver()) return;
    const now = this.env.now();
    if (now < this.deadline) {
      this.startTimer(this.deadline - now);
      return;
    }
    this.deadline = undefined;
    this.onTimeout();
  }

  private onTimeout(): void {
    if (this.isOver()) return;
    if (!this.proven && (this.retries >= Math.min(UNPROVEN_RESENDS, this.limits.maxRetries) || this.unprovenResends >= UNPROVEN_RESENDS)) {
      const first = this.currentState === 'oack-sent' ? 'the OACK' : 'block 1';
      this.fail('timeout', `no answer to ${first} after ${this.unprovenResends} retransmissions`, TftpError.NotDefined, 'transfer timed out');
      return;
    }
    if (this.retries >= this.limits.maxRetries) {
      const waitingFor = this.currentState === 'oack-sent' ? 'ACK 0 for the OACK' : `ACK for block ${this.acked + 1}`;
      this.fail('timeout', `no ${waitingFor} after ${this.retries} retransmissions`, TftpError.NotDefined, 'transfer timed out');
      return;
    }
    this.retries++;
    this.estimator.backOff();
    if (this.currentState === 'oack-sent') {
      // No ACK 0 for longer than clients wait. The OACK is never sent again unasked and
      // DATA never starts without ACK 0 (see the rules above): a client that missed the
      // OACK repeats its RRQ (answered with the OACK), one that has it repeats its ACK 0.
      this.onEvent({ type: 'retransmit', block: 0, count: this.retries, rtoMs: this.estimator.rto });
      this.armTimer();
      return;
    }
    this.onEvent({ type: 'retransmit', block: this.acked + 1, count: this.retries, rtoMs: this.waitMs() });
    if (!this.proven) {
      // Block 1 again, and nothing past it, to a peer that has not answered yet.
      this.unprovenResends++;
      this.nextToSend = 1;
      this.armTimer();
      this.pump();
      return;
    }
    // The probe goes past the highest block sent: the client may hold a probe sent before.
    if (this.retries >= PROBE_AFTER_RETRIES) this.probeUpTo = Math.max(this.acked + this.params.windowsize, this.highestSent) + 1;
    this.recoverUntil = Math.max(this.recoverUntil, this.highestSent);
    this.nextToSend = this.acked + 1;
    this.armTimer(); // runs even while the gate holds the resend back
    this.pump();
  }

  // ---- sending --------------------------------------------------------------------

  private canSend(): boolean {
    const limit = Math.max(this.acked + this.params.windowsize, this.probeUpTo);
    return this.currentState === 'sending' && this.nextToSend <= this.totalBlocks && this.nextToSend <= limit;
  }

  /** Sends what the window allows, asking the gate before each block. Never recurses. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.canSend() && !this.awaitingGrant) {
        if (!this.gate) {
          this.sendNextBlock();
          continue;
        }
        let inside = true;
        let grantedInside = false;
        this.awaitingGrant = true;
        this.gate.request(TFTP_DATA_HEADER + this.blockLength(this.nextToSend), () => {
          this.awaitingGrant = false;
          if (inside) {
            grantedInside = true;
            return;
          }
          if (this.canSend()) this.sendNextBlock();
          this.pump();
        });
        inside = false;
        if (!grantedInside) break;
        this.sendNextBlock();
      }
    } finally {
      this.pumping = false;
    }
  }

  private sendNextBlock(): void {
    const block = this.nextToSend;
    const offset = (block - 1) * this.params.blksize;
    const length = this.blockLength(block);
    let data: Buffer;
    try {
      data = this.file.read(offset, length);
    } catch (error) {
      this.fail('aborted', `read error at offset ${offset}: ${(error as Error).message}`, TftpError.NotDefined, 'read error');
      return;
    }
    if (this.file.size === undefined) {
      // A short read is the end of a file of unknown size: this block is the last.
      if (data.length < length) {
        this.totalBlocks = block;
        this.totalBytes = offset + data.length;
      }
    } else if (data.length !== length) {
      // A short block would tell the client the file ended: never send one early.
      this.fail('aborted', `file changed during the transfer: read ${data.length} of ${length} bytes at offset ${offset}`, TftpError.NotDefined, 'read error');
      return;
    }
    if (block <= this.highestSent) {
      this.retransmits++;
      this.retransmittedUpTo = Math.max(this.retransmittedUpTo, block);
    }
    this.sentAt.set(block, this.env.now());
    this.highestSent = Math.max(this.highestSent, block);
    this.nextToSend = block + 1;
    this.send(encodeTftp({ op: 'data', block: block & 0xffff, data }));
    this.armTimer(); // the client answers after the newest block: time from it
  }

  /** The length of `block`; a full block while the size is unknown (the read tells). */
  private blockLength(block: number): number {
    const offset = (block - 1) * this.params.blksize;
    const size = this.totalBytes;
    if (size === undefined) return this.params.blksize;
    return Math.max(0, Math.min(this.params.blksize, size - offset));
  }

  /** Every packet to the peer: while it is unproven, its bytes are counted. */
  private send(packet: Buffer): void {
    if (!this.proven) this.unprovenBytes += packet.length;
    this.env.send(packet);
  }

  /** Takes one retransmission from the unproven budget; false when it is spent. */
  private takeUnprovenResend(): boolean {
    if (this.proven) return true;
    if (this.unprovenResends >= UNPROVEN_RESENDS) return false;
    this.unprovenResends++;
    return true;
  }

  // ---- timer and RTT ------------------------------------------------------------

  /** True when `block` was last sent longer ago than an ACK for it could take (the RTO before backoff). */
  private overdue(block: number): boolean {
    const sent = this.sentAt.get(block);
    if (sent === undefined) return false;
    return this.env.now() - sent > this.estimator.expected;
  }

  /** Current retransmission timeout, ms. */
  get rto(): number {
    return this.estimator.rto;
  }

  /** (Re)starts the retransmission timeout from now. */
  private armTimer(): void {
    const wait = this.waitMs();
    const now = this.env.now();
    this.deadline = now + wait;
    // A running timer that fires no later than the new deadline is kept: it re-arms for the rest.
    if (this.timer !== undefined && this.timerDueAt <= this.deadline) return;
    this.stopTimer();
    this.startTimer(wait);
  }

  private startTimer(ms: number): void {
    this.timerDueAt = this.env.now() + ms;
    this.timer = this.env.setTimer(ms, () => this.onTimer());
  }

  /**
   * How long the timer waits: the RTO, except while the OACK is out (the backstop,
   * longer than the client's own timer, so a lost OACK shows as a repeated RRQ first).
   */
  private waitMs(): number {
    if (this.currentState === 'oack-sent')
      return this.params.timeoutMs === undefined ? Math.max(this.estimator.rto, OACK_BACKSTOP_MS) : this.params.timeoutMs + CLIENT_TIMER_MARGIN_MS;
    return this.estimator.rto;
  }

  /** No timeout pending; the running timer, if any, fires into nothing (cheaper than cancelling per ACK). */
  private disarmTimer(): void {
    this.deadline = undefined;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.env.clearTimer(this.timer);
    this.timer = undefined;
  }

  // ---- endings ------------------------------------------------------------------

  private isOver(): boolean {
    return this.currentState === 'done' || this.currentState === 'failed';
  }

  /** Fails and tells the client with an ERROR packet. */
  private fail(reason: TransferFailure, detail: string, code: number, message: string): void {
    if (this.isOver()) return;
    this.send(encodeTftp({ op: 'error', code, message }));
    this.finishFailed(reason, detail);
  }

  /** Fails without a word to the client (it sent the ERROR). */
  private finishFailed(reason: TransferFailure, detail: string): void {
    if (this.isOver()) return;
    this.disarmTimer();
    this.stopTimer();
    this.currentState = 'failed';
    this.gate?.release();
    const unanswered = !this.heard && this.unprovenBytes > 0 ? { unansweredBytes: this.unprovenBytes } : {};
    this.onEvent({ type: 'failed', reason, detail, lastBlockAcked: this.acked, retransmits: this.retransmits, ...unanswered });
  }
}

/** RFC 2347 code 8, or the "TFTP Aborted" text PXE ROMs (Intel's among them) send with code 0. */
function isOptionAbort(code: number, message: string): boolean {
  return code === TftpError.OptionRefused || (code === TftpError.NotDefined && /^\s*tftp aborted\s*$/i.test(message));
}
