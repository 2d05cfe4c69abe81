// DHCP under a hostile network, with fake sockets and a real lease table:
// starvation limits (unknown clients' share, addresses held back for known
// nodes, the bounded offer table), DECLINE floods, forged DECLINE/RELEASE,
// frames whose Ethernet source is not their chaddr, giaddr from stations that
// are no configured relay, option 82 from a client that is no relay, and the
// rogue-server detector's bounded events.
import { ipxeBooter } from '../../firmware/src/boot-policy/booter.js';
import { testConfig } from '../helpers/config.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DhcpServer, type DhcpEvent, type ForgedTrafficReport, type RequestMeta } from '../../firmware/src/dhcp/server.js';
import { EventBudget } from '../../firmware/src/dhcp/event-budget.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { RogueServerDetector, ROGUE_REPEAT_MS, type ForeignServerReport } from '../../firmware/src/dhcp/rogue-detector.js';
import type { ClientDirectory } from '../../firmware/src/dhcp/client-limits.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import { ipToBytes, macToBytes } from '../../firmware/src/net/addr.js';
import type { HostConfig, RackbootConfig } from '../../firmware/src/config/schema.js';

const SERVER = '10.9.0.1';
const SERVER_MAC = '02:5e:00:00:00:01';
const POOL = { subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.103' };

function config(dhcp: Partial<RackbootConfig['dhcp']> = {}, hosts: HostConfig[] = [], pool = POOL): RackbootConfig {
  return testConfig({ pools: [pool], hosts, dhcp: { ...testConfig().dhcp, ...dhcp } });
}

function message(type: MessageType, mac: string, fields: Partial<DhcpMessage> = {}, extra: [number, Buffer][] = []): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  return decodeDhcp(
    encodeDhcp({
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 0x42,
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

const mac = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const local = (srcMac?: string): RequestMeta => ({ port: 67, dstIp: '255.255.255.255', srcIp: '0.0.0.0', srcPort: 68, ...(srcMac && { srcMac }) });

describe('DHCP starvation and spoofing', () => {
  let dir: string;
  let leases: LeaseTable;
  let sent: DhcpMessage[];
  let counters: Counters;
  let now: number;
  const clock = { now: () => now };

  function server(
    cfg: RackbootConfig,
    clients?: ClientDirectory,
    extra: { onForgedTraffic?: (r: ForgedTrafficReport) => void; observed?: DhcpEvent[]; eventBudget?: EventBudget } = {},
  ): DhcpServer {
    const { observed, ...rest } = extra;
    return new DhcpServer({
      ...rest,
      ...(observed && { observer: { dhcpEvent: (e: DhcpEvent) => observed.push(e) } }),
      config: cfg,
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: (payload) => sent.push(decodeDhcp(payload)) },
      prober: { inUse: () => Promise.resolve(false) },
      neighbors: { seed: () => {} },
      clock,
      log: silentLogger,
      counters,
      ...(clients && { clients }),
    });
  }

  const typeOf = (msg: DhcpMessage | undefined) => msg?.options.get(Opt.MessageType)?.[0];

  async function discover(srv: DhcpServer, who: string): Promise<DhcpMessage | undefined> {
    const before = sent.length;
    await srv.handle(message(MessageType.Discover, who), local(who));
    return sent.length > before ? sent.at(-1) : undefined;
  }

  async function dora(srv: DhcpServer, who: string, clientId?: Buffer): Promise<string> {
    const offer = await discover(srv, who);
    expect(typeOf(offer)).toBe(MessageType.Offer);
    const id: [number, Buffer][] = clientId ? [[Opt.ClientId, clientId]] : [];
    await srv.handle(
      message(MessageType.Request, who, {}, [[Opt.ServerId, ipToBytes(SERVER)], [Opt.RequestedIp, ipToBytes(offer!.yiaddr)], ...id]),
      local(who),
    );
    expect(typeOf(sent.at(-1))).toBe(MessageType.Ack);
    return offer!.yiaddr;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-hostile-'));
    now = 1_700_000_000_000;
    leases = await LeaseTable.open(dir, clock);
    sent = [];
    counters = new Counters();
  });
  afterEach(async () => {
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets unknown clients hold only their share of the pool; a known host still gets an address', async () => {
    const known = '52:54:00:00:00:01';
    const srv = server(config({ unknownSharePercent: 50 }, [{ mac: known, hostname: 'n1' }]));
    expect(typeOf(await discover(srv, mac(1)))).toBe(MessageType.Offer);
    expect(typeOf(await discover(srv, mac(2)))).toBe(MessageType.Offer);
    expect(await discover(srv, mac(3))).toBeUndefined();
    expect(counters.get('dhcp.refused.unknown_share')).toBe(1);
    // Skipping DISCOVER does not get around it: an INIT-REBOOT REQUEST for a free address is NAKed.
    await srv.handle(message(MessageType.Request, mac(4), {}, [[Opt.RequestedIp, ipToBytes('10.9.0.103')]]), local(mac(4)));
    expect(typeOf(sent.at(-1))).toBe(MessageType.Nak);
    expect(counters.get('dhcp.refused.unknown_share')).toBe(2);
    expect(await dora(srv, known)).toMatch(/^10\.9\.0\.10[0-3]$/);
    // A client that already holds an address keeps it (retransmitted DISCOVER).
    expect(typeOf(await discover(srv, mac(1)))).toBe(MessageType.Offer);
  });

  it('holds back the addresses that known nodes without a lease will need', async () => {
    const nodes = ['52:54:00:00:00:0a', '52:54:00:00:00:0b'];
    const directory: ClientDirectory = { isKnown: (m) => nodes.includes(m), knownDynamic: () => nodes };
    const srv = server(config(), directory);
    expect(typeOf(await discover(srv, mac(1)))).toBe(MessageType.Offer);
    expect(typeOf(await discover(srv, mac(2)))).toBe(MessageType.Offer);
    expect(await discover(srv, mac(3))).toBeUndefined();
    expect(counters.get('dhcp.refused.reserved_for_known')).toBe(1);
    const a = await dora(srv, nodes[0]);
    const b = await dora(srv, nodes[1]);
    expect(new Set([a, b]).size).toBe(2);
    expect(counters.get('dhcp.pool_exhausted')).toBe(0);
  });

  it('keeps at most max_offers unconfirmed offers, forgetting the oldest; its client can still bind if the address is free', async () => {
    const srv = server(config({ maxOffers: 2 }));
    const first = await discover(srv, mac(1));
    await discover(srv, mac(2));
    await discover(srv, mac(3));
    expect(leases.offerCount).toBe(2);
    expect(counters.get('dhcp.offers_evicted')).toBe(1);
    await srv.handle(
      message(MessageType.Request, mac(1), {}, [
        [Opt.ServerId, ipToBytes(SERVER)],
        [Opt.RequestedIp, ipToBytes(first!.yiaddr)],
      ]),
      local(mac(1)),
    );
    expect(typeOf(sent.at(-1))).toBe(MessageType.Ack);
  });

  it('ignores and counts a RELEASE or DECLINE from anyone but the holder', async () => {
    const srv = server(config());
    const holder = mac(1);
    const clientId = Buffer.from([1, ...macToBytes(holder)]);
    const ip = await dora(srv, holder, clientId);
    const serverId: [number, Buffer] = [Opt.ServerId, ipToBytes(SERVER)];

    await srv.handle(message(MessageType.Release, mac(2), { ciaddr: ip }, [serverId]), local(mac(2)));
    expect(counters.get('dhcp.ignored.release_not_holder')).toBe(1);
    // The holder's MAC in chaddr, but not its client identifier.
    await srv.handle(message(MessageType.Release, holder, { ciaddr: ip }, [serverId, [Opt.ClientId, Buffer.from('forged')]]), local(holder));
    expect(counters.get('dhcp.ignored.release_client_id_mismatch')).toBe(1);
    // Everything copied from the holder, sent from another station on the segment.
    await srv.handle(message(MessageType.Release, holder, { ciaddr: ip }, [serverId, [Opt.ClientId, clientId]]), local(mac(9)));
    expect(counters.get('dhcp.ignored.source_mac_mismatch')).toBe(1);
    await srv.handle(message(MessageType.Decline, mac(2), {}, [serverId, [Opt.RequestedIp, ipToBytes(ip)]]), local(mac(2)));
    expect(counters.get('dhcp.ignored.decline_not_holder')).toBe(1);
    await srv.handle(message(MessageType.Decline, mac(2), {}, [serverId, [Opt.RequestedIp, ipToBytes('10.9.0.103')]]), local(mac(2)));
    expect(counters.get('dhcp.ignored.decline_no_lease')).toBe(1);
    expect(leases.byIp(ip)).toMatchObject({ state: 'bound', mac: holder });
    expect(leases.byIp('10.9.0.103')).toBeUndefined();

    // The holder itself is obeyed.
    await srv.handle(message(MessageType.Release, holder, { ciaddr: ip }, [serverId, [Opt.ClientId, clientId]]), local(holder));
    expect(leases.byIp(ip)).toMatchObject({ state: 'released' });
  });

  it("does not honour option 82 from a client on the segment, and counts it; a relay's is echoed", async () => {
    const srv = server(config());
    const forged = Buffer.from([1, 4, 0x65, 0x74, 0x68, 0x31]);
    await srv.handle(message(MessageType.Discover, mac(1), {}, [[Opt.RelayAgentInfo, forged]]), local(mac(1)));
    expect(typeOf(sent.at(-1))).toBe(MessageType.Offer);
    expect(sent.at(-1)!.options.has(Opt.RelayAgentInfo)).toBe(false);
    expect(counters.get('dhcp.ignored.relay_info_from_client')).toBe(1);
    const relayed = server(config({ relays: ['10.9.0.2'] }));
    await relayed.handle(message(MessageType.Discover, mac(2), { giaddr: '10.9.0.2', hops: 1 }, [[Opt.RelayAgentInfo, forged]]), {
      port: 67,
      dstIp: SERVER,
      srcIp: '10.9.0.2',
      srcPort: 67,
    });
    expect(sent.at(-1)!.options.get(Opt.RelayAgentInfo)).toEqual(forged);
  });

  const serverId: [number, Buffer] = [Opt.ServerId, ipToBytes(SERVER)];
  /** DISCOVER, then DECLINE of what was offered, from one made-up MAC; the offered address or undefined. */
  async function discoverDecline(srv: DhcpServer, who: string): Promise<string | undefined> {
    const offer = await discover(srv, who);
    if (!offer) return undefined;
    await srv.handle(message(MessageType.Decline, who, {}, [serverId, [Opt.RequestedIp, ipToBytes(offer.yiaddr)]]), local(who));
    return offer.yiaddr;
  }
  const BIG_POOL = { subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.119' };

  it("counts addresses quarantined on unknown clients' DECLINEs against their share: a DISCOVER+DECLINE flood leaves a known host its lease", async () => {
    const known = '52:54:00:00:00:01';
    const srv = server(config({ unknownSharePercent: 50 }, [{ mac: known, hostname: 'n1' }], BIG_POOL));
    // Slower than both DECLINE rate limits, so only the share stops it; past the 1 s recount each time.
    for (let i = 1; i <= 40; i++) {
      now += 11_000;
      await discoverDecline(srv, mac(i));
    }
    const quarantined = leases.all().filter((l) => l.state === 'declined');
    expect(quarantined.length).toBe(10);
    expect(quarantined.every((l) => l.cause === 'decline')).toBe(true);
    expect(counters.get('dhcp.refused.unknown_share')).toBe(30);
    expect(await dora(srv, known)).toMatch(/^10\.9\.0\.1[01]\d$/);
    expect(counters.get('dhcp.pool_exhausted')).toBe(0);
  });

  it('obeys one DECLINE per client per 10 s, and overall a burst of 8 then 1 a second; the rest are dropped and counted', async () => {
    const srv = server(config({}, [], BIG_POOL));
    const first = await discoverDecline(srv, mac(1));
    expect(leases.byIp(first!)).toMatchObject({ state: 'declined', cause: 'decline', mac: mac(1) });
    now += 5_000;
    const second = await discoverDecline(srv, mac(1));
    expect(counters.get('dhcp.dropped.decline_rate_client')).toBe(1);
    expect(leases.byIp(second!)).toMatchObject({ state: 'offered', mac: mac(1) });
    now += 5_000;
    await srv.handle(message(MessageType.Decline, mac(1), {}, [serverId, [Opt.RequestedIp, ipToBytes(second!)]]), local(mac(1)));
    expect(leases.byIp(second!)).toMatchObject({ state: 'declined' });

    // 30 s later the bucket is full again: 8 at once, then none until a second has passed.
    now += 30_000;
    for (let i = 10; i < 22; i++) await discoverDecline(srv, mac(i));
    expect(counters.get('dhcp.dropped.decline_rate_overall')).toBe(4);
    now += 2_000;
    for (let i = 30; i < 33; i++) await discoverDecline(srv, mac(i));
    expect(counters.get('dhcp.dropped.decline_rate_overall')).toBe(5);
    expect(leases.all().filter((l) => l.state === 'declined')).toHaveLength(2 + 8 + 2);
  });

  it('treats giaddr as relayed only from a configured relay; from any other source it is dropped and counted', async () => {
    const relayMeta = (srcIp: string): RequestMeta => ({ port: 67, dstIp: SERVER, srcIp, srcPort: 67, srcMac: '02:00:00:00:aa:01' });
    const srv = server(config({ relays: ['10.9.0.2'] }));
    await srv.handle(message(MessageType.Discover, mac(1), { giaddr: '10.9.0.2', hops: 1 }), relayMeta('10.9.0.66'));
    expect(sent).toEqual([]);
    expect(counters.get('dhcp.dropped.relay_not_configured')).toBe(1);
    await srv.handle(message(MessageType.Discover, mac(1), { giaddr: '10.9.0.2', hops: 1 }), relayMeta('10.9.0.2'));
    expect(typeOf(sent.at(-1))).toBe(MessageType.Offer);
    // Without dhcp.relays nothing is relayed.
    const none = server(config());
    await none.handle(message(MessageType.Discover, mac(2), { giaddr: '10.9.0.2', hops: 1 }), relayMeta('10.9.0.2'));
    expect(sent).toHaveLength(1);
    expect(counters.get('dhcp.dropped.relay_not_configured')).toBe(2);
  });

  it('neither answers nor observes a frame whose Ethernet source is not its chaddr, and reports each forger once per 10 minutes, 8 at most', async () => {
    const victim = '52:54:00:00:00:0a';
    const pxe: [number, Buffer] = [Opt.VendorClass, Buffer.from('PXEClient:Arch:00007:UNDI:003016')];
    const observed: DhcpEvent[] = [];
    const reports: ForgedTrafficReport[] = [];
    const srv = server(config(), undefined, { observed, onForgedTraffic: (r) => reports.push(r) });
    for (let i = 0; i < 50; i++) await srv.handle(message(MessageType.Discover, victim, {}, [pxe]), local('02:66:00:00:00:01'));
    await srv.handle(message(MessageType.Request, victim, {}, [pxe, [Opt.RequestedIp, ipToBytes('10.9.0.100')]]), local('02:66:00:00:00:01'));
    expect(sent).toEqual([]);
    expect(observed).toEqual([]);
    expect(counters.get('dhcp.ignored.source_mac_mismatch')).toBe(51);
    expect(reports).toEqual([{ sourceMac: '02:66:00:00:00:01', claimedMac: victim, messageType: 'discover', frames: 1 }]);
    now += 10 * 60_000;
    await srv.handle(message(MessageType.Discover, victim, {}, [pxe]), local('02:66:00:00:00:01'));
    expect(reports[1]).toMatchObject({ frames: 51 });
    // Made-up Ethernet sources: 8 reports in 10 minutes, the rest counted.
    for (let i = 0; i < 20; i++) await srv.handle(message(MessageType.Discover, victim, {}, [pxe]), local(`02:67:00:00:00:${i.toString(16).padStart(2, '0')}`));
    // The first report is from the previous window; in this one, the second and 7 more.
    expect(reports).toHaveLength(1 + 8);
    expect(counters.get('dhcp.events_suppressed.forged_source')).toBe(13);
    // The node itself, from its own MAC, is answered and observed.
    expect(typeOf(await discover(srv, victim))).toBe(MessageType.Offer);
    expect(observed.map((e) => e.type)).toEqual(['discover', 'offer']);
  });
});

describe('RogueServerDetector', () => {
  function reply(type: MessageType, serverId: string): DhcpMessage {
    const msg = message(type, mac(1), { yiaddr: '10.9.0.200' }, [[Opt.ServerId, ipToBytes(serverId)]]);
    return { ...msg, op: 2 };
  }

  it('reports a rogue server once, then at most every ten minutes with the count; ignores our own replies and requests', () => {
    let now = 0;
    const reports: ForeignServerReport[] = [];
    const counters = new Counters();
    const detector = new RogueServerDetector({
      serverAddress: SERVER,
      serverMac: SERVER_MAC,
      mode: 'dhcp',
      now: () => now,
      counters,
      report: (r) => reports.push(r),
    });
    detector.seen(reply(MessageType.Offer, SERVER), SERVER, SERVER_MAC);
    detector.seen(message(MessageType.Discover, mac(1)), '0.0.0.0', mac(1));
    expect(reports).toEqual([]);
    for (let i = 0; i < 500; i++) {
      now += 1000;
      detector.seen(reply(i % 2 ? MessageType.Ack : MessageType.Offer, '10.9.0.66'), '10.9.0.66', '02:66:00:00:00:01');
    }
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ kind: 'rogue', serverId: '10.9.0.66', mac: '02:66:00:00:00:01', replies: 1, messageType: 'offer' });
    now += ROGUE_REPEAT_MS;
    detector.seen(reply(MessageType.Ack, '10.9.0.66'), '10.9.0.66', '02:66:00:00:00:01');
    expect(reports).toHaveLength(2);
    expect(reports[1]).toMatchObject({ replies: 500, messageType: 'ack' });
    expect(counters.get('dhcp.foreign_server.rogue')).toBe(501);
    expect(counters.get('dhcp.foreign_server_reports.rogue')).toBe(2);
  });

  it('in proxy mode reports each site server once, as expected, and forged server ids cannot grow its table without bound', () => {
    let now = 0;
    const reports: ForeignServerReport[] = [];
    const detector = new RogueServerDetector({
      serverAddress: SERVER,
      serverMac: SERVER_MAC,
      mode: 'proxy',
      now: () => now,
      counters: new Counters(),
      report: (r) => reports.push(r),
    });
    for (let i = 0; i < 3; i++) {
      now += ROGUE_REPEAT_MS;
      detector.seen(reply(MessageType.Ack, '10.9.0.2'), '10.9.0.2', '02:00:00:00:00:02');
    }
    expect(reports.map((r) => r.kind)).toEqual(['site']);
    const rogue = new RogueServerDetector({
      serverAddress: SERVER,
      serverMac: SERVER_MAC,
      mode: 'dhcp',
      now: () => now,
      counters: new Counters(),
      report: (r) => reports.push(r),
    });
    for (let i = 0; i < 10_000; i++) rogue.seen(reply(MessageType.Offer, `10.${(i >> 8) & 255}.${i & 255}.1`), '10.0.0.1', '02:00:00:00:00:03');
    expect((rogue as unknown as { servers: Map<string, unknown> }).servers.size).toBeLessThanOrEqual(64);
  });

  it('writes at most 8 reports in 10 minutes however many server ids are forged, and counts the rest', () => {
    let now = 0;
    const reports: ForeignServerReport[] = [];
    const counters = new Counters();
    const detector = new RogueServerDetector({
      serverAddress: SERVER,
      serverMac: SERVER_MAC,
      mode: 'dhcp',
      now: () => now,
      counters,
      report: (r) => reports.push(r),
    });
    for (let i = 0; i < 100; i++) {
      now += 1000;
      detector.seen(reply(MessageType.Offer, `10.66.0.${i + 1}`), `10.66.0.${i + 1}`, '02:66:00:00:00:01');
    }
    expect(reports).toHaveLength(8);
    expect(counters.get('dhcp.events_suppressed.rogue')).toBe(92);
    expect(counters.get('dhcp.foreign_server.rogue')).toBe(100);
    // A new window: reports again.
    now += ROGUE_REPEAT_MS;
    detector.seen(reply(MessageType.Offer, '10.66.1.1'), '10.66.1.1', '02:66:00:00:00:01');
    expect(reports).toHaveLength(9);
  });

  it("reports a reply carrying rackboot's own server id from another MAC as impersonation, in either mode", () => {
    for (const mode of ['dhcp', 'proxy'] as const) {
      const reports: ForeignServerReport[] = [];
      const counters = new Counters();
      const detector = new RogueServerDetector({ serverAddress: SERVER, serverMac: SERVER_MAC, mode, now: () => 0, counters, report: (r) => reports.push(r) });
      detector.seen(reply(MessageType.Ack, SERVER), '10.9.0.66', '02:66:00:00:00:01');
      detector.seen(reply(MessageType.Ack, SERVER), '10.9.0.66', '02:66:00:00:00:01');
      detector.seen(reply(MessageType.Offer, SERVER), SERVER, SERVER_MAC);
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ kind: 'impersonation', serverId: SERVER, mac: '02:66:00:00:00:01', messageType: 'ack' });
      expect(counters.get('dhcp.foreign_server.impersonation')).toBe(2);
    }
  });

  it('shares one budget between the detector and the forged-source reports', () => {
    const budget = new EventBudget();
    for (let i = 0; i < 8; i++) expect(budget.take(`forged 02:00:00:00:00:${i}`, 0)).toBe('write');
    const reports: ForeignServerReport[] = [];
    const counters = new Counters();
    const detector = new RogueServerDetector({
      serverAddress: SERVER,
      serverMac: SERVER_MAC,
      mode: 'dhcp',
      now: () => 1,
      counters,
      report: (r) => reports.push(r),
      budget,
    });
    detector.seen(reply(MessageType.Offer, '10.9.0.66'), '10.9.0.66', '02:66:00:00:00:01');
    expect(reports).toEqual([]);
    expect(counters.get('dhcp.events_suppressed.rogue')).toBe(1);
  });
});

