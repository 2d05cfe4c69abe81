// Kea's perfdhcp (Debian package kea-admin) against the real bundle:
// 1,000 clients through DORA with no drop at a modest rate, and a SIGKILL in
// the middle of a run that must lose no lease whose ACK went out.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import { BUNDLE } from '../helpers/rackboot-process.js';
import { exec } from '../helpers/exec.js';
import { readPcap } from '../helpers/pcap.js';
import { decodeEthernet } from '../../firmware/src/net/ethernet.js';
import { decodeIpv4 } from '../../firmware/src/net/ipv4.js';
import { decodeUdp } from '../../firmware/src/net/udp.js';
import { decodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt } from '../../firmware/src/dhcp/message.js';
import { macFromBytes } from '../../firmware/src/net/addr.js';

// perfdhcp is a relay (giaddr = 10.79.0.2) whose 1,000+ made-up clients are all unknown.
const CONFIG = `
interface: eth0
lease_time: 1h
dhcp:
  unknown_share_percent: 100
  relays: [10.79.0.2]
pools:
  - subnet: 10.79.0.0/22
    range: 10.79.0.10-10.79.3.250
boot:
  root: .
`;

interface PerfdhcpExchange {
  sent: number;
  received: number;
  drops: number;
}

/** Reads "DISCOVER-OFFER" and "REQUEST-ACK" statistics from perfdhcp's report. */
function parseReport(output: string): Record<string, PerfdhcpExchange> {
  const out: Record<string, PerfdhcpExchange> = {};
  const sections = output.split(/\*{3}Statistics for: /).slice(1);
  for (const section of sections) {
    const name = section.slice(0, section.indexOf('*')).trim();
    const num = (label: string) => Number(new RegExp(`${label}: (\\d+)`).exec(section)?.[1] ?? NaN);
    out[name] = { sent: num('sent packets'), received: num('received packets'), drops: num('drops') };
  }
  return out;
}

describe('perfdhcp', () => {
  let lab: DhcpLab;

  beforeEach(async () => {
    lab = await DhcpLab.create('10.79.0.1/22');
  });
  afterEach(async () => {
    await lab.destroy();
  });

  it('runs 1,000 clients through DORA with no drop at 100 exchanges/s, each address unique', async () => {
    const server = await lab.startServer(['--config', await lab.writeConfig(CONFIG)]);
    const client = await lab.client(undefined, '10.79.0.2/22');
    // perfdhcp acts as a relay (giaddr = its own address): replies come back to it on port 67.
    const report = await client
      .exec(['perfdhcp', '-4', '-l', 'eth0', '-r', '100', '-R', '1000', '-n', '1000', '-u', '-W', '2000000', '10.79.0.1'], { timeoutMs: 120_000 })
      .catch((error: Error & { stdout?: string }) => error.stdout ?? String(error));
    const stats = parseReport(report);
    expect(stats['DISCOVER-OFFER'], report).toMatchObject({ sent: 1000, received: 1000, drops: 0 });
    expect(stats['REQUEST-ACK'], report).toMatchObject({ sent: 1000, received: 1000, drops: 0 });
    expect(await server.stop()).toBe(0);
  }, 180_000);

  it('loses no acknowledged lease when killed with SIGKILL mid-run', async () => {
    const config = await lab.writeConfig(CONFIG);
    const stateDir = join(lab.dir, 'state');
    const capture = join(lab.dir, 'acks.pcap');
    const client = await lab.client(undefined, '10.79.0.2/22');
    const tcpdump = client.spawn(['tcpdump', '-i', 'eth0', '-U', '-n', '-w', capture, 'udp dst port 67 and src host 10.79.0.1']);
    await new Promise((r) => setTimeout(r, 1000)); // tcpdump needs a moment to open the interface

    const first = await lab.startServer(['--config', config]);
    const perf = client.spawn(['perfdhcp', '-4', '-l', 'eth0', '-r', '300', '-R', '3000', '-n', '3000', '-W', '1000000', '10.79.0.1']);
    // Kill while ACKs are flowing: after some leases were bound, long before the run ends.
    await first.waitFor((l) => l.msg === 'lease bound' && first.lines.filter((x) => x.msg === 'lease bound').length >= 300, 30_000);
    await first.kill();
    const boundBeforeKill = first.lines.filter((l) => l.msg === 'lease bound').length;

    const second = await lab.startServer(['--config', config]);
    await once(perf, 'exit');
    tcpdump.kill('SIGINT');
    await once(tcpdump, 'exit');
    expect(await second.stop()).toBe(0);

    // Every ACK that reached the wire, from either run.
    const acked = new Map<string, string>();
    for (const frame of readPcap(await readFile(capture))) {
      // Captured on the sending side of a veth: the UDP checksum is left to offload.
      const ip = decodeIpv4(decodeEthernet(frame).payload);
      const msg = decodeDhcp(decodeUdp(ip.payload, ip.src, ip.dst, { checksumPending: true }).payload);
      if (msg.options.get(Opt.MessageType)?.[0] === MessageType.Ack) acked.set(msg.yiaddr, macFromBytes(msg.chaddr));
    }
    expect(acked.size).toBeGreaterThanOrEqual(boundBeforeKill);

    const listing = await exec([process.execPath, BUNDLE, 'leases', '--state-dir', stateDir, '--json']);
    const stored = new Map((JSON.parse(listing) as { ip: string; mac: string; state: string }[]).map((l) => [l.ip, l]));
    const lost = [...acked].filter(([ip, mac]) => stored.get(ip)?.mac !== mac || stored.get(ip)?.state !== 'bound');
    expect(lost, `ACKed on the wire but not in the store after SIGKILL + restart`).toEqual([]);
  }, 180_000);
});
