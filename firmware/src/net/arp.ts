// ARP for Ethernet and IPv4 (RFC 826), with the RFC 5227 probe and
// announcement shapes rackboot uses for address conflict detection.

import { BROADCAST_MAC, ZERO_IP, ipFromBytes, ipToBytes, macFromBytes, macToBytes, type Ipv4, type Mac } from './addr.js';
import { DecodeError } from './decode-error.js';
import { ETHERTYPE_ARP, decodeEthernet, encodeEthernet, padEthernetFrame, type EthernetFrame } from './ethernet.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_PACKET_LENGTH = 28;
export const ZERO_MAC: Mac = '00:00:00:00:00:00';

const HTYPE_ETHERNET = 1;
const PTYPE_IPV4 = 0x0800;
const LAYER = 'arp';

export interface ArpPacket {
  op: 1 | 2;
  senderMac: Mac;
  senderIp: Ipv4;
  targetMac: Mac;
  targetIp: Ipv4;
}

/** Decodes an Ethernet/IPv4 ARP packet; trailing bytes (Ethernet padding) are ignored. */
export function decodeArp(buf: Buffer): ArpPacket {
  if (buf.length < 8) throw new DecodeError(LAYER, buf.length, `packet of ${buf.length} bytes is shorter than the 8-byte fixed part`);
  const htype = buf.readUInt16BE(0);
  if (htype !== HTYPE_ETHERNET) throw new DecodeError(LAYER, 0, `hardware type ${htype} is not Ethernet (1)`);
  const ptype = buf.readUInt16BE(2);
  if (ptype !== PTYPE_IPV4) throw new DecodeError(LAYER, 2, `protocol type 0x${ptype.toString(16)} is not IPv4`);
  if (buf[4] !== 6) throw new DecodeError(LAYER, 4, `hardware address length ${buf[4]} is not 6`);
  if (buf[5] !== 4) throw new DecodeError(LAYER, 5, `protocol address length ${buf[5]} is not 4`);
  const op = buf.readUInt16BE(6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) throw new DecodeError(LAYER, 6, `operation ${op} is neither request (1) nor reply (2)`);
  if (buf.length < ARP_PACKET_LENGTH) {
    throw new DecodeError(LAYER, buf.length, `packet of ${buf.length} bytes is shorter than the 28 bytes of an Ethernet/IPv4 ARP`);
  }
  return {
    op,
    senderMac: macFromBytes(buf, 8),
    senderIp: ipFromBytes(buf, 14),
    targetMac: macFromBytes(buf, 18),
    targetIp: ipFromBytes(buf, 24),
  };
}

export function encodeArp(packet: ArpPacket): Buffer {
  if (packet.op !== ARP_REQUEST && packet.op !== ARP_REPLY) throw new RangeError(`ARP operation must be 1 or 2, not ${String(packet.op)}`);
  const out = Buffer.alloc(ARP_PACKET_LENGTH);
  out.writeUInt16BE(HTYPE_ETHERNET, 0);
  out.writeUInt16BE(PTYPE_IPV4, 2);
  out[4] = 6;
  out[5] = 4;
  out.writeUInt16BE(packet.op, 6);
  macToBytes(packet.senderMac).copy(out, 8);
  ipToBytes(packet.senderIp).copy(out, 14);
  macToBytes(packet.targetMac).copy(out, 18);
  ipToBytes(packet.targetIp).copy(out, 24);
  return out;
}

/**
 * RFC 5227 2.1.1 ARP Probe: a request with sender IP 0.0.0.0 (so no neighbour
 * caches are polluted) and a zero target MAC, asking who has `targetIp`.
 */
export function arpProbe(senderMac: Mac, targetIp: Ipv4): ArpPacket {
  return { op: ARP_REQUEST, senderMac, senderIp: ZERO_IP, targetMac: ZERO_MAC, targetIp };
}

/** RFC 5227 2.3 ARP Announcement: a request with sender and target IP both set to the claimed address. */
export function arpAnnouncement(senderMac: Mac, ip: Ipv4): ArpPacket {
  return { op: ARP_REQUEST, senderMac, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip };
}

/** RFC 826 reply to `request`, saying `mac` has the requested address. */
export function arpReply(request: ArpPacket, mac: Mac): ArpPacket {
  return { op: ARP_REPLY, senderMac: mac, senderIp: request.targetIp, targetMac: request.senderMac, targetIp: request.senderIp };
}

export interface ArpFrameOptions {
  /** Ethernet source; defaults to the packet's sender MAC. */
  srcMac?: Mac;
  /** 802.1Q VLAN id for a tagged frame. */
  vlan?: number;
}

/**
 * An ARP packet in an Ethernet frame to `dstMac` (broadcast by default),
 * padded to the 60-byte minimum frame.
 */
export function encodeArpFrame(packet: ArpPacket, dstMac: Mac = BROADCAST_MAC, options: ArpFrameOptions = {}): Buffer {
  const frame: EthernetFrame = { dst: dstMac, src: options.srcMac ?? packet.senderMac, ethertype: ETHERTYPE_ARP, payload: encodeArp(packet) };
  if (options.vlan !== undefined) frame.vlan = options.vlan;
  return padEthernetFrame(encodeEthernet(frame));
}

export function decodeArpFrame(frame: Buffer): { eth: EthernetFrame; arp: ArpPacket } {
  const eth = decodeEthernet(frame);
  if (eth.ethertype !== ETHERTYPE_ARP) {
    throw new DecodeError('ethernet', eth.vlan === undefined ? 12 : 16, `ethertype 0x${eth.ethertype.toString(16).padStart(4, '0')} is not ARP`);
  }
  return { eth, arp: decodeArp(eth.payload) };
}
