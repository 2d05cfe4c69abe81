// Fuzz target: the whole DHCP server (full DHCP and proxyDHCP) handling one packet, with
// leases already present, direct or relayed (giaddr + option 82), on port 67 or 4011.
// Input: one selector byte (bit 0 proxy mode, bit 1 port 4011, bit 2 unicast to the
// server), then the UDP payload.
// Invariants: handle() never throws and never counts an internal error (dhcp.errors: an
// exception inside the server is Kea CVE-2019-6472's class, "assertion reachable from the
// network"); every reply decodes, is a BOOTREPLY for the request's xid and chaddr, fits
// the client's size limit, and echoes option 82 unchanged or not at all; proxy replies
// carry no address; events name the request's xid. Afterwards a known node's DISCOVER
// still gets its reserved address.

import { rmSync } from 'node:fs';
import { decodeDhcp, dhcpMessageLimit } from '../../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage } from '../../../firmware/src/dhcp/message.js';
import type { RequestMeta } from '../../../firmware/src/dhcp/server.js';
import { DecodeError } from '../../../firmware/src/net/decode-error.js';
import { BROADCAST_META, KNOWN_IP, KNOWN_MAC, RELAY, SERVER, clientMessage, dora, makeDhcpWorld, type DhcpWorld } from '../dhcp-world.js';
import { allowing, check } from './_support.js';

export const maxLen = 1600;

let world: Promise<DhcpWorld> | undefined;

/** Leases already present: three clients through DISCOVER/REQUEST, one of them relayed with option 82. */
async function setUp(): Promise<DhcpWorld> {
  const w = await makeDhcpWorld('/dev/shm');
  // The engine ends the process when the run is over; the lease directory goes with it.
  process.once('exit', () => rmSync(w.dir, { recursive: true, force: true }));
  await dora(w, '52:54:00:aa:00:01');
  await dora(w, '52:54:00:aa:00:02');
  await dora(w, '52:54:00:aa:00:03', [[Opt.RelayAgentInfo, Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31, 2, 2, 0xab, 0xcd])]], { giaddr: RELAY, hops: 1 });
  check(w.counters.get('dhcp.out.ack') === 3, 'setup: three leases bound');
  w.sent.length = 0;
  w.events.length = 0;
  return w;
}

export async function fuzz(data: Buffer): Promise<void> {
  world ??= setUp();
  const w = await world;
  if (data.length < 1) return;
  const selector = data[0];
  const msg = allowing(() => decodeDhcp(data.subarray(1)), DecodeError);
  if (!msg) return;
  const proxy = (selector & 1) !== 0;
  const meta: RequestMeta = {
    port: selector & 2 ? 4011 : 67,
    dstIp: selector & 4 ? SERVER : '255.255.255.255',
    srcIp: msg.giaddr !== '0.0.0.0' ? msg.giaddr : msg.ciaddr,
    srcPort: msg.giaddr !== '0.0.0.0' ? 67 : 68,
  };
  w.clock.now += 1000;
  const errorsBefore = w.counters.get('dhcp.errors');
  w.sent.length = 0;
  w.events.length = 0;
  await (proxy ? w.servers.proxy : w.servers.dhcp).handle(msg, meta);
  check(w.counters.get('dhcp.errors') === errorsBefore, `the server counted an internal error (an exception reached its catch-all): ${w.errors.at(-1)}`);
  check(w.sent.length <= 1, `one request produced ${w.sent.length} replies`);
  for (const payload of w.sent) checkReply(msg, payload, proxy);
  for (const event of w.events) check(event.xid === msg.xid, `event ${event.type} carries xid ${event.xid}, not the request's ${msg.xid}`);
  await checkKnownNodeServed(w);
}

function checkReply(msg: DhcpMessage, payload: Buffer, proxy: boolean): void {
  const reply = allowing(() => decodeDhcp(payload), DecodeError);
  check(reply, 'the server sent a reply that does not decode');
  check(reply.op === 2, 'reply is not a BOOTREPLY');
  check(reply.xid === msg.xid, `reply xid ${reply.xid} does not match the request's ${msg.xid}`);
  check(reply.chaddr.equals(msg.chaddr), 'reply chaddr does not match the request');
  const raw57 = msg.options.get(Opt.MaxMessageSize);
  const limit = dhcpMessageLimit(raw57?.length === 2 ? raw57.readUInt16BE(0) : undefined);
  check(payload.length <= Math.max(limit, 300), `reply of ${payload.length} bytes exceeds the client's limit ${limit}`);
  const relayIn = msg.options.get(Opt.RelayAgentInfo);
  const relayOut = reply.options.get(Opt.RelayAgentInfo);
  if (relayOut) check(relayIn?.equals(relayOut) && msg.giaddr !== '0.0.0.0', 'option 82 in the reply was not echoed unchanged from a relayed request');
  if (proxy) check(reply.yiaddr === '0.0.0.0', 'a proxyDHCP reply carries an address');
}

async function checkKnownNodeServed(w: DhcpWorld): Promise<void> {
  w.sent.length = 0;
  await w.servers.dhcp.handle(clientMessage(MessageType.Discover, KNOWN_MAC), BROADCAST_META);
  check(w.sent.length === 1, 'the known node got no answer to a DISCOVER after the fuzz input');
  const offer = decodeDhcp(w.sent[0]);
  check(
    offer.options.get(Opt.MessageType)?.[0] === MessageType.Offer && offer.yiaddr === KNOWN_IP,
    `the known node was offered ${offer.yiaddr}, not ${KNOWN_IP}`,
  );
  w.sent.length = 0;
}
