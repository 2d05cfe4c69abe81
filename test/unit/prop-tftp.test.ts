// Property tests for the TFTP codec, option negotiation and netascii (fast-check).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { negotiate, BLKSIZE_MIN } from '../../firmware/src/tftp/options.js';
import { decodeNetascii, encodeNetascii } from '../../firmware/src/tftp/netascii.js';
import { DecodeError } from '../../firmware/src/net/decode-error.js';

const text = (min = 0, max = 40) => fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });
// Option names come back lower-cased and first-wins, so generate them that way.
const optionMap = fc
  .uniqueArray(
    fc.tuple(
      text(1, 12).map((s) => s.toLowerCase()),
      text(0, 12),
    ),
    { selector: ([name]) => name, maxLength: 6 },
  )
  .map((pairs) => new Map(pairs));

const packet: fc.Arbitrary<TftpPacket> = fc.oneof(
  fc.record({ op: fc.constantFrom('rrq' as const, 'wrq' as const), filename: text(0, 100), mode: text(1, 10), options: optionMap }),
  fc.record({ op: fc.constant('data' as const), block: fc.nat(0xffff), data: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)) }),
  fc.record({ op: fc.constant('ack' as const), block: fc.nat(0xffff) }),
  fc.record({ op: fc.constant('error' as const), code: fc.nat(0xffff), message: text(0, 60) }),
  fc.record({ op: fc.constant('oack' as const), options: optionMap }),
);

describe('TFTP codec properties', () => {
  it('decode(encode(p)) is p', () => {
    fc.assert(
      fc.property(packet, (p) => {
        expect(decodeTftp(encodeTftp(p))).toEqual(p);
      }),
      { numRuns: 1000 },
    );
  });

  it('any bytes decode to a packet or a DecodeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.tuple(fc.constantFrom(1, 2, 4, 5, 6), fc.uint8Array({ maxLength: 80 })).map(([op, rest]) => Uint8Array.from([0, op, ...rest])),
        ),
        (bytes) => {
          try {
            decodeTftp(Buffer.from(bytes));
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('every prefix of a valid request decodes or throws DecodeError, never reads past its end', () => {
    const full = encodeTftp({
      op: 'rrq',
      filename: 'undionly.kpxe',
      mode: 'octet',
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '0'],
      ]),
    });
    for (let cut = 0; cut <= full.length; cut++) {
      try {
        const p = decodeTftp(full.subarray(0, cut));
        expect(p.op).toBe('rrq');
      } catch (error) {
        expect(error).toBeInstanceOf(DecodeError);
      }
    }
  });

  it('negotiation never throws and keeps parameters within bounds', () => {
    fc.assert(
      fc.property(optionMap, fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 }), (options, maxBlksize, maxWindow) => {
        const { params, accepted } = negotiate(options, { maxBlksize, maxWindow, fileSize: 1000 });
        expect(params.blksize).toBeGreaterThanOrEqual(BLKSIZE_MIN);
        expect(params.blksize).toBeLessThanOrEqual(Math.max(BLKSIZE_MIN, Math.max(512, maxBlksize)));
        expect(params.windowsize).toBeGreaterThanOrEqual(1);
        for (const name of accepted.keys()) expect(options.has(name)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('netascii decodes what it encodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        expect(decodeNetascii(encodeNetascii(Buffer.from(bytes)))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it('netascii decoding is total', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => void decodeNetascii(Buffer.from(bytes))));
  });
});
