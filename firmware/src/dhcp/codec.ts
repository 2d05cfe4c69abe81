// BOOTP/DHCP message codec (RFC 951, RFC 2131 section 2, RFC 2132, RFC 3396).
//
// Wire layout (RFC 2131 figure 1): a 236-byte fixed header, then the magic
// cookie 99.130.83.99 and the options. sname (64 bytes at 44) and file
// (128 bytes at 108) may also carry options when option 52 says so.
//
// Decoding rules, in one place:
// - The fixed header and the 4-byte cookie (240 bytes) must be there. op must be
//   1 or 2. hlen > 16 (the chaddr field's size) is malformed, and so is htype 1
//   (Ethernet) with an hlen other than 6: both would yield a wrong client MAC.
// - No magic cookie: a vendor area that starts with four zero bytes is plain
//   BOOTP (RFC 951, vend field unused) and decodes with empty options; it must
//   have the whole 64-byte vend field (300 bytes in all). Any other four bytes
//   (a vendor-area format other than RFC 1048/2132's) are malformed. (The
//   servers drop messages without option 53 as BOOTP.)
// - Options: Pad (0) is skipped; End (255) ends an area and bytes after it are
//   ignored (clients pad to 300 bytes and beyond). The options field must end
//   with End (RFC 2132 3.2): a message cut anywhere before its End is
//   malformed, never a shorter valid message. An overloaded sname/file field may
//   run to its fixed end without End. A code without a length byte, or a
//   length that runs past its area, is malformed.
// - Option overload (52, RFC 2132 9.3) is read from the options field only; the
//   options field is scanned first, then file (value 1 or 3), then sname (2 or
//   3) (the aggregate option buffer of RFC 3396 section 5). Any 52 inside
//   file/sname is ignored, so an overload cannot point at itself or loop. 52
//   must be exactly one byte with a value of 1-3 after concatenation, so a
//   repeated 52 is malformed. 52 is a detail of the encoding and is not kept in
//   the decoded options; an overloaded sname/file decodes as ''.
// - Every instance of an option is concatenated in that scan order (RFC 3396),
//   0-length instances included; the decoded Map keeps first-appearance order,
//   unknown codes included. Values are copies, never views into the packet.
// - sname/file are read up to their first NUL as latin1 (one char per byte).
//
// Encoding rules:
// - Header fields are range-checked (RangeError); chaddr is NUL-padded to 16
//   bytes; sname/file are NUL-padded latin1 and must leave room for their NUL.
// - Options go out in the Map's insertion order (see orderByParameterRequestList
//   in options.ts). Values over 255 bytes become several instances (RFC 3396).
//   Pad, End and Overload (52) may not be in the Map: the codec writes them.
// - The message ends with End and is zero-padded to 300 bytes, the size of an
//   RFC 951 message with its 64-byte vend field: many PXE ROMs and BOOTP relay
//   agents drop shorter ones.
// - Size limit: `maxSize` is the client's option 57 value, the largest IP
//   datagram it accepts (RFC 2132 9.10), so the DHCP message may use
//   maxSize - 28 bytes (IP + UDP headers). Absent or below 576 -> 576 (the
//   minimum every client must accept, RFC 2131 section 2), i.e. 548 bytes.
//   Capped at 1500 (Ethernet MTU): rackboot never sends IP fragments.
// - Options that do not fit spill into file then sname (option 52), only into
//   fields that are empty in the message, instance by instance in order (short
//   options are never split: many clients do not implement RFC 3396). Still too
//   big -> RangeError.

import { ipFromBytes, ipToBytes } from '../net/addr.js';
import { DecodeError } from '../net/decode-error.js';
import { BOOTREPLY, BOOTREQUEST, Opt, type DhcpMessage, type DhcpOptions } from './message.js';

export const DHCP_FIXED_HEADER_LENGTH = 236;
export const MAGIC_COOKIE: readonly number[] = [99, 130, 83, 99];
/** RFC 951: the smallest BOOTP message (fixed header + 64-byte vend field). */
export const BOOTP_MIN_LENGTH = 300;
/** RFC 2131 section 2: every client accepts an IP datagram of 576 bytes. */
export const MIN_MAX_MESSAGE_SIZE = 576;
/** Largest IP datagram rackboot sends: one Ethernet frame, no fragmentation. */
export const MAX_DATAGRAM_SIZE = 1500;
/** IPv4 header (no options) + UDP header. */
export const IP_UDP_OVERHEAD = 28;

