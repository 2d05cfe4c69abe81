// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zlib,
// gzip and Ethernet. The journal uses it to tell a completely written record
// from a torn or damaged one. Table-driven: one lookup per byte is fast enough
// for journal lines, and Node 20's zlib.crc32 only exists from 20.15 on.

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 of `data`. Pass the result for the previous chunk as `previous` to
 * checksum data that arrives in pieces: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
