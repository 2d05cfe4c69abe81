// The DHCP server (RFC 2131) and PXE proxyDHCP responder. It sees decoded
// requests and answers through a DhcpTransport; sockets, clocks and the lease
// store come in through small interfaces so every rule below is unit-testable.

import { ZERO_IP, ipFromBytes, macFromBytes, type Ipv4, type Mac } from '../net/addr.js';
import { MIN_MAX_MESSAGE_SIZE, encodeDhcp } from './codec.js';
import type { Logger } from '../util/log.js';
import type { Counters } from '../util/counters.js';
import type { Clock } from '../util/clock.js';
import type { Lease, LeaseTable } from './leases.js';
import type { PoolConfig, RackbootConfig } from '../config/schema.js';
import { AddressPlan, broadcastOf, netmaskOf, type PlanHost } from './address-plan.js';
import { FreeAddressFinder } from './free-addresses.js';
import { ProbeAhead } from './probe-ahead.js';
import { ClientLimits, hostsDirectory, type ClientDirectory, type LimitRefusal } from './client-limits.js';
import { DeclineLimiter } from './source-limits.js';
import { EventBudget } from './event-budget.js';
import { BOOTREPLY, DHCP_SERVER_PORT, MessageType, Opt, PXE_PROXY_PORT, type DhcpMessage, type DhcpOptions } from './message.js';
import { replyDestination, type Destination, type DhcpTransport } from './transport.js';
import { classifyClient } from './client-class.js';
import type { ClientClass } from '../model/boot.js';
import type { ArpPacket } from '../net/arp.js';
import type { BootAnswer, Booter } from '../boot-policy/booter.js';
import {
  IpxeSubOpt,
  encapsulatedOption,
  hostname,
  parameterRequestList,
  ipListOption,
  ipOption,
  orderByParameterRequestList,
  stringOption,
  u32Option,
} from './options.js';

/** How long an offered address stays reserved for the client that was offered it. */
const OFFER_HOLD_MS = 60_000;
/** How long an address reported in use (DECLINE, or a probe answered) is kept out of the pool. */
const QUARANTINE_SECONDS = 600;
/** Give up looking for a free address after this many probes found conflicts for one request. */
const MAX_CONFLICTS_PER_REQUEST = 8;
/** Option 175 with 176 (no-pxedhcp) = 1: iPXE need not wait for ProxyDHCP offers (see buildReply). */
const IPXE_NO_PROXY_WAIT = encapsulatedOption([[IpxeSubOpt.NoPxeDhcp, Buffer.from([1])]]);
/** Requests of one client waiting behind each other; more are dropped (a client retransmits anyway). */
const MAX_QUEUED_PER_CLIENT = 8;

export interface ConflictProber {
  /** True when something already answers at `ip` (ARP on a connected subnet, ICMP echo beyond a relay). */
  inUse(ip: Ipv4): Promise<boolean>;
  /** True when a recent probe found `ip` free, so inUse() answers at once. Without it nothing is probed ahead (probe-ahead.ts). */
  knownFree?(ip: Ipv4): boolean;
}

export interface NeighborSeeder {
  /** Put ip -> mac into the kernel's neighbour table before the client's first TFTP/HTTP packet. */
  seed(ip: Ipv4, mac: Mac): void;
}

export interface BootObserver {
  /** Called for each request and reply, so the inventory can track boot stages. */
  dhcpEvent?(event: DhcpEvent): void;
  /** An ARP packet seen on the link (requests tell who a node is looking for; every packet maps an IP to a MAC). */
  arp?(packet: ArpPacket): void;
}

/** Lets the inventory hold a node: a held node gets an address (full DHCP mode) but no boot file. */
export interface BootGate {
  allowBoot(mac: Mac, client: ClientClass): boolean;
}

export interface DhcpEvent {
  type: 'discover' | 'offer' | 'request' | 'ack' | 'nak' | 'decline' | 'release' | 'inform' | 'proxy-offer' | 'proxy-ack';
  mac: Mac;
  /** The transaction id of the client's message. */
  xid: number;
  ip?: Ipv4;
  client: ClientClass;
  bootFile?: string;
  /** The node is held by the inventory (an unapproved discovered node): its answer had no boot file, or there was none. */
  held?: boolean;
}

export interface DhcpServerOptions {
  config: Pick<RackbootConfig, 'mode' | 'leaseTime' | 'pools' | 'hosts' | 'options' | 'http' | 'dhcp'>;
  serverAddress: Ipv4;
  leases: LeaseTable;
  transport: DhcpTransport;
  prober: ConflictProber;
  neighbors: NeighborSeeder;
  clock: Clock;
  log: Logger;
  counters: Counters;
  /** Decides what each boot client is told to load. */
  booter: Booter;
  observer?: BootObserver;
  bootGate?: BootGate;
  /** Who is known (never limited); without it, the configuration's hosts. */
  clients?: ClientDirectory;
  /** Frames on our segment whose Ethernet source is not their chaddr were ignored (bounded by `eventBudget`). */
  onForgedTraffic?(report: ForgedTrafficReport): void;
  /** Bounds the events about forgeable traffic; shared with the rogue detector. By default one of its own. */
  eventBudget?: EventBudget;
}

