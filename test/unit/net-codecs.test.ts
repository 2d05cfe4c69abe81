// Ethernet / IPv4 / UDP / ARP codecs and checksums, against hand-built packets
// and frames captured from real clients (test/fixtures/capture.sh).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DecodeError } from '../../firmware/src/net/decode-error.js';
import { internetChecksum, onesComplementSum, pseudoHeaderSum, udpChecksum } from '../../firmware/src/net/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, decodeEthernet, encodeEthernet, padEthernetFrame } from '../../firmware/src/net/ethernet.js';
import { IP_FLAG_DF, IP_FLAG_MF, decodeIpv4, encodeIpv4, isFragment } from '../../firmware/src/net/ipv4.js';
import { decodeUdp, encodeUdp } from '../../firmware/src/net/udp.js';
import { arpAnnouncement, arpProbe, arpReply, decodeArp, decodeArpFrame, encodeArp, encodeArpFrame, type ArpPacket } from '../../firmware/src/net/arp.js';
import { decodeUdpFrame, encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { readPcap, readPcapFile, readPcapRecords } from '../helpers/pcap.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/dhcp/', import.meta.url));
const CAPTURES = ['dhclient', 'udhcpc', 'udhcpc-pxe', 'perfdhcp'] as const;
const captured = Object.fromEntries(CAPTURES.map((name) => [name, readPcapFile(`${FIXTURES}${name}.pcap`)])) as Record<(typeof CAPTURES)[number], Buffer[]>;
const allFrames = CAPTURES.flatMap((name) => captured[name].map((frame, index) => ({ name: `${name}#${index}`, frame })));
const ipFrames = allFrames.filter(({ frame }) => decodeEthernet(frame).ethertype === ETHERTYPE_IPV4);
const arpFrames = allFrames.filter(({ frame }) => decodeEthernet(frame).ethertype === ETHERTYPE_ARP);

function expectDecodeError(fn: () => unknown, layer?: string): DecodeError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`expected a DecodeError, got ${String(error)}`, { cause: error });
    if (layer !== undefined) expect(error.layer).toBe(layer);
    return error;
  }
  throw new Error('expected a DecodeError, but decoding succeeded');
}

describe('pcap fixtures', () => {
  it('holds Ethernet frames from every client, IPv4/UDP and ARP', () => {
    for (const name of CAPTURES) expect(captured[name].length).toBeGreaterThanOrEqual(4);
    expect(ipFrames.length).toBeGreaterThanOrEqual(20);
    expect(arpFrames.length).toBeGreaterThanOrEqual(1);
  });

  it('reads both byte orders and rejects what is not a classic Ethernet pcap', () => {
    const file = readFileSync(`${FIXTURES}dhclient.pcap`);
    const records = readPcapRecords(file);
    expect(records.linkType).toBe(1);
    expect(records.frames.map((f) => f.data)).toEqual(readPcap(file));
    expect(records.frames[0].originalLength).toBe(records.frames[0].data.length);
    expect(records.frames[0].timestamp).toBeGreaterThan(1.6e9);
    // The same capture written big-endian.
    const swapped = Buffer.from(file);
    for (const offset of [0, 8, 12, 16, 20]) swapped.writeUInt32BE(file.readUInt32LE(offset), offset);
    swapped.writeUInt16BE(file.readUInt16LE(4), 4);
    swapped.writeUInt16BE(file.readUInt16LE(6), 6);
    let at = 24;
    for (const frame of records.frames) {
      for (let k = 0; k < 16; k += 4) swapped.writeUInt32BE(file.readUInt32LE(at + k), at + k);
      at += 16 + frame.data.length;
    }
    expect(readPcap(swapped)).toEqual(readPcap(file));
    expectDecodeError(() => readPcap(Buffer.alloc(10)), 'pcap');
    expectDecodeError(() => readPcap(Buffer.alloc(24, 0x55)), 'pcap');
    expectDecodeError(() => readPcap(file.subarray(0, file.length - 1)), 'pcap');
    const raw = Buffer.from(file);
    raw.writeUInt32LE(101, 20); // LINKTYPE_RAW
    expectDecodeError(() => readPcap(raw), 'pcap');
  });
});

