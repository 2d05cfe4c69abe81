// A firmware TFTP client: the PXE tsize probe (RRQ with tsize 0, the OACK
// answered by ERROR 8), then the real RRQ with blksize (and windowsize for
// EDK2), lock-step or windowed ACKs, fixed firmware timeouts (no adaptive
// timer in ROM clients), and the PXE error the node would show when it gives up.
import type { Ipv4 } from '../net/addr.js';
import { TftpError, decodeTftp, encodeTftp, type TftpPacket } from '../tftp/codec.js';
import type { Diagnosis } from '../model/boot.js';
import type { NodeNet, UdpEndpoint, UdpFrom } from './node-net.js';
import type { TftpBehaviour } from './timings.js';
import type { TimerHandle, Timers } from '../util/timers.js';
import { exchange } from './exchange.js';

const TFTP_PORT = 69;

export type TftpOutcome =
  { ok: true; bytes: number; retransmits: number } | { ok: false; diagnosis: Diagnosis; detail: string; bytes: number; retransmits: number };

export interface TftpClientOptions {
  net: NodeNet;
  timers: Timers;
  behaviour: TftpBehaviour;
  server: Ipv4;
  file: string;
  onBytes?: (total: number) => void;
}

interface Reply {
  packet: TftpPacket;
  from: UdpFrom;
}

export async function tftpDownload(opts: TftpClientOptions): Promise<TftpOutcome> {
  const { behaviour } = opts;
  let retransmits = 0;
  if (behaviour.tsizeProbe) {
    const probeOptions = new Map<string, string>();
    for (const name of behaviour.probeOptions) probeOptions.set(name, String(name === 'blksize' ? behaviour.blksize : behaviour.windowsize));
    probeOptions.set('tsize', '0');
    const probe = await openTransfer(opts, probeOptions);
    retransmits += probe.retransmits;
    if (!probe.reply) return await openFailure(opts, 0, retransmits);
    const { packet, from } = probe.reply;
    if (packet.op === 'error') {
      probe.udp.close();
      return {
        ok: false,
        diagnosis: 'tftp_open_timeout',
        detail: `PXE-T0${packet.code}: server refused ${opts.file}: ${packet.message}`,
        bytes: 0,
        retransmits,
      };
    }
    // The ROM only wanted the size: end the transfer (RFC 2347 error 8) and open the real one.
    probe.udp.send(encodeTftp({ op: 'error', code: TftpError.OptionRefused, message: 'User aborted the transfer' }), from.port, from.address);
    probe.udp.close();
  }
  const options = new Map([['blksize', String(behaviour.blksize)]]);
  if (behaviour.windowsize > 1) options.set('windowsize', String(behaviour.windowsize));
  if (behaviour.tsizeInTransfer) options.set('tsize', '0');
  const result = await receiveFile(opts, options);
  return { ...result, retransmits: result.retransmits + retransmits };
}

/** Sends RRQ on a fresh port until the first OACK/DATA/ERROR arrives from the server. */
async function openTransfer(opts: TftpClientOptions, options: Map<string, string>): Promise<{ udp: UdpEndpoint; reply?: Reply; retransmits: number }> {
  const udp = await opts.net.openUdp(0);
  const rrq = encodeTftp({ op: 'rrq', filename: opts.file, mode: 'octet', options });
  let sends = 0;
  const reply = await exchange<Reply>({
    timers: opts.timers,
    schedule: Array(opts.behaviour.tries).fill(opts.behaviour.timeout),
    send: () => {
      sends++;
      udp.send(rrq, TFTP_PORT, opts.server);
    },
    subscribe: (on) => subscribe(udp, opts.server, on),
    accept: (r) => r.packet.op === 'oack' || r.packet.op === 'data' || r.packet.op === 'error',
  });
  if (!reply) udp.close();
  return { udp, reply, retransmits: Math.max(0, sends - 1) };
}

async function openFailure(opts: TftpClientOptions, bytes: number, retransmits: number): Promise<TftpOutcome> {
  const arp = await opts.net.arpUnresolved(opts.server).catch(() => false);
  if (arp) return { ok: false, diagnosis: 'arp_timeout', detail: `PXE-E11: ARP for ${opts.server} unanswered`, bytes, retransmits };
  const total = opts.behaviour.timeout * opts.behaviour.tries;
  return { ok: false, diagnosis: 'tftp_open_timeout', detail: `PXE-E32: no answer to RRQ ${opts.file} from ${opts.server} in ${total} s`, bytes, retransmits };
}

