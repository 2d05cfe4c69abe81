// Fuzz target: the TFTP packet decoder (RRQ/WRQ, DATA, ACK, ERROR, OACK), option
// negotiation, netascii decoding and boot-root confinement of request names.
// Invariants: the only exception is DecodeError; a decoded packet re-encodes to a
// packet that decodes the same; negotiation never throws and stays within RFC 2348/2349/
// 7440 bounds and our limits; a request name that resolveBootPath accepts stays under
// the root, without a '..' segment or a sibling-prefix escape (/srv/boot-evil).

import { sep } from 'node:path';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../../firmware/src/tftp/codec.js';
import { negotiate, BLKSIZE_MIN, WINDOWSIZE_MIN } from '../../../firmware/src/tftp/options.js';
import { decodeNetascii } from '../../../firmware/src/tftp/netascii.js';
import { resolveBootPath } from '../../../firmware/src/tftp/paths.js';
import { DecodeError } from '../../../firmware/src/net/decode-error.js';
import { allowing, check } from './_support.js';

export const maxLen = 1600;
const ROOT = '/srv/boot';
const LIMITS = { maxBlksize: 1468, maxWindow: 64, fileSize: 123_456 };

export function fuzz(data: Buffer): void {
  const packet = allowing(() => decodeTftp(data), DecodeError);
  if (!packet) return;
  checkRoundTrip(packet);
  if (packet.op === 'rrq' || packet.op === 'wrq') {
    const { params, accepted } = negotiate(packet.options, { ...LIMITS, op: packet.op });
    check(params.blksize >= BLKSIZE_MIN && params.blksize <= LIMITS.maxBlksize, `blksize ${params.blksize} out of bounds`);
    check(params.windowsize >= WINDOWSIZE_MIN && params.windowsize <= LIMITS.maxWindow, `windowsize ${params.windowsize} out of bounds`);
    check(params.timeoutMs === undefined || (params.timeoutMs >= 1000 && params.timeoutMs <= 255_000), `timeout ${params.timeoutMs} out of bounds`);
    for (const name of accepted.keys()) check(packet.options.has(name), `OACK names ${name}, which the client did not ask for`);
    checkConfined(packet.filename);
  }
  if (packet.op === 'data') decodeNetascii(packet.data);
}

function checkRoundTrip(packet: TftpPacket): void {
  const again = decodeTftp(encodeTftp(packet));
  check(JSON.stringify(normalise(again)) === JSON.stringify(normalise(packet)), `${packet.op} changed in a round trip`);
}

function normalise(packet: TftpPacket): unknown {
  if ('options' in packet) return { ...packet, options: [...packet.options] };
  if (packet.op === 'data') return { ...packet, data: packet.data.toString('hex') };
  return packet;
}

function checkConfined(name: string): void {
  const resolved = resolveBootPath(ROOT, name);
  if (!resolved.ok) return;
  check(resolved.path.startsWith(ROOT + sep), `${JSON.stringify(name)} resolved to ${resolved.path}, outside ${ROOT}/`);
  check(!resolved.relative.split('/').includes('..'), `${JSON.stringify(name)} kept a '..' segment`);
  check(!resolved.relative.startsWith('/'), `${JSON.stringify(name)} stayed absolute`);
}