describe('checksum (RFC 1071)', () => {
  it('matches the worked example of RFC 1071 section 3', () => {
    const data = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesComplementSum(data)).toBe(0xddf2);
    expect(internetChecksum(data)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    expect(onesComplementSum(Buffer.from([0x12, 0x34, 0x56]))).toBe(0x1234 + 0x5600);
  });

  it('chains partial sums and is 0 over data that includes its checksum', () => {
    const a = Buffer.from('rackboot pxe', 'ascii');
    const b = Buffer.from([1, 2, 3, 4, 250, 251]);
    expect(internetChecksum(b, onesComplementSum(a))).toBe(internetChecksum(Buffer.concat([a, b])));
    const withSum = Buffer.concat([a, b, Buffer.alloc(2)]);
    withSum.writeUInt16BE(internetChecksum(Buffer.concat([a, b])), a.length + b.length);
    expect(internetChecksum(withSum)).toBe(0);
  });

  it('folds carries (a buffer of 0xff bytes sums to 0xffff)', () => {
    expect(onesComplementSum(Buffer.alloc(4096, 0xff))).toBe(0xffff);
    expect(internetChecksum(Buffer.alloc(0))).toBe(0xffff);
  });

  it('sums the pseudo header from addresses, protocol and length', () => {
    expect(pseudoHeaderSum('0.0.0.0', '255.255.255.255', 17, 308)).toBe(onesComplementSum(Buffer.from([0, 0, 0, 0, 255, 255, 255, 255, 0, 17, 0x01, 0x34])));
  });

  it('verifies the UDP checksum of every captured datagram', () => {
    for (const { name, frame } of ipFrames) {
      const ip = decodeIpv4(decodeEthernet(frame).payload);
      const segment = ip.payload.subarray(0, ip.payload.readUInt16BE(4));
      expect(segment.readUInt16BE(6), name).not.toBe(0); // every client here sent a checksum
      expect(udpChecksum(ip.src, ip.dst, segment), name).toBe(0);
    }
  });
});

describe('ethernet', () => {
  it('round-trips an untagged frame', () => {
    const frame = { dst: 'ff:ff:ff:ff:ff:ff', src: '52:54:00:12:34:56', ethertype: ETHERTYPE_IPV4, payload: Buffer.from('hello') };
    const wire = encodeEthernet(frame);
    expect(wire.length).toBe(19);
    expect(decodeEthernet(wire)).toEqual(frame);
  });

  it('decodes and encodes one 802.1Q tag', () => {
    const wire = Buffer.from('ffffffffffff' + '525400123456' + '8100' + 'a00a' + '0806' + 'cafe', 'hex');
    const frame = decodeEthernet(wire);
    expect(frame).toEqual({
      dst: 'ff:ff:ff:ff:ff:ff',
      src: '52:54:00:12:34:56',
      ethertype: ETHERTYPE_ARP,
      vlan: 10,
      priority: 5,
      payload: Buffer.from('cafe', 'hex'),
    });
    expect(encodeEthernet(frame)).toEqual(wire);
  });

  it('pads short frames to the 60-byte minimum and leaves long ones alone', () => {
    const short = encodeEthernet({ dst: 'ff:ff:ff:ff:ff:ff', src: '52:54:00:00:00:01', ethertype: ETHERTYPE_ARP, payload: Buffer.alloc(28) });
    expect(padEthernetFrame(short).length).toBe(60);
    const long = Buffer.alloc(100);
    expect(padEthernetFrame(long)).toBe(long);
  });

  it('rejects truncated headers and tags', () => {
    for (let length = 0; length < 14; length++) expectDecodeError(() => decodeEthernet(Buffer.alloc(length)), 'ethernet');
    const tagged = Buffer.from('ffffffffffff525400123456810000', 'hex');
    for (let length = 14; length <= tagged.length; length++) expectDecodeError(() => decodeEthernet(tagged.subarray(0, length)), 'ethernet');
  });

  it('refuses to encode impossible fields', () => {
    const base = { dst: 'ff:ff:ff:ff:ff:ff', src: '52:54:00:00:00:01', ethertype: ETHERTYPE_IPV4, payload: Buffer.alloc(0) };
    expect(() => encodeEthernet({ ...base, vlan: 4096 })).toThrow(RangeError);
    expect(() => encodeEthernet({ ...base, vlan: 1, priority: 8 })).toThrow(RangeError);
    expect(() => encodeEthernet({ ...base, ethertype: 0x10000 })).toThrow(RangeError);
    expect(() => encodeEthernet({ ...base, src: 'not-a-mac' })).toThrow(RangeError);
  });
});