/** DHCP requests whose Ethernet source differs from the client hardware address they carry. */
export interface ForgedTrafficReport {
  /** The Ethernet source: the station that really sent them. */
  sourceMac: Mac;
  /** The chaddr of the latest one: the client it claimed to be. */
  claimedMac: Mac;
  /** The latest one's message type, lower case ("discover"). */
  messageType: string;
  /** Frames from this source ignored since its previous report (the first time: all so far). */
  frames: number;
}

/** Sources of forged frames whose counts are kept between reports; the oldest is forgotten first. */
const MAX_FORGED_SOURCES = 64;

export interface RequestMeta {
  /** UDP port the request arrived on: 67, or 4011 for PXE boot server requests. */
  port: number;
  /** Destination IP of the datagram (255.255.255.255 for broadcasts). */
  dstIp: Ipv4;
  /** Source address and port: port 4011 answers go back to exactly these. */
  srcIp: Ipv4;
  srcPort: number;
  /** Ethernet source of the frame, when it came from the packet socket. */
  srcMac?: Mac;
}

interface Client {
  mac: Mac;
  clientId?: string;
  /** Leases are keyed by MAC: a node's PXE ROM, iPXE and OS send different client ids but are one machine. */
  key: string;
}

export class DhcpServer {
  private readonly plan: AddressPlan;
  /** One allocation at a time per client: retransmitted DISCOVERs must not race each other's probes. */
  private readonly inFlight = new Map<string, { tail: Promise<void>; queued: number }>();
  private readonly free: FreeAddressFinder;
  private readonly probeAhead: ProbeAhead;
  private readonly limits: ClientLimits;
  private readonly declines = new DeclineLimiter();
  private readonly relays: ReadonlySet<Ipv4>;
  private readonly eventBudget: EventBudget;
  /** Ethernet source -> forged frames from it not yet reported. */
  private readonly forgedSince = new Map<Mac, number>();

  constructor(private readonly opts: DhcpServerOptions) {
    this.relays = new Set(opts.config.dhcp.relays);
    this.eventBudget = opts.eventBudget ?? new EventBudget();
    this.plan = new AddressPlan(opts.config.pools, opts.config.hosts, [opts.serverAddress]);
    this.free = new FreeAddressFinder(this.plan, opts.leases);
    this.probeAhead = new ProbeAhead({ clock: opts.clock, verdicts: opts.prober, free: this.free, probe: (ip) => this.probeAndQuarantine(ip), log: opts.log });
    opts.leases.limitOffers(opts.config.dhcp.maxOffers);
    this.limits = new ClientLimits(this.plan, opts.leases, opts.clients ?? hostsDirectory(this.plan), opts.config.dhcp.unknownSharePercent);
  }

  /**
   * Replaces the known hosts (the inventory's nodes): their fixed addresses are
   * reserved for them and their names are the host names sent. Takes effect for
   * the next DISCOVER or REQUEST. Until called, the configuration's hosts.
   */
  setHosts(hosts: readonly PlanHost[]): void {
    this.plan.setHosts(hosts);
  }

  /** Handles one decoded request. Never throws: failures are logged and counted. */
  async handle(msg: DhcpMessage, meta: RequestMeta): Promise<void> {
    const { counters, log } = this.opts;
    if (msg.op !== 1 || msg.htype !== 1 || msg.hlen !== 6) {
      counters.inc('dhcp.dropped.not_ethernet_request');
      return;
    }
    const type = messageTypeOf(msg);
    if (type === undefined) {
      counters.inc('dhcp.dropped.bootp');
      return;
    }
    const client = clientOf(msg);
    const typeName = MessageType[type]?.toLowerCase() ?? String(type);
    counters.inc(`dhcp.in.${typeName}`);
    if (msg.giaddr !== ZERO_IP && !this.relays.has(meta.srcIp)) {
      // giaddr makes a packet relayed: remote pools, no ARP probe, answers to the relay. Any
      // station can set it, so only the configured relays' packets are taken as relayed.
      counters.inc('dhcp.dropped.relay_not_configured');
      return;
    }
    if (msg.giaddr === ZERO_IP && meta.srcMac !== undefined && meta.srcMac !== client.mac) {
      // On our own segment a client sends its own frames: another station speaking for
      // chaddr is forging. Not answered, and not observed (it must not drive boot stages).
      counters.inc('dhcp.ignored.source_mac_mismatch');
      this.forgedFrame(meta.srcMac, client.mac, typeName);
      return;
    }
    if (msg.giaddr === ZERO_IP && msg.options.has(Opt.RelayAgentInfo)) {
      // RFC 3046 2.1 / 4: option 82 is a relay's statement about the client's port. From a
      // client on our own segment (no giaddr) it is forged: never echoed, never relied on.
      msg.options.delete(Opt.RelayAgentInfo);
      counters.inc('dhcp.ignored.relay_info_from_client');
    }
    const queue = this.inFlight.get(client.key) ?? { tail: Promise.resolve(), queued: 0 };
    // Per-MAC limit: one MAC repeating itself faster than its requests are answered (each
    // REQUEST waits for a journal sync) would otherwise queue without bound.
    if (queue.queued >= MAX_QUEUED_PER_CLIENT) {
      counters.inc('dhcp.dropped.client_backlog');
      return;
    }
    queue.queued++;
    const current = queue.tail
      .then(() => this.dispatch(msg, type, client, meta))
      .catch((error: unknown) => {
        counters.inc('dhcp.errors');
        log.error('dhcp request failed', { mac: client.mac, type: MessageType[type], error: error as Error });
      });
    queue.tail = current;
    this.inFlight.set(client.key, queue);
    await current;
    queue.queued--;
    if (queue.queued === 0 && this.inFlight.get(client.key) === queue) this.inFlight.delete(client.key);
  }

