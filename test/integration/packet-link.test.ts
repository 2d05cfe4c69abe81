// PacketLink over real AF_PACKET sockets on a veth pair between two namespaces:
// srv (10.50.0.1, where rackboot would run) and cli (no address, like a PXE client).
// Each side's link runs in a child process inside its namespace (PacketLinkDriver).

import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interfaceInfo, setNeighbor } from '../../firmware/src/net/link.js';
import { addonCandidates } from '../../firmware/src/net/native.js';
import { exec } from '../helpers/exec.js';
import { Lab, type Netns } from '../helpers/netns.js';
import { PacketLinkDriver } from '../helpers/packet-link-driver.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';

const SERVER_IP = '10.50.0.1';
const CLIENT_IP = '10.50.0.2';
const DROP_CAPS = ['setpriv', '--bounding-set=-net_raw,-net_admin', '--'];

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function ipBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

/** Broadcast ARP request "who has targetIp? tell senderIp" (RFC 826). */
function arpRequest(senderMac: string, senderIp: string, targetIp: string): Buffer {
  return Buffer.concat([
    Buffer.alloc(6, 0xff),
    macBytes(senderMac),
    Buffer.from([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]),
    macBytes(senderMac),
    ipBytes(senderIp),
    Buffer.alloc(6),
    ipBytes(targetIp),
  ]);
}

const sourceMac = (frame: Buffer) => [...frame.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':');
const etherType = (frame: Buffer) => frame.readUInt16BE(12);
const isArp = (frame: Buffer) => etherType(frame) === 0x0806;
const arpTarget = (frame: Buffer) => [...frame.subarray(38, 42)].join('.');
/** IPv4 protocol and, for UDP, the destination port. */
function ipv4Summary(frame: Buffer): { protocol: number; dstPort?: number } | undefined {
  if (etherType(frame) !== 0x0800) return undefined;
  const protocol = frame[23];
  const udp = 14 + (frame[14] & 0x0f) * 4;
  return protocol === 17 ? { protocol, dstPort: frame.readUInt16BE(udp + 2) } : { protocol };
}
/** A BOOTREQUEST with DHCP message type 1 (RFC 2131/2132). */
function isDhcpDiscover(frame: Buffer): boolean {
  const summary = ipv4Summary(frame);
  if (summary?.dstPort !== 67) return false;
  const bootp = 14 + (frame[14] & 0x0f) * 4 + 8;
  if (frame[bootp] !== 1 || frame.readUInt32BE(bootp + 236) !== 0x63825363) return false;
  for (let i = bootp + 240; i < frame.length && frame[i] !== 255; i += frame[i] === 0 ? 1 : 2 + frame[i + 1]) {
    if (frame[i] === 53) return frame[i + 2] === 1;
  }
  return false;
}

