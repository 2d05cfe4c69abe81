// DHCP on a hostile segment, against the real bundle in network namespaces:
// a perfdhcp flood of 10,000 random MACs (twice the 10,000 per minute of the
// issue) while a known host's busybox udhcpc gets its lease; forged RELEASE and
// option 82 sent over real UDP from another station; and dnsmasq answering on
// the same bridge as a rogue server, detected from its broadcast replies.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';
import { ApiClient } from '../helpers/api-client.js';
import type { Netns } from '../helpers/netns.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import type { LeaseView, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.79.0.1';
const KNOWN = '52:54:00:4b:00:01';
const KNOWN_WITHOUT_LEASE = '52:54:00:4b:00:02';
const POOL_SIZE = 200;
const CONFIG = `
interface: eth0
lease_time: 1h
dhcp:
  max_offers: 64
  unknown_share_percent: 50
  relays: [10.79.0.2]   # the station, for perfdhcp (a relay)
pools:
  - subnet: 10.79.0.0/24
    range: 10.79.0.10-10.79.0.209
hosts:
  - mac: ${KNOWN}
    hostname: known1
  - mac: ${KNOWN_WITHOUT_LEASE}
    hostname: known2
boot:
  root: .
`;

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

async function rssBytes(server: RackbootProcess): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Sends one DHCP message over UDP from `ns` (an addressed station), as a forger on the segment would. */
async function sendDhcp(ns: Netns, fields: Record<string, unknown>, options: [number, number[]][]): Promise<void> {
  const source = `
import dgram from 'node:dgram';
import { encodeDhcp } from './firmware/src/dhcp/codec.js';
import { macToBytes } from './firmware/src/net/addr.js';
const [fieldsJson, optionsJson, to] = process.argv.slice(2);
const fields = JSON.parse(fieldsJson);
const chaddr = Buffer.alloc(16);
macToBytes(fields.mac).copy(chaddr);
delete fields.mac;
const payload = encodeDhcp({
  op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x5eed, secs: 0, flags: 0,
  ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
  options: new Map(JSON.parse(optionsJson).map(([code, bytes]) => [code, Buffer.from(bytes)])),
  ...fields,
});
const socket = dgram.createSocket('udp4');
socket.bind(68, () => socket.send(payload, 67, to, (error) => { socket.close(); if (error) throw error; }));
`;
  await runTsInNs(ns, { source, name: 'forge-dhcp.ts' }, [JSON.stringify(fields), JSON.stringify(options), SERVER]);
}

const ip = (text: string) => text.split('.').map(Number);