  private async dispatch(msg: DhcpMessage, type: MessageType, client: Client, meta: RequestMeta): Promise<void> {
    const boot = classifyClient(msg);
    if (meta.port === PXE_PROXY_PORT) return this.answerBootServerRequest(msg, type, client, boot, meta);
    if (this.opts.config.mode === 'proxy') return this.answerProxy(msg, type, client, boot);
    switch (type) {
      case MessageType.Discover:
        return this.onDiscover(msg, client, boot);
      case MessageType.Request:
        return this.onRequest(msg, client, boot);
      case MessageType.Decline:
        return this.onDecline(msg, client);
      case MessageType.Release:
        return this.onRelease(msg, client);
      case MessageType.Inform:
        return this.onInform(msg, client, boot);
      default:
        this.opts.counters.inc('dhcp.dropped.unexpected_type');
    }
  }

  // ---- full DHCP -----------------------------------------------------------

  private async onDiscover(msg: DhcpMessage, client: Client, boot: ClientClass): Promise<void> {
    this.emit({ type: 'discover', mac: client.mac, xid: msg.xid, client: boot });
    const link = this.linkAddress(msg);
    const choice = await this.chooseAddress(msg, client, link);
    const ip = choice.ip;
    if (!ip) {
      if (choice.refused) {
        // Counted, logged at debug only: a flood must not turn into a flood of log lines.
        this.opts.counters.inc(`dhcp.refused.${choice.refused}`);
        this.opts.log.debug('unknown client refused an address', { mac: client.mac, reason: choice.refused });
        return;
      }
      this.opts.counters.inc('dhcp.pool_exhausted');
      this.opts.log.warn('no free address to offer', { mac: client.mac, link });
      return;
    }
    const pool = this.plan.subnetOf(ip)!;
    const reply = this.buildReply(msg, MessageType.Offer, { yiaddr: ip, pool, client, boot });
    this.send(msg, reply, MessageType.Offer, client);
    this.opts.log.debug('offered', { mac: client.mac, ip, client: boot.kind });
    this.emit({ type: 'offer', mac: client.mac, xid: msg.xid, ip, client: boot, bootFile: reply.file || undefined });
  }

  /** RFC 2131 4.3.2: SELECTING, INIT-REBOOT, RENEWING and REBINDING are told apart by which fields are set. */
  private async onRequest(msg: DhcpMessage, client: Client, boot: ClientClass): Promise<void> {
    const options = msg.options;
    const serverId = ipOf(options, Opt.ServerId);
    const requested = ipOf(options, Opt.RequestedIp);
    this.emit({ type: 'request', mac: client.mac, xid: msg.xid, ip: requested ?? msg.ciaddr, client: boot });

    if (serverId !== undefined) {
      // SELECTING: the client picked an offer. If it was not ours, free what we held for it.
      if (serverId !== this.opts.serverAddress) {
        this.opts.leases.withdrawOffer(client.key);
        this.opts.counters.inc('dhcp.request.other_server');
        return;
      }
      if (!requested || msg.ciaddr !== ZERO_IP) return this.nak(msg, client, boot, 'SELECTING request without requested address');
      return this.ackIfAllowed(msg, client, boot, requested);
    }
    if (requested !== undefined && msg.ciaddr === ZERO_IP) {
      // INIT-REBOOT: the client remembers an address (after a reboot). rackboot is the
      // authoritative server of its segment, so it confirms or NAKs.
      return this.ackIfAllowed(msg, client, boot, requested);
    }
    if (msg.ciaddr !== ZERO_IP) {
      // RENEWING (unicast to us) or REBINDING (broadcast): extend if the address is the client's.
      return this.ackIfAllowed(msg, client, boot, msg.ciaddr);
    }
    this.opts.counters.inc('dhcp.dropped.request_without_address');
  }

  private async ackIfAllowed(msg: DhcpMessage, client: Client, boot: ClientClass, ip: Ipv4): Promise<void> {
    const verdict = this.mayBind(msg, client, ip);
    if (verdict !== true) return this.nak(msg, client, boot, verdict);
    const pool = this.plan.subnetOf(ip)!;
    const host = this.plan.hostFor(client.mac);
    const leaseSeconds = pool.leaseTime ?? this.opts.config.leaseTime;
    // Durable before the ACK leaves: an acknowledged lease survives kill -9 and power loss.
    await this.opts.leases.bind(ip, client, leaseSeconds, host?.hostname ?? hostname(msg.options));
    if (msg.giaddr === ZERO_IP) this.seedNeighbor(ip, client.mac);
    const reply = this.buildReply(msg, MessageType.Ack, { yiaddr: ip, pool, client, boot, leaseSeconds });
    this.send(msg, reply, MessageType.Ack, client);
    this.opts.log.info('lease bound', { mac: client.mac, ip, leaseSeconds, client: boot.kind, bootFile: reply.file || undefined });
    this.emit({ type: 'ack', mac: client.mac, xid: msg.xid, ip, client: boot, bootFile: reply.file || undefined });
  }

