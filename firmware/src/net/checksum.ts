// The Internet checksum (RFC 1071) and the UDP pseudo-header sum (RFC 768).
// Sums are kept as 16-bit folded one's-complement values so pieces (pseudo
// header, header, payload) can be summed separately and combined.

import { ipToInt, type Ipv4 } from './addr.js';

/**
 * One's-complement sum of `data` as big-endian 16-bit words, folded to 16 bits
 * (RFC 1071 4.1). An odd trailing byte is padded with a zero byte. `initial` is
 * a previous partial sum, so separate buffers can be chained.
 */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) {
    sum += (data[i] << 8) | data[i + 1];
    // Fold now and then so the sum never leaves the safe-integer range of a 32-bit add.
    if (sum > 0xffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (even !== data.length) sum += data[even] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** RFC 1071: the one's complement of the one's-complement sum. 0 over data that holds a valid checksum. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return ~onesComplementSum(data, initial) & 0xffff;
}

/** RFC 768 / RFC 791: sum of the pseudo header (source, destination, zero, protocol, length). */
export function pseudoHeaderSum(srcIp: Ipv4, dstIp: Ipv4, protocol: number, length: number): number {
  const src = ipToInt(srcIp);
  const dst = ipToInt(dstIp);
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export const IPPROTO_UDP = 17;

/**
 * Checksum over the UDP pseudo header and `segment` (UDP header + data) as it
 * is, checksum field included. To compute a checksum, zero the field first; to
 * verify one, a result of 0 means the segment is intact. The wire rule that a
 * computed 0 is sent as 0xffff (RFC 768) is the caller's (see udp.ts).
 */
export function udpChecksum(srcIp: Ipv4, dstIp: Ipv4, segment: Uint8Array): number {
  return internetChecksum(segment, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, segment.length));
}
