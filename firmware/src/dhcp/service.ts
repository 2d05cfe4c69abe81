// Puts the DHCP server on real sockets: frames from the packet socket are
// decoded and routed (DHCP to the server, ARP to the prober); replies leave as
// hand-built frames (clients without an address) or through kernel UDP sockets
// (relays, clients with an address). Kernel UDP sockets on 67 and 4011 are also
// bound so the kernel does not answer unicast requests with ICMP port unreachable.

import dgram from 'node:dgram';
import { DecodeError } from '../net/decode-error.js';
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../net/ethernet.js';
import { decodeIpv4 } from '../net/ipv4.js';
import { decodeUdp } from '../net/udp.js';
import { decodeArp, encodeArpFrame, arpProbe } from '../net/arp.js';
import { encodeUdpFrame } from '../net/frame.js';
import type { FrameLink } from '../net/link.js';
import { ArpProber } from '../net/arp-prober.js';
import { decodeDhcp } from './codec.js';
import { DhcpServer, type BootGate, type BootObserver, type ForgedTrafficReport } from './server.js';
import { EventBudget } from './event-budget.js';
import type { ClientDirectory } from './client-limits.js';
import { RogueServerDetector, type ForeignServerReport } from './rogue-detector.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, PXE_PROXY_PORT } from './message.js';
import type { Destination, DhcpTransport } from './transport.js';
import type { LeaseTable } from './leases.js';
import type { RackbootConfig } from '../config/schema.js';
import type { Booter } from '../boot-policy/booter.js';
import type { Logger } from '../util/log.js';
import type { Counters } from '../util/counters.js';
import type { Clock } from '../util/clock.js';
import type { Ipv4, Mac } from '../net/addr.js';
import { BROADCAST_MAC, sameSubnet } from '../net/addr.js';

const IPPROTO_UDP = 17;

export interface DhcpServiceOptions {
  config: RackbootConfig;
  serverAddress: Ipv4;
  link: FrameLink;
  leases: LeaseTable;
  clock: Clock;
  log: Logger;
  counters: Counters;
  icmpProbe: (ip: Ipv4, timeoutMs: number) => Promise<boolean>;
  seedNeighbor: (ip: Ipv4, mac: Mac) => void;
  /** Decides what each boot client is told to load. */
  booter: Booter;
  observer?: BootObserver;
  bootGate?: BootGate;
  /** Another DHCP server answered on the segment, or one answered in our name (bounded; see rogue-detector.ts). */
  onForeignServer?(report: ForeignServerReport): void;
  /** Requests whose Ethernet source is not their chaddr were ignored (bounded with the reports above). */
  onForgedTraffic?(report: ForgedTrafficReport): void;
  /** Who is known to the inventory (never limited by the starvation limits). */
  clients?: ClientDirectory;
  /** Conflict probe wait; tests on an idle veth can shorten it. */
  probeTimeoutMs?: number;
  /** The interface's own IPv4 subnets: ARP reaches these, ICMP is used beyond them. */
  connected: { address: Ipv4; prefix: number }[];
}

export class DhcpService {
  readonly server: DhcpServer;
  readonly prober: ArpProber;
  private readonly sockets = new Map<number, dgram.Socket>();
  private readonly pendingRequests = new Set<Promise<void>>();
  private readonly rogues: RogueServerDetector;

  private constructor(private readonly opts: DhcpServiceOptions) {
    const { link, serverAddress, counters, log } = opts;
    this.prober = new ArpProber({
      sendProbe: (ip) => link.send(encodeArpFrame(arpProbe(link.mac, ip), BROADCAST_MAC)),
      icmpProbe: opts.icmpProbe,
      isConnected: (ip) => opts.connected.some((net) => sameSubnet(ip, net.address, net.prefix)),
      now: () => opts.clock.now(),
      timeoutMs: opts.probeTimeoutMs,
    });
    // One budget for every event about forgeable traffic: together at most 8 per 10 minutes.
    const eventBudget = new EventBudget();
    this.rogues = new RogueServerDetector({
      serverAddress,
      serverMac: link.mac,
      budget: eventBudget,
      mode: opts.config.mode,
      now: () => opts.clock.now(),
      counters,
      report: (report) => {
        const fields = { serverId: report.serverId, mac: report.mac, replies: report.replies, type: report.messageType, yiaddr: report.yiaddr };
        if (report.kind === 'rogue') log.warn('another DHCP server is answering on this segment', fields);
        else if (report.kind === 'impersonation') log.warn("another station is answering DHCP with rackboot's server identifier", fields);
        else log.info('site DHCP server seen (expected in proxy mode)', fields);
        opts.onForeignServer?.(report);
      },
    });
    const transport: DhcpTransport = { send: (payload, to, fromPort) => this.transmit(payload, to, fromPort) };
    this.server = new DhcpServer({
      config: opts.config,
      serverAddress,
      leases: opts.leases,
      transport,
      prober: this.prober,
      neighbors: { seed: opts.seedNeighbor },
      clock: opts.clock,
      log: log.child({ component: 'dhcp' }),
      counters,
      booter: opts.booter,
      observer: opts.observer,
      bootGate: opts.bootGate,
      clients: opts.clients,
      eventBudget,
      onForgedTraffic: (report) => opts.onForgedTraffic?.(report),
    });
  }