  /** True, or the reason the client may not have `ip` (logged with the NAK). */
  private mayBind(msg: DhcpMessage, client: Client, ip: Ipv4): true | string {
    const link = this.linkAddress(msg);
    const pool = this.plan.subnetOf(ip);
    // RFC 2131 4.3.2: NAK an address that is not on the client's network.
    if (!pool || !this.plan.poolsForLink(link).some((p) => p.subnet === pool.subnet && p.prefix === pool.prefix)) {
      return `address ${ip} is not on the client's network`;
    }
    const owner = this.plan.staticOwner(ip);
    if (owner) return owner.mac === client.mac ? true : `address ${ip} is reserved for ${owner.mac}`;
    const host = this.plan.hostFor(client.mac);
    if (host?.ip && host.ip !== ip) return `client has the static address ${host.ip}`;
    if (!this.plan.isAssignable(pool, ip)) return `address ${ip} is outside the dynamic range`;
    const now = this.opts.clock.now();
    if (this.opts.leases.isFreeFor(ip, client.key, now)) {
      // A REQUEST for an address the client was not offered and does not hold is a new
      // allocation: the same class limits as for a DISCOVER (a flood may skip DISCOVER).
      if (this.opts.leases.byIp(ip)?.clientKey === client.key) return true;
      const known = this.limits.isKnown(client.mac);
      const refused = known ? undefined : this.limits.refusal(pool, now);
      if (refused) {
        this.opts.counters.inc(`dhcp.refused.${refused}`);
        return refused === 'unknown_share' ? 'unknown clients hold their share of the pool' : 'the remaining addresses are held for known nodes';
      }
      this.limits.allocated(pool, known, now);
      return true;
    }
    const holder = this.opts.leases.byIp(ip);
    return holder?.state === 'declined'
      ? `address ${ip} is quarantined`
      : `address ${ip} is held by ${holder?.mac ?? 'another client'} (${holder?.state ?? 'unknown'})`;
  }

  private nak(msg: DhcpMessage, client: Client, boot: ClientClass, reason: string): void {
    this.opts.counters.inc('dhcp.out.nak');
    this.opts.log.info('NAK', { mac: client.mac, reason });
    const reply = this.baseReply(msg, ZERO_IP);
    reply.options = new Map([
      [Opt.MessageType, Buffer.from([MessageType.Nak])],
      [Opt.ServerId, ipOption(this.opts.serverAddress)],
      [Opt.Message, stringOption(reason.slice(0, 250))],
    ]);
    this.copyRelayInfo(msg, reply.options);
    this.send(msg, reply, MessageType.Nak, client);
    this.emit({ type: 'nak', mac: client.mac, xid: msg.xid, client: boot });
  }

  private async onDecline(msg: DhcpMessage, client: Client): Promise<void> {
    const requested = ipOf(msg.options, Opt.RequestedIp);
    if (!requested || ipOf(msg.options, Opt.ServerId) !== this.opts.serverAddress) return;
    const lease = this.opts.leases.byIp(requested);
    const spoofed = this.notHolder(client, lease);
    if (spoofed) {
      this.ignoreSpoofed('decline', spoofed, client, requested);
      return;
    }
    if (!lease) return;
    const limited = this.declines.admit(client.mac, this.opts.clock.now());
    if (limited) {
      this.opts.counters.inc(`dhcp.dropped.${limited}`);
      return;
    }
    this.opts.log.warn('client declined address: in use by another host', { mac: client.mac, ip: requested });
    await this.opts.leases.decline(requested, QUARANTINE_SECONDS, 'decline');
    this.emit({ type: 'decline', mac: client.mac, xid: msg.xid, ip: requested, client: classifyClient(msg) });
  }

  private async onRelease(msg: DhcpMessage, client: Client): Promise<void> {
    if (ipOf(msg.options, Opt.ServerId) !== this.opts.serverAddress) return;
    const lease = this.opts.leases.byIp(msg.ciaddr);
    const spoofed = this.notHolder(client, lease);
    if (spoofed) {
      this.ignoreSpoofed('release', spoofed, client, msg.ciaddr);
      return;
    }
    if (!lease || lease.state !== 'bound') return;
    await this.opts.leases.release(msg.ciaddr);
    this.opts.log.info('lease released', { mac: client.mac, ip: msg.ciaddr });
    this.emit({ type: 'release', mac: client.mac, xid: msg.xid, ip: msg.ciaddr, client: classifyClient(msg) });
  }

