// TFTP codec (RFC 1350, RFC 2347), option negotiation (RFC 2348/2349/7440) and
// netascii (RFC 764): round trips, the packets real clients send, every
// malformed class, and the negotiation table.
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../firmware/src/net/decode-error.js';
import { decodeTftp, encodeTftp, TftpError, ERR_OPTION_REFUSED, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { negotiate } from '../../firmware/src/tftp/options.js';
import { decodeNetascii, encodeNetascii, netasciiLength, streamNetascii } from '../../firmware/src/tftp/netascii.js';

function bytes(...parts: (string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

function expectDecodeError(buf: Buffer): DecodeError {
  try {
    decodeTftp(buf);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`expected a DecodeError, got ${String(error)}`, { cause: error });
    expect(error.layer).toBe('tftp');
    return error;
  }
  throw new Error(`expected a DecodeError for ${buf.toString('hex')}, but decoding succeeded`);
}

describe('decodeTftp / encodeTftp', () => {
  const packets: TftpPacket[] = [
    { op: 'rrq', filename: 'pxelinux.0', mode: 'octet', options: new Map() },
    {
      op: 'rrq',
      filename: 'undionly.kpxe',
      mode: 'octet',
      options: new Map([
        ['tsize', '0'],
        ['blksize', '1468'],
      ]),
    },
    { op: 'wrq', filename: 'up.bin', mode: 'netascii', options: new Map([['windowsize', '8']]) },
    { op: 'rrq', filename: '', mode: 'octet', options: new Map() },
    { op: 'data', block: 1, data: Buffer.from('hello') },
    { op: 'data', block: 65535, data: Buffer.alloc(0) },
    { op: 'data', block: 0, data: Buffer.alloc(1468, 0xab) },
    { op: 'ack', block: 0 },
    { op: 'ack', block: 65535 },
    { op: 'error', code: TftpError.FileNotFound, message: 'File not found' },
    { op: 'error', code: 0, message: '' },
    {
      op: 'oack',
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '123456'],
      ]),
    },
    { op: 'oack', options: new Map() },
  ];
  for (const packet of packets) {
    it(`round-trips ${packet.op} ${JSON.stringify(packet, (k, v: unknown) => (v instanceof Map ? [...v] : k === 'data' ? undefined : v))}`, () => {
      expect(decodeTftp(encodeTftp(packet))).toEqual(packet);
    });
  }

  it('encodes the RFC 1350 layouts byte for byte', () => {
    expect(encodeTftp({ op: 'rrq', filename: 'a', mode: 'octet', options: new Map([['blksize', '1428']]) })).toEqual(
      bytes([0, 1], 'a', [0], 'octet', [0], 'blksize', [0], '1428', [0]),
    );
    expect(encodeTftp({ op: 'data', block: 258, data: Buffer.from('xy') })).toEqual(bytes([0, 3, 1, 2], 'xy'));
    expect(encodeTftp({ op: 'ack', block: 513 })).toEqual(bytes([0, 4, 2, 1]));
    expect(encodeTftp({ op: 'error', code: 8, message: 'no' })).toEqual(bytes([0, 5, 0, 8], 'no', [0]));
    expect(encodeTftp({ op: 'oack', options: new Map([['tsize', '7']]) })).toEqual(bytes([0, 6], 'tsize', [0], '7', [0]));
  });

  it('reads a PXE ROM request: upper-case option names lower-cased, order kept, mode as sent', () => {
    const p = decodeTftp(bytes([0, 1], 'pxelinux.cfg/01-52-54-00-aa-bb-cc', [0], 'OCTET', [0], 'TSIZE', [0], '0', [0], 'BlkSize', [0], '1456', [0]));
    expect(p).toEqual({
      op: 'rrq',
      filename: 'pxelinux.cfg/01-52-54-00-aa-bb-cc',
      mode: 'OCTET',
      options: new Map([
        ['tsize', '0'],
        ['blksize', '1456'],
      ]),
    });
  });

  it('decodes the zero-length filename some PXE ROMs send', () => {
    expect(decodeTftp(bytes([0, 1, 0], 'octet', [0]))).toMatchObject({ op: 'rrq', filename: '', mode: 'octet' });
  });

  it('tolerates padding and junk after the last complete option', () => {
    const base = bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '512', [0]);
    const want = new Map([['blksize', '512']]);
    expect((decodeTftp(Buffer.concat([base, Buffer.alloc(20)])) as { options: unknown }).options).toEqual(want);
    expect((decodeTftp(Buffer.concat([base, Buffer.from('junk')])) as { options: unknown }).options).toEqual(want);
    expect((decodeTftp(Buffer.concat([base, bytes([0], 'tsize', [0], '0', [0])])) as { options: unknown }).options).toEqual(want);
    expect((decodeTftp(bytes([0, 1], 'f', [0], 'octet', [0], 'junk')) as { options: unknown }).options).toEqual(new Map());
  });

  it('keeps the first of a repeated option', () => {
    const p = decodeTftp(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '512', [0], 'BLKSIZE', [0], '1468', [0]));
    expect((p as { options: Map<string, string> }).options).toEqual(new Map([['blksize', '512']]));
  });

  it('copies DATA out of the packet and tolerates bytes after an ACK', () => {
    const raw = bytes([0, 3, 0, 1], 'abc');
    const p = decodeTftp(raw) as { data: Buffer };
    raw[4] = 0x7a;
    expect(p.data.toString()).toBe('abc');
    expect(decodeTftp(bytes([0, 4, 0, 9, 0, 0]))).toEqual({ op: 'ack', block: 9 });
  });

  it('reads an ERROR whose message lacks its NUL (sloppy PXE aborts)', () => {
    expect(decodeTftp(bytes([0, 5, 0, 0], 'TFTP Aborted'))).toEqual({ op: 'error', code: 0, message: 'TFTP Aborted' });
    expect(decodeTftp(bytes([0, 5, 0, 8]))).toEqual({ op: 'error', code: ERR_OPTION_REFUSED, message: '' });
  });

  describe('malformed packets', () => {
    const cases: [string, Buffer, RegExp, number?][] = [
      ['empty packet', Buffer.alloc(0), /no opcode/, 0],
      ['one byte', Buffer.from([0]), /no opcode/, 1],
      ['opcode 0', bytes([0, 0], 'x', [0]), /unknown opcode 0/, 0],
      ['opcode 7', bytes([0, 7, 0, 1]), /unknown opcode 7/, 0],
      ['opcode 0x0100 (byte order)', bytes([1, 0, 0, 1]), /unknown opcode 256/, 0],
      ['RRQ with nothing after the opcode', bytes([0, 1]), /filename is not NUL-terminated/, 2],
      ['RRQ filename without NUL', bytes([0, 1], 'pxelinux.0'), /filename is not NUL-terminated/, 2],
      ['RRQ without mode', bytes([0, 1], 'f', [0]), /mode is not NUL-terminated/, 4],
      ['RRQ mode without NUL', bytes([0, 1], 'f', [0], 'octet'), /mode is not NUL-terminated/, 4],
      ['RRQ empty mode', bytes([0, 1], 'f', [0, 0]), /empty transfer mode/, 4],
      ['WRQ filename without NUL', bytes([0, 2], 'f'), /filename is not NUL-terminated/, 2],
      ['option name without value', bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0]), /option blksize has no value/],
      [
        'option value without NUL (CVE-2021-46671 class)',
        bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '1468'),
        /value of option blksize is not NUL-terminated/,
      ],
      ['second option cut', bytes([0, 1], 'f', [0], 'octet', [0], 'tsize', [0], '0', [0], 'blksize', [0]), /option blksize has no value/],
      ['filename over 512 bytes', bytes([0, 1], 'a'.repeat(513), [0], 'octet', [0]), /filename of 513 bytes is longer than 512/, 2],
      ['short DATA', bytes([0, 3, 0]), /DATA packet of 3 bytes/, 3],
      ['short ACK', bytes([0, 4, 0]), /ACK packet of 3 bytes/, 3],
      ['ACK with opcode only', bytes([0, 4]), /ACK packet of 2 bytes/, 2],
      ['short ERROR', bytes([0, 5, 0]), /ERROR packet of 3 bytes/, 3],
      ['OACK value without NUL', bytes([0, 6], 'blksize', [0], '512'), /value of option blksize is not NUL-terminated/],
      ['OACK name without value', bytes([0, 6], 'tsize', [0]), /option tsize has no value/],
    ];
    for (const [name, buf, reason, offset] of cases) {
      it(name, () => {
        const error = expectDecodeError(buf);
        expect(error.reason).toMatch(reason);
        if (offset !== undefined) expect(error.offset).toBe(offset);
        expect(error.offset).toBeLessThanOrEqual(buf.length);
      });
    }

    it('accepts a filename of exactly 512 bytes', () => {
      expect(decodeTftp(bytes([0, 1], 'a'.repeat(512), [0], 'octet', [0]))).toMatchObject({ filename: 'a'.repeat(512) });
    });
  });

  it('refuses to encode what cannot be sent', () => {
    expect(() => encodeTftp({ op: 'ack', block: 65536 })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'data', block: -1, data: Buffer.alloc(0) })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'error', code: 70000, message: '' })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'rrq', filename: 'a\0b', mode: 'octet', options: new Map() })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'rrq', filename: 'a', mode: '', options: new Map() })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'oack', options: new Map([['', '1']]) })).toThrow(RangeError);
    expect(() => encodeTftp({ op: 'error', code: 0, message: 'snow \u2603' })).toThrow(RangeError);
  });

  it('exports the RFC 1350 / RFC 2347 error codes', () => {
    expect(TftpError).toEqual({
      NotDefined: 0,
      FileNotFound: 1,
      AccessViolation: 2,
      DiskFull: 3,
      IllegalOperation: 4,
      UnknownTid: 5,
      FileExists: 6,
      NoSuchUser: 7,
      OptionRefused: 8,
    });
  });
});

