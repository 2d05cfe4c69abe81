// The known hosts of a running DhcpServer follow the inventory (setHosts): a
// node's fixed address is offered to it and to nobody else, counts as taken in
// the pool arithmetic, and a changed address or name takes effect on the next
// DISCOVER/REQUEST without a restart.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipxeBooter } from '../../firmware/src/boot-policy/booter.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { DhcpServer, type RequestMeta } from '../../firmware/src/dhcp/server.js';
import { ipToBytes, macToBytes } from '../../firmware/src/net/addr.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import { testConfig } from '../helpers/config.js';

const SERVER = '10.9.0.1';
const NODE = '52:54:00:bb:00:01';
const OTHER = '52:54:00:bb:00:02';
const LOCAL: RequestMeta = { port: 67, dstIp: '255.255.255.255', srcIp: '0.0.0.0', srcPort: 68 };

function request(type: MessageType, mac: string, extra: [number, Buffer][] = [], fields: Partial<DhcpMessage> = {}): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  return decodeDhcp(
    encodeDhcp({
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 0x4242,
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
    }),
  );
}

describe('DhcpServer reservations from the inventory', () => {
  let dir: string;
  let leases: LeaseTable;
  let sent: DhcpMessage[];
  let now: number;
  const clock = { now: () => now };

  function server(unknownSharePercent = 100): DhcpServer {
    const base = testConfig();
    return new DhcpServer({
      // A pool of three addresses; the configuration names no hosts: all of them come from setHosts().
      config: testConfig({
        pools: [{ subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.102' }],
        hosts: [],
        dhcp: { ...base.dhcp, unknownSharePercent },
      }),
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: (payload) => sent.push(decodeDhcp(payload)) },
      prober: { inUse: () => Promise.resolve(false) },
      neighbors: { seed: () => {} },
      clock,
      log: silentLogger,
      counters: new Counters(),
    });
  }

  const typeOf = (msg: DhcpMessage): MessageType => msg.options.get(Opt.MessageType)![0];
  const hostName = (msg: DhcpMessage) => msg.options.get(Opt.HostName)?.toString('latin1');

  async function discover(srv: DhcpServer, mac: string): Promise<DhcpMessage | undefined> {
    const before = sent.length;
    await srv.handle(request(MessageType.Discover, mac), LOCAL);
    return sent.length > before ? sent.at(-1) : undefined;
  }

  async function select(srv: DhcpServer, mac: string, ip: string): Promise<DhcpMessage> {
    await srv.handle(
      request(MessageType.Request, mac, [
        [Opt.ServerId, ipToBytes(SERVER)],
        [Opt.RequestedIp, ipToBytes(ip)],
      ]),
      LOCAL,
    );
    return sent.at(-1)!;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-inventory-dhcp-'));
    now = 1_700_000_000_000;
    leases = await LeaseTable.open(dir, clock);
    sent = [];
  });
  afterEach(async () => {
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('offers a node its fixed address and its name as host name, and never gives that address to another client', async () => {
    const srv = server();
    srv.setHosts([{ mac: NODE, ip: '10.9.0.101', hostname: 'web1' }]);
    const offer = (await discover(srv, NODE))!;
    expect(offer.yiaddr).toBe('10.9.0.101');
    expect(hostName(offer)).toBe('web1');
    const ack = await select(srv, NODE, '10.9.0.101');
    expect(typeOf(ack)).toBe(MessageType.Ack);
    expect(hostName(ack)).toBe('web1');

    // Another client asking for that address outright is refused; DISCOVERs skip it.
    const nak = await select(srv, OTHER, '10.9.0.101');
    expect(typeOf(nak)).toBe(MessageType.Nak);
    const offered = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const mac = `52:54:00:cc:00:0${i}`;
      const o = await discover(srv, mac);
      if (o) {
        offered.add(o.yiaddr);
        expect(typeOf(await select(srv, mac, o.yiaddr))).toBe(MessageType.Ack);
      }
    }
    // Two dynamic addresses were left for everyone else, and nothing more.
    expect([...offered].sort()).toEqual(['10.9.0.100', '10.9.0.102']);
  });

  it('follows a changed address and a rename on the next DISCOVER and REQUEST, and frees the old address', async () => {
    const srv = server();
    srv.setHosts([{ mac: NODE, ip: '10.9.0.101', hostname: 'web1' }]);
    expect((await discover(srv, NODE))!.yiaddr).toBe('10.9.0.101');
    expect(typeOf(await select(srv, NODE, '10.9.0.101'))).toBe(MessageType.Ack);

    srv.setHosts([{ mac: NODE, ip: '10.9.0.102', hostname: 'web2' }]);
    // Renewing the old address is refused: the client's address is now another.
    await srv.handle(request(MessageType.Request, NODE, [], { ciaddr: '10.9.0.101' }), { ...LOCAL, dstIp: SERVER, srcIp: '10.9.0.101' });
    expect(typeOf(sent.at(-1)!)).toBe(MessageType.Nak);
    const offer = (await discover(srv, NODE))!;
    expect(offer.yiaddr).toBe('10.9.0.102');
    expect(hostName(offer)).toBe('web2');
    const ack = await select(srv, NODE, '10.9.0.102');
    expect(typeOf(ack)).toBe(MessageType.Ack);
    expect(hostName(ack)).toBe('web2');

    // 10.9.0.101 is no longer reserved: once the node's old lease is gone, another client may have it.
    now += 2 * 3600 * 1000 + 1000;
    const taken = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const mac = `52:54:00:cc:00:1${i}`;
      const o = await discover(srv, mac);
      if (o && typeOf(await select(srv, mac, o.yiaddr)) === MessageType.Ack) taken.add(o.yiaddr);
    }
    expect(taken.has('10.9.0.101')).toBe(true);
    expect(taken.has('10.9.0.102')).toBe(false);
  });

  it('removing the address makes the node a dynamic client; removing the node frees its reservation', async () => {
    const srv = server();
    srv.setHosts([{ mac: NODE, ip: '10.9.0.100', hostname: 'web1' }]);
    expect(typeOf(await select(srv, OTHER, '10.9.0.100'))).toBe(MessageType.Nak);
    srv.setHosts([]);
    expect(typeOf(await select(srv, OTHER, '10.9.0.100'))).toBe(MessageType.Ack);
  });

  it('counts fixed addresses out of the pool for the unknown share, and follows when they change', async () => {
    // 3 addresses, one fixed: 2 dynamic, and a 67 % share of 2 is 1 address for unknown clients.
    const srv = server(67);
    srv.setHosts([{ mac: NODE, ip: '10.9.0.100', hostname: 'web1' }]);
    const first = await discover(srv, OTHER);
    expect(first!.yiaddr).not.toBe('10.9.0.100');
    expect(typeOf(await select(srv, OTHER, first!.yiaddr))).toBe(MessageType.Ack);
    expect(await discover(srv, '52:54:00:cc:00:20')).toBeUndefined();
    // No fixed address any more: 3 dynamic addresses, 67 % of them is 2, so one more unknown client fits.
    srv.setHosts([]);
    const second = await discover(srv, '52:54:00:cc:00:21');
    expect(second).toBeDefined();
    expect(typeOf(second!)).toBe(MessageType.Offer);
  });

  it('a new reservation applies at once, also to addresses already on the list of reusable ones', async () => {
    const srv = server();
    // Three leases that expire put every address on the finder's list of reusable addresses.
    for (let i = 0; i < 3; i++) {
      const mac = `52:54:00:cc:00:3${i}`;
      expect(typeOf(await select(srv, mac, (await discover(srv, mac))!.yiaddr))).toBe(MessageType.Ack);
    }
    now += 2 * 3600 * 1000 + 1000;
    const first = (await discover(srv, '52:54:00:cc:00:40'))!.yiaddr;
    const rest = ['10.9.0.100', '10.9.0.101', '10.9.0.102'].filter((ip) => ip !== first);
    // Within the same second the two others on that list become nodes' fixed addresses.
    srv.setHosts([
      { mac: NODE, ip: rest[0], hostname: 'web1' },
      { mac: OTHER, ip: rest[1], hostname: 'web2' },
    ]);
    expect(await discover(srv, '52:54:00:cc:00:41')).toBeUndefined();
    expect((await discover(srv, NODE))!.yiaddr).toBe(rest[0]);
  });
});
