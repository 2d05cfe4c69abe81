// netascii (RFC 764 "NVT ASCII", used by RFC 1350 mode "netascii").
//
// On the wire a line ends with CR LF and a bare CR is sent as CR NUL. rackboot
// runs on Unix, where a line ends with LF, so each local byte maps on its own:
// LF -> CR LF, CR -> CR NUL, anything else unchanged (tftp-hpa does the same).
// No lookahead is needed, so the mapping also works chunk by chunk.
//
// netascii files are small text files (configs), so a transfer converts the
// whole file once (toNetascii) and then serves blocks from the result; its size
// is what tsize must answer.

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** Bytes `data` takes on the wire in netascii. */
export function netasciiLength(data: Buffer): number {
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte === LF || byte === CR) extra++;
  }
  return data.length + extra;
}

/** Local (Unix) bytes -> netascii. */
export function encodeNetascii(data: Buffer): Buffer {
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

/** The file-source shape of transfer.ts and file-cache.ts, restated so this module stands alone. */
export interface ByteSource {
  size: number;
  read(offset: number, length: number): Buffer;
  close?(): void;
}

/**
 * The whole of `file` converted to netascii, served from memory. `close()`
 * closes the original source (the caller owns it either way).
 */
export function toNetascii(file: ByteSource): ByteSource & { close(): void } {
  const encoded = encodeNetascii(file.read(0, file.size));
  return {
    size: encoded.length,
    read: (offset, length) => encoded.subarray(offset, Math.min(encoded.length, offset + length)),
    close: () => file.close?.(),
  };
}