const OPTIONS_OFFSET = 240;
const CHADDR_OFFSET = 28;
const CHADDR_LENGTH = 16;
const SNAME_OFFSET = 44;
const SNAME_LENGTH = 64;
const FILE_OFFSET = 108;
const FILE_LENGTH = 128;
const MAX_INSTANCE_DATA = 255;

const LAYER = 'dhcp';

const OVERLOAD_FILE = 1;
const OVERLOAD_SNAME = 2;

export interface EncodeDhcpOptions {
  /** The client's maximum DHCP message size (option 57): an IP datagram size, see the rules above. */
  maxSize?: number;
}

// ---- decode ------------------------------------------------------------------

export function decodeDhcp(buf: Buffer): DhcpMessage {
  if (buf.length < OPTIONS_OFFSET) {
    throw new DecodeError(LAYER, buf.length, `message of ${buf.length} bytes is shorter than the header and magic cookie (240)`);
  }
  const op = buf[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DecodeError(LAYER, 0, `op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`);
  const htype = buf[1];
  const hlen = buf[2];
  if (hlen > CHADDR_LENGTH) throw new DecodeError(LAYER, 2, `hlen ${hlen} exceeds the 16-byte chaddr field`);
  if (htype === 1 && hlen !== 6) throw new DecodeError(LAYER, 2, `hlen ${hlen} is not 6 for an Ethernet (htype 1) client`);

  const options = new Map<number, Buffer[]>();
  let overload = 0;
  const cookie = buf.subarray(DHCP_FIXED_HEADER_LENGTH, OPTIONS_OFFSET);
  if (MAGIC_COOKIE.every((byte, i) => cookie[i] === byte)) {
    const overloadParts: Buffer[] = [];
    let overloadOffset = -1;
    const ended = scanOptions(buf, OPTIONS_OFFSET, buf.length, 'options', (code, value, at) => {
      if (code === Opt.Overload) {
        if (overloadOffset < 0) overloadOffset = at;
        overloadParts.push(value);
      } else {
        addInstance(options, code, value);
      }
    });
    if (!ended) throw new DecodeError(LAYER, buf.length, 'options field ends without an End option (message truncated?)');
    if (overloadOffset >= 0) {
      const value = Buffer.concat(overloadParts);
      if (value.length !== 1) throw new DecodeError(LAYER, overloadOffset, `option overload (52) carries ${value.length} bytes, not 1`);
      overload = value[0]!;
      if (overload < 1 || overload > 3) throw new DecodeError(LAYER, overloadOffset + 2, `option overload value ${overload} is not 1, 2 or 3`);
    }
    // RFC 3396 section 5 / RFC 2131 4.1: options field, then file, then sname. 52 there is ignored.
    const fromField = (code: number, value: Buffer): void => {
      if (code !== Opt.Overload) addInstance(options, code, value);
    };
    if (overload & OVERLOAD_FILE) scanOptions(buf, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, 'file', fromField);
    if (overload & OVERLOAD_SNAME) scanOptions(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, 'sname', fromField);
  } else if (cookie.every((byte) => byte === 0)) {
    if (buf.length < BOOTP_MIN_LENGTH) {
      throw new DecodeError(LAYER, buf.length, `BOOTP message of ${buf.length} bytes is shorter than 300 (64-byte vend field)`);
    }
  } else {
    throw new DecodeError(LAYER, DHCP_FIXED_HEADER_LENGTH, `bad magic cookie ${[...cookie].join('.')}`);
  }

  const decodedOptions: DhcpOptions = new Map();
  for (const [code, parts] of options) decodedOptions.set(code, parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts));

  return {
    op,
    htype,
    hlen,
    hops: buf[3],
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: Buffer.from(buf.subarray(CHADDR_OFFSET, CHADDR_OFFSET + CHADDR_LENGTH)),
    sname: overload & OVERLOAD_SNAME ? '' : readName(buf, SNAME_OFFSET, SNAME_LENGTH),
    file: overload & OVERLOAD_FILE ? '' : readName(buf, FILE_OFFSET, FILE_LENGTH),
    options: decodedOptions,
  };
}

