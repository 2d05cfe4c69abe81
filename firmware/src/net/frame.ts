// Whole frames for the packet socket: Ethernet + IPv4 + UDP in one call, with
// every checksum computed on the way out and verified on the way in.

import type { Ipv4, Mac } from './addr.js';
import { DecodeError } from './decode-error.js';
import { ETHERTYPE_IPV4, decodeEthernet, encodeEthernet, padEthernetFrame, type EthernetFrame } from './ethernet.js';
import { IPPROTO_UDP } from './checksum.js';
import { DEFAULT_TTL, decodeIpv4, encodeIpv4, isFragment, type Ipv4Packet } from './ipv4.js';
import { decodeUdp, encodeUdp, type UdpDatagram } from './udp.js';

export { encodeArpFrame, decodeArpFrame, type ArpFrameOptions } from './arp.js';

export interface UdpFrame {
  eth: EthernetFrame;
  ip: Ipv4Packet;
  udp: UdpDatagram;
}

export interface UdpFrameInit {
  srcMac: Mac;
  dstMac: Mac;
  srcIp: Ipv4;
  dstIp: Ipv4;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
  /** Defaults to 64. */
  ttl?: number;
  /** IPv4 TOS byte; defaults to 0. */
  tos?: number;
  /** IPv4 identification; defaults to 0 (the datagram is never fragmented). */
  id?: number;
  /** 802.1Q VLAN id for a tagged frame. */
  vlan?: number;
}

/**
 * Decodes a frame that must carry an unfragmented IPv4/UDP datagram. Anything
 * else (another EtherType, another protocol, a fragment) is a DecodeError, so a
 * caller that only wants UDP can count and drop in one place.
 */
export function decodeUdpFrame(frame: Buffer): UdpFrame {
  const eth = decodeEthernet(frame);
  if (eth.ethertype !== ETHERTYPE_IPV4) {
    throw new DecodeError('ethernet', eth.vlan === undefined ? 12 : 16, `ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} is not IPv4`);
  }
  const ip = decodeIpv4(eth.payload);
  if (ip.protocol !== IPPROTO_UDP) throw new DecodeError('ipv4', 9, `protocol ${ip.protocol} is not UDP`);
  // No reassembly: DHCP and TFTP datagrams fit in one frame (RFC 2131 2: 576 bytes).
  if (isFragment(ip)) throw new DecodeError('ipv4', 6, 'fragmented datagram (reassembly is not supported)');
  const udp = decodeUdp(ip.payload, ip.src, ip.dst);
  return { eth, ip, udp };
}

/** Ethernet II + IPv4 (no options, DF clear) + UDP with correct checksums, padded to the 60-byte minimum. */
export function encodeUdpFrame(init: UdpFrameInit): Buffer {
  const segment = encodeUdp({ srcPort: init.srcPort, dstPort: init.dstPort, payload: init.payload }, init.srcIp, init.dstIp);
  const datagram = encodeIpv4({
    src: init.srcIp,
    dst: init.dstIp,
    protocol: IPPROTO_UDP,
    ttl: init.ttl ?? DEFAULT_TTL,
    tos: init.tos ?? 0,
    id: init.id ?? 0,
    payload: segment,
  });
  const eth: EthernetFrame = { dst: init.dstMac, src: init.srcMac, ethertype: ETHERTYPE_IPV4, payload: datagram };
  if (init.vlan !== undefined) eth.vlan = init.vlan;
  return padEthernetFrame(encodeEthernet(eth));
}
