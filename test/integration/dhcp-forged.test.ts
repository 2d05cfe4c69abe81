// Forged DHCP traffic against the real bundle, with rackboot's default
// starvation limits: a hostile station on the segment sends raw frames over a
// packet socket (its own namespace, no DHCP library on either side):
//  - a DISCOVER+DECLINE flood from made-up MACs (each frame's Ethernet source
//    is its chaddr, as a careful forger would send it), answering every OFFER
//    with a DECLINE of the offered address;
//  - DISCOVERs for a client hardware address from another Ethernet source;
//  - a relayed DISCOVER (giaddr set) from a station that is no configured relay.
// Meanwhile a known node's busybox udhcpc gets its lease; the pool is not
// exhausted, unknown clients hold at most the default half of it, and nothing
// is answered to the forged-source or relayed frames.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';
import { ApiClient } from '../helpers/api-client.js';
import type { Netns } from '../helpers/netns.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import type { LeaseView, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.74.0.1';
const ATTACKER_IP = '10.74.0.2';
const KNOWN = '52:54:00:4c:00:01';
/** Claimed in DISCOVERs sent from the attacker's own MAC. */
const PHANTOM = '52:54:00:4c:00:99';
/** Claimed in the relayed DISCOVER from the attacker's address. */
const RELAYED = '52:54:00:4c:00:98';
const POOL_SIZE = 40;
const FLOOD_SECONDS = 20;
const CONFIG = `
interface: eth0
lease_time: 1h
pools:
  - subnet: 10.74.0.0/24
    range: 10.74.0.10-10.74.0.49
hosts:
  - mac: ${KNOWN}
    hostname: known1
boot:
  root: .
`;

/** The attacker: runs FLOOD_SECONDS, then prints what it sent and what came back as one JSON line. */
const ATTACKER = `
import { PacketLink } from './firmware/src/net/link.js';
import { encodeUdpFrame } from './firmware/src/net/frame.js';
import { decodeEthernet, ETHERTYPE_IPV4 } from './firmware/src/net/ethernet.js';
import { decodeIpv4 } from './firmware/src/net/ipv4.js';
import { decodeUdp } from './firmware/src/net/udp.js';
import { decodeDhcp, encodeDhcp } from './firmware/src/dhcp/codec.js';
import { Opt } from './firmware/src/dhcp/message.js';
import { ipFromBytes, ipToBytes, macFromBytes, macToBytes } from './firmware/src/net/addr.js';

const [server, ownIp, phantom, relayed, seconds] = process.argv.slice(2);
const link = PacketLink.open('eth0', { udpPorts: [67, 68] });
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const stats = { discovers: 0, offers: 0, declines: 0, phantomSent: 0, phantomAnswered: 0, relayedSent: 0, relayedAnswered: 0 };
const waiting = new Map<string, (offer: { yiaddr: string }) => void>();

function dhcp(type: number, mac: string, fields: Record<string, unknown>, options: [number, Buffer][]): Buffer {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  return encodeDhcp({
    op: 1, htype: 1, hlen: 6, hops: 0, xid: Math.floor(Math.random() * 2 ** 32), secs: 0, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
    options: new Map([[Opt.MessageType, Buffer.from([type])], ...options]),
    ...fields,
  });
}
function send(srcMac: string, payload: Buffer, to = { mac: BROADCAST, ip: '255.255.255.255', srcIp: '0.0.0.0', srcPort: 68 }): void {
  link.send(encodeUdpFrame({ srcMac, dstMac: to.mac, srcIp: to.srcIp, dstIp: to.ip, srcPort: to.srcPort, dstPort: 67, payload }));
}

link.onFrame((frame) => {
  try {
    const eth = decodeEthernet(frame);
    if (eth.ethertype !== ETHERTYPE_IPV4) return;
    const ip = decodeIpv4(eth.payload);
    if (ip.protocol !== 17) return;
    const udp = decodeUdp(ip.payload, ip.src, ip.dst, { checksumPending: true });
    if (udp.srcPort !== 67) return;
    const msg = decodeDhcp(udp.payload);
    if (msg.op !== 2) return;
    const mac = macFromBytes(msg.chaddr, 0, 6);
    if (mac === phantom) stats.phantomAnswered++;
    if (mac === relayed) stats.relayedAnswered++;
    const type = msg.options.get(Opt.MessageType)?.[0];
    if (type === 2) waiting.get(mac)?.({ yiaddr: msg.yiaddr });
  } catch {
    // not a DHCP reply
  }
});

const end = Date.now() + Number(seconds) * 1000;
let counter = 0;
async function worker(): Promise<void> {
  while (Date.now() < end) {
    const n = ++counter;
    const mac = '02:f0:' + [n >> 16, (n >> 8) & 255, n & 255, 0x4c].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const offered = new Promise<{ yiaddr: string } | undefined>((resolve) => {
      waiting.set(mac, resolve);
      setTimeout(() => resolve(undefined), 1500);
    });
    send(mac, dhcp(1, mac, {}, []));
    stats.discovers++;
    const offer = await offered;
    waiting.delete(mac);
    if (!offer) continue;
    stats.offers++;
    send(mac, dhcp(4, mac, { flags: 0 }, [[Opt.ServerId, Buffer.from(ipToBytes(server))], [Opt.RequestedIp, Buffer.from(ipToBytes(offer.yiaddr))]]));
    stats.declines++;
  }
}
async function forger(): Promise<void> {
  while (Date.now() < end) {
    // Somebody else's chaddr from this station's own MAC, as a PXE ROM would ask.
    send(link.mac, dhcp(1, phantom, {}, [[Opt.VendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')]]));
    stats.phantomSent++;
    // Relayed, from a station that is no configured relay (unicast to the server's port 67).
    send(link.mac, dhcp(1, relayed, { giaddr: ownIp, hops: 1, flags: 0 }, []), { mac: BROADCAST, ip: server, srcIp: ownIp, srcPort: 67 });
    stats.relayedSent++;
    await new Promise((r) => setTimeout(r, 250));
  }
}
await Promise.all([...Array.from({ length: 16 }, () => worker()), forger()]);
await new Promise((r) => setTimeout(r, 1500));
link.close();
process.stdout.write(JSON.stringify(stats) + '\\n');
`;