describe('hostile-network DHCP counters in /metrics', () => {
  it('map to labelled families, not the catch-all', async () => {
    const { renderMetrics } = await import('../../firmware/src/http/metrics.js');
    const text = renderMetrics(
      {
        'dhcp.refused.unknown_share': 5,
        'dhcp.refused.reserved_for_known': 2,
        'dhcp.ignored.release_not_holder': 1,
        'dhcp.ignored.relay_info_from_client': 3,
        'dhcp.offers_evicted': 4,
        'dhcp.foreign_server.rogue': 7,
        'dhcp.foreign_server_reports.site': 1,
      },
      { dhcpPerSecond: 0 },
    );
    expect(text).toContain('rackboot_refused_total{protocol="dhcp",reason="unknown_share"} 5');
    expect(text).toContain('rackboot_refused_total{protocol="dhcp",reason="reserved_for_known"} 2');
    expect(text).toContain('rackboot_dhcp_ignored_total{reason="release_not_holder"} 1');
    expect(text).toContain('rackboot_dhcp_ignored_total{reason="relay_info_from_client"} 3');
    expect(text).toContain('rackboot_dhcp_offers_evicted_total 4');
    expect(text).toContain('rackboot_dhcp_foreign_server_replies_total{kind="rogue"} 7');
    expect(text).toContain('rackboot_dhcp_foreign_server_reports_total{kind="site"} 1');
    expect(text).not.toContain('rackboot_counter_total');
  });
});

describe('one MAC repeating itself', () => {
  it('queues at most 8 of its requests behind each other and drops the rest, counted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rackboot-hostile-'));
    const leases = await LeaseTable.open(dir, { now: () => 1_700_000_000_000 });
    const counters = new Counters();
    let release: () => void = () => {};
    const gate = new Promise<boolean>((r) => (release = () => r(false)));
    const srv = new DhcpServer({
      config: config(),
      serverAddress: SERVER,
      booter: ipxeBooter({ serverAddress: SERVER, httpPort: 80 }),
      leases,
      transport: { send: () => {} },
      // The first DISCOVER's probe hangs until released: everything after it queues.
      prober: { inUse: () => gate },
      neighbors: { seed: () => {} },
      clock: { now: () => 1_700_000_000_000 },
      log: silentLogger,
      counters,
    });
    const handled = Array.from({ length: 100 }, () => srv.handle(message(MessageType.Discover, mac(1)), local(mac(1))));
    expect(counters.get('dhcp.dropped.client_backlog')).toBe(92);
    release();
    await Promise.all(handled);
    expect(counters.get('dhcp.out.offer')).toBe(8);
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });
});
