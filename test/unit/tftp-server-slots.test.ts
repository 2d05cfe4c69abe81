// The TFTP server's transfer slots and file descriptors on real loopback sockets: netascii
// RRQs for large files never stall the event loop (the conversion streams), and every way
// a request ends (never ACKed, a file that changes underneath, a refusal, a file over
// 4 GiB) gives its slot and its fd back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TftpServer } from '../../firmware/src/tftp/server.js';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

function udp(): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

/** Every packet a client socket receives, with the sender's port. */
function collect(socket: Socket): { packets: { packet: TftpPacket; port: number }[] } {
  const box = { packets: [] as { packet: TftpPacket; port: number }[] };
  socket.on('message', (msg, rinfo) => box.packets.push({ packet: decodeTftp(msg), port: rinfo.port }));
  return box;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const openFds = () => readdirSync('/proc/self/fd').length;

/** The longest gap between ticks of a 10 ms timer while it runs: how long the event loop was blocked. */
function stallMeter(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}

describe('TFTP server: slots and fds under netascii requests for large files', () => {
  let work: string;
  let tftp: TftpServer;
  let port: number;
  const counters = new Counters();

  const sparse = (name: string, size: number, head = 'menu\nlabel linux\n') => {
    const path = join(work, name);
    const fd = openSync(path, 'w');
    writeSync(fd, Buffer.from(head), 0, head.length, 0);
    closeSync(fd);
    truncateSync(path, size);
    return path;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rb-tftp-slots-'));
    sparse('big.cfg', 300 * 1000 * 1000);
    sparse('huge.cfg', 5 * 1024 ** 3);
    mkdirSync(join(work, 'adir'));
    const probe = await udp();
    port = probe.address().port;
    probe.close();
    tftp = new TftpServer({
      root: work,
      address: '127.0.0.1',
      port,
      mtu: 1500,
      maxTransfers: 8,
      maxPerClient: 16,
      maxRateMbit: 1000,
      transferRateMbit: 1000,
      log: silentLogger,
      counters,
      // Silent clients are given up within about a second.
      limits: { initialRtoMs: 100, minRtoMs: 50, maxRtoMs: 200 },
    });
    await tftp.start();
  });
  afterAll(async () => {
    await tftp.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('8 netascii RRQs for a 300 MB file (never ACKed): no event-loop stall, slots back to 0, fds closed', async () => {
    const fdsBefore = openFds();
    const clients = await Promise.all(Array.from({ length: 8 }, () => udp()));
    const boxes = clients.map(collect);
    try {
      const meter = stallMeter();
      for (const client of clients) client.send(encodeTftp({ op: 'rrq', filename: 'big.cfg', mode: 'netascii', options: new Map() }), port, '127.0.0.1');
      await until('DATA 1 for every client', () => boxes.every((b) => b.packets.some((p) => p.packet.op === 'data')));
      expect(tftp.slotsInUse).toBe(8);
      const stall = meter.stop();
      // Converting the whole file first blocked the loop for seconds per request.
      expect(stall).toBeLessThan(1000);
      const first = boxes[0].packets.find((p) => p.packet.op === 'data')!.packet;
      expect(first.op === 'data' && first.data.subarray(0, 19).toString('latin1')).toBe('menu\r\nlabel linux\r\n');

      // Unproven peers: block 1, a few resends, then ERROR and the slot is free.
      await until('every transfer given up', () => boxes.every((b) => b.packets.some((p) => p.packet.op === 'error')));
      await until('slots back to 0', () => tftp.slotsInUse === 0 && tftp.activeCount === 0);
      for (const box of boxes) {
        const data = box.packets.filter((p) => p.packet.op === 'data');
        expect(data.every((p) => p.packet.op === 'data' && p.packet.block === 1)).toBe(true);
        expect(data.length).toBeLessThanOrEqual(5);
      }
    } finally {
      for (const client of clients) client.close();
    }
    await until('fds closed', () => openFds() <= fdsBefore, 5000);
  });

  it('a netascii RRQ for a file over 4 GiB is served from a stream; its slot and fd come back', async () => {
    const fdsBefore = openFds();
    const client = await udp();
    const box = collect(client);
    try {
      client.send(encodeTftp({ op: 'rrq', filename: 'huge.cfg', mode: 'netascii', options: new Map() }), port, '127.0.0.1');
      await until('DATA 1', () => box.packets.some((p) => p.packet.op === 'data'));
      const { packet, port: tid } = box.packets.find((p) => p.packet.op === 'data')!;
      expect(packet).toMatchObject({ op: 'data', block: 1 });
      client.send(encodeTftp({ op: 'ack', block: 1 }), tid, '127.0.0.1');
      await until('DATA 2', () => box.packets.some((p) => p.packet.op === 'data' && p.packet.block === 2));
      client.send(encodeTftp({ op: 'error', code: 0, message: 'enough' }), tid, '127.0.0.1');
      await until('slots back to 0', () => tftp.slotsInUse === 0 && tftp.activeCount === 0);
    } finally {
      client.close();
    }
    await until('fds closed', () => openFds() <= fdsBefore, 5000);
  });

  it('a file that shrinks during a netascii transfer ends it with ERROR; slot and fd come back', async () => {
    const path = sparse('shrinks.cfg', 40 * 1024 * 1024); // file-backed (over the cache's 16 MiB)
    const fdsBefore = openFds();
    const client = await udp();
    const box = collect(client);
    try {
      client.send(encodeTftp({ op: 'rrq', filename: 'shrinks.cfg', mode: 'netascii', options: new Map() }), port, '127.0.0.1');
      await until('DATA 1', () => box.packets.some((p) => p.packet.op === 'data'));
      const tid = box.packets[0].port;
      truncateSync(path, 1000);
      // ACK lock-step until the stream reads past its first chunk and finds the file shorter.
      for (let block = 1; block < 400 && !box.packets.some((p) => p.packet.op === 'error'); block++) {
        await until(`DATA ${block}`, () => box.packets.some((p) => (p.packet.op === 'data' && p.packet.block === block) || p.packet.op === 'error'));
        client.send(encodeTftp({ op: 'ack', block }), tid, '127.0.0.1');
      }
      await until('ERROR', () => box.packets.some((p) => p.packet.op === 'error'));
      expect(box.packets.find((p) => p.packet.op === 'error')!.packet).toMatchObject({ op: 'error', message: 'read error' });
      await until('slots back to 0', () => tftp.slotsInUse === 0 && tftp.activeCount === 0);
    } finally {
      client.close();
    }
    await until('fds closed', () => openFds() <= fdsBefore, 5000);
  });

  it('refusals after the slot is taken (a directory, a missing file) give it back', async () => {
    const clients = [await udp(), await udp()];
    const boxes = clients.map(collect);
    try {
      const names = ['adir', 'missing.cfg'];
      clients.forEach((client, i) => client.send(encodeTftp({ op: 'rrq', filename: names[i], mode: 'netascii', options: new Map() }), port, '127.0.0.1'));
      await until('two ERRORs', () => boxes.every((b) => b.packets.some((p) => p.packet.op === 'error')));
      await until('slots back to 0', () => tftp.slotsInUse === 0 && tftp.activeCount === 0);
    } finally {
      for (const client of clients) client.close();
    }
  });
});
