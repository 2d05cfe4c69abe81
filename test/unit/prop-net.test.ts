// Property tests for the link-layer codecs (fast-check): Ethernet (with and without an
// 802.1Q tag), IPv4, UDP and ARP round trips; decoder totality.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeEthernet, encodeEthernet, type EthernetFrame } from '../../firmware/src/net/ethernet.js';
import { decodeIpv4, encodeIpv4 } from '../../firmware/src/net/ipv4.js';
import { decodeUdp, encodeUdp } from '../../firmware/src/net/udp.js';
import { decodeArp, decodeArpFrame, encodeArp, type ArpPacket } from '../../firmware/src/net/arp.js';
import { decodeUdpFrame, encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { DecodeError } from '../../firmware/src/net/decode-error.js';

const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b));

function totalOrDecodeError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
  }
}

describe('link-layer codec properties', () => {
  it('Ethernet frames round-trip, tagged or not', () => {
    fc.assert(
      fc.property(
        mac,
        mac,
        fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8),
        fc.option(fc.nat(4095), { nil: undefined }),
        fc.nat(7),
        bytes(100),
        (dst, src, ethertype, vlan, priority, payload) => {
          const frame: EthernetFrame = { dst, src, ethertype, payload };
          if (vlan !== undefined) Object.assign(frame, { vlan, priority });
          const decoded = decodeEthernet(encodeEthernet(frame));
          expect({ ...decoded, payload: Buffer.from(decoded.payload) }).toEqual(frame);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('IPv4 and UDP round-trip with valid checksums', () => {
    fc.assert(
      fc.property(ip, ip, fc.nat(0xffff), fc.nat(0xffff), bytes(600), fc.nat(255), fc.nat(0xffff), (src, dst, srcPort, dstPort, payload, tos, id) => {
        const segment = encodeUdp({ srcPort, dstPort, payload }, src, dst);
        const udp = decodeUdp(segment, src, dst);
        expect([udp.srcPort, udp.dstPort, Buffer.from(udp.payload)]).toEqual([srcPort, dstPort, payload]);
        const packet = decodeIpv4(encodeIpv4({ src, dst, protocol: 17, tos, id, payload: segment }));
        expect([packet.src, packet.dst, packet.protocol, packet.tos, packet.id]).toEqual([src, dst, 17, tos, id]);
        expect(Buffer.from(packet.payload)).toEqual(segment);
      }),
      { numRuns: 500 },
    );
  });

  it('whole UDP frames round-trip', () => {
    fc.assert(
      fc.property(mac, mac, ip, ip, fc.nat(0xffff), fc.nat(0xffff), bytes(300), (srcMac, dstMac, srcIp, dstIp, srcPort, dstPort, payload) => {
        const frame = decodeUdpFrame(encodeUdpFrame({ srcMac, dstMac, srcIp, dstIp, srcPort, dstPort, payload }));
        expect([frame.eth.src, frame.eth.dst, frame.ip.src, frame.ip.dst, frame.udp.srcPort, frame.udp.dstPort]).toEqual([
          srcMac,
          dstMac,
          srcIp,
          dstIp,
          srcPort,
          dstPort,
        ]);
        expect(Buffer.from(frame.udp.payload)).toEqual(payload);
      }),
      { numRuns: 300 },
    );
  });

  it('ARP packets round-trip', () => {
    const arp: fc.Arbitrary<ArpPacket> = fc.record({ op: fc.constantFrom(1 as const, 2 as const), senderMac: mac, senderIp: ip, targetMac: mac, targetIp: ip });
    fc.assert(
      fc.property(arp, (packet) => {
        expect(decodeArp(encodeArp(packet))).toEqual(packet);
      }),
      { numRuns: 300 },
    );
  });

  it('any bytes decode as a frame, a datagram or a DecodeError', () => {
    fc.assert(
      fc.property(bytes(200), ip, ip, (buf, src, dst) => {
        totalOrDecodeError(() => decodeEthernet(buf));
        totalOrDecodeError(() => decodeIpv4(buf));
        totalOrDecodeError(() => decodeUdp(buf, src, dst));
        totalOrDecodeError(() => decodeArp(buf));
        totalOrDecodeError(() => decodeUdpFrame(buf));
        totalOrDecodeError(() => decodeArpFrame(buf));
      }),
      { numRuns: 3000 },
    );
  });

  it('valid frames with bytes changed or cut decode or throw DecodeError', () => {
    const frame = encodeUdpFrame({
      srcMac: '52:54:00:00:00:01',
      dstMac: 'ff:ff:ff:ff:ff:ff',
      srcIp: '0.0.0.0',
      dstIp: '255.255.255.255',
      srcPort: 68,
      dstPort: 67,
      payload: Buffer.alloc(300, 7),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(frame.length - 1), fc.nat(255)), { maxLength: 6 }), fc.nat(frame.length), (edits, cut) => {
        const copy = Buffer.from(frame);
        for (const [at, value] of edits) copy[at] = value;
        totalOrDecodeError(() => decodeUdpFrame(copy.subarray(0, cut)));
      }),
      { numRuns: 3000 },
    );
  });
});
