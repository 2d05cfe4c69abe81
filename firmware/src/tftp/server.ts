// The TFTP server on real sockets: one process, one listening socket on port 69,
// and one ephemeral socket per transfer (its TID, RFC 1350 section 4). The
// protocol rules live in transfer.ts; this file only moves datagrams, resolves
// paths, limits concurrency and paces data.

import dgram from 'node:dgram';
import type { Ipv4 } from '../net/addr.js';
import { DecodeError } from '../net/decode-error.js';
import type { Logger } from '../util/log.js';
import type { Counters } from '../util/counters.js';
import { decodeTftp, encodeTftp, TftpError, type TftpPacket } from './codec.js';
import { ReadTransfer, type TransferEvent, type TransferLimits, type FileSource } from './transfer.js';
import { resolveBootPath, openWithinRoot } from './paths.js';
import { BootRoot } from '../boot-policy/boot-root.js';
import { systemTimers, type Timers } from '../util/timers.js';
import { FileCache } from './file-cache.js';
import { SendScheduler, TransferSlots, type SendGate } from './scheduler.js';
import { streamNetascii, type ByteSource } from './netascii.js';

/** IPv4 (20) + UDP (8) + TFTP DATA header (4): what a block must leave room for in one frame. */
const DATA_OVERHEAD = 32;

export interface TftpServerOptions {
  /** The boot root directory (boot-policy/boot-root.ts decides what under it is served). */
  root: string;
  /** Address to serve from: the listening socket and every transfer socket bind to it. */
  address: Ipv4;
  port: number;
  mtu: number;
  maxTransfers: number;
  /**
   * Transfers and waiting requests one client address may hold; requests beyond
   * are dropped and counted. Default: half of maxTransfers, so one address (a
   * flood of RRQs from new ports) never takes every slot.
   */
  maxPerClient?: number;
  maxRateMbit: number;
  transferRateMbit: number;
  log: Logger;
  counters: Counters;
  onEvent?(event: TftpEvent): void;
  /** Retransmission limits; tests shorten them. */
  limits?: Partial<TransferLimits>;
  /** Time for the client-gone checks, the slot overflow and every transfer's retransmissions. */
  timers?: Timers;
  /**
   * Files the boot policy generates per node (GRUB's configurations, boot-policy/loader.ts):
   * asked first for every checked name; undefined means the boot root's file is served.
   */
  generated?(relative: string, client: Ipv4): Promise<Buffer | undefined>;
}

/** What the server itself saw before a transfer exists: a request, or a request it refused. */
export type TftpRequestEvent = { type: 'request'; options: Record<string, string> } | { type: 'refused'; code: number; reason: string };
export type TftpEvent = (TransferEvent | TftpRequestEvent) & { client: Ipv4; port: number; filename: string };

interface ActiveTransfer {
  ip: Ipv4;
  transfer?: ReadTransfer;
  socket?: dgram.Socket;
  filename: string;
  /** When the client last sent (or repeated) its RRQ: a waiting client that stopped asking has left. */
  lastRequestAt: number;
}

/**
 * A request that waited for a slot is dropped when its client has not repeated the
 * RRQ for this long: clients repeat every 1-5 s while they wait, so silence means the
 * client gave up, and starting its transfer would only hold a slot for nothing.
 */
const WAITING_CLIENT_GONE_MS = 12_000;
/** How long a request waits when every transfer slot is busy before it is served from an overflow slot. */
const SLOT_WAIT_MS = 2000;

export class TftpServer {
  private listener?: dgram.Socket;
  private readonly active = new Map<string, ActiveTransfer>();
  /** Entries of `active` per client address (the per-client limit). */
  private readonly perClient = new Map<Ipv4, number>();
  private readonly maxPerClient: number;
  private readonly cache: FileCache;
  private readonly scheduler: SendScheduler;
  private readonly slots: TransferSlots;
  private readonly limits: TransferLimits;
  private readonly root: BootRoot;
  private readonly timers: Timers;
  private nextTransferId = 0;

