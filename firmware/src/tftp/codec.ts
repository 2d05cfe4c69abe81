// TFTP packet codec (RFC 1350 section 5, RFC 2347 option extension).
//
// Wire layout: a 2-byte opcode, then
//   RRQ/WRQ (1/2)  filename NUL mode NUL [name NUL value NUL]...
//   DATA (3)       block(2) data(0..n)
//   ACK (4)        block(2)
//   ERROR (5)      code(2) message NUL
//   OACK (6)       [name NUL value NUL]...                   (RFC 2347)
//
// Decoding rules, in one place:
// - Strings are read as latin1 (one char per byte) so any byte sequence
//   round-trips; paths.ts refuses names that are not printable ASCII.
// - A request's filename and mode must each end with a NUL inside the packet:
//   a string that runs to the end of the packet may have been cut, and acting on
//   a cut name is wrong (atftp's CVE-2021-46671 read past the buffer here; we
//   cannot, but we do not guess either).
// - A zero-length filename decodes as '' (PXE ROMs send it when DHCP gave them
//   no file name); the server answers it (paths.ts: error 1). The mode may not
//   be empty. A filename over 512 bytes is malformed: RFC 1350 requests fit a
//   512-byte packet and no boot loader has a name near that long.
// - Options (RRQ/WRQ after the mode, and OACK): name NUL value NUL pairs. Names
//   are lower-cased (RFC 2347: case-insensitive); values are kept as sent. The
//   first instance of a repeated name wins; later ones are dropped.
// - The option list ends at the end of the packet, or at a NUL where a name
//   would start, or at bytes with no NUL left in them: whatever follows the
//   last complete pair is ignored (some clients pad requests with NULs or
//   junk). A name that is NUL-terminated but has no NUL-terminated value after
//   it is malformed (the option was cut).
// - DATA carries everything after the block number (a copy, never a view).
//   ACK tolerates bytes after its 4 (padding).
// - ERROR: the message runs to its NUL, or to the end of the packet when the
//   NUL is missing. An ERROR ends a conversation and its text is only logged;
//   being lenient lets a sloppy PXE ROM's abort free its transfer at once
//   instead of after a full retransmission cycle.
//
// Encoding rules: block numbers and error codes are 16-bit; strings may not
// contain NUL or characters above 0xff; option names may not be empty
// (RangeError otherwise). Options go out in the Map's order.

import { DecodeError } from '../net/decode-error.js';

export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_DATA = 3;
export const OP_ACK = 4;
export const OP_ERROR = 5;
export const OP_OACK = 6;

/** RFC 1350 appendix (codes 0-7) and RFC 2347 (code 8). */
export const TftpError = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTid: 5,
  FileExists: 6,
  NoSuchUser: 7,
  /** RFC 2347: the client refuses the OACK, or ends the transfer after it. */
  OptionRefused: 8,
} as const;
export type TftpErrorCode = (typeof TftpError)[keyof typeof TftpError];

export const ERR_NOT_DEFINED = TftpError.NotDefined;
export const ERR_FILE_NOT_FOUND = TftpError.FileNotFound;
export const ERR_ACCESS_VIOLATION = TftpError.AccessViolation;
export const ERR_DISK_FULL = TftpError.DiskFull;
export const ERR_ILLEGAL_OPERATION = TftpError.IllegalOperation;
export const ERR_UNKNOWN_TID = TftpError.UnknownTid;
export const ERR_FILE_EXISTS = TftpError.FileExists;
export const ERR_NO_SUCH_USER = TftpError.NoSuchUser;
export const ERR_OPTION_REFUSED = TftpError.OptionRefused;

/** Longest filename the decoder accepts, in bytes. */
export const MAX_FILENAME_BYTES = 512;

/** RRQ and WRQ are separate members so Extract<TftpPacket, { op: 'rrq' }> works. */
export type TftpRequest = TftpRequestOf<'rrq'> | TftpRequestOf<'wrq'>;
type TftpRequestOf<Op extends 'rrq' | 'wrq'> = { op: Op; filename: string; mode: string; options: Map<string, string> };

export type TftpPacket =
  | TftpRequestOf<'rrq'>
  | TftpRequestOf<'wrq'>
  | { op: 'data'; block: number; data: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: Map<string, string> };

const LAYER = 'tftp';

// ---- decode ------------------------------------------------------------------

