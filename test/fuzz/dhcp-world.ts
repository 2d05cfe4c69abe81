// A DHCP server (full DHCP and proxyDHCP) with fake sockets, a fake clock and a real lease
// table, shared by the dhcp-server fuzz target and the CVE regression tests.

import { ipxeBooter } from '../../firmware/src/boot-policy/booter.js';
import { testConfig } from '../helpers/config.js';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { DhcpServer, type DhcpEvent, type RequestMeta } from '../../firmware/src/dhcp/server.js';
import { ipToBytes, macToBytes } from '../../firmware/src/net/addr.js';
import type { RackbootConfig } from '../../firmware/src/config/schema.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

export const SERVER = '10.9.0.1';
export const RELAY = '10.20.0.1';
export const KNOWN_MAC = '52:54:00:00:00:99';
export const KNOWN_IP = '10.9.0.10';
/** Answers conflict probes: exercises quarantine. */
export const IN_USE = '10.9.0.102';
export const BROADCAST_META: RequestMeta = { port: 67, dstIp: '255.255.255.255', srcIp: '0.0.0.0', srcPort: 68 };
export const RELAYED_META: RequestMeta = { port: 67, dstIp: SERVER, srcIp: RELAY, srcPort: 67 };

export function worldConfig(mode: 'dhcp' | 'proxy'): RackbootConfig {
  return testConfig({
    source: '<fuzz>',
    mode,
    pools:
      mode === 'proxy'
        ? []
        : [
            { subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.110' },
            { subnet: '10.20.0.0', prefix: 24, start: '10.20.0.50', end: '10.20.0.60', router: RELAY },
          ],
    options: { router: '10.9.0.254', dns: ['10.9.0.1'], domain: 'cluster.test', ntp: ['10.9.0.1'] },
    hosts: [{ mac: KNOWN_MAC, ip: KNOWN_IP, hostname: 'node99', profile: 'default' }],
    dhcp: { ...testConfig().dhcp, relays: [RELAY] },
  });
}

export interface DhcpWorld {
  dir: string;
  leases: LeaseTable;
  servers: { dhcp: DhcpServer; proxy: DhcpServer };
  counters: Counters;
  /** Payloads sent since the last clear. */
  sent: Buffer[];
  events: DhcpEvent[];
  /** What the server logged at error level (with the error), for messages in findings. */
  errors: string[];
  clock: { now: number };
  /** Replies decoded, and the list cleared. */
  take(): DhcpMessage[];
}

/** `parent`: where the lease directory goes (tmpfs for fuzzing speed). */
export async function makeDhcpWorld(parent: string): Promise<DhcpWorld> {
  const dir = mkdtempSync(join(parent, 'rbfuzz-dhcp-'));
  const clock = { now: 1_700_000_000_000 };
  const leases = await LeaseTable.open(dir, { now: () => clock.now });
  const counters = new Counters();
  const sent: Buffer[] = [];
  const events: DhcpEvent[] = [];
  const errors: string[] = [];
  const log = {
    ...silentLogger,
    error: (msg: string, fields?: Record<string, unknown>) => {
      const error = fields?.error;
      errors.push(`${msg}: ${error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(fields)}`);
    },
  };
  const make = (mode: 'dhcp' | 'proxy') =>
    new DhcpServer({
      config: worldConfig(mode),
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: (payload) => sent.push(payload) },
      prober: { inUse: (ip) => Promise.resolve(ip === IN_USE) },
      neighbors: { seed: () => undefined },
      clock: { now: () => clock.now },
      log,
      counters,
      observer: { dhcpEvent: (event) => events.push(event) },
      // The inventory holds nodes whose MAC ends in 7: their answers carry no boot file.
      bootGate: { allowBoot: (mac) => !mac.endsWith('7') },
    });
  return {
    dir,
    leases,
    servers: { dhcp: make('dhcp'), proxy: make('proxy') },
    counters,
    sent,
    events,
    errors,
    clock,
    take: () => sent.splice(0).map((payload) => decodeDhcp(payload)),
  };
}

/** A client message as it comes off the wire (through the real codec). */
export function clientMessage(type: MessageType, mac: string, fields: Partial<DhcpMessage> = {}, extra: [number, Buffer][] = []): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  return decodeDhcp(
    encodeDhcp(
      {
        op: 1,
        htype: 1,
        hlen: 6,
        hops: 0,
        xid: 0x5eed,
        secs: 0,
        flags: 0,
        ciaddr: '0.0.0.0',
        yiaddr: '0.0.0.0',
        siaddr: '0.0.0.0',
        giaddr: '0.0.0.0',
        chaddr,
        sname: '',
        file: '',
        options: new Map<number, Buffer>([[Opt.MessageType, Buffer.from([type])], ...extra]),
        ...fields,
      },
      { maxSize: 1500 },
    ),
  );
}

/** DISCOVER then REQUEST for the offered address; the ACK (or whatever came back last). */
export async function dora(w: DhcpWorld, mac: string, extra: [number, Buffer][] = [], fields: Partial<DhcpMessage> = {}): Promise<DhcpMessage | undefined> {
  const meta = fields.giaddr && fields.giaddr !== '0.0.0.0' ? RELAYED_META : BROADCAST_META;
  await w.servers.dhcp.handle(clientMessage(MessageType.Discover, mac, fields, extra), meta);
  const offer = w.take().at(-1);
  if (!offer) return undefined;
  await w.servers.dhcp.handle(
    clientMessage(MessageType.Request, mac, fields, [[Opt.ServerId, ipToBytes(SERVER)], [Opt.RequestedIp, ipToBytes(offer.yiaddr)], ...extra]),
    meta,
  );
  return w.take().at(-1);
}