describe('DHCP on a hostile segment', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let station: Netns;

  beforeEach(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    server = await lab.startServer(['--config', await lab.writeConfig(CONFIG)]);
    station = await lab.client(undefined, '10.79.0.2/24');
    api = await ApiClient.setUp(station, `http://${SERVER}`, server);
  });
  afterEach(async () => {
    expect(await server.stop()).toBe(0);
    await lab.destroy();
  });

  it('a flood of 10,000 random MACs takes only the unknown share of the pool, memory stays bounded, and a known host gets its lease', async () => {
    const rssBefore = await rssBytes(server);
    // perfdhcp as a relay (giaddr = its address): 10,000 simulated clients at 334 DISCOVERs/s for 30 s.
    const flood = station
      .exec(['perfdhcp', '-4', '-l', 'eth0', '-r', '334', '-R', '10000', '-p', '30', SERVER], { timeoutMs: 90_000 })
      .catch((error: Error & { stdout?: string }) => error.stdout ?? String(error));

    await new Promise((r) => setTimeout(r, 10_000));
    const known = await lab.client(KNOWN);
    const { script, events } = await lab.clientScript('udhcpc', 'known');
    known.spawn(['udhcpc', '-f', '-i', 'eth0', '-s', script, '-t', '10', '-T', '2']);
    const bound = await waitForEvent(events, /^bound /, 30_000);
    const report = await flood;
    expect(report).toMatch(/DISCOVER-OFFER/);

    const leases = await api.get<LeaseView[]>('/api/v1/leases');
    const held = leases.filter((l) => l.state === 'offered' || l.state === 'bound');
    const unknownHeld = held.filter((l) => l.mac !== KNOWN);
    expect(unknownHeld.length).toBeGreaterThan(0);
    expect(unknownHeld.length).toBeLessThanOrEqual(POOL_SIZE / 2);
    const knownLease = held.find((l) => l.mac === KNOWN);
    expect(knownLease?.state).toBe('bound');
    expect(bound.split(' ')[1]).toBe(knownLease?.ip);
    // Held back for known2, which has not asked yet: the pool is not full.
    expect(held.length).toBeLessThan(POOL_SIZE);

    const metrics = (await station.exec(['curl', '-s', `http://${SERVER}/metrics`])).toString();
    expect(metric(metrics, 'rackboot_refused_total', { protocol: 'dhcp', reason: 'unknown_share' })).toBeGreaterThan(1000);
    expect(metric(metrics, 'rackboot_dhcp_messages_received_total')).toBeGreaterThan(9000);
    // Every forged client costs memory only as a bounded table entry: no growth with the flood's size.
    const grown = (await rssBytes(server)) - rssBefore;
    expect(grown, `RSS grew by ${(grown / 2 ** 20).toFixed(1)} MB`).toBeLessThan(64 * 2 ** 20);
  }, 150_000);

  it("ignores a RELEASE of the victim's lease sent from another station, and option 82 from a station that is no relay", async () => {
    const victim = await lab.client(KNOWN);
    const { script, events } = await lab.clientScript('udhcpc', 'victim');
    victim.spawn(['udhcpc', '-f', '-i', 'eth0', '-s', script, '-t', '5', '-T', '2']);
    const leased = (await waitForEvent(events, /^bound /)).split(' ')[1];
    const serverId: [number, number[]] = [54, ip(SERVER)];
    const clientId: [number, number[]] = [61, [1, ...KNOWN.split(':').map((h) => parseInt(h, 16))]];
    // Everything a RELEASE of the victim has (chaddr, client id, ciaddr), from another station's MAC.
    await sendDhcp(station, { mac: KNOWN, ciaddr: leased }, [[53, [7]], serverId, clientId]);
    // Without the client identifier.
    await sendDhcp(station, { mac: KNOWN, ciaddr: leased }, [[53, [7]], serverId]);
    // A DISCOVER carrying option 82, straight from a station on the segment (giaddr 0), for itself.
    const stationMac = (await station.exec(['cat', '/sys/class/net/eth0/address'])).toString().trim();
    await sendDhcp(station, { mac: stationMac }, [
      [53, [1]],
      [82, [1, 4, 101, 116, 104, 49]],
    ]);

    let metrics = '';
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      metrics = (await station.exec(['curl', '-s', `http://${SERVER}/metrics`])).toString();
      if (metric(metrics, 'rackboot_dhcp_ignored_total', { reason: 'relay_info_from_client' }) >= 1) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Both RELEASEs came from the station's MAC, not the victim's: dropped before any lease rule.
    expect(metric(metrics, 'rackboot_dhcp_ignored_total', { reason: 'source_mac_mismatch' })).toBe(2);
    expect(metric(metrics, 'rackboot_dhcp_ignored_total', { reason: 'relay_info_from_client' })).toBe(1);
    const lease = (await api.get<LeaseView[]>('/api/v1/leases')).find((l) => l.ip === leased);
    expect(lease).toMatchObject({ mac: KNOWN, state: 'bound' });
    expect(server.lines.some((l) => l.msg === 'lease released')).toBe(false);
  }, 60_000);

  it('detects dnsmasq answering on the same segment and reports it once as an event, however often it answers', async () => {
    const rogue = await lab.client(undefined, '10.79.0.3/24');
    lab.startSiteDhcpServer(rogue, '10.79.0.220,10.79.0.230');
    await new Promise((r) => setTimeout(r, 1000));
    // -B asks for broadcast replies, as PXE ROMs do: both servers' OFFERs reach every station.
    const client = await lab.client('52:54:00:4b:00:99');
    const { script, events } = await lab.clientScript('udhcpc', 'rogue-victim');
    client.spawn(['udhcpc', '-f', '-B', '-i', 'eth0', '-s', script, '-t', '5', '-T', '2']);
    await waitForEvent(events, /^bound /);
    // A second client, so the rogue answers again.
    const second = await lab.client('52:54:00:4b:00:98');
    const next = await lab.clientScript('udhcpc', 'rogue-victim2');
    second.spawn(['udhcpc', '-f', '-B', '-i', 'eth0', '-s', next.script, '-t', '5', '-T', '2']);
    await waitForEvent(next.events, /^bound /);

    await server.waitFor((l) => l.msg === 'another DHCP server is answering on this segment' && l.serverId === '10.79.0.3');
    const metrics = (await station.exec(['curl', '-s', `http://${SERVER}/metrics`])).toString();
    expect(metric(metrics, 'rackboot_dhcp_foreign_server_replies_total', { kind: 'rogue' })).toBeGreaterThanOrEqual(1);
    expect(metric(metrics, 'rackboot_dhcp_foreign_server_reports_total', { kind: 'rogue' })).toBe(1);
    const reported = await api.get<RackbootEvent[]>('/api/v1/events?type=dhcp');
    expect(reported).toHaveLength(1);
    expect(reported[0].message).toMatch(/another DHCP server 10\.79\.0\.3 \(.+\) is answering on eth0/);
    expect(reported[0].detail).toMatchObject({ kind: 'rogue', serverId: '10.79.0.3' });
  }, 90_000);
});