  constructor(private readonly opts: TftpServerOptions) {
    this.root = new BootRoot(opts.root);
    this.timers = opts.timers ?? systemTimers;
    this.cache = new FileCache();
    this.maxPerClient = opts.maxPerClient ?? Math.max(1, Math.ceil(opts.maxTransfers / 2));
    this.scheduler = new SendScheduler({
      rateBytesPerSecond: (opts.maxRateMbit * 1_000_000) / 8,
      perTransferBytesPerSecond: (opts.transferRateMbit * 1_000_000) / 8,
    });
    // At the limit a request is still answered within the firmware's retry window (scheduler.ts).
    this.slots = new TransferSlots(opts.maxTransfers, {
      waitMs: SLOT_WAIT_MS,
      extra: opts.maxTransfers,
      setTimer: (ms, fn) => this.timers.setTimer(ms, fn),
      clearTimer: (handle) => this.timers.clearTimer(handle),
    });
    this.limits = {
      maxBlksize: Math.max(512, opts.mtu - DATA_OVERHEAD),
      maxWindow: 64,
      // ~40 s of silence before giving up (5 ms doubling to the 5 s cap, then 6 x 5 s).
      maxRetries: 16,
      // A lost packet costs one RTO: on a LAN the RTT is well under 1 ms, so the RTT
      // estimate (RFC 6298) sets the RTO and this floor only covers Node's 1 ms timers
      // and event-loop lag. A spurious resend costs one duplicate DATA (its ACK is ignored).
      minRtoMs: 5,
      maxRtoMs: 5000,
      initialRtoMs: 1000,
      ...opts.limits,
    };
  }

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('message', (msg, rinfo) => this.onRequest(msg, rinfo.address, rinfo.port));
    socket.on('error', (error) => this.opts.log.warn('tftp socket error', { error }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.listener = socket;
  }

  /** Transfers in progress or waiting for a slot. */
  get activeCount(): number {
    return this.active.size;
  }

  close(): Promise<void> {
    this.listener?.close();
    this.listener = undefined;
    const entries = [...this.active.values()];
    this.active.clear();
    this.perClient.clear();
    for (const entry of entries) {
      entry.transfer?.abort('server stopping');
      closeQuietly(entry.socket);
    }
    this.cache.clear();
    return Promise.resolve();
  }

  private onRequest(buf: Buffer, ip: Ipv4, port: number): void {
    const { counters, log } = this.opts;
    let packet: TftpPacket;
    try {
      packet = decodeTftp(buf);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      counters.inc('malformed.tftp');
      log.debug('malformed tftp request', { client: ip, reason: error.message });
      // A request we cannot read still gets an answer, so the client stops waiting.
      if (buf.length >= 2 && (buf.readUInt16BE(0) === 1 || buf.readUInt16BE(0) === 2)) {
        this.replyError(ip, port, TftpError.IllegalOperation, `malformed request: ${error.reason}`);
      }
      return;
    }
    if (packet.op === 'wrq') {
      counters.inc('tftp.refused.write');
      log.info('tftp write refused', { client: ip, filename: packet.filename });
      this.replyError(ip, port, TftpError.AccessViolation, 'rackboot serves files; it does not accept uploads');
      return;
    }
    if (packet.op !== 'rrq') {
      // Stray DATA/ACK/ERROR on port 69 (a client that lost its TID): not a request.
      counters.inc('tftp.dropped.not_a_request');
      return;
    }
    const key = `${ip}:${port}`;
    const existing = this.active.get(key);
    if (existing) {
      // The client repeated its RRQ: our first answer was lost, or it is one of the
      // PXE ROMs that send it twice. Never a second transfer; answer again if started.
      counters.inc('tftp.duplicate_request');
      existing.lastRequestAt = this.timers.now();
      existing.transfer?.requestRepeated();
      return;
    }
    const held = this.perClient.get(ip) ?? 0;
    if (held >= this.maxPerClient) {
      // A flood from one address (each RRQ from a new port is a new request) ends here:
      // no socket, no file, no slot. The client's own retries get through once its
      // transfers end. Logged at debug only: a flood must not flood the log either.
      counters.inc('tftp.dropped.client_limit');
      log.debug('tftp request dropped: the client holds its limit of transfers', { client: ip, filename: packet.filename, limit: this.maxPerClient });
      return;
    }
    counters.inc('tftp.requests');
    this.emit({ type: 'request', options: Object.fromEntries(packet.options), client: ip, port, filename: packet.filename });
    const entry: ActiveTransfer = { ip, filename: packet.filename, lastRequestAt: this.timers.now() };
    this.active.set(key, entry);
    this.perClient.set(ip, held + 1);
    void this.serve(key, entry, packet, ip, port).catch((error: unknown) => {
      counters.inc('tftp.errors');
      log.error('tftp transfer failed to start', { client: ip, filename: packet.filename, error: error as Error });
      this.finish(key);
    });
  }

  /**
   * One request from its slot to its end. The slot, the file (its fd) and the entry
   * are released in the one finally below, whatever path ends the request: a refusal,
   * an open or conversion failure, a socket error, or the transfer's done or failed.
   */
  private async serve(key: string, entry: ActiveTransfer, request: Extract<TftpPacket, { op: 'rrq' }>, ip: Ipv4, port: number): Promise<void> {
    const { log, counters } = this.opts;
    const refuse = (code: number, reason: string): void => {
      counters.inc(code === TftpError.AccessViolation ? 'tftp.refused.path' : 'tftp.not_found');
      log.warn('tftp request refused', { client: ip, filename: request.filename, reason });
      this.emit({ type: 'refused', code, reason, client: ip, port, filename: request.filename });
      this.replyError(ip, port, code, reason);
    };
    const mode = request.mode.toLowerCase();
    if (mode !== 'octet' && mode !== 'netascii') {
      this.replyError(ip, port, TftpError.IllegalOperation, `transfer mode ${request.mode} is not supported (use octet)`);
      return this.finish(key);
    }
    const resolved = resolveBootPath(this.opts.root, request.filename);
    if (!resolved.ok) {
      refuse(resolved.code, resolved.reason);
      return this.finish(key);
    }
    // Beyond the limit the request waits its turn; the client's RRQ retransmits are absorbed above.
    const release = await this.slots.acquire(key);
    let file: (FileSource & { close?(): void }) | undefined;
    let gate: SendGate | undefined;
    try {
      if (!this.active.has(key)) return;
      if (this.timers.now() - entry.lastRequestAt > WAITING_CLIENT_GONE_MS) {
        counters.inc('tftp.dropped.client_gone');
        log.info('tftp request dropped: the client stopped asking while it waited for a slot', { client: ip, filename: request.filename });
        return;
      }
      // A generated file (a node's GRUB configuration) wins over the boot root.
      const content = await this.opts.generated?.(resolved.relative, ip);
      let stored: ByteSource;
      if (content) {
        stored = { size: content.length, read: (offset, length) => content.subarray(offset, Math.min(content.length, offset + length)) };
      } else {
        const opened = await openWithinRoot(this.root, resolved.relative);
        if (!opened.ok) return refuse(opened.code, opened.reason);
        stored = await this.cache.get(opened.path);
      }
      file = stored;
      if (!this.active.has(key)) return;
      // netascii is converted as it is sent, in bounded memory (netascii.ts).
      if (mode === 'netascii') file = streamNetascii(stored);

      const socket = dgram.createSocket('udp4');
      entry.socket = socket;
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, this.opts.address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      if (!this.active.has(key)) return;
      gate = this.scheduler.gate(`t${this.nextTransferId++}`);
      const source = file;
      await new Promise<void>((resolve) => {
        const transfer = new ReadTransfer({
          request,
          file: source,
          env: {
            send: (packet) => {
              try {
                socket.send(packet, port, ip);
              } catch {
                // The transfer's socket is already closed (server stopping): nothing to send on.
              }
            },
            now: () => this.timers.now(),
            setTimer: (ms, fn) => this.timers.setTimer(ms, fn),
            clearTimer: (handle) => this.timers.clearTimer(handle),
          },
          limits: this.limits,
          gate,
          onEvent: (event) => {
            this.emit({ ...event, client: ip, port, filename: request.filename });
            if (event.type === 'done' || event.type === 'failed') resolve();
          },
        });
        entry.transfer = transfer;
        socket.on('message', (msg, rinfo) => {
          if (rinfo.address !== ip || rinfo.port !== port) {
            // RFC 1350 section 4: a packet from a foreign TID gets error 5 and does not disturb the transfer.
            counters.inc('tftp.unknown_tid');
            socket.send(encodeTftp({ op: 'error', code: TftpError.UnknownTid, message: 'unknown transfer ID' }), rinfo.port, rinfo.address);
            return;
          }
          let packet: TftpPacket;
          try {
            packet = decodeTftp(msg);
          } catch (error) {
            if (!(error instanceof DecodeError)) throw error;
            counters.inc('malformed.tftp');
            return;
          }
          try {
            transfer.receive(packet);
          } catch (error) {
            // A bug must not outlive the packet: the transfer ends, and its failed event settles this promise.
            counters.inc('tftp.errors');
            log.error('tftp transfer failed', { client: ip, filename: request.filename, error: error as Error });
            transfer.abort('internal error');
          }
        });
        socket.on('error', (error) => log.warn('tftp transfer socket error', { client: ip, error }));
        transfer.start();
      });
    } finally {
      gate?.release();
      file?.close?.();
      release();
      this.finish(key);
    }
  }

  /** Transfer slots taken (transfers sending, including overflow slots); 0 when TFTP is idle. */
  get slotsInUse(): number {
    return this.slots.active;
  }

  private finish(key: string): void {
    const entry = this.active.get(key);
    if (!entry) return;
    this.active.delete(key);
    const held = (this.perClient.get(entry.ip) ?? 1) - 1;
    if (held > 0) this.perClient.set(entry.ip, held);
    else this.perClient.delete(entry.ip);
    closeQuietly(entry.socket);
  }

  /** Errors answering a request come from a fresh port, as the transfer would (RFC 1350 section 4). */
  private replyError(ip: Ipv4, port: number, code: number, message: string): void {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, this.opts.address, () => {
      socket.send(encodeTftp({ op: 'error', code, message }), port, ip, () => socket.close());
    });
    this.opts.counters.inc('tftp.out.error');
  }

  private emit(event: TftpEvent): void {
    const { log, counters } = this.opts;
    if (event.type === 'done') {
      counters.inc('tftp.done');
      log.info('tftp transfer done', { client: event.client, filename: event.filename, bytes: event.bytes, ms: event.ms, retransmits: event.retransmits });
    } else if (event.type === 'failed') {
      counters.inc(`tftp.failed.${event.reason}`);
      if (event.unansweredBytes) counters.inc('tftp.unanswered_bytes', event.unansweredBytes);
      log.info('tftp transfer ended', {
        client: event.client,
        filename: event.filename,
        reason: event.reason,
        detail: event.detail,
        retransmits: event.retransmits,
      });
    }
    try {
      this.opts.onEvent?.(event);
    } catch (error) {
      log.error('tftp event handler failed', { error: error as Error });
    }
  }
}

/** Closing twice (the transfer ended while the server stops) must not throw out of shutdown. */
function closeQuietly(socket: dgram.Socket | undefined): void {
  try {
    socket?.close();
  } catch {
    // already closed
  }
}