describe('ipv4', () => {
  const packet = {
    tos: 0x10,
    id: 0x1234,
    flags: IP_FLAG_DF,
    fragmentOffset: 0,
    ttl: 16,
    protocol: 17,
    src: '10.0.0.1',
    dst: '255.255.255.255',
    payload: Buffer.from('payload bytes'),
  };

  it('round-trips with a valid header checksum', () => {
    const wire = encodeIpv4(packet);
    expect(wire[0]).toBe(0x45);
    expect(internetChecksum(wire.subarray(0, 20))).toBe(0);
    expect(decodeIpv4(wire)).toEqual(packet);
  });

  it('fills defaults: TTL 64, no flags', () => {
    const decoded = decodeIpv4(encodeIpv4({ src: '1.2.3.4', dst: '5.6.7.8', protocol: 1, payload: Buffer.alloc(3) }));
    expect(decoded).toMatchObject({ ttl: 64, flags: 0, fragmentOffset: 0, tos: 0, id: 0 });
  });

  it('trims Ethernet padding using the total length', () => {
    const wire = Buffer.concat([encodeIpv4(packet), Buffer.alloc(18)]);
    expect(decodeIpv4(wire).payload).toEqual(packet.payload);
  });

  it('skips header options (IHL > 5)', () => {
    const plain = encodeIpv4(packet);
    const withOptions = Buffer.concat([plain.subarray(0, 20), Buffer.from([0x01, 0x01, 0x01, 0x00]), plain.subarray(20)]);
    withOptions[0] = 0x46;
    withOptions.writeUInt16BE(plain.length + 4, 2);
    withOptions.writeUInt16BE(0, 10);
    withOptions.writeUInt16BE(internetChecksum(withOptions.subarray(0, 24)), 10);
    expect(decodeIpv4(withOptions)).toEqual(packet);
  });

  it('reports fragments', () => {
    expect(isFragment(decodeIpv4(encodeIpv4({ ...packet, flags: IP_FLAG_MF })))).toBe(true);
    expect(isFragment(decodeIpv4(encodeIpv4({ ...packet, flags: 0, fragmentOffset: 185 })))).toBe(true);
    expect(isFragment(decodeIpv4(encodeIpv4(packet)))).toBe(false);
  });

  it('rejects a bad header checksum', () => {
    const wire = encodeIpv4(packet);
    wire[8] = 17; // TTL changed, checksum not
    expect(expectDecodeError(() => decodeIpv4(wire), 'ipv4').offset).toBe(10);
  });

  it('rejects IHL < 5, version != 4, and lengths that do not add up', () => {
    const wire = encodeIpv4(packet);
    const reseal = (buf: Buffer): Buffer => {
      const hl = (buf[0] & 0x0f) * 4;
      if (hl >= 20 && hl <= buf.length) {
        buf.writeUInt16BE(0, 10);
        buf.writeUInt16BE(internetChecksum(buf.subarray(0, hl)), 10);
      }
      return buf;
    };
    for (const ihl of [0, 1, 4]) {
      const bad = Buffer.from(wire);
      bad[0] = 0x40 | ihl;
      expect(expectDecodeError(() => decodeIpv4(bad), 'ipv4').reason).toMatch(/IHL/);
    }
    const v6 = Buffer.from(wire);
    v6[0] = 0x65;
    expectDecodeError(() => decodeIpv4(v6), 'ipv4');
    const tooLong = reseal(Buffer.from(wire));
    tooLong.writeUInt16BE(wire.length + 1, 2);
    expect(expectDecodeError(() => decodeIpv4(reseal(tooLong)), 'ipv4').reason).toMatch(/exceeds/);
    const belowHeader = Buffer.from(wire);
    belowHeader.writeUInt16BE(19, 2);
    expectDecodeError(() => decodeIpv4(reseal(belowHeader)), 'ipv4');
    const ihlPastEnd = Buffer.from(wire.subarray(0, 30));
    ihlPastEnd[0] = 0x4f; // 60-byte header in a 30-byte buffer
    expectDecodeError(() => decodeIpv4(ihlPastEnd), 'ipv4');
  });

  it('throws DecodeError at every truncation of a real datagram', () => {
    const ip = decodeEthernet(ipFrames[0].frame).payload;
    const total = ip.readUInt16BE(2);
    for (let length = 0; length < total; length++) expectDecodeError(() => decodeIpv4(ip.subarray(0, length)), 'ipv4');
  });

  it('refuses to encode out-of-range fields', () => {
    expect(() => encodeIpv4({ ...packet, ttl: 256 })).toThrow(RangeError);
    expect(() => encodeIpv4({ ...packet, fragmentOffset: 0x2000 })).toThrow(RangeError);
    expect(() => encodeIpv4({ ...packet, payload: Buffer.alloc(65516) })).toThrow(RangeError);
  });
});