  /**
   * Why a DECLINE or RELEASE for `lease` does not come from its holder, or undefined
   * when it does. Both take an address away from someone, so the sender must be the
   * holder: same chaddr, and the same client identifier when the lease has one
   * (RFC 2131 4.3.4/4.3.5 identify the client by option 61 when present). On our
   * own segment handle() has already dropped frames whose Ethernet source is not
   * chaddr.
   */
  private notHolder(client: Client, lease: Lease | undefined): string | undefined {
    if (!lease || (lease.state !== 'offered' && lease.state !== 'bound')) return 'no_lease';
    if (lease.mac !== client.mac) return 'not_holder';
    if (lease.clientId !== undefined && client.clientId !== lease.clientId) return 'client_id_mismatch';
    return undefined;
  }

  private ignoreSpoofed(kind: 'decline' | 'release', reason: string, client: Client, ip: Ipv4): void {
    this.opts.counters.inc(`dhcp.ignored.${kind}_${reason}`);
    this.opts.log.debug(`${kind} ignored: the sender does not hold the address`, { mac: client.mac, ip, reason });
  }

  /** RFC 2131 4.3.5: configuration only, no lease, unicast to ciaddr. */
  private onInform(msg: DhcpMessage, client: Client, boot: ClientClass): void {
    if (msg.ciaddr === ZERO_IP) return;
    const pool = this.plan.subnetOf(msg.ciaddr);
    if (!pool) return;
    const reply = this.buildReply(msg, MessageType.Ack, { yiaddr: ZERO_IP, pool, client, boot, inform: true });
    this.send(msg, reply, MessageType.Ack, client);
    this.emit({ type: 'inform', mac: client.mac, xid: msg.xid, ip: msg.ciaddr, client: boot });
  }

  // ---- proxyDHCP (PXE spec 2.1) --------------------------------------------

  /** Proxy mode on port 67: answer PXE DISCOVERs with boot information and no address. */
  private answerProxy(msg: DhcpMessage, type: MessageType, client: Client, boot: ClientClass): void {
    if (type !== MessageType.Discover && type !== MessageType.Request) return;
    if (type === MessageType.Discover) this.emit({ type: 'discover', mac: client.mac, xid: msg.xid, client: boot });
    if (!this.bootAllowed(client.mac, boot)) {
      this.opts.counters.inc('dhcp.proxy.held');
      if (type === MessageType.Discover) this.emit({ type: 'proxy-offer', mac: client.mac, xid: msg.xid, client: boot, held: true });
      return;
    }
    const answer = this.bootAnswer(boot, client.mac);
    if (!answer) {
      this.opts.counters.inc('dhcp.proxy.ignored_non_pxe');
      return;
    }
    // The client takes its address from the site's DHCP server and merges our boot
    // information; a REQUEST on 67 belongs to the server it names in option 54. Answering
    // one meant for the site server would put a second, address-less ACK on the wire.
    if (type === MessageType.Request && ipOf(msg.options, Opt.ServerId) !== this.opts.serverAddress) {
      this.opts.counters.inc('dhcp.proxy.ignored_request_for_other_server');
      return;
    }
    const reply = this.proxyReply(msg, type === MessageType.Discover ? MessageType.Offer : MessageType.Ack, answer, boot);
    this.send(msg, reply, type === MessageType.Discover ? MessageType.Offer : MessageType.Ack, client);
    this.opts.counters.inc('dhcp.proxy.out');
    this.opts.log.info(type === MessageType.Discover ? 'proxy offer' : 'proxy ack', { mac: client.mac, client: boot.kind, bootFile: answer.bootFile });
    this.emit({ type: type === MessageType.Discover ? 'proxy-offer' : 'proxy-ack', mac: client.mac, xid: msg.xid, client: boot, bootFile: answer.bootFile });
  }

  /**
   * Port 4011 (PXE boot server discovery): the ROM unicasts a REQUEST and expects
   * an ACK with the boot file. Answered in both modes, since ROMs that saw
   * "PXEClient" in an offer may ask here before loading anything.
   */
  private answerBootServerRequest(msg: DhcpMessage, type: MessageType, client: Client, boot: ClientClass, meta: RequestMeta): void {
    if (type !== MessageType.Request && type !== MessageType.Inform) return;
    if (!this.bootAllowed(client.mac, boot)) {
      this.opts.counters.inc('dhcp.proxy.held');
      return;
    }
    const answer = this.bootAnswer(boot, client.mac);
    if (!answer) return;
    const reply = this.proxyReply(msg, MessageType.Ack, answer, boot);
    // The ROM has its address by now: answer to the source address and port it used
    // (a frame to its MAC, since it may not answer ARP from inside the ROM).
    const destination: Destination =
      meta.srcIp !== ZERO_IP
        ? { via: 'frame', mac: client.mac, ip: meta.srcIp, port: meta.srcPort }
        : replyDestination(msg, reply, MessageType.Ack, client.mac);
    this.opts.transport.send(this.encode(msg, reply), destination, PXE_PROXY_PORT);
    this.opts.counters.inc('dhcp.proxy.out_4011');
    this.opts.log.info('boot server ack', { mac: client.mac, ip: meta.srcIp, client: boot.kind, bootFile: answer.bootFile });
    this.emit({ type: 'proxy-ack', mac: client.mac, xid: msg.xid, client: boot, bootFile: answer.bootFile });
  }