interface AttackStats {
  discovers: number;
  offers: number;
  declines: number;
  phantomSent: number;
  phantomAnswered: number;
  relayedSent: number;
  relayedAnswered: number;
}

/** Sums a metric family's samples whose labels include `labels`. */
function metric(text: string, family: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(family + '{') && !line.startsWith(family + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('forged DHCP traffic from a station on the segment', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let attacker: Netns;

  beforeEach(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    server = await lab.startServer(['--config', await lab.writeConfig(CONFIG)]);
    attacker = await lab.client(undefined, `${ATTACKER_IP}/24`);
    api = await ApiClient.setUp(attacker, `http://${SERVER}`, server);
  });
  afterEach(async () => {
    expect(await server.stop()).toBe(0);
    await lab.destroy();
  });

  it('a DISCOVER+DECLINE flood leaves the pool to the known node; forged-source and unlisted relayed frames go unanswered', async () => {
    const flood = runTsInNs(attacker, { source: ATTACKER, name: 'dhcp-forged-attacker.ts' }, [SERVER, ATTACKER_IP, PHANTOM, RELAYED, String(FLOOD_SECONDS)], {
      timeoutMs: (FLOOD_SECONDS + 60) * 1000,
    });
    await new Promise((r) => setTimeout(r, 5_000));
    const known = await lab.client(KNOWN);
    const { script, events } = await lab.clientScript('udhcpc', 'dhcp-forged-known');
    known.spawn(['udhcpc', '-f', '-i', 'eth0', '-s', script, '-t', '10', '-T', '2']);
    const bound = await waitForEvent(events, /^bound /, 40_000);
    const stats = JSON.parse((await flood).stdout.trim().split('\n').at(-1)!) as AttackStats;
    console.log(`attacker: ${JSON.stringify(stats)}`);

    const leases = await api.get<LeaseView[]>('/api/v1/leases');
    const held = leases.filter((l) => l.state === 'offered' || l.state === 'bound' || l.state === 'declined');
    const knownLease = held.find((l) => l.mac === KNOWN);
    expect(knownLease?.state).toBe('bound');
    expect(bound.split(' ')[1]).toBe(knownLease?.ip);
    // The flood was answered at first, then held to the unknown share (half the pool, the default).
    expect(stats.offers).toBeGreaterThan(0);
    const unknownHeld = held.filter((l) => l.mac !== KNOWN);
    expect(unknownHeld.length).toBeGreaterThan(0);
    expect(unknownHeld.length).toBeLessThanOrEqual(POOL_SIZE / 2);
    expect(held.length).toBeLessThan(POOL_SIZE);
    // Quarantines: a burst of 8, then at most one a second.
    const declined = held.filter((l) => l.state === 'declined');
    expect(declined.length).toBeGreaterThan(0);
    expect(declined.length).toBeLessThanOrEqual(8 + FLOOD_SECONDS + 10);

    // Nothing answered the forged-source or relayed frames, and each was counted.
    expect(stats.phantomSent).toBeGreaterThan(10);
    expect(stats.phantomAnswered).toBe(0);
    expect(stats.relayedAnswered).toBe(0);
    expect(leases.some((l) => l.mac === PHANTOM || l.mac === RELAYED)).toBe(false);
    const metrics = (await attacker.exec(['curl', '-s', `http://${SERVER}/metrics`])).toString();
    expect(metric(metrics, 'rackboot_dhcp_ignored_total', { reason: 'source_mac_mismatch' })).toBe(stats.phantomSent);
    expect(metric(metrics, 'rackboot_dropped_total', { protocol: 'dhcp', reason: 'relay_not_configured' })).toBe(stats.relayedSent);
    expect(metric(metrics, 'rackboot_refused_total', { protocol: 'dhcp', reason: 'unknown_share' })).toBeGreaterThan(0);
    // One event for the one forging station, however many frames it sent.
    const reported = (await api.get<RackbootEvent[]>('/api/v1/events?type=dhcp')).filter((e) => /forged DHCP traffic/.test(e.message));
    expect(reported).toHaveLength(1);
    expect(reported[0].message).toMatch(new RegExp(`forged DHCP traffic from .+ on eth0 ignored: \\d+ frames? claiming to be ${PHANTOM}`));
    // No node was created or moved for the phantom: forged frames are not observed.
    const nodes = await api.get<{ mac: string }[]>('/api/v1/nodes');
    expect(nodes.some((n) => n.mac === PHANTOM)).toBe(false);
  }, 150_000);
});