describe('udp', () => {
  const datagram = { srcPort: 67, dstPort: 68, payload: Buffer.from('a DHCP reply, say') };

  it('round-trips and always carries a checksum', () => {
    const wire = encodeUdp(datagram, '10.0.0.1', '10.0.0.2');
    expect(wire.readUInt16BE(4)).toBe(8 + datagram.payload.length);
    expect(wire.readUInt16BE(6)).not.toBe(0);
    expect(udpChecksum('10.0.0.1', '10.0.0.2', wire)).toBe(0);
    expect(decodeUdp(wire, '10.0.0.1', '10.0.0.2')).toEqual(datagram);
  });

  it('sends a computed checksum of 0 as 0xffff (RFC 768)', () => {
    // Find a payload whose checksum computes to 0.
    const payload = Buffer.alloc(2);
    let wire: Buffer | undefined;
    for (let v = 0; v <= 0xffff; v++) {
      payload.writeUInt16BE(v);
      const probe = Buffer.alloc(10);
      probe.writeUInt16BE(1000, 0);
      probe.writeUInt16BE(2000, 2);
      probe.writeUInt16BE(10, 4);
      payload.copy(probe, 8);
      if (udpChecksum('10.1.1.1', '10.2.2.2', probe) === 0) {
        wire = encodeUdp({ srcPort: 1000, dstPort: 2000, payload }, '10.1.1.1', '10.2.2.2');
        break;
      }
    }
    expect(wire).toBeDefined();
    expect(wire!.readUInt16BE(6)).toBe(0xffff);
    expect(decodeUdp(wire!, '10.1.1.1', '10.2.2.2').payload).toEqual(payload);
  });

  it('accepts checksum 0 (none computed) on receive', () => {
    const wire = encodeUdp(datagram, '10.0.0.1', '10.0.0.2');
    wire.writeUInt16BE(0, 6);
    expect(decodeUdp(wire, '9.9.9.9', '8.8.8.8')).toEqual(datagram);
  });

  it('rejects a bad checksum, including one computed for other addresses', () => {
    const wire = encodeUdp(datagram, '10.0.0.1', '10.0.0.2');
    expect(expectDecodeError(() => decodeUdp(wire, '10.0.0.1', '10.0.0.3'), 'udp').offset).toBe(6);
    const flipped = Buffer.from(wire);
    flipped[flipped.length - 1] ^= 0x01;
    expectDecodeError(() => decodeUdp(flipped, '10.0.0.1', '10.0.0.2'), 'udp');
  });

  it('trims to the UDP length and rejects impossible lengths', () => {
    const wire = encodeUdp(datagram, '10.0.0.1', '10.0.0.2');
    expect(decodeUdp(Buffer.concat([wire, Buffer.alloc(5)]), '10.0.0.1', '10.0.0.2')).toEqual(datagram);
    for (let length = 0; length < wire.length; length++) expectDecodeError(() => decodeUdp(wire.subarray(0, length), '10.0.0.1', '10.0.0.2'), 'udp');
    const short = Buffer.from(wire);
    short.writeUInt16BE(7, 4);
    expectDecodeError(() => decodeUdp(short, '10.0.0.1', '10.0.0.2'), 'udp');
  });

  it('refuses out-of-range ports', () => {
    expect(() => encodeUdp({ ...datagram, srcPort: 70000 }, '10.0.0.1', '10.0.0.2')).toThrow(RangeError);
  });
});