  private proxyReply(msg: DhcpMessage, type: MessageType, answer: BootAnswer, boot: ClientClass): DhcpMessage {
    const reply = this.baseReply(msg, ZERO_IP);
    reply.ciaddr = msg.ciaddr;
    const options: DhcpOptions = new Map([
      [Opt.MessageType, Buffer.from([type])],
      [Opt.ServerId, ipOption(this.opts.serverAddress)],
    ]);
    this.addBootOptions(msg, reply, options, answer, boot);
    // A proxy reply is recognised by "PXEClient" in option 60 (PXE spec 2.2.5;
    // iPXE's dhcp.c checks the same), whatever firmware is asking.
    if (!options.has(Opt.VendorClass)) options.set(Opt.VendorClass, stringOption('PXEClient'));
    this.copyRelayInfo(msg, options);
    reply.options = orderByParameterRequestList(options, parameterRequestList(msg.options) ?? []);
    return reply;
  }

  // ---- address choice ------------------------------------------------------

  /**
   * Picks and reserves an address for a DISCOVER, in this order: the client's
   * static address; the address it holds or held (stickiness, RFC 2131 4.3.1);
   * the address it asks for (option 50) if free; a never-used address; the least
   * recently used released or expired one. Dynamic candidates are probed first
   * (RFC 5227 ARP on a connected subnet, ICMP echo beyond a relay); a hit is
   * quarantined and skipped.
   */
  private async chooseAddress(msg: DhcpMessage, client: Client, link: Ipv4): Promise<{ ip?: Ipv4; refused?: LimitRefusal }> {
    const host = this.plan.hostFor(client.mac);
    if (host?.ip) return this.plan.subnetOf(host.ip) ? { ip: host.ip } : {};
    const linkPools = this.plan.poolsForLink(link);
    if (linkPools.length === 0) return {};
    const leases = this.opts.leases;

    const held = leases.byClient(client.key);
    if (held && held.state !== 'declined' && linkPools.some((p) => this.plan.isAssignable(p, held.ip))) {
      // An address we already offered or bound to this client was checked then.
      const checked = held.state === 'offered' || held.state === 'bound';
      if (await this.reserve(held.ip, client, !checked)) return { ip: held.ip };
    }
    // Anything past this point is a new address for the client: class limits apply.
    const now = this.opts.clock.now();
    const known = this.limits.isKnown(client.mac);
    let refused: LimitRefusal | undefined;
    const pools = known
      ? linkPools
      : linkPools.filter((pool) => {
          const why = this.limits.refusal(pool, now);
          refused ??= why;
          return why === undefined;
        });
    if (pools.length === 0) return { refused };
    const poolOf = (ip: Ipv4) => pools.find((p) => this.plan.isAssignable(p, ip));
    // Checked again and counted in the same tick as the offer, before the probe's wait:
    // concurrent DISCOVERs from a flood must not all pass the limit while probing.
    const admit = (ip: Ipv4): boolean => {
      const pool = poolOf(ip)!;
      if (!known) {
        const why = this.limits.refusal(pool, this.opts.clock.now());
        if (why) {
          refused = why;
          return false;
        }
      }
      this.limits.allocated(pool, known, this.opts.clock.now());
      return true;
    };

    const requested = ipOf(msg.options, Opt.RequestedIp);
    if (requested && poolOf(requested) && (await this.reserve(requested, client, true, admit))) return { ip: requested };
    if (refused) return { refused };
    let conflicts = 0;
    for (const ip of this.free.candidates(pools, now)) {
      if (await this.reserve(ip, client, true, admit)) {
        this.probeAhead.offered(pools);
        return { ip };
      }
      if (refused) return { refused };
      if (this.opts.leases.byIp(ip)?.state === 'declined' && ++conflicts >= MAX_CONFLICTS_PER_REQUEST) break;
    }
    return {};
  }

  /**
   * Holds `ip` for the client (an in-memory offer) before probing it, in the same
   * tick as the free check, so concurrent DISCOVERs from other clients skip it
   * instead of racing for it. False when it is taken or answered the probe.
   */
  private async reserve(ip: Ipv4, client: Client, probe: boolean, admit?: (ip: Ipv4) => boolean): Promise<boolean> {
    const leases = this.opts.leases;
    if (!leases.isFreeFor(ip, client.key, this.opts.clock.now())) return false;
    if (admit && !admit(ip)) return false;
    const evicted = leases.offersEvicted;
    leases.offer(ip, client, OFFER_HOLD_MS);
    if (leases.offersEvicted !== evicted) this.opts.counters.inc('dhcp.offers_evicted', leases.offersEvicted - evicted);
    if (!probe) return true;
    return !(await this.probeAndQuarantine(ip));
  }

  private async probeAndQuarantine(ip: Ipv4): Promise<boolean> {
    const inUse = await this.opts.prober.inUse(ip);
    if (inUse) {
      this.opts.counters.inc('dhcp.conflict_detected');
      this.opts.log.warn('address answered a conflict probe; quarantined', { ip, quarantineSeconds: QUARANTINE_SECONDS });
      await this.opts.leases.decline(ip, QUARANTINE_SECONDS, 'probe');
    }
    return inUse;
  }

  // ---- reply building ------------------------------------------------------

