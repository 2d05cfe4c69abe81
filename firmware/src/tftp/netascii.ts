// netascii (RFC 764 "NVT ASCII", used by RFC 1350 mode "netascii").
//
// On the wire a line ends with CR LF and a bare CR is sent as CR NUL. rackboot
// runs on Unix, where a line ends with LF, so each local byte maps on its own:
// LF -> CR LF, CR -> CR NUL, anything else unchanged (tftp-hpa does the same).
// No lookahead is needed, so the mapping works chunk by chunk.
//
// A transfer converts as it sends (streamNetascii): the file is read in chunks
// through its source (the fd for large files), each chunk is converted on its
// own, and only the converted bytes the transfer may still send or resend are
// kept. A pair that straddles a block boundary (CR at the end of one block, LF
// at the start of the next) needs nothing special: blocks are cut from the
// converted bytes. Memory stays bounded by the window plus two chunks whatever
// the file's size, and no conversion blocks the event loop for longer than one
// chunk. The converted size is known only at the end, so tsize is not offered
// for netascii (tftp-hpa does the same).

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** Local bytes converted per read of the file. */
const CHUNK_BYTES = 64 * 1024;

/** Bytes `data` takes on the wire in netascii. */
export function netasciiLength(data: Buffer): number {
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte === LF || byte === CR) extra++;
  }
  return data.length + extra;
}

/** Local (Unix) bytes -> netascii. A chunk with neither CR nor LF is returned as it is (no copy). */
export function encodeNetascii(data: Buffer): Buffer {
  if (data.indexOf(CR) < 0 && data.indexOf(LF) < 0) return data;
  const out = Buffer.allocUnsafe(netasciiLength(data));
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else if (byte === CR) {
      out[o++] = CR;
      out[o++] = NUL;
    } else {
      out[o++] = byte;
    }
  }
  return out;
}

/**
 * netascii -> local bytes, for clients (the storm simulator, tests): CR LF -> LF,
 * CR NUL -> CR. A CR followed by anything else, or at the end, is kept as it is.
 */
export function decodeNetascii(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte === CR && i + 1 < data.length && (data[i + 1] === LF || data[i + 1] === NUL)) {
      out[o++] = data[i + 1] === LF ? LF : CR;
      i++;
    } else {
      out[o++] = byte;
    }
  }
  return Buffer.from(out.subarray(0, o));
}

/** The file-source shape of file-cache.ts, restated so this module stands alone. */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Buffer;
  close?(): void;
}

/** A converted stream in the shape transfer.ts reads (FileSource with an unknown size). */
export interface NetasciiStream {
  /** Unknown until the end: a read() shorter than asked marks it. */
  readonly size: undefined;
  /**
   * Converted bytes [offset, offset + length), fewer only at the end. Throws for an
   * offset already released, and when the file shrank underneath.
   */
  read(offset: number, length: number): Buffer;
  /** Converted bytes before `offset` will not be read again: their memory is let go. */
  release(offset: number): void;
  /** Converted bytes held in memory (what release() has not let go of). */
  readonly buffered: number;
  /** Closes the original source (the caller owns it either way). */
  close(): void;
}

/** `file` converted to netascii as it is read (see the top of this file). */
export function streamNetascii(file: ByteSource, chunkBytes = CHUNK_BYTES): NetasciiStream {
  /** Converted chunks in order; segments[0] starts at wire offset `start`. */
  const segments: Buffer[] = [];
  let start = 0;
  let held = 0;
  /** Next local byte to convert. */
  let localPos = 0;

  const fill = (end: number): void => {
    while (start + held < end && localPos < file.size) {
      const want = Math.min(chunkBytes, file.size - localPos);
      const chunk = file.read(localPos, want);
      if (chunk.length !== want) throw new Error(`file changed during the transfer: read ${chunk.length} of ${want} bytes at offset ${localPos}`);
      localPos += want;
      const converted = encodeNetascii(chunk);
      segments.push(converted);
      held += converted.length;
    }
  };

  return {
    size: undefined,
    read(offset, length) {
      if (offset < start) throw new Error(`netascii offset ${offset} was already released (kept from ${start})`);
      fill(offset + length);
      const parts: Buffer[] = [];
      let segStart = start;
      let from = offset;
      const end = offset + length;
      for (const segment of segments) {
        const segEnd = segStart + segment.length;
        if (from < segEnd && from < end) {
          const piece = segment.subarray(from - segStart, Math.min(segment.length, end - segStart));
          parts.push(piece);
          from += piece.length;
        }
        if (from >= end) break;
        segStart = segEnd;
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts);
    },
    release(offset) {
      while (segments.length > 0 && start + segments[0].length <= offset) {
        const dropped = segments.shift()!;
        start += dropped.length;
        held -= dropped.length;
      }
    },
    get buffered() {
      return held;
    },
    close: () => file.close?.(),
  };
}
