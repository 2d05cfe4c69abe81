// IPv4 header (RFC 791 3.1). Decode verifies the header checksum and the
// length fields; header options are skipped (nothing rackboot serves uses them).
// No reassembly: a fragment decodes, and isFragment() lets the caller drop it.

import { ipFromBytes, ipToBytes, type Ipv4 } from './addr.js';
import { internetChecksum } from './checksum.js';
import { DecodeError } from './decode-error.js';

export const IPV4_HEADER_LENGTH = 20;
/** Flags field (3 bits): Don't Fragment. */
export const IP_FLAG_DF = 0b010;
/** Flags field (3 bits): More Fragments. */
export const IP_FLAG_MF = 0b001;
export const DEFAULT_TTL = 64;

const LAYER = 'ipv4';

export interface Ipv4Packet {
  /** Type of service / DSCP+ECN byte. */
  tos: number;
  id: number;
  /** The 3-bit flags field: IP_FLAG_DF, IP_FLAG_MF. */
  flags: number;
  /** In 8-byte units, as on the wire. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: Ipv4;
  dst: Ipv4;
  /** The datagram's payload, trimmed to the total length (Ethernet padding removed). A view, not a copy. */
  payload: Buffer;
}

export type Ipv4PacketInit = Pick<Ipv4Packet, 'src' | 'dst' | 'protocol' | 'payload'> &
  Partial<Pick<Ipv4Packet, 'tos' | 'id' | 'flags' | 'fragmentOffset' | 'ttl'>>;

export function decodeIpv4(buf: Buffer): Ipv4Packet {
  if (buf.length < IPV4_HEADER_LENGTH) {
    throw new DecodeError(LAYER, buf.length, `packet of ${buf.length} bytes is shorter than the 20-byte header`);
  }
  const version = buf[0] >>> 4;
  if (version !== 4) throw new DecodeError(LAYER, 0, `version ${version} is not 4`);
  const headerLength = (buf[0] & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) throw new DecodeError(LAYER, 0, `IHL ${headerLength / 4} is below the minimum of 5`);
  if (headerLength > buf.length) {
    throw new DecodeError(LAYER, buf.length, `header length ${headerLength} exceeds the ${buf.length} bytes received`);
  }
  const totalLength = buf.readUInt16BE(2);
  if (totalLength < headerLength) {
    throw new DecodeError(LAYER, 2, `total length ${totalLength} is smaller than the header length ${headerLength}`);
  }
  // Longer buffers are normal (Ethernet pads short frames to 60 bytes); shorter ones are truncated.
  if (totalLength > buf.length) {
    throw new DecodeError(LAYER, 2, `total length ${totalLength} exceeds the ${buf.length} bytes received`);
  }
  // RFC 791 3.1 / RFC 1071: the checksum over a correct header (checksum field included) is 0.
  if (internetChecksum(buf.subarray(0, headerLength)) !== 0) {
    throw new DecodeError(LAYER, 10, `bad header checksum 0x${buf.readUInt16BE(10).toString(16).padStart(4, '0')}`);
  }
  const flagsAndOffset = buf.readUInt16BE(6);
  return {
    tos: buf[1],
    id: buf.readUInt16BE(4),
    flags: flagsAndOffset >>> 13,
    fragmentOffset: flagsAndOffset & 0x1fff,
    ttl: buf[8],
    protocol: buf[9],
    src: ipFromBytes(buf, 12),
    dst: ipFromBytes(buf, 16),
    payload: buf.subarray(headerLength, totalLength),
  };
}

/** A 20-byte header (no options) with its checksum, followed by the payload. */
export function encodeIpv4(packet: Ipv4PacketInit): Buffer {
  const tos = packet.tos ?? 0;
  const id = packet.id ?? 0;
  const flags = packet.flags ?? 0;
  const fragmentOffset = packet.fragmentOffset ?? 0;
  const ttl = packet.ttl ?? DEFAULT_TTL;
  checkRange(tos, 0xff, 'tos');
  checkRange(id, 0xffff, 'id');
  checkRange(flags, 0b111, 'flags');
  checkRange(fragmentOffset, 0x1fff, 'fragment offset');
  checkRange(ttl, 0xff, 'ttl');
  checkRange(packet.protocol, 0xff, 'protocol');
  const totalLength = IPV4_HEADER_LENGTH + packet.payload.length;
  if (totalLength > 0xffff) throw new RangeError(`IPv4 datagram of ${totalLength} bytes exceeds 65535`);
  const out = Buffer.alloc(totalLength);
  out[0] = 0x45; // version 4, IHL 5
  out[1] = tos;
  out.writeUInt16BE(totalLength, 2);
  out.writeUInt16BE(id, 4);
  out.writeUInt16BE((flags << 13) | fragmentOffset, 6);
  out[8] = ttl;
  out[9] = packet.protocol;
  ipToBytes(packet.src).copy(out, 12);
  ipToBytes(packet.dst).copy(out, 16);
  out.writeUInt16BE(internetChecksum(out.subarray(0, IPV4_HEADER_LENGTH)), 10);
  packet.payload.copy(out, IPV4_HEADER_LENGTH);
  return out;
}

/** True for any fragment of a fragmented datagram (more to come, or not the first). */
export function isFragment(packet: Pick<Ipv4Packet, 'flags' | 'fragmentOffset'>): boolean {
  return (packet.flags & IP_FLAG_MF) !== 0 || packet.fragmentOffset !== 0;
}

function checkRange(value: number, max: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`IPv4 ${name} out of range: ${value}`);
}
