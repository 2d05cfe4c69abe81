// Property tests for the DHCP codec and option readers (fast-check): encode/decode round
// trips, decoder totality (any bytes -> a message or DecodeError, never another error).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import type { DhcpMessage } from '../../firmware/src/dhcp/message.js';
import {
  clientArch,
  clientId,
  clientNdi,
  clientUuid,
  decodeEncapsulated,
  encapsulatedOption,
  hostname,
  ipxe,
  maxMessageSize,
  messageType,
  pxeOptions,
  relayAgentInfo,
  requestedIp,
  serverId,
  userClass,
} from '../../firmware/src/dhcp/options.js';
import { DecodeError } from '../../firmware/src/net/decode-error.js';

const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
const latin1Name = (max: number) => fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: max });
const optionCode = fc.integer({ min: 1, max: 254 }).filter((code) => code !== 52);
const options = fc.uniqueArray(
  fc.tuple(
    optionCode,
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  ),
  { selector: ([code]) => code, maxLength: 12 },
);

const message: fc.Arbitrary<DhcpMessage> = fc.record({
  op: fc.constantFrom(1, 2),
  htype: fc.constant(1),
  hlen: fc.constant(6),
  hops: fc.nat(255),
  xid: fc.nat(0xffffffff),
  secs: fc.nat(0xffff),
  flags: fc.nat(0xffff),
  ciaddr: ip,
  yiaddr: ip,
  siaddr: ip,
  giaddr: ip,
  chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b)),
  sname: latin1Name(63),
  file: latin1Name(127),
  options: options.map((list) => new Map(list)),
});

const readers = [
  messageType,
  requestedIp,
  serverId,
  maxMessageSize,
  clientId,
  hostname,
  userClass,
  clientArch,
  clientNdi,
  clientUuid,
  pxeOptions,
  relayAgentInfo,
  ipxe,
];

function decodesOrDecodeError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
  }
}

describe('DHCP codec properties', () => {
  it('decode(encode(m)) is m whenever m fits a 1500-byte message', () => {
    fc.assert(
      fc.property(message, (msg) => {
        let encoded: Buffer;
        try {
          encoded = encodeDhcp(msg, { maxSize: 1500 });
        } catch (error) {
          expect(error).toBeInstanceOf(RangeError); // too many option bytes even with overload
          return;
        }
        expect(encoded.length).toBeLessThanOrEqual(1500 - 28);
        const decoded = decodeDhcp(encoded);
        expect({ ...decoded, options: [...decoded.options] }).toEqual({ ...msg, options: [...msg.options] });
      }),
      { numRuns: 400 },
    );
  });

  it('any bytes decode to a message or a DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        decodesOrDecodeError(() => decodeDhcp(Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated real-looking messages decode to a message or a DecodeError, and so do their option readers', () => {
    const base = encodeDhcp({
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 1,
      secs: 0,
      flags: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '0.0.0.0',
      siaddr: '0.0.0.0',
      giaddr: '0.0.0.0',
      chaddr: Buffer.alloc(16),
      sname: '',
      file: '',
      options: new Map([
        [53, Buffer.from([1])],
        [61, Buffer.from([1, 2, 3, 4, 5, 6, 7])],
        [82, Buffer.from([1, 2, 3, 4])],
      ]),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length + 40), fc.nat(255)), { maxLength: 20 }), fc.nat(base.length + 40), (edits, cut) => {
        const bytes = Buffer.concat([base, Buffer.alloc(40)]);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        let msg: DhcpMessage;
        try {
          msg = decodeDhcp(bytes.subarray(0, cut));
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
          return;
        }
        for (const read of readers) decodesOrDecodeError(() => read(msg.options));
      }),
      { numRuns: 2000 },
    );
  });

  it('option readers over arbitrary option values return or throw DecodeError', () => {
    fc.assert(
      fc.property(fc.constantFrom(43, 50, 53, 54, 57, 61, 77, 82, 93, 94, 97, 175), fc.uint8Array({ maxLength: 40 }), (code, value) => {
        const opts = new Map([[code, Buffer.from(value)]]);
        for (const read of readers) decodesOrDecodeError(() => read(opts));
      }),
      { numRuns: 3000 },
    );
  });

  it('encapsulated sub-options round-trip, values over 255 bytes included', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 600 })), { selector: ([c]) => c, maxLength: 6 }),
        (subs) => {
          const map = new Map(subs.map(([c, v]) => [c, Buffer.from(v)] as const));
          expect([...decodeEncapsulated(encapsulatedOption(map), 82)]).toEqual([...map]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
