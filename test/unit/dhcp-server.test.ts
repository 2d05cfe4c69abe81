// DhcpServer rules with fake sockets and a real lease table in a temp dir.
import { ipxeBooter } from '../../firmware/src/boot-policy/booter.js';
import { testConfig } from '../helpers/config.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhcpServer, type DhcpEvent, type DhcpServerOptions, type RequestMeta } from '../../firmware/src/dhcp/server.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import type { Destination } from '../../firmware/src/dhcp/transport.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import { ipToBytes, macToBytes } from '../../firmware/src/net/addr.js';
import type { RackbootConfig } from '../../firmware/src/config/schema.js';

const SERVER = '10.9.0.1';
const CLIENT_MAC = '52:54:00:aa:00:01';

interface Sent {
  msg: DhcpMessage;
  to: Destination;
  fromPort: number;
}

function config(overrides: Partial<RackbootConfig> = {}): RackbootConfig {
  return testConfig({
    pools: [
      { subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.103' },
      { subnet: '10.20.0.0', prefix: 24, start: '10.20.0.50', end: '10.20.0.60', router: '10.20.0.1' },
    ],
    options: { router: '10.9.0.254', dns: ['10.9.0.1'], domain: 'cluster.test', ntp: [] },
    hosts: [{ mac: '52:54:00:00:00:99', ip: '10.9.0.10', hostname: 'node99', profile: 'default' }],
    // The relay of the 10.20.0.0/24 tests.
    dhcp: { ...testConfig().dhcp, relays: ['10.20.0.1'] },
    ...overrides,
  });
}

function request(type: MessageType, fields: Partial<DhcpMessage> = {}, extra: [number, Buffer][] = [], mac = CLIENT_MAC): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  const msg: DhcpMessage = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1234,
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
  };
  // Through the real codec, as on the wire.
  return decodeDhcp(encodeDhcp(msg));
}

const LOCAL: RequestMeta = { port: 67, dstIp: '255.255.255.255', srcIp: '0.0.0.0', srcPort: 68 };