describe('another DHCP server in proxy mode', () => {
  it('reports the site server once, as expected, never as a rogue', async () => {
    const lab = await DhcpLab.create('10.78.0.1/24');
    try {
      const site = await lab.client(undefined, '10.78.0.2/24');
      lab.startSiteDhcpServer(site, '10.78.0.100,10.78.0.150');
      const server = await lab.startServer(['--config', await lab.writeConfig('interface: eth0\nmode: proxy\nboot:\n  root: .\n')]);
      try {
        for (const [i, mac] of ['52:54:00:78:00:11', '52:54:00:78:00:12'].entries()) {
          const client = await lab.client(mac);
          const { script, events } = await lab.clientScript('udhcpc', `site-${i}`);
          client.spawn(['udhcpc', '-f', '-B', '-i', 'eth0', '-s', script, '-t', '5', '-T', '2']);
          await waitForEvent(events, /^bound 10\.78\.0\.1[0-5]\d /);
        }
        await server.waitFor((l) => l.msg === 'site DHCP server seen (expected in proxy mode)' && l.serverId === '10.78.0.2');
        const station = await lab.client(undefined, '10.78.0.3/24');
        const metrics = (await station.exec(['curl', '-s', 'http://10.78.0.1/metrics'])).toString();
        // Both clients' exchanges were seen (OFFER and ACK each, broadcast), and reported once.
        expect(metric(metrics, 'rackboot_dhcp_foreign_server_replies_total', { kind: 'site' })).toBeGreaterThanOrEqual(2);
        expect(metric(metrics, 'rackboot_dhcp_foreign_server_reports_total', { kind: 'site' })).toBe(1);
        expect(metric(metrics, 'rackboot_dhcp_foreign_server_replies_total', { kind: 'rogue' })).toBe(0);
        expect(server.lines.filter((l) => l.msg === 'another DHCP server is answering on this segment')).toEqual([]);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    } finally {
      await lab.destroy();
    }
  }, 60_000);
});
