// DHCP message codec: captured messages from real clients and dnsmasq, the
// hand-written PXE/iPXE DISCOVERs, the encoder's layout rules, and malformed input.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DecodeError } from '../../firmware/src/net/decode-error.js';
import { decodeUdpFrame, encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { ETHERTYPE_IPV4, decodeEthernet } from '../../firmware/src/net/ethernet.js';
import { macToBytes } from '../../firmware/src/net/addr.js';
import { BOOTP_MIN_LENGTH, decodeDhcp, dhcpMessageLimit, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage, type DhcpOptions } from '../../firmware/src/dhcp/message.js';
import { readPcapFile } from '../helpers/pcap.js';
import { ipxeDiscover, pxeBiosDiscover, IPXE_MAC, PXE_BIOS_MAC } from '../fixtures/dhcp/firmware.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/dhcp/', import.meta.url));
const CAPTURES = ['dhclient', 'udhcpc', 'udhcpc-pxe', 'perfdhcp'] as const;

interface CapturedMessage {
  name: string;
  payload: Buffer;
  msg: DhcpMessage;
}

/** Every DHCP message in the captures, decoded through Ethernet/IPv4/UDP (checksums verified). */
function capturedMessages(name: (typeof CAPTURES)[number]): CapturedMessage[] {
  return readPcapFile(`${FIXTURES}${name}.pcap`)
    .filter((frame) => decodeEthernet(frame).ethertype === ETHERTYPE_IPV4)
    .map((frame, index) => {
      const { udp } = decodeUdpFrame(frame);
      return { name: `${name}#${index}`, payload: Buffer.from(udp.payload), msg: decodeDhcp(udp.payload) };
    });
}
const captured = Object.fromEntries(CAPTURES.map((name) => [name, capturedMessages(name)])) as Record<(typeof CAPTURES)[number], CapturedMessage[]>;
const allCaptured = CAPTURES.flatMap((name) => captured[name]);
const realPayloads = [
  ...allCaptured.map(({ name, payload }) => ({ name, payload })),
  { name: 'pxe-bios', payload: pxeBiosDiscover },
  { name: 'ipxe', payload: ipxeDiscover },
];

const typeOf = (msg: DhcpMessage): number | undefined => msg.options.get(Opt.MessageType)?.[0];

function expectDecodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`expected a DecodeError, got ${String(error)}`, { cause: error });
    expect(error.layer).toBe('dhcp');
    return error;
  }
  throw new Error('expected a DecodeError, but decoding succeeded');
}

function baseMessage(options: [number, Buffer][] = [[Opt.MessageType, Buffer.from([MessageType.Discover])]]): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes('52:54:00:aa:bb:cc').copy(chaddr);
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xdeadbeef,
    secs: 3,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map(options),
  };
}

/** A raw message: header from baseMessage, then cookie + `options`; sname/file replaced when given. */
function rawMessage(parts: { options: string; sname?: string; file?: string; cookie?: string }): Buffer {
  const header = encodeDhcp(baseMessage()).subarray(0, 236);
  const out = Buffer.concat([header, Buffer.from(parts.cookie ?? '63825363', 'hex'), Buffer.from(parts.options.replace(/\s+/g, ''), 'hex')]);
  if (parts.sname !== undefined) {
    out.fill(0, 44, 108);
    Buffer.from(parts.sname.replace(/\s+/g, ''), 'hex').copy(out, 44);
  }
  if (parts.file !== undefined) {
    out.fill(0, 108, 236);
    Buffer.from(parts.file.replace(/\s+/g, ''), 'hex').copy(out, 108);
  }
  return out;
}

/** `length` bytes of 0x61 as consecutive instances of `code` (RFC 3396), in hex. */
function encapsulate(code: number, length: number): string {
  let out = '';
  for (let left = length; left > 0; left -= 255) {
    const chunk = Math.min(255, left);
    out += Buffer.concat([Buffer.from([code, chunk]), Buffer.alloc(chunk, 0x61)]).toString('hex');
  }
  return out;
}

/** Offset just past the End option of the options field, walked independently of the codec. */
function endOfOptions(payload: Buffer): number {
  let i = 240;
  while (payload[i] !== 255) i = payload[i] === 0 ? i + 1 : i + 2 + payload[i + 1];
  return i + 1;
}

