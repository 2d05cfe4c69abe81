// UDP (RFC 768). The checksum covers a pseudo header with the IP addresses, so
// both directions take the addresses of the enclosing IPv4 datagram.

import type { Ipv4 } from './addr.js';
import { udpChecksum } from './checksum.js';
import { DecodeError } from './decode-error.js';

export const UDP_HEADER_LENGTH = 8;

const LAYER = 'udp';

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** Trimmed to the UDP length field. A view into the decoded buffer, not a copy. */
  payload: Buffer;
}

/**
 * `buf` is the IPv4 payload; `srcIp`/`dstIp` are the datagram's addresses for
 * the pseudo-header checksum. A checksum field of 0 means the sender computed
 * none (RFC 768) and is accepted; any other value must verify, unless the
 * packet socket said the kernel never completed it (`checksumPending`).
 */
export function decodeUdp(buf: Buffer, srcIp: Ipv4, dstIp: Ipv4, opts: { checksumPending?: boolean } = {}): UdpDatagram {
  if (buf.length < UDP_HEADER_LENGTH) {
    throw new DecodeError(LAYER, buf.length, `segment of ${buf.length} bytes is shorter than the 8-byte header`);
  }
  const length = buf.readUInt16BE(4);
  if (length < UDP_HEADER_LENGTH) throw new DecodeError(LAYER, 4, `length field ${length} is smaller than the header`);
  if (length > buf.length) throw new DecodeError(LAYER, 4, `length field ${length} exceeds the ${buf.length} bytes of the IP payload`);
  const segment = buf.subarray(0, length);
  const checksum = buf.readUInt16BE(6);
  // checksumPending: the frame came from a local peer with checksum offload
  // (veth, tap); the field holds only the pseudo-header sum, nothing to verify.
  if (checksum !== 0 && !opts.checksumPending && udpChecksum(srcIp, dstIp, segment) !== 0) {
    throw new DecodeError(LAYER, 6, `bad checksum 0x${checksum.toString(16).padStart(4, '0')}`);
  }
  return { srcPort: buf.readUInt16BE(0), dstPort: buf.readUInt16BE(2), payload: buf.subarray(UDP_HEADER_LENGTH, length) };
}

/** Header + payload with the checksum always computed (a computed 0 is sent as 0xffff, RFC 768). */
export function encodeUdp(datagram: UdpDatagram, srcIp: Ipv4, dstIp: Ipv4): Buffer {
  checkPort(datagram.srcPort, 'source');
  checkPort(datagram.dstPort, 'destination');
  const length = UDP_HEADER_LENGTH + datagram.payload.length;
  if (length > 0xffff) throw new RangeError(`UDP datagram of ${length} bytes exceeds 65535`);
  const out = Buffer.alloc(length);
  out.writeUInt16BE(datagram.srcPort, 0);
  out.writeUInt16BE(datagram.dstPort, 2);
  out.writeUInt16BE(length, 4);
  datagram.payload.copy(out, UDP_HEADER_LENGTH);
  const checksum = udpChecksum(srcIp, dstIp, out);
  out.writeUInt16BE(checksum === 0 ? 0xffff : checksum, 6);
  return out;
}

function checkPort(port: number, which: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`UDP ${which} port out of range: ${port}`);
}
