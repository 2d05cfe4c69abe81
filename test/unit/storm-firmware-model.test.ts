// The storm's firmware timing model under a fake clock: when each kind of
// firmware sends, when it gives up, and which diagnosis it ends with.
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../helpers/fake-clock.js';
import { DhcpClient } from '../../firmware/src/storm/dhcp-client.js';
import { tftpDownload } from '../../firmware/src/storm/tftp-client.js';
import { FIRMWARE_PROFILES, IPXE_DHCP, ipxeSchedule } from '../../firmware/src/storm/timings.js';
import type { DhcpFrom, NodeNet, UdpEndpoint, UdpFrom } from '../../firmware/src/storm/node-net.js';
import { encodeDhcp, decodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { ipOption, messageType, pxeVendorOption, stringOption, u8Option } from '../../firmware/src/dhcp/options.js';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../firmware/src/tftp/codec.js';

const MAC = '02:72:62:00:00:01';
const SERVER = '10.0.0.1';

/** Runs `promise` to completion, firing fake timers only when nothing else can happen. */
async function settle<T>(clock: FakeClock, promise: Promise<T>): Promise<T> {
  let done = false;
  let value: T;
  void promise.then((v) => {
    done = true;
    value = v;
  });
  for (let i = 0; i < 10_000; i++) {
    for (let j = 0; j < 5; j++) await new Promise((r) => setImmediate(r));
    if (done) return value!;
    if (!clock.next()) throw new Error('nothing left to run and the promise is still pending');
  }
  throw new Error('did not settle');
}

class FakeUdp implements UdpEndpoint {
  readonly sent: Array<{ at: number; packet: Buffer; port: number; address: string }> = [];
  private handlers = new Set<(payload: Buffer, from: UdpFrom) => void>();
  closed = false;
  constructor(
    readonly port: number,
    private readonly clock: FakeClock,
    private readonly onSend?: (udp: FakeUdp, payload: Buffer, port: number, address: string) => void,
  ) {}
  send(payload: Buffer, port: number, address: string): void {
    this.sent.push({ at: this.clock.now, packet: payload, port, address });
    this.onSend?.(this, payload, port, address);
  }
  onMessage(handler: (payload: Buffer, from: UdpFrom) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  deliver(payload: Buffer, from: UdpFrom): void {
    for (const h of [...this.handlers]) h(payload, from);
  }
  close(): void {
    this.closed = true;
  }
}

class FakeNet implements NodeNet {
  readonly mac = MAC;
  readonly dhcpSent: Array<{ at: number; message: DhcpMessage }> = [];
  readonly udps: FakeUdp[] = [];
  configured: string | undefined;
  private handlers = new Set<(m: DhcpMessage, from: DhcpFrom) => void>();
  constructor(
    private readonly clock: FakeClock,
    private readonly dhcpServer: (net: FakeNet, m: DhcpMessage) => void = () => {},
    private readonly udpServer?: (udp: FakeUdp, payload: Buffer, port: number, address: string) => void,
  ) {}
  sendDhcp(message: DhcpMessage): void {
    const copy = decodeDhcp(encodeDhcp(message)); // what the wire would carry
    this.dhcpSent.push({ at: this.clock.now, message: copy });
    queueMicrotask(() => this.dhcpServer(this, copy));
  }
  onDhcp(handler: (m: DhcpMessage, from: DhcpFrom) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  reply(message: DhcpMessage, from = SERVER): void {
    const wire = decodeDhcp(encodeDhcp(message));
    for (const h of [...this.handlers]) h(wire, { ip: from, port: 67, mac: '02:00:00:00:00:01' });
  }
  configure(ip: string): Promise<void> {
    this.configured = ip;
    return Promise.resolve();
  }
  openUdp(port: number): Promise<UdpEndpoint> {
    const udp = new FakeUdp(port || 40000 + this.udps.length, this.clock, this.udpServer);
    this.udps.push(udp);
    return Promise.resolve(udp);
  }
  httpGet(): Promise<never> {
    return Promise.reject(new Error('not used'));
  }
  arpUnresolved(): Promise<boolean> {
    return Promise.resolve(false);
  }
  async close(): Promise<void> {}
}

function reply(
  to: DhcpMessage,
  type: MessageType,
  fields: { yiaddr?: string; file?: string; vendor?: string; server?: string; control?: number },
): DhcpMessage {
  const options = new Map<number, Buffer>([[Opt.MessageType, u8Option(type)]]);
  options.set(Opt.ServerId, ipOption(fields.server ?? SERVER));
  if (fields.yiaddr) options.set(Opt.SubnetMask, ipOption('255.255.255.0'));
  if (fields.vendor) options.set(Opt.VendorClass, stringOption(fields.vendor));
  if (fields.control !== undefined) options.set(Opt.VendorSpecific, pxeVendorOption({ discoveryControl: fields.control }));
  return { ...to, op: 2, yiaddr: fields.yiaddr ?? '0.0.0.0', siaddr: fields.server ?? SERVER, file: fields.file ?? '', options };
}

const seconds = (sent: Array<{ at: number }>) => sent.map((s) => s.at / 1000);

describe('timings', () => {
  it("iPXE's retry timer doubles from its minimum and fails past its maximum (src/net/retry.c)", () => {
    expect(ipxeSchedule(1, 10)).toEqual([1, 2, 4, 8]);
    expect(ipxeSchedule(0, 10)).toEqual([0.25, 0.5, 1, 2, 4, 8]);
    expect(FIRMWARE_PROFILES['bios-pxe'].dhcp.discover).toEqual([4, 8, 16, 32]);
    expect(FIRMWARE_PROFILES['uefi-pxe'].dhcp.proxyRequest).toEqual([1, 2, 3, 4]);
  });
});

describe('PXE DHCP', () => {
  it('sends DISCOVER at 0, 4, 12 and 28 s and gives up at 60 s with no_offer (PXE-E51)', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock);
    const client = new DhcpClient({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['bios-pxe'].dhcp });
    const outcome = await settle(clock, client.run());
    expect(seconds(net.dhcpSent)).toEqual([0, 4, 12, 28]);
    expect(clock.now).toBe(60_000);
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'no_offer', transmissions: 4 });
    const discover = net.dhcpSent[0].message;
    expect(messageType(discover.options)).toBe(MessageType.Discover);
    expect(discover.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(discover.options.get(Opt.ClientArch)).toEqual(Buffer.from([0, 0]));
    expect(discover.options.has(Opt.Ipxe)).toBe(false);
  });

  it('takes an offer with a boot file at once, then REQUEST/ACK, and reports the next server', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock, (n, m) => {
      const type = messageType(m.options);
      if (type === MessageType.Discover && clock.now >= 4000)
        n.reply(reply(m, MessageType.Offer, { yiaddr: '10.0.0.50', file: 'undionly.kpxe', vendor: 'PXEClient' }));
      if (type === MessageType.Request) n.reply(reply(m, MessageType.Ack, { yiaddr: '10.0.0.50', file: 'undionly.kpxe' }));
    });
    const outcome = await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['uefi-pxe'].dhcp }).run());
    expect(outcome).toMatchObject({ ok: true, lease: { ip: '10.0.0.50', prefix: 24, nextServer: SERVER, bootFile: 'undionly.kpxe', viaProxy: false } });
    expect(seconds(net.dhcpSent)).toEqual([0, 4, 4]); // first DISCOVER unanswered, second offered, REQUEST at once
    expect(net.configured).toBe('10.0.0.50');
  });

  it('with a proxy offer that asks for boot server discovery, REQUESTs on 4011 at 1, 2, 3, 4 s, then PXE-E55', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock, (n, m) => {
      const type = messageType(m.options);
      if (type === MessageType.Discover) {
        n.reply(reply(m, MessageType.Offer, { yiaddr: '10.0.0.60', server: '10.0.0.254' }), '10.0.0.254');
        n.reply(reply(m, MessageType.Offer, { vendor: 'PXEClient', control: 0 }));
      }
      if (type === MessageType.Request) n.reply(reply(m, MessageType.Ack, { yiaddr: '10.0.0.60', server: '10.0.0.254' }), '10.0.0.254');
    });
    const outcome = await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['bios-pxe'].dhcp }).run());
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'no_boot_filename' });
    expect(!outcome.ok && outcome.detail).toMatch(/PXE-E55/);
    const udp = net.udps[0];
    expect(udp.port).toBe(68);
    expect(udp.sent.map((s) => [s.at / 1000, s.port, s.address])).toEqual([
      [0, 4011, SERVER],
      [1, 4011, SERVER],
      [3, 4011, SERVER],
      [6, 4011, SERVER],
    ]);
    expect(clock.now).toBe(10_000);
    expect(decodeDhcp(udp.sent[0].packet).ciaddr).toBe('10.0.0.60');
    expect(udp.closed).toBe(true);
  });

  it('an address offer without boot information waits for proxyDHCP, then fails with no_boot_filename (PXE-E53)', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock, (n, m) => {
      if (messageType(m.options) === MessageType.Discover) n.reply(reply(m, MessageType.Offer, { yiaddr: '10.0.0.70' }));
    });
    const outcome = await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['bios-pxe'].dhcp }).run());
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'no_boot_filename' });
    expect(clock.now).toBe(4000); // the proxy wait, not the whole DISCOVER schedule
  });
});

