// Fuzz target: the DHCP decoder and every option reader, plus the Ethernet/IPv4/UDP/ARP frame decoders.
// Invariants: the only exception is DecodeError; whatever decodes re-encodes (or is refused
// with a RangeError naming a limit) and decodes again to the same message; readers of a
// decoded message throw only DecodeError.

import { decodeDhcp, encodeDhcp } from '../../../firmware/src/dhcp/codec.js';
import type { DhcpMessage } from '../../../firmware/src/dhcp/message.js';
import {
  clientArch,
  clientId,
  clientNdi,
  clientUuid,
  hostname,
  ipxe,
  leaseTime,
  maxMessageSize,
  messageType,
  parameterRequestList,
  pxeOptions,
  relayAgentInfo,
  requestedIp,
  serverId,
  userClass,
  vendorClass,
} from '../../../firmware/src/dhcp/options.js';
import { DecodeError } from '../../../firmware/src/net/decode-error.js';
import { decodeUdpFrame } from '../../../firmware/src/net/frame.js';
import { decodeArpFrame } from '../../../firmware/src/net/arp.js';
import { allowing, check } from './_support.js';

export const maxLen = 1600;

const READERS = [
  messageType,
  requestedIp,
  serverId,
  leaseTime,
  parameterRequestList,
  maxMessageSize,
  clientId,
  vendorClass,
  hostname,
  userClass,
  clientArch,
  clientNdi,
  clientUuid,
  pxeOptions,
  relayAgentInfo,
  ipxe,
];

export function fuzz(data: Buffer): void {
  const msg = allowing(() => decodeDhcp(data), DecodeError);
  if (msg) {
    for (const read of READERS) allowing(() => read(msg.options), DecodeError);
    checkReencodes(msg);
  }
  // The same bytes as a whole frame: the link layer sees every frame before DHCP does.
  allowing(() => decodeUdpFrame(data), DecodeError);
  allowing(() => decodeArpFrame(data), DecodeError);
}

function checkReencodes(msg: DhcpMessage): void {
  // 52 never appears in decoded options; an option too big for 1500 bytes is refused by the encoder.
  const encoded = allowing(() => encodeDhcp(msg, { maxSize: 1500 }), RangeError);
  if (!encoded) return;
  const again = decodeDhcp(encoded);
  check(again.xid === msg.xid && again.op === msg.op && again.chaddr.equals(msg.chaddr), 'header changed in a round trip');
  check(again.giaddr === msg.giaddr && again.ciaddr === msg.ciaddr, 'addresses changed in a round trip');
  check(again.options.size === msg.options.size, `option count changed in a round trip: ${msg.options.size} -> ${again.options.size}`);
  for (const [code, value] of msg.options) {
    check(again.options.get(code)?.equals(value), `option ${code} changed in a round trip`);
  }
}