  private buildReply(
    msg: DhcpMessage,
    type: MessageType.Offer | MessageType.Ack,
    args: { yiaddr: Ipv4; pool: PoolConfig; client: Client; boot: ClientClass; leaseSeconds?: number; inform?: boolean },
  ): DhcpMessage {
    const { config, serverAddress } = this.opts;
    const reply = this.baseReply(msg, args.yiaddr);
    if (args.inform) reply.ciaddr = msg.ciaddr;
    const options: DhcpOptions = new Map();
    options.set(Opt.MessageType, Buffer.from([type]));
    options.set(Opt.ServerId, ipOption(serverAddress));
    if (!args.inform) {
      const leaseSeconds = args.leaseSeconds ?? args.pool.leaseTime ?? config.leaseTime;
      options.set(Opt.LeaseTime, u32Option(leaseSeconds));
      options.set(Opt.RenewalTime, u32Option(Math.floor(leaseSeconds * 0.5)));
      options.set(Opt.RebindingTime, u32Option(Math.floor(leaseSeconds * 0.875)));
    }
    options.set(Opt.SubnetMask, ipOption(netmaskOf(args.pool.prefix)));
    options.set(Opt.BroadcastAddress, ipOption(broadcastOf(args.pool)));
    const router = args.pool.router ?? config.options.router;
    if (router) options.set(Opt.Router, ipOption(router));
    if (config.options.dns.length > 0) options.set(Opt.DnsServers, ipListOption(config.options.dns));
    if (config.options.domain) options.set(Opt.DomainName, stringOption(config.options.domain));
    if (config.options.ntp.length > 0) options.set(Opt.NtpServers, ipListOption(config.options.ntp));
    const hostname = this.plan.hostFor(args.client.mac)?.hostname;
    if (hostname) options.set(Opt.HostName, stringOption(hostname));
    const answer = this.bootAllowed(args.client.mac, args.boot) ? this.bootAnswer(args.boot, args.client.mac) : undefined;
    if (answer) {
      this.addBootOptions(msg, reply, options, answer, args.boot);
      // iPXE holds an address offer without "PXEClient" until its discovery timer has
      // run past 2 s (src/net/udp/dhcp.c, DHCP_DISC_PROXY_TIMEOUT_SEC), in case a
      // ProxyDHCP server answers too: 3 s lost per boot. This server is the only
      // boot server in full mode, so it tells iPXE not to wait (175.176 no-pxedhcp).
      if (args.boot.kind === 'ipxe') options.set(Opt.Ipxe, IPXE_NO_PROXY_WAIT);
    }
    this.copyRelayInfo(msg, options);
    reply.options = orderByParameterRequestList(options, parameterRequestList(msg.options) ?? []);
    return reply;
  }

  private addBootOptions(msg: DhcpMessage, reply: DhcpMessage, options: DhcpOptions, answer: BootAnswer, boot: ClientClass): void {
    reply.file = answer.bootFile;
    // siaddr is set even for HTTP URLs: iPXE only accepts a proxyDHCP answer that has
    // both a next-server and a boot file (dhcp.c, dhcp_has_pxeopts).
    reply.siaddr = answer.nextServer ?? this.opts.serverAddress;
    if (answer.nextServer) options.set(Opt.TftpServerName, stringOption(answer.nextServer));
    if (answer.bootFile !== '') options.set(Opt.BootfileName, stringOption(answer.bootFile));
    if (answer.vendorClass) options.set(Opt.VendorClass, stringOption(answer.vendorClass));
    // PXE spec: echo the client's UUID/GUID (97) in PXE replies.
    const uuid = msg.options.get(Opt.ClientUuid);
    if (uuid && boot.vendorClass) options.set(Opt.ClientUuid, uuid);
    if (answer.pxeVendorOptions === 'boot-file') {
      // PXE_DISCOVERY_CONTROL = 8: use the boot file in this reply, skip boot server discovery.
      options.set(Opt.VendorSpecific, encapsulatedOption(new Map([[6, Buffer.from([8])]]), { terminate: true }));
    } else if (answer.pxeVendorOptions === 'raspberry-pi') {
      options.set(Opt.VendorSpecific, encapsulatedOption(raspberryPiBootMenu(), { terminate: true }));
    }
  }

  /** Plain clients are never held: holding is about boot files, and they get none anyway. */
  private bootAllowed(mac: Mac, boot: ClientClass): boolean {
    if (boot.kind === 'plain' || !this.opts.bootGate) return true;
    try {
      return this.opts.bootGate.allowBoot(mac, boot);
    } catch (error) {
      this.opts.log.error('boot gate failed; booting the node', { mac, error: error as Error });
      return true;
    }
  }

  private bootAnswer(boot: ClientClass, mac: Mac): BootAnswer | undefined {
    return this.opts.booter.answer(boot, mac);
  }

  private baseReply(msg: DhcpMessage, yiaddr: Ipv4): DhcpMessage {
    return {
      op: BOOTREPLY,
      htype: msg.htype,
      hlen: msg.hlen,
      hops: 0,
      xid: msg.xid,
      secs: 0,
      flags: msg.flags,
      ciaddr: ZERO_IP,
      yiaddr,
      siaddr: ZERO_IP,
      giaddr: msg.giaddr,
      chaddr: Buffer.from(msg.chaddr),
      sname: '',
      file: '',
      options: new Map(),
    };
  }