describe('negotiate', () => {
  const limits = { maxBlksize: 1468, maxWindow: 16, fileSize: 4242 };
  const table: { name: string; request: [string, string][]; accepted: [string, string][]; params: Record<string, number> }[] = [
    { name: 'no options: RFC 1350 defaults, no OACK', request: [], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize within the limit', request: [['blksize', '1024']], accepted: [['blksize', '1024']], params: { blksize: 1024, windowsize: 1 } },
    { name: 'blksize clamped to the MTU limit', request: [['blksize', '65464']], accepted: [['blksize', '1468']], params: { blksize: 1468, windowsize: 1 } },
    { name: 'blksize minimum 8', request: [['blksize', '8']], accepted: [['blksize', '8']], params: { blksize: 8, windowsize: 1 } },
    { name: 'blksize 7 ignored', request: [['blksize', '7']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize 0 ignored', request: [['blksize', '0']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize 70000 ignored', request: [['blksize', '70000']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize abc ignored', request: [['blksize', 'abc']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize -512 ignored', request: [['blksize', '-512']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize " 512" ignored', request: [['blksize', ' 512']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'blksize 0x200 ignored', request: [['blksize', '0x200']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'tsize 0 answered with the size', request: [['tsize', '0']], accepted: [['tsize', '4242']], params: { blksize: 512, windowsize: 1, tsize: 4242 } },
    { name: 'tsize garbage ignored', request: [['tsize', 'x']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'timeout 1', request: [['timeout', '1']], accepted: [['timeout', '1']], params: { blksize: 512, windowsize: 1, timeoutMs: 1000 } },
    { name: 'timeout 255', request: [['timeout', '255']], accepted: [['timeout', '255']], params: { blksize: 512, windowsize: 1, timeoutMs: 255_000 } },
    { name: 'timeout 0 ignored', request: [['timeout', '0']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'timeout 256 ignored', request: [['timeout', '256']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'windowsize within the limit', request: [['windowsize', '8']], accepted: [['windowsize', '8']], params: { blksize: 512, windowsize: 8 } },
    { name: 'windowsize clamped', request: [['windowsize', '65535']], accepted: [['windowsize', '16']], params: { blksize: 512, windowsize: 16 } },
    { name: 'windowsize 0 ignored', request: [['windowsize', '0']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    { name: 'windowsize 65536 ignored', request: [['windowsize', '65536']], accepted: [], params: { blksize: 512, windowsize: 1 } },
    {
      name: 'unknown options ignored',
      request: [
        ['multicast', ''],
        ['rollover', '0'],
        ['utimeout', '500'],
      ],
      accepted: [],
      params: { blksize: 512, windowsize: 1 },
    },
    {
      name: 'the client order is kept, bad ones dropped',
      request: [
        ['windowsize', '4'],
        ['blksize', 'abc'],
        ['tsize', '0'],
        ['timeout', '3'],
        ['mode', 'x'],
      ],
      accepted: [
        ['windowsize', '4'],
        ['tsize', '4242'],
        ['timeout', '3'],
      ],
      params: { blksize: 512, windowsize: 4, tsize: 4242, timeoutMs: 3000 },
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const n = negotiate(new Map(row.request), limits);
      expect([...n.accepted]).toEqual(row.accepted);
      expect(n.params).toEqual(row.params);
    });
  }

  it('says why an option was left out', () => {
    const n = negotiate(
      new Map([
        ['blksize', '70000'],
        ['foo', '1'],
      ]),
      limits,
    );
    expect(n.ignored).toEqual([
      { name: 'blksize', value: '70000', reason: 'blksize must be 8-65464' },
      { name: 'foo', value: '1', reason: 'unknown option' },
    ]);
  });

  it('takes names case-insensitively from a hand-made Map, first one wins', () => {
    const n = negotiate(
      new Map([
        ['BLKSIZE', '1024'],
        ['blksize', '1400'],
      ]),
      limits,
    );
    expect([...n.accepted]).toEqual([['blksize', '1024']]);
    expect(n.ignored).toEqual([{ name: 'blksize', value: '1400', reason: 'repeated option' }]);
  });

  it('leaves tsize out when the size is unknown, echoes it for a WRQ', () => {
    expect([...negotiate(new Map([['tsize', '0']]), { maxBlksize: 1468, maxWindow: 1 }).accepted]).toEqual([]);
    expect([...negotiate(new Map([['tsize', '999']]), { maxBlksize: 1468, maxWindow: 1, op: 'wrq' }).accepted]).toEqual([['tsize', '999']]);
  });

  it('keeps the limits themselves inside the RFC ranges', () => {
    const n = negotiate(
      new Map([
        ['blksize', '65464'],
        ['windowsize', '65535'],
      ]),
      { maxBlksize: 100_000, maxWindow: 100_000 },
    );
    expect(n.params).toMatchObject({ blksize: 65464, windowsize: 65535 });
  });
});

describe('netascii', () => {
  it('maps LF to CR LF and CR to CR NUL (RFC 764)', () => {
    const local = Buffer.from('a\nb\rc\r\n\n');
    const wire = encodeNetascii(local);
    expect(wire).toEqual(Buffer.from('a\r\nb\r\0c\r\0\r\n\r\n', 'latin1'));
    expect(netasciiLength(local)).toBe(wire.length);
    expect(decodeNetascii(wire)).toEqual(local);
  });

  it('converts byte by byte, so chunks convert the same as the whole', () => {
    const local = Buffer.from('line one\r\nline two\n\rthree');
    const whole = encodeNetascii(local);
    for (let cut = 0; cut <= local.length; cut++) {
      expect(Buffer.concat([encodeNetascii(local.subarray(0, cut)), encodeNetascii(local.subarray(cut))])).toEqual(whole);
    }
  });

  it('streams a file source: size unknown, blocks from the converted bytes, close passed on', () => {
    const local = Buffer.from('default menu\nlabel linux\n');
    let closed = 0;
    const source = streamNetascii({ size: local.length, read: (o, l) => local.subarray(o, o + l), close: () => closed++ });
    expect(source.size).toBeUndefined();
    expect(source.read(0, 14).toString('latin1')).toBe('default menu\r\n');
    const rest = source.read(14, 512);
    expect(rest.toString('latin1')).toBe('label linux\r\n');
    expect(source.read(14 + rest.length, 512).length).toBe(0);
    source.close();
    expect(closed).toBe(1);
  });
});