export function decodeTftp(buf: Buffer): TftpPacket {
  if (buf.length < 2) throw new DecodeError(LAYER, buf.length, `packet of ${buf.length} bytes has no opcode`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case OP_RRQ:
    case OP_WRQ: {
      const filename = readString(buf, 2, 'filename');
      if (filename.bytes > MAX_FILENAME_BYTES) {
        throw new DecodeError(LAYER, 2, `filename of ${filename.bytes} bytes is longer than ${MAX_FILENAME_BYTES}`);
      }
      const mode = readString(buf, filename.next, 'mode');
      if (mode.bytes === 0) throw new DecodeError(LAYER, filename.next, 'empty transfer mode');
      return { op: opcode === OP_RRQ ? 'rrq' : 'wrq', filename: filename.text, mode: mode.text, options: readOptions(buf, mode.next) };
    }
    case OP_DATA:
      requireLength(buf, 4, 'DATA');
      return { op: 'data', block: buf.readUInt16BE(2), data: Buffer.from(buf.subarray(4)) };
    case OP_ACK:
      requireLength(buf, 4, 'ACK');
      return { op: 'ack', block: buf.readUInt16BE(2) };
    case OP_ERROR: {
      requireLength(buf, 4, 'ERROR');
      const end = buf.indexOf(0, 4);
      return { op: 'error', code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end < 0 ? buf.length : end) };
    }
    case OP_OACK:
      return { op: 'oack', options: readOptions(buf, 2) };
    default:
      throw new DecodeError(LAYER, 0, `unknown opcode ${opcode}`);
  }
}

function requireLength(buf: Buffer, length: number, what: string): void {
  if (buf.length < length) throw new DecodeError(LAYER, buf.length, `${what} packet of ${buf.length} bytes is shorter than ${length}`);
}

interface ReadString {
  text: string;
  bytes: number;
  next: number;
}

/** A NUL-terminated string at `offset`; a missing NUL is malformed. */
function readString(buf: Buffer, offset: number, field: string): ReadString {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new DecodeError(LAYER, offset, `${field} is not NUL-terminated`);
  return { text: buf.toString('latin1', offset, end), bytes: end - offset, next: end + 1 };
}

/** RFC 2347 option pairs from `offset` to the end (see the rules at the top). */
function readOptions(buf: Buffer, offset: number): Map<string, string> {
  const options = new Map<string, string>();
  let at = offset;
  while (at < buf.length) {
    if (buf[at] === 0) break; // padding where a name would start
    const nameEnd = buf.indexOf(0, at);
    if (nameEnd < 0) break; // trailing bytes without a NUL: junk, not an option
    const name = buf.toString('latin1', at, nameEnd).toLowerCase();
    const valueStart = nameEnd + 1;
    const valueEnd = buf.indexOf(0, valueStart);
    if (valueEnd < 0) {
      throw new DecodeError(LAYER, valueStart, valueStart >= buf.length ? `option ${name} has no value` : `value of option ${name} is not NUL-terminated`);
    }
    if (!options.has(name)) options.set(name, buf.toString('latin1', valueStart, valueEnd));
    at = valueEnd + 1;
  }
  return options;
}

// ---- encode ------------------------------------------------------------------

export function encodeTftp(p: TftpPacket): Buffer {
  switch (p.op) {
    case 'rrq':
    case 'wrq': {
      const parts = [opcodeBytes(p.op === 'rrq' ? OP_RRQ : OP_WRQ), stringBytes(p.filename, 'filename'), stringBytes(p.mode, 'mode')];
      if (p.mode === '') throw new RangeError('mode may not be empty');
      parts.push(...optionBytes(p.options));
      return Buffer.concat(parts);
    }
    case 'data': {
      checkU16(p.block, 'block');
      const out = Buffer.allocUnsafe(4 + p.data.length);
      out.writeUInt16BE(OP_DATA, 0);
      out.writeUInt16BE(p.block, 2);
      p.data.copy(out, 4);
      return out;
    }
    case 'ack': {
      checkU16(p.block, 'block');
      const out = Buffer.alloc(4);
      out.writeUInt16BE(OP_ACK, 0);
      out.writeUInt16BE(p.block, 2);
      return out;
    }
    case 'error': {
      checkU16(p.code, 'error code');
      const head = Buffer.alloc(4);
      head.writeUInt16BE(OP_ERROR, 0);
      head.writeUInt16BE(p.code, 2);
      return Buffer.concat([head, stringBytes(p.message, 'error message')]);
    }
    case 'oack':
      return Buffer.concat([opcodeBytes(OP_OACK), ...optionBytes(p.options)]);
  }
}

function opcodeBytes(op: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(op, 0);
  return out;
}

/** latin1 bytes plus the terminating NUL. */
function stringBytes(text: string, field: string): Buffer {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0 || code > 0xff) throw new RangeError(`${field} contains a character that cannot be sent (code ${code} at ${i})`);
  }
  const out = Buffer.alloc(text.length + 1);
  out.write(text, 0, 'latin1');
  return out;
}

function optionBytes(options: Map<string, string>): Buffer[] {
  const parts: Buffer[] = [];
  for (const [name, value] of options) {
    if (name === '') throw new RangeError('option name may not be empty');
    parts.push(stringBytes(name, `option name ${name}`), stringBytes(value, `value of option ${name}`));
  }
  return parts;
}

function checkU16(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${name} out of range: ${value}`);
}