  /** RFC 3046 2.2: a server echoes the relay agent information option unchanged. */
  private copyRelayInfo(msg: DhcpMessage, options: DhcpOptions): void {
    const relayInfo = msg.options.get(Opt.RelayAgentInfo);
    if (relayInfo && msg.giaddr !== ZERO_IP) options.set(Opt.RelayAgentInfo, relayInfo);
  }

  private send(msg: DhcpMessage, reply: DhcpMessage, type: MessageType, client: Client): void {
    const destination = replyDestination(msg, reply, type, client.mac);
    this.opts.transport.send(this.encode(msg, reply), destination, DHCP_SERVER_PORT);
    this.opts.counters.inc(`dhcp.out.${MessageType[type].toLowerCase()}`);
  }

  /** Encoded within the client's maximum message size (option 57). */
  private encode(msg: DhcpMessage, reply: DhcpMessage): Buffer {
    const clientMax = maxMessageSizeOf(msg);
    // A relay strips the option 82 we echo before it forwards the reply (RFC 3046 2.1.1):
    // the client's limit applies to what is left, so the echo may go on top of it.
    const relayInfo = msg.giaddr !== ZERO_IP ? reply.options.get(Opt.RelayAgentInfo) : undefined;
    if (relayInfo === undefined) return encodeDhcp(reply, clientMax === undefined ? {} : { maxSize: clientMax });
    return encodeDhcp(reply, { maxSize: Math.max(clientMax ?? 0, MIN_MAX_MESSAGE_SIZE) + 2 + relayInfo.length });
  }

  private seedNeighbor(ip: Ipv4, mac: Mac): void {
    try {
      this.opts.neighbors.seed(ip, mac);
    } catch (error) {
      this.opts.counters.inc('dhcp.neighbor_seed_failed');
      this.opts.log.warn('could not pre-seed the neighbour table', { ip, mac, error: error as Error });
    }
  }

  /** The address identifying the client's network: the relay's, or ours for local clients. */
  private linkAddress(msg: DhcpMessage): Ipv4 {
    return msg.giaddr !== ZERO_IP ? msg.giaddr : this.opts.serverAddress;
  }

  /** Counts a forged frame from `source` and reports the source when the event budget allows. */
  private forgedFrame(source: Mac, claimed: Mac, messageType: string): void {
    const frames = (this.forgedSince.get(source) ?? 0) + 1;
    this.forgedSince.delete(source);
    if (this.forgedSince.size >= MAX_FORGED_SOURCES) this.forgedSince.delete(this.forgedSince.keys().next().value as Mac);
    this.forgedSince.set(source, frames);
    const verdict = this.eventBudget.take(`forged ${source}`, this.opts.clock.now());
    if (verdict === 'quiet') return;
    if (verdict === 'over_budget') {
      this.opts.counters.inc('dhcp.events_suppressed.forged_source');
      return;
    }
    this.forgedSince.set(source, 0);
    this.opts.log.warn('forged DHCP traffic ignored: Ethernet source differs from chaddr', { source, claimed, type: messageType, frames });
    try {
      this.opts.onForgedTraffic?.({ sourceMac: source, claimedMac: claimed, messageType, frames });
    } catch (error) {
      this.opts.log.error('forged traffic report failed', { error: error as Error });
    }
  }

  private emit(event: DhcpEvent): void {
    try {
      this.opts.observer?.dhcpEvent?.(event);
    } catch (error) {
      this.opts.log.error('boot observer failed', { error: error as Error });
    }
  }
}

/**
 * The PXE boot menu the Raspberry Pi bootloader requires in option 43 (what
 * dnsmasq's `pxe-service=0,"Raspberry Pi Boot"` sends): discovery control 3 (no
 * broadcast or multicast boot server discovery), one menu item of type 0 named
 * "Raspberry Pi Boot" (PXE spec, sub-option 9), and a prompt with timeout 0 (10).
 */
function raspberryPiBootMenu(): Map<number, Buffer> {
  const label = Buffer.from('Raspberry Pi Boot', 'ascii');
  return new Map([
    [6, Buffer.from([3])],
    [9, Buffer.concat([Buffer.from([0, 0, label.length]), label])],
    [10, Buffer.concat([Buffer.from([0]), Buffer.from('PXE', 'ascii')])],
  ]);
}

// ---- small readers ---------------------------------------------------------

function clientOf(msg: DhcpMessage): Client {
  const mac = macFromBytes(msg.chaddr, 0, 6);
  const id = msg.options.get(Opt.ClientId);
  return { mac, key: mac, clientId: id ? id.toString('hex') : undefined };
}

function messageTypeOf(msg: DhcpMessage): MessageType | undefined {
  const raw = msg.options.get(Opt.MessageType);
  return raw && raw.length === 1 ? raw[0] : undefined;
}

function ipOf(options: DhcpOptions, code: number): Ipv4 | undefined {
  const raw = options.get(code);
  return raw && raw.length === 4 ? ipFromBytes(raw) : undefined;
}

function maxMessageSizeOf(msg: DhcpMessage): number | undefined {
  const raw = msg.options.get(Opt.MaxMessageSize);
  return raw && raw.length === 2 ? raw.readUInt16BE(0) : undefined;
}