describe('DhcpServer', () => {
  let dir: string;
  let leases: LeaseTable;
  let sent: Sent[];
  let seeded: [string, string][];
  let inUse: Set<string>;
  let now: number;
  let counters: Counters;

  const clock = { now: () => now };

  function server(cfg = config(), extra: Pick<DhcpServerOptions, 'bootGate' | 'observer'> = {}): DhcpServer {
    return new DhcpServer({
      ...extra,
      config: cfg,
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: (payload, to, fromPort) => sent.push({ msg: decodeDhcp(payload), to, fromPort }) },
      prober: { inUse: (ip: string) => Promise.resolve(inUse.has(ip)) },
      neighbors: { seed: (ip, mac) => seeded.push([ip, mac]) },
      clock,
      log: silentLogger,
      counters,
    });
  }

  const typeOf = (msg: DhcpMessage) => msg.options.get(Opt.MessageType)![0];

  async function dora(srv: DhcpServer, mac = CLIENT_MAC): Promise<string> {
    await srv.handle(request(MessageType.Discover, {}, [], mac), LOCAL);
    const offer = sent.at(-1)!.msg;
    expect(typeOf(offer)).toBe(MessageType.Offer);
    await srv.handle(
      request(
        MessageType.Request,
        {},
        [
          [Opt.ServerId, ipToBytes(SERVER)],
          [Opt.RequestedIp, ipToBytes(offer.yiaddr)],
        ],
        mac,
      ),
      LOCAL,
    );
    const ack = sent.at(-1)!.msg;
    expect(typeOf(ack)).toBe(MessageType.Ack);
    return ack.yiaddr;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-dhcp-'));
    now = 1_700_000_000_000;
    leases = await LeaseTable.open(dir, clock);
    sent = [];
    seeded = [];
    inUse = new Set();
    counters = new Counters();
  });
  afterEach(async () => {
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('offers the first free pool address, unicast at layer 2 to the client', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Discover, {}, [[Opt.ParameterRequestList, Buffer.from([Opt.DnsServers, Opt.SubnetMask, Opt.Router])]]), LOCAL);
    expect(sent).toHaveLength(1);
    const { msg, to, fromPort } = sent[0];
    expect(typeOf(msg)).toBe(MessageType.Offer);
    expect(msg.yiaddr).toBe('10.9.0.100');
    expect(msg.xid).toBe(0x1234);
    expect(to).toEqual({ via: 'frame', mac: CLIENT_MAC, ip: '10.9.0.100', port: 68 });
    expect(fromPort).toBe(67);
    const codes = [...msg.options.keys()];
    // Message type first, then the client's parameter request list order.
    expect(codes[0]).toBe(Opt.MessageType);
    expect(codes.indexOf(Opt.DnsServers)).toBeLessThan(codes.indexOf(Opt.SubnetMask));
    expect(codes.indexOf(Opt.SubnetMask)).toBeLessThan(codes.indexOf(Opt.Router));
    expect(msg.options.get(Opt.LeaseTime)!.readUInt32BE(0)).toBe(3600);
    expect(msg.options.get(Opt.ServerId)).toEqual(ipToBytes(SERVER));
  });

  it('broadcasts when the client sets the broadcast flag', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Discover, { flags: 0x8000 }), LOCAL);
    expect(sent[0].to).toEqual({ via: 'frame', mac: 'ff:ff:ff:ff:ff:ff', ip: '255.255.255.255', port: 68 });
  });

  it('binds on REQUEST, persists the lease before the ACK, and pre-seeds the neighbour table', async () => {
    const srv = server();
    const ip = await dora(srv);
    expect(ip).toBe('10.9.0.100');
    expect(seeded).toEqual([[ip, CLIENT_MAC]]);
    await leases.close();
    const reopened = await LeaseTable.open(dir, clock);
    expect(reopened.byIp(ip)).toMatchObject({ mac: CLIENT_MAC, state: 'bound' });
    leases = reopened;
  });

  it('gives the same client the same address again (stickiness, also after release)', async () => {
    const srv = server();
    const first = await dora(srv);
    await srv.handle(request(MessageType.Release, { ciaddr: first }, [[Opt.ServerId, ipToBytes(SERVER)]]), LOCAL);
    expect(leases.byIp(first)!.state).toBe('released');
    const other = await dora(srv, '52:54:00:aa:00:02');
    expect(other).not.toBe(first);
    expect(await dora(srv)).toBe(first);
  });

  it('stays silent and withdraws its offer when the client chose another server', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Discover), LOCAL);
    const offered = sent[0].msg.yiaddr;
    await srv.handle(
      request(MessageType.Request, {}, [
        [Opt.ServerId, ipToBytes('10.9.0.2')],
        [Opt.RequestedIp, ipToBytes(offered)],
      ]),
      LOCAL,
    );
    expect(sent).toHaveLength(1);
    expect(leases.isFree(offered, now)).toBe(true);
  });

  it('NAKs (broadcast) an INIT-REBOOT for an address of another network', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Request, {}, [[Opt.RequestedIp, ipToBytes('192.168.1.5')]]), LOCAL);
    expect(typeOf(sent[0].msg)).toBe(MessageType.Nak);
    expect(sent[0].to).toMatchObject({ via: 'frame', mac: 'ff:ff:ff:ff:ff:ff' });
  });

  it('NAKs a request for an address leased to someone else', async () => {
    const srv = server();
    const taken = await dora(srv, '52:54:00:aa:00:07');
    await srv.handle(request(MessageType.Request, {}, [[Opt.RequestedIp, ipToBytes(taken)]]), LOCAL);
    expect(typeOf(sent.at(-1)!.msg)).toBe(MessageType.Nak);
  });

  it('NAKs a request for an address that is offered to someone else', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Discover, {}, [], '52:54:00:aa:00:08'), LOCAL);
    const offered = sent[0].msg.yiaddr;
    await srv.handle(request(MessageType.Request, {}, [[Opt.RequestedIp, ipToBytes(offered)]]), LOCAL);
    expect(typeOf(sent.at(-1)!.msg)).toBe(MessageType.Nak);
    expect(sent.at(-1)!.msg.options.get(Opt.Message)!.toString()).toBe(`address ${offered} is held by 52:54:00:aa:00:08 (offered)`);
    expect(counters.get('dhcp.errors')).toBe(0);
  });

  it('renews (unicast, ciaddr) and extends the lease', async () => {
    const srv = server();
    const ip = await dora(srv);
    const before = leases.byIp(ip)!.expires;
    now += 1_800_000;
    await srv.handle(request(MessageType.Request, { ciaddr: ip }), { ...LOCAL, dstIp: SERVER, srcIp: ip });
    const ack = sent.at(-1)!;
    expect(typeOf(ack.msg)).toBe(MessageType.Ack);
    expect(ack.to).toEqual({ via: 'udp', ip, port: 68 });
    expect(leases.byIp(ip)!.expires).toBeGreaterThan(before);
  });

  it('gives a static host its address and host name', async () => {
    const srv = server();
    const ip = await dora(srv, '52:54:00:00:00:99');
    expect(ip).toBe('10.9.0.10');
    expect(sent.at(-1)!.msg.options.get(Opt.HostName)!.toString()).toBe('node99');
  });

  it('never offers an address that answers the conflict probe, and quarantines it', async () => {
    inUse.add('10.9.0.100');
    const srv = server();
    await srv.handle(request(MessageType.Discover), LOCAL);
    expect(sent[0].msg.yiaddr).toBe('10.9.0.101');
    expect(leases.byIp('10.9.0.100')!.state).toBe('declined');
    expect(counters.get('dhcp.conflict_detected')).toBe(1);
  });

  it('never offers one address to two clients whose DISCOVERs overlap during the probe', async () => {
    const srv = new DhcpServer({
      config: config(),
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: (payload, to, fromPort) => sent.push({ msg: decodeDhcp(payload), to, fromPort }) },
      // A slow probe, as on a real segment: every DISCOVER is in flight at once.
      prober: { inUse: (ip: string) => new Promise((r) => setTimeout(() => r(inUse.has(ip)), 20)) },
      neighbors: { seed: () => {} },
      clock,
      log: silentLogger,
      counters,
    });
    const macs = ['52:54:00:cc:00:01', '52:54:00:cc:00:02', '52:54:00:cc:00:03', '52:54:00:cc:00:04'];
    await Promise.all(macs.map((mac) => srv.handle(request(MessageType.Discover, {}, [], mac), LOCAL)));
    const offered = sent.map((s) => s.msg.yiaddr);
    expect(offered).toHaveLength(4);
    expect(new Set(offered).size).toBe(4);
    expect(counters.get('dhcp.errors')).toBe(0);
  });

  it('under load probes half a second of offers ahead, a bounded burst per walk, so OFFERs do not wait for probes', async () => {
    const probed: string[] = [];
    const free = new Set<string>();
    const srv = new DhcpServer({
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      config: config({
        pools: [{ subnet: '10.9.0.0', prefix: 16, start: '10.9.1.0', end: '10.9.200.255' }],
        dhcp: { maxOffers: 100_000, unknownSharePercent: 100, relays: [] },
      }),
      serverAddress: SERVER,
      leases,
      transport: { send: (payload, to, fromPort) => sent.push({ msg: decodeDhcp(payload), to, fromPort }) },
      // Every probe answers "free" at once and is trusted afterwards, as the ARP prober's cache is.
      prober: { inUse: (ip: string) => Promise.resolve((free.has(ip) || (probed.push(ip), free.add(ip)), false)), knownFree: (ip: string) => free.has(ip) },
      neighbors: { seed: () => {} },
      clock,
      log: silentLogger,
      counters,
    });
    // 1,000 DISCOVERs from new clients, 1 ms apart: 1,000 offers/s.
    let largestWalk = 0;
    for (let i = 0; i < 1000; i++) {
      const before = probed.length;
      await srv.handle(
        request(MessageType.Discover, {}, [], `52:54:00:dd:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`),
        LOCAL,
      );
      largestWalk = Math.max(largestWalk, probed.length - before);
      now += 1;
    }
    // At 1,000/s a walk may start four walks' worth of offers (200), never a burst of the whole reach.
    expect(largestWalk).toBeLessThanOrEqual(201);
    expect(sent).toHaveLength(1000);
    const offered = new Set(sent.map((x) => x.msg.yiaddr));
    // Ahead of the last offer lie addresses already probed: up to 0.5 s x 1,000 offers/s.
    const ahead = probed.filter((ip) => !offered.has(ip)).length;
    expect(ahead).toBeGreaterThan(256);
    expect(ahead).toBeLessThanOrEqual(500 + 500);
    // Each address probed once, and no more than the look-ahead reaches.
    expect(new Set(probed).size).toBe(probed.length);
  });

  it('quarantines a declined address', async () => {
    const srv = server();
    const ip = await dora(srv);
    await srv.handle(
      request(MessageType.Decline, {}, [
        [Opt.ServerId, ipToBytes(SERVER)],
        [Opt.RequestedIp, ipToBytes(ip)],
      ]),
      LOCAL,
    );
    expect(leases.byIp(ip)!.state).toBe('declined');
    expect(await dora(srv, '52:54:00:aa:00:03')).not.toBe(ip);
  });

  it('stops offering when the pool is exhausted', async () => {
    const srv = server();
    for (let i = 0; i < 4; i++) await dora(srv, `52:54:00:bb:00:0${i}`);
    const before = sent.length;
    await srv.handle(request(MessageType.Discover, {}, [], '52:54:00:bb:00:09'), LOCAL);
    expect(sent.length).toBe(before);
    expect(counters.get('dhcp.pool_exhausted')).toBe(1);
  });

  it('answers INFORM with configuration only, unicast to ciaddr', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Inform, { ciaddr: '10.9.0.77' }), LOCAL);
    const { msg, to } = sent[0];
    expect(typeOf(msg)).toBe(MessageType.Ack);
    expect(msg.yiaddr).toBe('0.0.0.0');
    expect(msg.options.has(Opt.LeaseTime)).toBe(false);
    expect(to).toEqual({ via: 'udp', ip: '10.9.0.77', port: 68 });
  });

  it('serves relayed clients from the relay subnet, replies to the relay and echoes option 82', async () => {
    const srv = server();
    const relayInfo = Buffer.from([1, 3, 0x61, 0x62, 0x63]);
    await srv.handle(request(MessageType.Discover, { giaddr: '10.20.0.1', hops: 1 }, [[Opt.RelayAgentInfo, relayInfo]]), {
      ...LOCAL,
      dstIp: SERVER,
      srcIp: '10.20.0.1',
      srcPort: 67,
    });
    const { msg, to } = sent[0];
    expect(msg.yiaddr).toBe('10.20.0.50');
    expect(to).toEqual({ via: 'udp', ip: '10.20.0.1', port: 67 });
    expect(msg.options.get(Opt.RelayAgentInfo)).toEqual(relayInfo);
    expect(msg.options.get(Opt.Router)).toEqual(ipToBytes('10.20.0.1'));
  });

  it('gives BIOS PXE firmware undionly.kpxe over TFTP with PXE vendor options', async () => {
    const srv = server();
    await srv.handle(
      request(MessageType.Discover, {}, [
        [Opt.VendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
        [Opt.ClientArch, Buffer.from([0, 0])],
      ]),
      LOCAL,
    );
    const offer = sent[0].msg;
    expect(offer.file).toBe('undionly.kpxe');
    expect(offer.siaddr).toBe(SERVER);
    expect(offer.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient');
    expect(offer.options.has(Opt.VendorSpecific)).toBe(true);
  });

  it('gives the Raspberry Pi bootloader its boot menu in option 43 and the TFTP server, no boot file', async () => {
    const srv = server();
    const pxe: [number, Buffer][] = [
      [Opt.VendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [Opt.ClientArch, Buffer.from([0, 0])],
    ];
    await srv.handle(request(MessageType.Discover, {}, pxe, 'dc:a6:32:01:02:03'), LOCAL);
    const offer = sent[0].msg;
    expect(offer.siaddr).toBe(SERVER);
    expect(offer.file).toBe('');
    expect(offer.options.has(Opt.BootfileName)).toBe(false);
    expect(offer.options.get(Opt.TftpServerName)!.toString()).toBe(SERVER);
    expect(offer.options.get(Opt.VendorClass)!.toString()).toBe('PXEClient');
    const menu = offer.options.get(Opt.VendorSpecific)!;
    // sub-option 6 (discovery control 3), 9 (menu item type 0, "Raspberry Pi Boot"), 10 (prompt), end
    expect([...menu]).toEqual([6, 1, 3, 9, 20, 0, 0, 17, ...Buffer.from('Raspberry Pi Boot'), 10, 4, 0, ...Buffer.from('PXE'), 255]);
    // The same ROM identity from a MAC that is not a Pi's is BIOS PXE.
    await srv.handle(request(MessageType.Discover, {}, pxe, '52:54:00:01:02:03'), LOCAL);
    expect(sent[1].msg.file).toBe('undionly.kpxe');
  });

  it('gives iPXE an HTTP URL, with next-server set (iPXE ignores proxy answers without it)', async () => {
    const srv = server();
    await srv.handle(request(MessageType.Discover, {}, [[Opt.UserClass, Buffer.from('iPXE')]]), LOCAL);
    expect(sent[0].msg.file).toBe(`http://${SERVER}/boot.ipxe?mac=\${netX/mac}`);
    expect(sent[0].msg.siaddr).toBe(SERVER);
  });

  it('tells iPXE not to wait for ProxyDHCP offers (175.176), in offers and acks, and only iPXE', async () => {
    const srv = server();
    const ipxeClient: [number, Buffer][] = [[Opt.UserClass, Buffer.from('iPXE')]];
    await srv.handle(request(MessageType.Discover, {}, ipxeClient), LOCAL);
    const offer = sent[0].msg;
    // iPXE reads 175 as encapsulated sub-options: 176 (0xb0), length 1, value 1.
    expect([...offer.options.get(Opt.Ipxe)!]).toEqual([0xb0, 1, 1]);
    await srv.handle(request(MessageType.Request, {}, [...ipxeClient, [Opt.ServerId, ipToBytes(SERVER)], [Opt.RequestedIp, ipToBytes(offer.yiaddr)]]), LOCAL);
    expect(typeOf(sent[1].msg)).toBe(MessageType.Ack);
    expect([...sent[1].msg.options.get(Opt.Ipxe)!]).toEqual([0xb0, 1, 1]);
    // A PXE ROM knows no 175; a held iPXE gets no boot answer and so nothing to skip for.
    await srv.handle(request(MessageType.Discover, {}, [[Opt.VendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')]], '52:54:00:aa:00:07'), LOCAL);
    expect(sent[2].msg.options.has(Opt.Ipxe)).toBe(false);
    const held = server(config(), { bootGate: { allowBoot: () => false } });
    sent.length = 0;
    await held.handle(request(MessageType.Discover, {}, ipxeClient, '52:54:00:aa:00:08'), LOCAL);
    expect(sent[0].msg.options.has(Opt.Ipxe)).toBe(false);
  });

  it('holds a node the inventory holds: an address, but no boot file', async () => {
    const events: DhcpEvent[] = [];
    const srv = server(config(), { bootGate: { allowBoot: (mac) => mac !== CLIENT_MAC }, observer: { dhcpEvent: (e) => events.push(e) } });
    const pxe: [number, Buffer][] = [
      [Opt.VendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [Opt.ClientArch, Buffer.from([0, 0])],
    ];
    await srv.handle(request(MessageType.Discover, {}, pxe), LOCAL);
    await srv.handle(request(MessageType.Discover, {}, pxe, '52:54:00:aa:00:02'), LOCAL);
    expect(sent.map((s) => [typeOf(s.msg), s.msg.file])).toEqual([
      [MessageType.Offer, ''],
      [MessageType.Offer, 'undionly.kpxe'],
    ]);
    expect(events.map((e) => [e.type, e.mac, e.xid, e.bootFile])).toEqual([
      ['discover', CLIENT_MAC, 0x1234, undefined],
      ['offer', CLIENT_MAC, 0x1234, undefined],
      ['discover', '52:54:00:aa:00:02', 0x1234, undefined],
      ['offer', '52:54:00:aa:00:02', 0x1234, 'undionly.kpxe'],
    ]);
  });

  describe('proxy mode', () => {
    const proxyConfig = () => config({ mode: 'proxy', pools: [], hosts: [] });
    const pxe: [number, Buffer][] = [
      [Opt.VendorClass, Buffer.from('PXEClient:Arch:00007:UNDI:003016')],
      [Opt.ClientArch, Buffer.from([0, 7])],
    ];

    it('answers PXE clients with boot information and no address', async () => {
      const srv = server(proxyConfig());
      await srv.handle(request(MessageType.Discover, {}, pxe), LOCAL);
      const { msg, to } = sent[0];
      expect(typeOf(msg)).toBe(MessageType.Offer);
      expect(msg.yiaddr).toBe('0.0.0.0');
      expect(msg.file).toBe('snponly.efi');
      expect(msg.options.has(Opt.LeaseTime)).toBe(false);
      expect(to).toMatchObject({ via: 'frame', mac: 'ff:ff:ff:ff:ff:ff' });
    });

    it("leaves a REQUEST for the site's server to that server, even from iPXE", async () => {
      const srv = server(proxyConfig());
      const ipxe: [number, Buffer][] = [
        ...pxe,
        [Opt.UserClass, Buffer.from('iPXE')],
        [Opt.ServerId, ipToBytes('10.9.0.2')],
        [Opt.RequestedIp, ipToBytes('10.9.0.150')],
      ];
      await srv.handle(request(MessageType.Request, {}, ipxe), LOCAL);
      expect(sent).toHaveLength(0);
      expect(counters.get('dhcp.proxy.ignored_request_for_other_server')).toBe(1);
    });

    it('reports discovers, answers and held nodes to the boot tracker', async () => {
      const events: DhcpEvent[] = [];
      let allow = false;
      const srv = server(proxyConfig(), { bootGate: { allowBoot: () => allow }, observer: { dhcpEvent: (e) => events.push(e) } });
      await srv.handle(request(MessageType.Discover, {}, pxe), LOCAL);
      expect(sent).toHaveLength(0);
      expect(counters.get('dhcp.proxy.held')).toBe(1);
      allow = true;
      await srv.handle(request(MessageType.Discover, {}, pxe), LOCAL);
      await srv.handle(request(MessageType.Request, {}, [...pxe, [Opt.ServerId, ipToBytes(SERVER)]]), LOCAL);
      expect(events.map((e) => [e.type, e.held ?? false, e.bootFile])).toEqual([
        ['discover', false, undefined],
        ['proxy-offer', true, undefined],
        ['discover', false, undefined],
        ['proxy-offer', false, 'snponly.efi'],
        ['proxy-ack', false, 'snponly.efi'],
      ]);
    });

    it('ignores clients that are not PXE', async () => {
      const srv = server(proxyConfig());
      await srv.handle(request(MessageType.Discover), LOCAL);
      expect(sent).toHaveLength(0);
      expect(leases.all()).toHaveLength(0);
    });

    it('answers a boot server REQUEST on 4011 back to its source port', async () => {
      const srv = server(proxyConfig());
      await srv.handle(request(MessageType.Request, { ciaddr: '10.9.0.150' }, pxe), {
        port: 4011,
        dstIp: SERVER,
        srcIp: '10.9.0.150',
        srcPort: 68,
      });
      const { msg, to, fromPort } = sent[0];
      expect(typeOf(msg)).toBe(MessageType.Ack);
      expect(msg.file).toBe('snponly.efi');
      expect(fromPort).toBe(4011);
      expect(to).toEqual({ via: 'frame', mac: CLIENT_MAC, ip: '10.9.0.150', port: 68 });
    });
  });

  it('drops requests that are not Ethernet BOOTREQUESTs and counts them', async () => {
    const srv = server();
    await srv.handle({ ...request(MessageType.Discover), op: 2 }, LOCAL);
    expect(sent).toHaveLength(0);
    expect(counters.get('dhcp.dropped.not_ethernet_request')).toBe(1);
  });
});
