// A small reader for classic libpcap capture files (what `tcpdump -w` writes):
// a 24-byte global header, then records of a 16-byte header plus the frame.
// Both byte orders and both timestamp resolutions (micro/nano) are accepted.
// Only Ethernet captures are expected (LINKTYPE_ETHERNET = 1).

import { readFileSync } from 'node:fs';
import { DecodeError } from '../../firmware/src/net/decode-error.js';

export const LINKTYPE_ETHERNET = 1;

export interface PcapFrame {
  /** Seconds since the epoch, with the file's sub-second resolution. */
  timestamp: number;
  /** The captured bytes (may be shorter than `originalLength` if the snap length cut it). */
  data: Buffer;
  originalLength: number;
}

export interface PcapCapture {
  linkType: number;
  snapLength: number;
  frames: PcapFrame[];
}

const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

/** Every record of a capture, with its header fields. */
export function readPcapRecords(buf: Buffer): PcapCapture {
  if (buf.length < GLOBAL_HEADER) throw new DecodeError('pcap', buf.length, 'file shorter than the 24-byte global header');
  let littleEndian: boolean;
  let nanos: boolean;
  const magicLe = buf.readUInt32LE(0);
  const magicBe = buf.readUInt32BE(0);
  if (magicLe === MAGIC_MICROS || magicLe === MAGIC_NANOS) {
    littleEndian = true;
    nanos = magicLe === MAGIC_NANOS;
  } else if (magicBe === MAGIC_MICROS || magicBe === MAGIC_NANOS) {
    littleEndian = false;
    nanos = magicBe === MAGIC_NANOS;
  } else {
    throw new DecodeError('pcap', 0, `not a classic pcap file (magic 0x${magicBe.toString(16)}; pcapng is not supported)`);
  }
  const u32 = (offset: number): number => (littleEndian ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset));
  const snapLength = u32(16);
  const linkType = u32(20) & 0x0fffffff; // upper bits carry FCS information
  const frames: PcapFrame[] = [];
  let offset = GLOBAL_HEADER;
  while (offset < buf.length) {
    if (offset + RECORD_HEADER > buf.length) throw new DecodeError('pcap', offset, 'record header truncated');
    const seconds = u32(offset);
    const fraction = u32(offset + 4);
    const capturedLength = u32(offset + 8);
    const originalLength = u32(offset + 12);
    const start = offset + RECORD_HEADER;
    if (start + capturedLength > buf.length) throw new DecodeError('pcap', offset + 8, `record of ${capturedLength} bytes runs past the end`);
    frames.push({
      timestamp: seconds + fraction / (nanos ? 1e9 : 1e6),
      data: Buffer.from(buf.subarray(start, start + capturedLength)),
      originalLength,
    });
    offset = start + capturedLength;
  }
  return { linkType, snapLength, frames };
}

/** The frames of an Ethernet capture (file contents), in capture order. */
export function readPcap(buf: Buffer): Buffer[] {
  const capture = readPcapRecords(buf);
  if (capture.linkType !== LINKTYPE_ETHERNET) throw new DecodeError('pcap', 20, `link type ${capture.linkType} is not Ethernet (1)`);
  return capture.frames.map((frame) => frame.data);
}

/** The frames of an Ethernet capture file. */
export function readPcapFile(path: string): Buffer[] {
  return readPcap(readFileSync(path));
}