describe('captured messages', () => {
  it('decode through Ethernet/IPv4/UDP/DHCP and re-encode to an equal message', () => {
    expect(allCaptured.length).toBeGreaterThanOrEqual(20);
    for (const { name, msg } of allCaptured) {
      const wire = encodeDhcp(msg, { maxSize: 1500 });
      expect(wire.length, name).toBeGreaterThanOrEqual(BOOTP_MIN_LENGTH);
      expect(decodeDhcp(wire), name).toEqual(msg);
      // And with the default 576-byte limit: these all fit without overload.
      expect(decodeDhcp(encodeDhcp(msg)), name).toEqual(msg);
    }
  });

  it('re-encode client messages byte for byte (same layout rules as dhclient/udhcpc)', () => {
    for (const { name, payload, msg } of [...captured.dhclient, ...captured.udhcpc].filter((m) => m.msg.op === 1)) {
      expect(encodeDhcp(msg).toString('hex'), name).toBe(payload.toString('hex'));
    }
  });

  it('dhclient: a full DORA with the fields a real exchange carries', () => {
    const msgs = captured.dhclient.map((m) => m.msg);
    expect(msgs.map(typeOf)).toEqual([MessageType.Discover, MessageType.Offer, MessageType.Request, MessageType.Ack]);
    expect(new Set(msgs.map((m) => m.xid)).size).toBe(1);
    const [discover, offer, request, ack] = msgs as [DhcpMessage, DhcpMessage, DhcpMessage, DhcpMessage];
    expect(discover.op).toBe(1);
    expect(discover.chaddr.subarray(0, 6)).toEqual(macToBytes('52:54:00:77:00:01'));
    expect(discover.options.get(Opt.HostName)!.toString()).toBe('rackboot-capture');
    expect(offer).toMatchObject({ op: 2, yiaddr: '10.77.0.100', siaddr: '10.77.0.1' });
    expect(request.options.get(Opt.RequestedIp)).toEqual(Buffer.from([10, 77, 0, 100]));
    expect(ack.options.get(Opt.LeaseTime)!.readUInt32BE(0)).toBe(3600);
  });

  it('udhcpc: dnsmasq replies carry the boot file in the header', () => {
    const replies = captured.udhcpc.map((m) => m.msg).filter((m) => m.op === 2);
    expect(replies.length).toBe(2);
    for (const reply of replies) expect(reply.file).toBe('boot/udhcpc.kpxe');
    expect(captured.udhcpc[0].msg.options.get(Opt.MaxMessageSize)!.readUInt16BE(0)).toBe(576);
  });

  it('udhcpc-pxe: PXE options in the request, PXE vendor options (43) in the replies', () => {
    const [discover, offer] = captured['udhcpc-pxe'].map((m) => m.msg) as [DhcpMessage, DhcpMessage];
    expect(discover.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(discover.options.get(Opt.ClientArch)).toEqual(Buffer.from([0, 0]));
    expect(discover.options.get(Opt.ClientNdi)).toEqual(Buffer.from([1, 2, 1]));
    expect(discover.options.get(Opt.ClientUuid)!.length).toBe(17);
    expect(offer.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient');
    const pxe = offer.options.get(Opt.VendorSpecific)!;
    expect(pxe[0]).toBe(6); // discovery control first, as dnsmasq writes it
    expect(pxe.at(-1)).toBe(255); // and the PXE End sub-option last
  });

  it('perfdhcp: relayed messages (giaddr, hops) and the server answers to the relay', () => {
    const msgs = captured.perfdhcp.map((m) => m.msg);
    expect(msgs.length).toBeGreaterThanOrEqual(8);
    for (const msg of msgs) expect(msg).toMatchObject({ giaddr: '10.77.0.2', hops: 1 });
    expect(msgs.filter((m) => typeOf(m) === MessageType.Ack).length).toBeGreaterThanOrEqual(1);
  });
});

describe('firmware DISCOVERs (hand-written fixtures)', () => {
  it('decode a BIOS PXE ROM DISCOVER', () => {
    const msg = decodeDhcp(pxeBiosDiscover);
    expect(pxeBiosDiscover.length).toBe(548);
    expect(msg).toMatchObject({ op: 1, htype: 1, hlen: 6, secs: 4, flags: 0x8000, xid: 0x1e2f3a4b });
    expect(msg.chaddr.subarray(0, 6)).toEqual(macToBytes(PXE_BIOS_MAC));
    expect([...msg.options.keys()]).toEqual([53, 57, 55, 97, 94, 93, 60]);
    expect(msg.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient:Arch:00000:UNDI:002001');
  });

  it('decode an iPXE DISCOVER with 175, a bare "iPXE" user class and no padding', () => {
    const msg = decodeDhcp(ipxeDiscover);
    expect(ipxeDiscover.length).toBeLessThan(BOOTP_MIN_LENGTH + 150);
    expect(msg).toMatchObject({ op: 1, secs: 4, flags: 0 });
    expect(msg.chaddr.subarray(0, 6)).toEqual(macToBytes(IPXE_MAC));
    expect([...msg.options.keys()]).toEqual([53, 57, 93, 94, 60, 77, 55, 175, 61, 97]);
    expect(msg.options.get(Opt.UserClass)!.toString()).toBe('iPXE');
    expect(msg.options.get(Opt.MaxMessageSize)!.readUInt16BE(0)).toBe(1472);
  });

  it('round-trip through a whole frame and the encoder', () => {
    for (const payload of [pxeBiosDiscover, ipxeDiscover]) {
      const frame = encodeUdpFrame({
        srcMac: '52:54:00:12:34:56',
        dstMac: 'ff:ff:ff:ff:ff:ff',
        srcIp: '0.0.0.0',
        dstIp: '255.255.255.255',
        srcPort: 68,
        dstPort: 67,
        payload,
      });
      const msg = decodeDhcp(decodeUdpFrame(frame).udp.payload);
      expect(decodeDhcp(encodeDhcp(msg))).toEqual(msg);
    }
  });
});

describe('encodeDhcp', () => {
  it('writes the header, cookie, options in Map order, End, and pads to 300 bytes', () => {
    const msg = baseMessage([
      [Opt.MessageType, Buffer.from([MessageType.Offer])],
      [200, Buffer.from('unknown')],
      [Opt.SubnetMask, Buffer.from([255, 255, 255, 0])],
    ]);
    msg.sname = 'boot-server';
    msg.file = 'undionly.kpxe';
    const wire = encodeDhcp(msg);
    expect(wire.length).toBe(300);
    expect(wire.subarray(0, 4)).toEqual(Buffer.from([1, 1, 6, 0]));
    expect(wire.readUInt32BE(4)).toBe(0xdeadbeef);
    expect(wire.subarray(44, 44 + 12)).toEqual(Buffer.from('boot-server\0'));
    expect(wire.subarray(108, 108 + 14)).toEqual(Buffer.from('undionly.kpxe\0'));
    expect(wire.subarray(236, 240)).toEqual(Buffer.from([99, 130, 83, 99]));
    expect(wire.subarray(240, 240 + 3 + 9 + 6 + 1).toString('hex')).toBe('350102' + 'c807' + Buffer.from('unknown').toString('hex') + '0104ffffff00' + 'ff');
    expect(wire.subarray(259).every((b) => b === 0)).toBe(true);
    const decoded = decodeDhcp(wire);
    expect(decoded).toEqual(msg);
    expect([...decoded.options.keys()]).toEqual([53, 200, 1]);
  });

  it('splits options longer than 255 bytes into consecutive instances (RFC 3396)', () => {
    const long = Buffer.alloc(600, 0x41);
    const wire = encodeDhcp(
      baseMessage([
        [Opt.MessageType, Buffer.from([1])],
        [Opt.DomainSearch, long],
      ]),
      { maxSize: 1500 },
    );
    expect(wire[243]).toBe(Opt.DomainSearch);
    expect(wire[244]).toBe(255);
    expect(wire[243 + 257]).toBe(Opt.DomainSearch);
    expect(wire[243 + 514]).toBe(Opt.DomainSearch);
    expect(wire[243 + 515]).toBe(90);
    expect(decodeDhcp(wire).options.get(Opt.DomainSearch)).toEqual(long);
  });

  it('writes 0-length options', () => {
    const msg = baseMessage([
      [Opt.MessageType, Buffer.from([1])],
      [80, Buffer.alloc(0)],
    ]);
    const wire = encodeDhcp(msg);
    expect(wire.subarray(243, 246)).toEqual(Buffer.from([80, 0, 255]));
    expect(decodeDhcp(wire).options.get(80)).toEqual(Buffer.alloc(0));
  });

  it('keeps to 548 bytes by default, overloading file then sname when they are empty', () => {
    expect(dhcpMessageLimit()).toBe(548);
    const options: [number, Buffer][] = [[Opt.MessageType, Buffer.from([MessageType.Offer])]];
    for (let code = 100; code < 110; code++) options.push([code, Buffer.alloc(40, code)]);
    const msg = baseMessage(options); // 3 + 10 * 42 = 423 bytes of options > 548 - 240 - 1
    const wire = encodeDhcp(msg);
    expect(wire.length).toBeLessThanOrEqual(548);
    const overload = wire.indexOf(Buffer.from([Opt.Overload, 1]), 240);
    expect(overload).toBeGreaterThan(240);
    expect([1, 3]).toContain(wire[overload + 2]);
    expect(wire[108]).not.toBe(0); // file holds options
    const decoded = decodeDhcp(wire);
    expect(decoded).toEqual(msg);
    expect([...decoded.options.keys()]).toEqual([...msg.options.keys()]);
  });

  it('uses sname when file is taken, and throws when nothing fits', () => {
    const options: [number, Buffer][] = [[Opt.MessageType, Buffer.from([MessageType.Offer])]];
    for (let code = 100; code < 107; code++) options.push([code, Buffer.alloc(40, code)]);
    options.push([107, Buffer.alloc(20, 7)]);
    const msg = baseMessage(options); // 3 + 7 * 42 + 22 = 319 > 307
    msg.file = 'snponly.efi';
    const wire = encodeDhcp(msg);
    expect(wire.subarray(108, 120)).toEqual(Buffer.from('snponly.efi\0'));
    expect(wire.indexOf(Buffer.from([Opt.Overload, 1, 2]), 240)).toBeGreaterThan(0);
    expect(decodeDhcp(wire)).toEqual(msg);

    msg.sname = 'taken';
    expect(() => encodeDhcp(msg)).toThrow(RangeError);
    const huge = baseMessage([
      [Opt.MessageType, Buffer.from([1])],
      [120, Buffer.alloc(1400)],
    ]);
    expect(() => encodeDhcp(huge, { maxSize: 1500 })).toThrow(RangeError);
  });

  it('respects the client maximum message size (option 57 value, an IP datagram size)', () => {
    expect(dhcpMessageLimit(1500)).toBe(1472);
    expect(dhcpMessageLimit(1000)).toBe(972);
    expect(dhcpMessageLimit(300)).toBe(548); // below the legal minimum of 576
    expect(dhcpMessageLimit(65535)).toBe(1472); // never more than one Ethernet frame
    const msg = baseMessage([
      [Opt.MessageType, Buffer.from([1])],
      [120, Buffer.alloc(700, 1)],
    ]);
    expect(() => encodeDhcp(msg)).toThrow(RangeError);
    const wire = encodeDhcp(msg, { maxSize: 1500 });
    expect(wire.length).toBeLessThanOrEqual(1472);
    expect(wire.indexOf(Buffer.from([Opt.Overload, 1]), 240)).toBe(-1);
    expect(decodeDhcp(wire)).toEqual(msg);
  });

  it('refuses what it cannot send faithfully', () => {
    const bad = (change: (msg: DhcpMessage) => void): void => {
      const msg = baseMessage();
      change(msg);
      expect(() => encodeDhcp(msg)).toThrow(RangeError);
    };
    bad((m) => m.options.set(Opt.Overload, Buffer.from([1])));
    bad((m) => m.options.set(Opt.Pad, Buffer.alloc(0)));
    bad((m) => m.options.set(Opt.End, Buffer.alloc(0)));
    bad((m) => (m.hlen = 17));
    bad((m) => (m.hlen = 8));
    bad((m) => (m.xid = 2 ** 32));
    bad((m) => (m.chaddr = Buffer.alloc(17)));
    bad((m) => (m.file = 'x'.repeat(128)));
    bad((m) => (m.sname = 'x'.repeat(64)));
    bad((m) => (m.file = 'boot\u2603.efi'));
    bad((m) => (m.ciaddr = '10.0.0.256'));
  });
});

describe('decodeDhcp', () => {
  it('reads overloaded file and sname after the options field, concatenating split options (RFC 3396)', () => {
    const wire = rawMessage({
      options: '350101 340103 0c03616263 ff', // overload 3, hostname "abc" ...
      file: '0c03646566 0f0478797a31 ff', // ... continued "def" in file; domain "xyz1"
      sname: '0c0167 0f0132 ff', // ... and "g" in sname; domain "2"
    });
    const msg = decodeDhcp(wire);
    expect(msg.file).toBe('');
    expect(msg.sname).toBe('');
    expect(msg.options.get(Opt.HostName)!.toString()).toBe('abcdefg');
    expect(msg.options.get(Opt.DomainName)!.toString()).toBe('xyz12');
    expect(msg.options.has(Opt.Overload)).toBe(false);
    expect([...msg.options.keys()]).toEqual([53, 12, 15]);
  });

  it('reads only the field the overload names, the other stays a string', () => {
    const wire = rawMessage({ options: '350101 340101 ff', file: '0c026869 ff', sname: Buffer.from('server-a').toString('hex') });
    const msg = decodeDhcp(wire);
    expect(msg.sname).toBe('server-a');
    expect(msg.file).toBe('');
    expect(msg.options.get(Opt.HostName)!.toString()).toBe('hi');
    const snameOnly = decodeDhcp(rawMessage({ options: '3401 02 350101 ff', sname: '0c026869', file: Buffer.from('pxelinux.0').toString('hex') }));
    expect(snameOnly.file).toBe('pxelinux.0');
    expect(snameOnly.options.get(Opt.HostName)!.toString()).toBe('hi'); // no End in sname: field end ends it
  });

  it('ignores an overload inside file/sname (no recursion, no loop)', () => {
    const msg = decodeDhcp(rawMessage({ options: '350101 340101 ff', file: '340103 0c0161 ff', sname: '0c01ff' }));
    expect(msg.options.get(Opt.HostName)!.toString()).toBe('a'); // sname was not read
    expect(msg.options.has(Opt.Overload)).toBe(false);
  });

  it('rejects garbage in overloaded fields, and overload values or lengths that are wrong', () => {
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 340103 ff', file: '41'.repeat(128), sname: '42'.repeat(64) })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 340101 ff', file: '0c' + 'ff'.repeat(127) })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 340100 ff' })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 340104 ff' })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 34020101 ff' })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 3400 ff' })));
    // 52 repeated: concatenated to two bytes -> malformed, even with equal values.
    expect(expectDecodeError(() => decodeDhcp(rawMessage({ options: '340101 350101 340101 ff' }))).reason).toMatch(/52/);
  });

  it('keeps unknown options in order, concatenates repeats, accepts pads and 0-length options', () => {
    const msg = decodeDhcp(rawMessage({ options: '00 00 f00101 350101 5000 e10102 f00102 00 ff 99 99 99' }));
    expect([...msg.options.entries()].map(([k, v]) => [k, v.toString('hex')])).toEqual([
      [240, '0102'],
      [53, '01'],
      [80, ''],
      [225, '02'],
    ]);
  });

  it('imposes no size limit of its own (oversize datagrams are bounded by the receive path)', () => {
    const big = baseMessage([
      [Opt.MessageType, Buffer.from([1])],
      [224, Buffer.alloc(3000, 0x61)],
    ]);
    const wire = rawMessage({ options: '350101' + encapsulate(224, 3000) + 'ff' });
    expect(wire.length).toBeGreaterThan(3000);
    const msg = decodeDhcp(wire);
    expect(msg.options.get(224)).toEqual(Buffer.alloc(3000, 0x61));
    expect(msg.options).toEqual(big.options);
    expect(() => encodeDhcp(big, { maxSize: 65535 })).toThrow(RangeError); // one frame at most
  });

  it('copies option values out of the packet', () => {
    const wire = rawMessage({ options: '350101 0c026869 ff' });
    const msg = decodeDhcp(wire);
    wire.fill(0x7a, 240);
    expect(msg.options.get(Opt.HostName)!.toString()).toBe('hi');
  });

  it('rejects options whose length runs past the end, a code without length, and a missing End', () => {
    expect(expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 0c10616263' }))).offset).toBe(244);
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 0c' })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101 0c026869' })));
    expectDecodeError(() => decodeDhcp(rawMessage({ options: '' })));
  });

  it('checks op, htype and hlen', () => {
    const wire = encodeDhcp(baseMessage());
    const mutate = (offset: number, value: number): Buffer => {
      const copy = Buffer.from(wire);
      copy[offset] = value;
      return copy;
    };
    expect(expectDecodeError(() => decodeDhcp(mutate(2, 255))).offset).toBe(2);
    expectDecodeError(() => decodeDhcp(mutate(2, 17)));
    expectDecodeError(() => decodeDhcp(mutate(2, 7))); // Ethernet with a 7-byte address
    expectDecodeError(() => decodeDhcp(mutate(0, 3)));
    expectDecodeError(() => decodeDhcp(mutate(0, 0)));
    // Other hardware types may use other lengths (RFC 4390 InfiniBand uses 0).
    const infiniband = Buffer.from(wire);
    infiniband[1] = 32;
    infiniband[2] = 0;
    expect(decodeDhcp(infiniband)).toMatchObject({ htype: 32, hlen: 0 });
  });

  it('treats a zero vendor area as BOOTP (empty options) and rejects bad or cut cookies', () => {
    const bootp = Buffer.from(encodeDhcp(baseMessage()));
    bootp.fill(0, 236);
    expect(decodeDhcp(bootp).options.size).toBe(0);
    expect(decodeDhcp(bootp)).toMatchObject({ op: 1, xid: 0xdeadbeef });
    expectDecodeError(() => decodeDhcp(bootp.subarray(0, 299)));
    for (const cookie of ['63825364', '01020304', 'ffffffff']) {
      expect(expectDecodeError(() => decodeDhcp(rawMessage({ options: '350101ff', cookie }))).reason).toMatch(/cookie/);
    }
    for (let length = 0; length < 240; length++) expectDecodeError(() => decodeDhcp(bootp.subarray(0, length)));
  });

  it('throws DecodeError at every truncation before End, and decodes the same message after it', () => {
    for (const { name, payload } of realPayloads) {
      const full = decodeDhcp(payload);
      const end = endOfOptions(payload);
      for (let length = 0; length < payload.length; length++) {
        const cut = payload.subarray(0, length);
        if (length < end) {
          try {
            decodeDhcp(cut);
            throw new Error(`${name} cut at ${length} decoded`);
          } catch (error) {
            expect(error, `${name} cut at ${length}`).toBeInstanceOf(DecodeError);
          }
        } else {
          expect(decodeDhcp(cut), `${name} cut at ${length}`).toEqual(full);
        }
      }
    }
  });

  it('survives thousands of random mutations of real messages: DecodeError or a message that re-encodes', () => {
    let seed = 0xd4c9;
    const random = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 0x100000000;
    };
    let decoded = 0;
    let rejected = 0;
    for (let round = 0; round < 4000; round++) {
      const { payload } = realPayloads[Math.floor(random() * realPayloads.length)];
      const mutated = Buffer.from(payload);
      const flips = 1 + Math.floor(random() * 6);
      for (let k = 0; k < flips; k++) {
        // Bias towards the option area, where the parsing happens.
        const at = random() < 0.7 ? 236 + Math.floor(random() * (mutated.length - 236)) : Math.floor(random() * mutated.length);
        mutated[at] = random() < 0.2 ? [0, 52, 255, 1, 2, 3][Math.floor(random() * 6)] : Math.floor(random() * 256);
      }
      const input = random() < 0.2 ? mutated.subarray(0, Math.floor(random() * mutated.length)) : mutated;
      let msg: DhcpMessage;
      try {
        msg = decodeDhcp(input);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        rejected++;
        continue;
      }
      decoded++;
      let wire: Buffer;
      try {
        wire = encodeDhcp(msg, { maxSize: 1500 });
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        continue;
      }
      expect(decodeDhcp(wire)).toEqual(msg);
    }
    expect(decoded).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

describe('options Map helpers used with the codec', () => {
  it('an empty options Map still produces a DHCP message with just End', () => {
    const msg = baseMessage([]);
    const wire = encodeDhcp(msg);
    expect(wire[240]).toBe(255);
    expect(decodeDhcp(wire).options).toEqual(new Map() as DhcpOptions);
  });
});