describe('PacketLink in network namespaces', () => {
  let lab: Lab;
  let srv: Netns;
  let cli: Netns;
  let server: PacketLinkDriver;
  let client: PacketLinkDriver;
  let serverMac: string;
  let clientMac: string;

  beforeAll(async () => {
    lab = await Lab.create();
    srv = await lab.namespace('srv');
    cli = await lab.namespace('cli');
    await lab.link(srv, 'eth0', `${SERVER_IP}/24`, cli, 'eth0', null);
    await srv.addAddress('eth0', '10.50.0.9/24'); // a secondary address
    await srv.exec(['ip', 'link', 'set', 'eth0', 'mtu', '1400']);
    [server, client] = await Promise.all([PacketLinkDriver.start(srv), PacketLinkDriver.start(cli)]);
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), client?.stop()]);
    await lab?.destroy();
  });

  it('opens with the interface facts the kernel reports', async () => {
    const info = await server.open('eth0', [67, 4011]);
    const [kernel] = JSON.parse(await srv.exec(['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as Array<{
      ifindex: number;
      address: string;
      mtu: number;
      flags: string[];
      addr_info: Array<{ family: string; local: string; prefixlen: number }>;
    }>;
    expect(info).toEqual({
      name: 'eth0',
      index: kernel.ifindex,
      mac: kernel.address,
      mtu: 1400,
      up: true,
      running: true,
      ipv4: [
        { address: SERVER_IP, prefix: 24 },
        { address: '10.50.0.9', prefix: 24 },
      ],
    });
    expect(kernel.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)).toEqual([SERVER_IP, '10.50.0.9']);
    serverMac = info.mac;
    clientMac = (await client.open('eth0', [68])).mac;
  });

  it('sends a broadcast ARP request that arrives on the other side unchanged', async () => {
    const request = arpRequest(serverMac, SERVER_IP, '10.50.0.99');
    await server.send(request);
    const received = await client.waitForFrame((f) => isArp(f) && arpTarget(f) === '10.50.0.99');
    expect(received.subarray(0, request.length)).toEqual(request);
  });

  it('receives a real DHCPDISCOVER, ARP and UDP to 4011, but not ICMP or other UDP', async () => {
    const firstFrame = server.frames.length;
    // udhcpc gives up after two DISCOVERs (no server answers); that failure is expected.
    await cli.exec(['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '2', '-T', '1', '-s', '/bin/true'], { timeoutMs: 15_000 }).catch(() => '');
    await server.waitForFrame(isDhcpDiscover);

    await cli.addAddress('eth0', `${CLIENT_IP}/24`);
    await cli.exec(['ping', '-c', '2', '-i', '0.2', '-W', '1', SERVER_IP]);
    // Sent in this order on one path: once 4011 arrives, the port 53 datagram and
    // the pings would already have arrived had the filter let them through.
    await cli.exec(['bash', '-c', `echo dns > /dev/udp/${SERVER_IP}/53 && echo pxe > /dev/udp/${SERVER_IP}/4011`]);
    await server.waitForFrame((f) => ipv4Summary(f)?.dstPort === 4011);

    const frames = server.frames.slice(firstFrame);
    const unexpected = frames.filter((f) => !isArp(f) && ![67, 4011].includes(ipv4Summary(f)?.dstPort ?? -1));
    expect(unexpected.map((f) => f.toString('hex'))).toEqual([]);
    expect(frames.filter(isDhcpDiscover).length).toBeGreaterThanOrEqual(1);
    expect(frames.some((f) => isArp(f) && sourceMac(f) === clientMac)).toBe(true); // ping's ARP
  });

  it('never receives frames this host sent, whether from the link or the kernel', async () => {
    // The kernel in srv broadcasts ARP for an absent host; cli sees it, srv's link must not.
    await srv.exec(['ping', '-c', '1', '-W', '1', '10.50.0.123']).catch(() => '');
    await client.waitForFrame((f) => isArp(f) && arpTarget(f) === '10.50.0.123' && sourceMac(f) === serverMac);
    // A marker from cli: once srv has it, anything srv sent earlier would be there too.
    await client.send(arpRequest(clientMac, CLIENT_IP, '10.50.0.200'));
    await server.waitForFrame((f) => isArp(f) && arpTarget(f) === '10.50.0.200');
    expect(server.frames.filter((f) => sourceMac(f) === serverMac)).toEqual([]);
    expect(server.frames.filter((f) => isArp(f) && arpTarget(f) === '10.50.0.99')).toEqual([]);
  });

  it('ignores frames tagged for another VLAN', async () => {
    // An 802.1Q-tagged ARP request (VLAN 10). The receiving kernel moves the tag into
    // packet metadata, so at the filter it looks like plain ARP plus "tag present".
    const untagged = arpRequest(clientMac, CLIENT_IP, '10.50.0.210');
    const tagged = Buffer.concat([untagged.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x0a]), untagged.subarray(12)]);
    await client.send(tagged);
    await client.send(arpRequest(clientMac, CLIENT_IP, '10.50.0.211')); // untagged marker, sent after
    await server.waitForFrame((f) => isArp(f) && arpTarget(f) === '10.50.0.211');
    expect(server.frames.filter((f) => isArp(f) && arpTarget(f) === '10.50.0.210')).toEqual([]);
  });

  it('setNeighbor installs and replaces a REACHABLE ARP entry', async () => {
    await server.setNeighbor('eth0', '10.50.0.77', '02:00:00:00:00:77');
    expect(await srv.exec(['ip', 'neigh', 'show', '10.50.0.77', 'dev', 'eth0'])).toMatch(/^10\.50\.0\.77 lladdr 02:00:00:00:00:77 REACHABLE/);
    await server.setNeighbor('eth0', '10.50.0.77', '02-00-00-00-00-7A');
    expect(await srv.exec(['ip', 'neigh', 'show', '10.50.0.77', 'dev', 'eth0'])).toMatch(/^10\.50\.0\.77 lladdr 02:00:00:00:00:7a REACHABLE/);
  });

  it('reports a link drop and keeps receiving once the link is back', async () => {
    await srv.exec(['ip', 'link', 'set', 'eth0', 'down']);
    await srv.exec(['ip', 'link', 'set', 'eth0', 'up']);
    await client.send(arpRequest(clientMac, CLIENT_IP, '10.50.0.212'));
    await server.waitForFrame((f) => isArp(f) && arpTarget(f) === '10.50.0.212');
    expect(server.errors).toEqual(['receiving on eth0: Network is down']);
  });

  it('names a missing interface', async () => {
    await expect(server.interfaceInfo('nope0')).rejects.toMatchObject({ message: 'no such network interface: nope0', code: 'ENODEV' });
    await expect(server.setNeighbor('nope0', '10.50.0.5', '02:00:00:00:00:05')).rejects.toMatchObject({
      message: 'no such network interface: nope0',
    });
    const other = await PacketLinkDriver.start(srv);
    try {
      await expect(other.open('nope0', [67])).rejects.toMatchObject({ message: 'no such network interface: nope0', code: 'ENODEV' });
    } finally {
      await other.stop();
    }
  });

  it('explains the capabilities it needs', async () => {
    const unprivileged = await PacketLinkDriver.start(srv, { wrapper: DROP_CAPS });
    try {
      await expect(unprivileged.open('eth0', [67])).rejects.toMatchObject({
        code: 'EPERM',
        message:
          'opening a packet socket on eth0 needs CAP_NET_RAW: run as root, or grant the capability ' +
          '(systemd AmbientCapabilities=CAP_NET_RAW, or setcap cap_net_raw+ep on node)',
      });
      await expect(unprivileged.setNeighbor('eth0', '10.50.0.78', '02:00:00:00:00:78')).rejects.toMatchObject({
        code: 'EPERM',
        // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types asymmetric matchers as any
        message: expect.stringMatching(
          /^setting neighbour 10\.50\.0\.78 on eth0 needs CAP_NET_ADMIN: run as root, or grant the capability \(systemd AmbientCapabilities=CAP_NET_ADMIN, or setcap cap_net_admin\+ep on node\)$/,
        ),
      });
      // Reading interface facts needs no privilege.
      expect((await unprivileged.interfaceInfo('eth0')).mac).toBe(serverMac);
    } finally {
      await unprivileged.stop();
    }
  });

  it('opening and closing 50 times leaks no descriptors', async () => {
    const driver = await PacketLinkDriver.start(srv);
    try {
      const fds = () => readdirSync(`/proc/${driver.child.pid}/fd`).length;
      await driver.open('eth0', [67]);
      await driver.closeLink();
      const before = fds();
      for (let i = 0; i < 50; i++) {
        await driver.open('eth0', [67, 4011]);
        await driver.closeLink();
      }
      expect(fds()).toBe(before);
    } finally {
      await driver.stop();
    }
  });

  it('a closed native handle throws on send and no longer holds the process open', async () => {
    const { stdout } = await runTsInNs(
      srv,
      {
        name: 'closed-handle.ts',
        source: `
        import { loadPacketAddon } from './firmware/src/net/native.js';
        const handle = loadPacketAddon().open('eth0', [0x0806], null, () => {}, () => {});
        handle.close();
        handle.close();
        try {
          handle.send(Buffer.alloc(60));
          console.log('sent');
        } catch (err) {
          console.log(JSON.stringify({ code: (err as { code?: string }).code, message: (err as Error).message }));
        }
        // The process must now exit by itself: nothing left on the event loop.
      `,
      },
      [],
      { timeoutMs: 10_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ code: 'ERR_SOCKET_CLOSED', message: 'packet socket on eth0 is closed' });
  });
});