describe('arp', () => {
  const packet: ArpPacket = { op: 2, senderMac: '52:54:00:00:00:01', senderIp: '10.0.0.1', targetMac: '52:54:00:00:00:02', targetIp: '10.0.0.2' };

  it('round-trips', () => {
    const wire = encodeArp(packet);
    expect(wire.length).toBe(28);
    expect(wire.subarray(0, 8)).toEqual(Buffer.from('0001080006040002', 'hex'));
    expect(decodeArp(wire)).toEqual(packet);
    expect(decodeArp(Buffer.concat([wire, Buffer.alloc(18)]))).toEqual(packet); // Ethernet padding
  });

  it('builds RFC 5227 probes and announcements, and replies', () => {
    expect(arpProbe('52:54:00:00:00:01', '10.0.0.9')).toEqual({
      op: 1,
      senderMac: '52:54:00:00:00:01',
      senderIp: '0.0.0.0',
      targetMac: '00:00:00:00:00:00',
      targetIp: '10.0.0.9',
    });
    expect(arpAnnouncement('52:54:00:00:00:01', '10.0.0.9')).toMatchObject({
      op: 1,
      senderIp: '10.0.0.9',
      targetIp: '10.0.0.9',
      targetMac: '00:00:00:00:00:00',
    });
    const request: ArpPacket = { op: 1, senderMac: '52:54:00:00:00:02', senderIp: '10.0.0.2', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.1' };
    expect(arpReply(request, '52:54:00:00:00:01')).toEqual(packet);
  });

  it('frames ARP broadcast by default, padded to 60 bytes, and decodes it back', () => {
    const probe = arpProbe('52:54:00:00:00:01', '10.0.0.9');
    const frame = encodeArpFrame(probe);
    expect(frame.length).toBe(60);
    const { eth, arp } = decodeArpFrame(frame);
    expect(eth).toMatchObject({ dst: 'ff:ff:ff:ff:ff:ff', src: '52:54:00:00:00:01', ethertype: ETHERTYPE_ARP });
    expect(arp).toEqual(probe);
    const unicast = decodeArpFrame(encodeArpFrame(packet, '52:54:00:00:00:02', { vlan: 7 }));
    expect(unicast.eth).toMatchObject({ dst: '52:54:00:00:00:02', vlan: 7 });
    expect(unicast.arp).toEqual(packet);
  });

  it('decodes the ARP frames real clients and kernels sent', () => {
    const decoded = arpFrames.map(({ frame }) => decodeArpFrame(frame).arp);
    // udhcpc -a checks its offered address with a probe (sender IP 0.0.0.0).
    const udhcpcProbe = captured.udhcpc.map((frame) => decodeEthernet(frame)).find((eth) => eth.ethertype === ETHERTYPE_ARP);
    expect(udhcpcProbe).toBeDefined();
    expect(decodeArp(udhcpcProbe!.payload)).toMatchObject({ op: 1, senderMac: '52:54:00:77:00:02', senderIp: '0.0.0.0', targetIp: '10.77.0.101' });
    for (const arp of decoded) expect(encodeArp(arp).length).toBe(28);
    // Byte-exact re-encoding of each captured ARP payload.
    for (const { frame } of arpFrames) {
      const eth = decodeEthernet(frame);
      expect(encodeArp(decodeArp(eth.payload))).toEqual(eth.payload.subarray(0, 28));
    }
  });

  it('rejects non-Ethernet/IPv4 ARP, unknown operations and truncation', () => {
    const wire = encodeArp(packet);
    const mutate = (offset: number, value: number): Buffer => {
      const copy = Buffer.from(wire);
      copy[offset] = value;
      return copy;
    };
    expectDecodeError(() => decodeArp(mutate(1, 6)), 'arp'); // htype 6
    expectDecodeError(() => decodeArp(mutate(2, 0x86)), 'arp'); // ptype 0x86dd
    expectDecodeError(() => decodeArp(mutate(4, 8)), 'arp'); // hlen 8
    expectDecodeError(() => decodeArp(mutate(5, 16)), 'arp'); // plen 16
    expectDecodeError(() => decodeArp(mutate(7, 3)), 'arp'); // RARP request
    for (let length = 0; length < 28; length++) expectDecodeError(() => decodeArp(wire.subarray(0, length)), 'arp');
    expectDecodeError(() => decodeArpFrame(ipFrames[0].frame), 'ethernet');
  });
});

describe('frame', () => {
  const init = {
    srcMac: '52:54:00:00:00:fe',
    dstMac: '52:54:00:00:00:01',
    srcIp: '10.9.0.1',
    dstIp: '10.9.0.100',
    srcPort: 67,
    dstPort: 68,
    payload: Buffer.from('x'.repeat(300)),
  };

  it('builds Ethernet + IPv4 + UDP with correct checksums and decodes it back', () => {
    const frame = encodeUdpFrame(init);
    expect(frame.length).toBe(14 + 20 + 8 + 300);
    const { eth, ip, udp } = decodeUdpFrame(frame);
    expect(eth).toMatchObject({ dst: init.dstMac, src: init.srcMac, ethertype: ETHERTYPE_IPV4 });
    expect(ip).toMatchObject({ src: init.srcIp, dst: init.dstIp, protocol: 17, ttl: 64, flags: 0 });
    expect(udp).toEqual({ srcPort: 67, dstPort: 68, payload: init.payload });
    expect(internetChecksum(frame.subarray(14, 34))).toBe(0);
    expect(udpChecksum(init.srcIp, init.dstIp, frame.subarray(34))).toBe(0);
  });

  it('honours ttl, tos, id and VLAN, and pads tiny datagrams to 60 bytes', () => {
    const frame = encodeUdpFrame({ ...init, payload: Buffer.from('hi'), ttl: 1, tos: 0xc0, id: 99, vlan: 42 });
    expect(frame.length).toBe(60);
    const { eth, ip, udp } = decodeUdpFrame(frame);
    expect(eth.vlan).toBe(42);
    expect(ip).toMatchObject({ ttl: 1, tos: 0xc0, id: 99 });
    expect(udp.payload.toString()).toBe('hi');
  });

  it('refuses what is not an unfragmented UDP datagram', () => {
    expectDecodeError(() => decodeUdpFrame(encodeArpFrame(arpProbe(init.srcMac, init.dstIp))), 'ethernet');
    const icmp = encodeEthernet({
      dst: init.dstMac,
      src: init.srcMac,
      ethertype: ETHERTYPE_IPV4,
      payload: encodeIpv4({ src: init.srcIp, dst: init.dstIp, protocol: 1, payload: Buffer.alloc(8) }),
    });
    expect(expectDecodeError(() => decodeUdpFrame(icmp), 'ipv4').reason).toMatch(/not UDP/);
    const fragment = encodeEthernet({
      dst: init.dstMac,
      src: init.srcMac,
      ethertype: ETHERTYPE_IPV4,
      payload: encodeIpv4({ src: init.srcIp, dst: init.dstIp, protocol: 17, flags: IP_FLAG_MF, payload: encodeUdp(init, init.srcIp, init.dstIp) }),
    });
    expect(expectDecodeError(() => decodeUdpFrame(fragment), 'ipv4').reason).toMatch(/fragment/);
  });

  it('decodes every captured IPv4 frame, checksums verified, and re-encodes it byte for byte', () => {
    for (const { name, frame } of ipFrames) {
      const { eth, ip, udp } = decodeUdpFrame(frame);
      expect([67, 68], name).toContain(udp.dstPort);
      const rebuilt = encodeEthernet({
        dst: eth.dst,
        src: eth.src,
        ethertype: eth.ethertype,
        payload: encodeIpv4({ ...ip, payload: encodeUdp(udp, ip.src, ip.dst) }),
      });
      expect(padEthernetFrame(rebuilt), name).toEqual(frame);
    }
  });

  it('throws only DecodeError for every truncation of captured frames', () => {
    for (const { frame } of allFrames.slice(0, 6)) {
      for (let length = 0; length < frame.length; length++) {
        try {
          decodeUdpFrame(frame.subarray(0, length));
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
        }
      }
    }
  });

  it('survives thousands of random mutations of captured frames with DecodeError or a result', () => {
    let seed = 0x5eed;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 0x100000000;
    };
    let decoded = 0;
    for (let round = 0; round < 3000; round++) {
      const { frame } = allFrames[Math.floor(random() * allFrames.length)];
      const mutated = Buffer.from(frame);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) mutated[Math.floor(random() * mutated.length)] = Math.floor(random() * 256);
      const cut = random() < 0.3 ? Math.floor(random() * mutated.length) : mutated.length;
      try {
        const eth = decodeEthernet(mutated.subarray(0, cut));
        if (eth.ethertype === ETHERTYPE_ARP) decodeArp(eth.payload);
        else decodeUdpFrame(mutated.subarray(0, cut));
        decoded++;
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});