/**
 * Walks one option area [start, end), calling `found` for each option instance
 * (value is a view). Returns true when the area ended with an End option.
 */
function scanOptions(
  buf: Buffer,
  start: number,
  end: number,
  area: 'options' | 'file' | 'sname',
  found: (code: number, value: Buffer, offset: number) => void,
): boolean {
  let i = start;
  while (i < end) {
    const code = buf[i];
    if (code === Opt.Pad) {
      i++;
      continue;
    }
    if (code === Opt.End) return true;
    if (i + 1 >= end) throw new DecodeError(LAYER, i, `option ${code} has no length byte before the end of the ${area} area`);
    const length = buf[i + 1];
    if (i + 2 + length > end) {
      throw new DecodeError(LAYER, i + 1, `option ${code} length ${length} runs past the end of the ${area} area`);
    }
    found(code, buf.subarray(i + 2, i + 2 + length), i);
    i += 2 + length;
  }
  return false;
}

function addInstance(options: Map<number, Buffer[]>, code: number, value: Buffer): void {
  const parts = options.get(code);
  if (parts) parts.push(value);
  else options.set(code, [value]);
}

function readName(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString('latin1');
}

// ---- encode ------------------------------------------------------------------

/** One option instance on the wire: code, length, data. */
type Instance = Buffer;

interface Area {
  name: 'options' | 'file' | 'sname';
  /** Bytes available for option instances (End and, for the options field, 52 already set aside). */
  capacity: number;
  parts: Instance[];
  used: number;
}

export function encodeDhcp(msg: DhcpMessage, opts: EncodeDhcpOptions = {}): Buffer {
  checkByte(msg.op, 'op');
  checkByte(msg.htype, 'htype');
  checkByte(msg.hlen, 'hlen');
  checkByte(msg.hops, 'hops');
  if (msg.hlen > CHADDR_LENGTH) throw new RangeError(`hlen ${msg.hlen} exceeds the 16-byte chaddr field`);
  if (msg.htype === 1 && msg.hlen !== 6) throw new RangeError(`hlen ${msg.hlen} is not 6 for an Ethernet (htype 1) client`);
  if (!Number.isInteger(msg.xid) || msg.xid < 0 || msg.xid > 0xffffffff) throw new RangeError(`xid out of range: ${msg.xid}`);
  checkU16(msg.secs, 'secs');
  checkU16(msg.flags, 'flags');
  if (msg.chaddr.length > CHADDR_LENGTH) throw new RangeError(`chaddr of ${msg.chaddr.length} bytes exceeds 16`);
  const sname = nameBytes(msg.sname, SNAME_LENGTH, 'sname');
  const file = nameBytes(msg.file, FILE_LENGTH, 'file');

  const instances = optionInstances(msg.options);
  const messageLimit = dhcpMessageLimit(opts.maxSize);
  const plainCapacity = messageLimit - OPTIONS_OFFSET - 1; // End
  const total = instances.reduce((sum, instance) => sum + instance.length, 0);

  const optionsArea: Area = { name: 'options', capacity: plainCapacity, parts: [], used: 0 };
  const fileArea: Area = { name: 'file', capacity: FILE_LENGTH - 1, parts: [], used: 0 };
  const snameArea: Area = { name: 'sname', capacity: SNAME_LENGTH - 1, parts: [], used: 0 };
  let overload = 0;
  if (total <= plainCapacity) {
    optionsArea.parts = instances;
    optionsArea.used = total;
  } else {
    // RFC 2131 4.1 / RFC 2132 9.3: spill into file, then sname, when they carry nothing else.
    optionsArea.capacity = plainCapacity - 3; // room for option 52
    const areas = [optionsArea];
    if (file.length === 0) areas.push(fileArea);
    if (sname.length === 0) areas.push(snameArea);
    let current = 0;
    for (const instance of instances) {
      while (current < areas.length && areas[current].used + instance.length > areas[current].capacity) current++;
      const area = areas[current];
      if (!area) {
        throw new RangeError(
          `DHCP options (${total} bytes) do not fit in a ${messageLimit}-byte message` +
            (areas.length === 1 ? ' and sname/file are in use' : ' even with sname/file overloaded'),
        );
      }
      area.parts.push(instance);
      area.used += instance.length;
    }
    overload = (fileArea.used > 0 ? OVERLOAD_FILE : 0) | (snameArea.used > 0 ? OVERLOAD_SNAME : 0);
  }

  const optionsLength = optionsArea.used + (overload ? 3 : 0) + 1;
  const out = Buffer.alloc(Math.max(BOOTP_MIN_LENGTH, OPTIONS_OFFSET + optionsLength));
  out[0] = msg.op;
  out[1] = msg.htype;
  out[2] = msg.hlen;
  out[3] = msg.hops;
  out.writeUInt32BE(msg.xid, 4);
  out.writeUInt16BE(msg.secs, 8);
  out.writeUInt16BE(msg.flags, 10);
  ipToBytes(msg.ciaddr).copy(out, 12);
  ipToBytes(msg.yiaddr).copy(out, 16);
  ipToBytes(msg.siaddr).copy(out, 20);
  ipToBytes(msg.giaddr).copy(out, 24);
  msg.chaddr.copy(out, CHADDR_OFFSET);
  if (overload & OVERLOAD_SNAME) writeArea(out, SNAME_OFFSET, snameArea);
  else sname.copy(out, SNAME_OFFSET);
  if (overload & OVERLOAD_FILE) writeArea(out, FILE_OFFSET, fileArea);
  else file.copy(out, FILE_OFFSET);
  Buffer.from(MAGIC_COOKIE).copy(out, DHCP_FIXED_HEADER_LENGTH);
  let at = writeParts(out, OPTIONS_OFFSET, optionsArea.parts);
  if (overload) {
    out[at++] = Opt.Overload;
    out[at++] = 1;
    out[at++] = overload;
  }
  out[at] = Opt.End; // the rest is already zero: Pad up to the 300-byte minimum
  return out;
}