describe('iPXE DHCP', () => {
  it('with an offer lacking PXEClient, keeps DISCOVERing until its 2 s ProxyDHCP wait is over at a timer expiry', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock, (n, m) => {
      const type = messageType(m.options);
      if (type === MessageType.Discover) n.reply(reply(m, MessageType.Offer, { yiaddr: '10.0.0.80', file: 'http://10.0.0.1/boot.ipxe' }));
      if (type === MessageType.Request) n.reply(reply(m, MessageType.Ack, { yiaddr: '10.0.0.80', file: 'http://10.0.0.1/boot.ipxe' }));
    });
    const outcome = await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: IPXE_DHCP }).run());
    expect(outcome).toMatchObject({ ok: true, lease: { ip: '10.0.0.80', bootFile: 'http://10.0.0.1/boot.ipxe' } });
    // What OVMF's chainloaded iPXE does on the wire: DISCOVER, DISCOVER, then REQUEST at the 3 s expiry.
    expect(net.dhcpSent.map((s) => [s.at / 1000, MessageType[messageType(s.message.options)!]])).toEqual([
      [0, 'Discover'],
      [1, 'Discover'],
      [3, 'Request'],
    ]);
  });

  it('requests at once when the offer says PXEClient (iPXE takes it as its ProxyDHCP offer too)', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock, (n, m) => {
      const type = messageType(m.options);
      if (type === MessageType.Discover) n.reply(reply(m, MessageType.Offer, { yiaddr: '10.0.0.81', file: 'x', vendor: 'PXEClient' }));
      if (type === MessageType.Request) n.reply(reply(m, MessageType.Ack, { yiaddr: '10.0.0.81', file: 'x' }));
    });
    await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: IPXE_DHCP }).run());
    expect(seconds(net.dhcpSent)).toEqual([0, 0]);
  });

  it('requests at once when the offer carries no-pxedhcp (175.176 = 1), as rackboot sends in full mode', async () => {
    const clock = new FakeClock();
    const noPxeDhcp = (m: DhcpMessage): DhcpMessage => {
      m.options.set(Opt.Ipxe, Buffer.from([0xb0, 1, 1]));
      return m;
    };
    const net = new FakeNet(clock, (n, m) => {
      const type = messageType(m.options);
      if (type === MessageType.Discover) n.reply(noPxeDhcp(reply(m, MessageType.Offer, { yiaddr: '10.0.0.82', file: 'http://10.0.0.1/boot.ipxe' })));
      if (type === MessageType.Request) n.reply(reply(m, MessageType.Ack, { yiaddr: '10.0.0.82', file: 'http://10.0.0.1/boot.ipxe' }));
    });
    await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: IPXE_DHCP }).run());
    expect(net.dhcpSent.map((s) => [s.at / 1000, MessageType[messageType(s.message.options)!]])).toEqual([
      [0, 'Discover'],
      [0, 'Request'],
    ]);
  });

  it('marks itself with option 175 and user class iPXE, sends DISCOVER at 0, 1, 3, 7 s and fails at 15 s', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock);
    const outcome = await settle(clock, new DhcpClient({ net, timers: clock.timers, behaviour: IPXE_DHCP }).run());
    expect(seconds(net.dhcpSent)).toEqual([0, 1, 3, 7]);
    expect(clock.now).toBe(15_000);
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'no_offer' });
    const discover = net.dhcpSent[0].message;
    expect(discover.options.has(Opt.Ipxe)).toBe(true);
    expect(discover.options.get(Opt.UserClass)!.toString()).toBe('iPXE');
  });
});