describe('addon loading and argument checks (host, no traffic)', () => {
  it('looks beside the bundle first, then in the node-gyp build', () => {
    const candidates = addonCandidates('file:///opt/rackboot/build/out/rackboot.mjs');
    expect(candidates[0]).toBe('/opt/rackboot/build/out/rackboot_packet.node');
    expect(addonCandidates()[1]).toMatch(/firmware\/native\/build\/Release\/rackboot_packet\.node$/);
  });

  it('rejects bad addresses before touching the kernel', () => {
    expect(() => setNeighbor('lo', '10.0.0', '02:00:00:00:00:01')).toThrow(/not an IPv4 address/);
    expect(() => setNeighbor('lo', '10.0.0.1', '02:00:00:00:00')).toThrow(/not a MAC address/);
    expect(() => interfaceInfo('nope0')).toThrow('no such network interface: nope0');
    expect(() => interfaceInfo('x'.repeat(16))).toThrow(/1 to 15 characters/);
  });
});

/** False once the process is gone or a zombie awaiting its (re)parent. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

describe('Lab (test/helpers/netns.ts)', () => {
  it('destroy() removes its namespaces and every process in them, daemons included', async () => {
    const lab = await Lab.create();
    const a = await lab.namespace('a');
    const b = await lab.namespace('b');
    const segment = await lab.bridge([{ ns: a, ifname: 'eth0', address: '10.54.0.1/24' }]);
    await segment.attach({ ns: b, ifname: 'eth0', address: '10.54.0.2/24', mac: '52:54:00:00:54:02' });
    expect(await b.exec(['cat', '/sys/class/net/eth0/address'])).toBe('52:54:00:00:54:02\n');
    await a.exec(['ping', '-c', '1', '-W', '2', '10.54.0.2']);
    const sleeper = a.spawn(['sleep', '300']);
    // A daemon that leaves its parent: only `ip netns pids` can find it.
    await b.exec(['sh', '-c', 'sleep 300 </dev/null >/dev/null 2>&1 &']);
    const daemon = Number((await exec(['ip', 'netns', 'pids', b.name])).trim());
    expect(daemon).toBeGreaterThan(0);

    await lab.destroy();
    const names = [a.name, b.name, segment.ns.name];
    const listing = await exec(['ip', 'netns', 'list']);
    for (const name of names) expect(listing).not.toContain(name);
    expect(sleeper.exitCode !== null || sleeper.signalCode !== null).toBe(true);
    expect(isRunning(daemon)).toBe(false);
    await lab.destroy(); // a second call is harmless
  });
});