  static async start(opts: DhcpServiceOptions): Promise<DhcpService> {
    const service = new DhcpService(opts);
    for (const port of [DHCP_SERVER_PORT, PXE_PROXY_PORT]) service.sockets.set(port, await bindUdp(port, opts.log));
    opts.link.onFrame((frame, meta) => service.receive(frame, meta.checksumPending));
    return service;
  }

  /** Decodes one frame and routes it. Malformed input is counted by layer and dropped. */
  receive(frame: Buffer, checksumPending = false): void {
    const { counters } = this.opts;
    try {
      const eth = decodeEthernet(frame);
      if (eth.ethertype === ETHERTYPE_ARP) {
        const arp = decodeArp(eth.payload);
        this.prober.handleArp(arp);
        this.opts.observer?.arp?.(arp);
        return;
      }
      if (eth.ethertype !== ETHERTYPE_IPV4) return;
      const ip = decodeIpv4(eth.payload);
      if (ip.protocol !== IPPROTO_UDP) return;
      const udp = decodeUdp(ip.payload, ip.src, ip.dst, { checksumPending });
      if (udp.dstPort === DHCP_CLIENT_PORT) {
        // Replies to clients: only watched, for another server on the segment.
        if (udp.srcPort === DHCP_SERVER_PORT) this.rogues.seen(decodeDhcp(udp.payload), ip.src, eth.src);
        return;
      }
      if (udp.dstPort !== DHCP_SERVER_PORT && udp.dstPort !== PXE_PROXY_PORT) return;
      const msg = decodeDhcp(udp.payload);
      counters.inc('dhcp.in.packets');
      const handling = this.server.handle(msg, { port: udp.dstPort, dstIp: ip.dst, srcIp: ip.src, srcPort: udp.srcPort, srcMac: eth.src });
      this.pendingRequests.add(handling);
      void handling.finally(() => this.pendingRequests.delete(handling));
    } catch (error) {
      if (error instanceof DecodeError) {
        counters.inc(`malformed.${error.layer}`);
        this.opts.log.debug('dropped malformed frame', { reason: error.message });
        return;
      }
      counters.inc('dhcp.errors');
      this.opts.log.error('frame handling failed', { error: error as Error });
    }
  }

  private transmit(payload: Buffer, to: Destination, fromPort: number): void {
    const { link, serverAddress, counters, log } = this.opts;
    try {
      if (to.via === 'frame') {
        link.send(encodeUdpFrame({ srcMac: link.mac, dstMac: to.mac, srcIp: serverAddress, dstIp: to.ip, srcPort: fromPort, dstPort: to.port, payload }));
        return;
      }
      const socket = this.sockets.get(fromPort);
      if (!socket) throw new Error(`no UDP socket bound to port ${fromPort}`);
      socket.send(payload, to.port, to.ip, (error) => {
        if (error) {
          counters.inc('dhcp.send_errors');
          log.warn('reply not sent', { to: `${to.ip}:${to.port}`, error });
        }
      });
    } catch (error) {
      counters.inc('dhcp.send_errors');
      log.warn('reply not sent', { to: `${to.ip}:${to.port}`, error: error as Error });
    }
  }

  /** Waits for requests in progress (their lease writes) to finish. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pendingRequests]);
  }

  async close(): Promise<void> {
    await this.drain();
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }
}

function bindUdp(port: number, log: Logger): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    // Requests are read from the packet socket (which sees the interface and the
    // client's MAC); this socket exists to send and to keep the port open.
    socket.on('message', () => {});
    socket.on('error', (error) => log.warn('udp socket error', { port, error }));
    socket.once('error', reject);
    socket.bind(port, () => {
      socket.off('error', reject);
      socket.setBroadcast(true);
      resolve(socket);
    });
  });
}