/** A scripted TFTP server: `blocks` DATA packets of `blksize` then stop (stall) or a short last block. */
function tftpServer(opts: { blocks: number; stallAfter?: number }) {
  const log: string[] = [];
  const handler = (udp: FakeUdp, payload: Buffer, port: number) => {
    const packet: TftpPacket = decodeTftp(payload);
    const from = { address: SERVER, port: 5000 + udpIndex(udp) };
    if (packet.op === 'rrq') {
      log.push(`rrq ${[...packet.options].map(([k, v]) => `${k}=${v}`).join(' ')} to ${port}`);
      const options = new Map(packet.options);
      if (options.has('tsize')) options.set('tsize', String(opts.blocks * 1456));
      queueMicrotask(() => udp.deliver(encodeTftp({ op: 'oack', options }), from));
    } else if (packet.op === 'error') {
      log.push(`error ${packet.code}`);
    } else if (packet.op === 'ack') {
      log.push(`ack ${packet.block}`);
      const next = packet.block + 1;
      if (opts.stallAfter !== undefined && next > opts.stallAfter) return;
      if (next > opts.blocks) return;
      const size = next === opts.blocks ? 100 : 1456;
      queueMicrotask(() => udp.deliver(encodeTftp({ op: 'data', block: next, data: Buffer.alloc(size) }), from));
    }
  };
  const udps: FakeUdp[] = [];
  const udpIndex = (udp: FakeUdp) => (udps.includes(udp) ? udps.indexOf(udp) : udps.push(udp) - 1);
  return { log, handler };
}