function receiveFile(opts: TftpClientOptions, options: Map<string, string>): Promise<TftpOutcome> {
  return new Promise((resolve) => {
    const { timers, behaviour } = opts;
    let udp: UdpEndpoint | undefined;
    let peer: UdpFrom | undefined;
    let blksize = 512;
    let windowsize = 1;
    let expected = 1; // next block wanted, counting past 65535
    let acked = 0;
    let bytes = 0;
    let silentTimeouts = 0;
    let retransmits = 0;
    let timer: TimerHandle;
    let done = false;
    let unsubscribe = (): void => {};
    const rrq = encodeTftp({ op: 'rrq', filename: opts.file, mode: 'octet', options });

    const finish = (outcome: TftpOutcome | Promise<TftpOutcome>): void => {
      if (done) return;
      done = true;
      timers.clearTimer(timer);
      unsubscribe();
      udp?.close();
      void Promise.resolve(outcome).then(resolve);
    };
    const sendAck = (block: number): void => {
      acked = block;
      if (peer) safeSend(udp!, encodeTftp({ op: 'ack', block: block & 0xffff }), peer);
    };
    const arm = (): void => {
      timers.clearTimer(timer);
      timer = timers.setTimer(behaviour.timeout * 1000, onTimeout);
    };
    const onTimeout = (): void => {
      silentTimeouts++;
      if (silentTimeouts >= behaviour.tries) {
        if (!peer) return finish(openFailure(opts, bytes, retransmits));
        const detail = `PXE-E35: ${opts.file} stalled after block ${expected - 1} (${bytes} bytes), ${behaviour.tries} timeouts of ${behaviour.timeout} s`;
        return finish({ ok: false, diagnosis: 'tftp_read_timeout', detail, bytes, retransmits });
      }
      retransmits++;
      // Nothing yet: resend the RRQ; otherwise re-ACK the last block in order, which restarts the window.
      if (!peer) safeSend(udp!, rrq, { address: opts.server, port: TFTP_PORT });
      else sendAck(expected - 1);
      arm();
    };
    const onPacket = (reply: Reply): void => {
      if (done) return;
      if (peer && reply.from.port !== peer.port) return; // another TID: not ours (RFC 1350 4)
      const { packet } = reply;
      if (packet.op === 'error') {
        if (peer || packet.code !== TftpError.OptionRefused) {
          return finish({
            ok: false,
            diagnosis: 'tftp_open_timeout',
            detail: `PXE-T0${packet.code}: server error "${packet.message}" after ${bytes} bytes`,
            bytes,
            retransmits,
          });
        }
        return;
      }
      if (packet.op === 'oack') {
        if (peer) return; // a repeated OACK: our ACK 0 was lost, the next timeout re-sends it
        peer = reply.from;
        blksize = Number(packet.options.get('blksize') ?? 512);
        windowsize = Number(packet.options.get('windowsize') ?? 1);
        if (!(blksize >= 8 && blksize <= 65464) || !(windowsize >= 1 && windowsize <= 65535)) {
          safeSend(udp!, encodeTftp({ op: 'error', code: TftpError.OptionRefused, message: 'bad option value' }), peer);
          return finish({
            ok: false,
            diagnosis: 'tftp_client_error',
            detail: `PXE-E3C: OACK with blksize ${blksize} windowsize ${windowsize}`,
            bytes,
            retransmits,
          });
        }
        silentTimeouts = 0;
        sendAck(0);
        arm();
        return;
      }
      if (packet.op !== 'data') return;
      if (!peer) peer = reply.from; // a server that ignored every option starts with DATA 1
      if (packet.block !== (expected & 0xffff)) return; // out of order or duplicate: wait, the timeout re-ACKs
      bytes += packet.data.length;
      opts.onBytes?.(bytes);
      silentTimeouts = 0;
      const last = packet.data.length < blksize;
      if (last) {
        sendAck(expected);
        return finish({ ok: true, bytes, retransmits });
      }
      if (expected - acked >= windowsize) sendAck(expected);
      expected++;
      arm();
    };

    void opts.net.openUdp(0).then((endpoint) => {
      udp = endpoint;
      unsubscribe = subscribe(endpoint, opts.server, onPacket);
      safeSend(endpoint, rrq, { address: opts.server, port: TFTP_PORT });
      arm();
    });
  });
}

function subscribe(udp: UdpEndpoint, server: Ipv4, on: (reply: Reply) => void): () => void {
  return udp.onMessage((payload, from) => {
    if (from.address !== server) return;
    let packet: TftpPacket;
    try {
      packet = decodeTftp(payload);
    } catch {
      return; // malformed: firmware drops it and waits
    }
    on({ packet, from });
  });
}

function safeSend(udp: UdpEndpoint, payload: Buffer, to: UdpFrom): void {
  try {
    udp.send(payload, to.port, to.address);
  } catch {
    // a send error is a lost packet; the timer retries
  }
}