/** The largest DHCP message (UDP payload) allowed for a client's option 57 value; see the rules above. */
export function dhcpMessageLimit(maxSize?: number): number {
  if (maxSize !== undefined && (!Number.isInteger(maxSize) || maxSize < 0)) throw new RangeError(`maxSize must be a non-negative integer, not ${maxSize}`);
  const datagram = Math.min(MAX_DATAGRAM_SIZE, Math.max(MIN_MAX_MESSAGE_SIZE, maxSize ?? MIN_MAX_MESSAGE_SIZE));
  return datagram - IP_UDP_OVERHEAD;
}

function optionInstances(options: DhcpOptions): Instance[] {
  const instances: Instance[] = [];
  for (const [code, value] of options) {
    if (!Number.isInteger(code) || code < 1 || code > 254) throw new RangeError(`option code ${code} cannot be sent (Pad and End are written by the codec)`);
    if (code === Opt.Overload) throw new RangeError('option 52 (overload) is written by the codec, not taken from the options');
    if (!Buffer.isBuffer(value)) throw new RangeError(`option ${code} value is not a Buffer`);
    // RFC 3396 section 5: a value longer than 255 bytes goes out as consecutive instances.
    let offset = 0;
    do {
      const chunk = value.subarray(offset, offset + MAX_INSTANCE_DATA);
      const instance = Buffer.alloc(2 + chunk.length);
      instance[0] = code;
      instance[1] = chunk.length;
      chunk.copy(instance, 2);
      instances.push(instance);
      offset += MAX_INSTANCE_DATA;
    } while (offset < value.length);
  }
  return instances;
}

function writeParts(out: Buffer, offset: number, parts: Instance[]): number {
  let at = offset;
  for (const part of parts) {
    part.copy(out, at);
    at += part.length;
  }
  return at;
}

/** An overloaded sname/file field: its options, End, zero padding (RFC 2131 4.1). */
function writeArea(out: Buffer, offset: number, area: Area): void {
  const at = writeParts(out, offset, area.parts);
  out[at] = Opt.End;
}

function nameBytes(text: string, fieldLength: number, field: string): Buffer {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0 || code > 0xff) throw new RangeError(`${field} contains a character that cannot be sent (code ${code} at ${i})`);
  }
  // RFC 2131 section 2: "null terminated string" -- keep room for the NUL.
  if (text.length > fieldLength - 1) throw new RangeError(`${field} of ${text.length} bytes does not fit the ${fieldLength}-byte field with its NUL`);
  return Buffer.from(text, 'latin1');
}

function checkByte(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`${name} out of range: ${value}`);
}

function checkU16(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${name} out of range: ${value}`);
}