describe('PXE TFTP', () => {
  it('probes tsize, aborts the OACK with error 8, then reads the file with blksize', async () => {
    const clock = new FakeClock();
    const server = tftpServer({ blocks: 3 });
    const net = new FakeNet(clock, undefined, server.handler);
    const outcome = await settle(
      clock,
      tftpDownload({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['bios-pxe'].tftp, server: SERVER, file: 'undionly.kpxe' }),
    );
    expect(outcome).toEqual({ ok: true, bytes: 2 * 1456 + 100, retransmits: 0 });
    // The classic Intel ROM sequence: tsize alone, abort, then blksize alone.
    expect(server.log).toEqual(['rrq tsize=0 to 69', 'error 8', 'rrq blksize=1456 to 69', 'ack 0', 'ack 1', 'ack 2', 'ack 3']);
    expect(net.udps).toHaveLength(2); // a new port (TID) for the real transfer
  });

  it('re-ACKs every 4 s when data stops and fails with tftp_read_timeout after its 6 tries', async () => {
    const clock = new FakeClock();
    const server = tftpServer({ blocks: 10, stallAfter: 2 });
    const net = new FakeNet(clock, undefined, server.handler);
    const outcome = await settle(
      clock,
      tftpDownload({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['bios-pxe'].tftp, server: SERVER, file: 'undionly.kpxe' }),
    );
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'tftp_read_timeout', bytes: 2 * 1456, retransmits: 5 });
    expect(clock.now).toBe(24_000);
    expect(server.log.filter((l) => l === 'ack 2')).toHaveLength(6);
  });

  it('gives up on an unanswered RRQ after 6 tries 4 s apart with tftp_open_timeout (PXE-E32)', async () => {
    const clock = new FakeClock();
    const net = new FakeNet(clock);
    const outcome = await settle(
      clock,
      tftpDownload({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['uefi-pxe'].tftp, server: SERVER, file: 'snponly.efi' }),
    );
    expect(outcome).toMatchObject({ ok: false, diagnosis: 'tftp_open_timeout' });
    expect(seconds(net.udps[0].sent)).toEqual([0, 4, 8, 12, 16, 20]);
    expect(clock.now).toBe(24_000);
  });

  it('asks EDK2 windowsize 4 and ACKs once per window', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const blocks = 9;
    let udps = 0;
    const net = new FakeNet(clock, undefined, (udp, payload) => {
      const packet = decodeTftp(payload);
      const from = { address: SERVER, port: 6000 + udps };
      if (packet.op === 'rrq') {
        udps++;
        log.push(`rrq ${[...packet.options.keys()].join(',')}`);
        queueMicrotask(() => udp.deliver(encodeTftp({ op: 'oack', options: new Map(packet.options) }), { address: SERVER, port: 6000 + udps }));
      } else if (packet.op === 'ack') {
        log.push(`ack ${packet.block}`);
        for (let b = packet.block + 1; b <= Math.min(blocks, packet.block + 4); b++) {
          queueMicrotask(() => udp.deliver(encodeTftp({ op: 'data', block: b, data: Buffer.alloc(b === blocks ? 10 : 1468) }), from));
        }
      }
    });
    const outcome = await settle(
      clock,
      tftpDownload({ net, timers: clock.timers, behaviour: FIRMWARE_PROFILES['uefi-pxe'].tftp, server: SERVER, file: 'snponly.efi' }),
    );
    expect(outcome).toMatchObject({ ok: true, bytes: 8 * 1468 + 10 });
    // As OVMF does on the wire: the probe repeats blksize and windowsize, the transfer drops tsize.
    expect(log).toEqual(['rrq blksize,windowsize,tsize', 'rrq blksize,windowsize', 'ack 0', 'ack 4', 'ack 8', 'ack 9']);
  });
});
