// The virtual nodes' network on this host: one macvlan per node on the storm's
// interface, so each node has its own MAC on the wire, and once leased its own
// address on its own interface. DHCP before the lease goes through a packet
// socket on the node's macvlan (rackboot's PacketLink); after it, TFTP is
// kernel UDP and HTTP kernel TCP bound to the node's address, with a policy
// routing rule per node so its packets leave through its own macvlan. ARP and
// TCP are therefore the kernel's own, as a real NIC's peer would see them.
//
// Why not one interface with many addresses: rackboot leases by MAC and writes
// the kernel neighbour entry IP -> node MAC before its ACK, so frames for a
// node go to that node's MAC; a single interface would drop them as
// PACKET_OTHERHOST and would answer ARP with the wrong MAC.
//
// The namespace-wide ARP sysctls (arp_ignore=1, arp_announce=2) keep a node
// from answering ARP for a sibling's address; they are restored on close.
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { ZERO_IP, BROADCAST_IP, BROADCAST_MAC, intToIp, ipToInt, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import { decodeEthernet, ETHERTYPE_IPV4 } from '../net/ethernet.js';
import { decodeIpv4 } from '../net/ipv4.js';
import { decodeUdp } from '../net/udp.js';
import { encodeUdpFrame } from '../net/frame.js';
import { PacketLink } from '../net/link.js';
import { IPPROTO_UDP } from '../net/checksum.js';
import { decodeDhcp, encodeDhcp } from '../dhcp/codec.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, type DhcpMessage } from '../dhcp/message.js';
import type { DhcpFrom, HttpResult, NodeNet, UdpEndpoint, UdpFrom } from './node-net.js';

/** Policy routing tables and rule preferences for node i are BASE + i. */
const TABLE_BASE = 20000;

function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

/** `ip -batch -`: many changes for the price of one process. */
const ipBatch = (lines: string[]): Promise<string> => run(['ip', '-batch', '-'], lines.join('\n') + '\n');

const SYSCTLS = {
  '/proc/sys/net/ipv4/conf/all/arp_ignore': '1',
  '/proc/sys/net/ipv4/conf/all/arp_announce': '2',
  '/proc/sys/net/ipv4/conf/all/rp_filter': '0',
} as const;

export interface StormHostOptions {
  /** The storm's interface (parent of the macvlans). */
  parent: string;
  macs: readonly Mac[];
  /** Interface name prefix; names are PREFIX + index (at most 15 characters). */
  ifPrefix: string;
}

export class StormHost {
  readonly nodes: HostNodeNet[];
  private readonly savedSysctls = new Map<string, string>();

  private constructor(private readonly opts: StormHostOptions) {
    this.nodes = opts.macs.map((mac, index) => new HostNodeNet(this, index, mac, `${opts.ifPrefix}${index}`));
  }

  static async create(opts: StormHostOptions): Promise<StormHost> {
    if (`${opts.ifPrefix}${opts.macs.length - 1}`.length > 15) throw new RangeError(`interface prefix "${opts.ifPrefix}" too long for ${opts.macs.length} nodes`);
    const host = new StormHost(opts);
    for (const [path, value] of Object.entries(SYSCTLS)) {
      host.savedSysctls.set(path, (await readFile(path, 'utf8')).trim());
      await writeFile(path, value);
    }
    // Stale interfaces from a killed run would make `link add` fail.
    await ipBatch(host.nodes.map((n) => `link del ${n.ifname}`)).catch(() => undefined);
    await ipBatch(host.nodes.map((n) => `link add ${n.ifname} link ${opts.parent} address ${n.mac} type macvlan mode private`));
    // Firmware speaks no IPv6: no router solicitations or DAD from the virtual nodes.
    await Promise.all(host.nodes.map((n) => writeFile(`/proc/sys/net/ipv6/conf/${n.ifname}/disable_ipv6`, '1').catch(() => undefined)));
    await ipBatch(host.nodes.map((n) => `link set ${n.ifname} up`));
    return host;
  }

  /** Table/rule number for node `index`. */
  tableOf(index: number): number {
    return TABLE_BASE + index;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.close()));
    await ipBatch(this.nodes.filter((n) => n.ip).map((n) => `rule del pref ${this.tableOf(n.index)}`)).catch(() => undefined);
    await ipBatch(this.nodes.map((n) => `link del ${n.ifname}`)).catch(() => undefined);
    for (const [path, value] of this.savedSysctls) await writeFile(path, value).catch(() => undefined);
  }
}

type DhcpHandler = (message: DhcpMessage, from: DhcpFrom) => void;

export class HostNodeNet implements NodeNet {
  ip: Ipv4 | undefined;
  private link: PacketLink | undefined;
  private readonly dhcpHandlers = new Set<DhcpHandler>();
  private readonly sockets = new Set<Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** Frames that were not a decodable DHCP reply (counted, never thrown). */
  malformed = 0;

  constructor(
    private readonly host: StormHost,
    readonly index: number,
    readonly mac: Mac,
    readonly ifname: string,
  ) {}

  private openLink(): PacketLink {
    if (this.link) return this.link;
    const link = PacketLink.open(this.ifname, { udpPorts: [DHCP_CLIENT_PORT] });
    link.onError(() => this.malformed++);
    link.onFrame((frame, meta) => {
      try {
        const eth = decodeEthernet(frame);
        if (eth.ethertype !== ETHERTYPE_IPV4) return;
        const ip = decodeIpv4(eth.payload);
        if (ip.protocol !== IPPROTO_UDP) return;
        const udp = decodeUdp(ip.payload, ip.src, ip.dst, meta);
        if (udp.dstPort !== DHCP_CLIENT_PORT) return;
        const message = decodeDhcp(udp.payload);
        for (const handler of this.dhcpHandlers) handler(message, { ip: ip.src, port: udp.srcPort, mac: eth.src });
      } catch {
        this.malformed++;
      }
    });
    this.link = link;
    return link;
  }

  sendDhcp(message: DhcpMessage, to?: DhcpFrom): void {
    const link = this.openLink();
    link.send(
      encodeUdpFrame({
        srcMac: this.mac,
        dstMac: to?.mac ?? BROADCAST_MAC,
        srcIp: message.ciaddr !== ZERO_IP ? message.ciaddr : ZERO_IP,
        dstIp: to?.ip ?? BROADCAST_IP,
        srcPort: DHCP_CLIENT_PORT,
        dstPort: to?.port ?? DHCP_SERVER_PORT,
        payload: encodeDhcp(message),
      }),
    );
  }

  onDhcp(handler: DhcpHandler): () => void {
    this.openLink();
    this.dhcpHandlers.add(handler);
    return () => this.dhcpHandlers.delete(handler);
  }

  async configure(ip: Ipv4, prefix: number): Promise<void> {
    const table = this.host.tableOf(this.index);
    const subnet = `${intToIp((ipToInt(ip) & prefixToMask(prefix)) >>> 0)}/${prefix}`;
    const lines: string[] = [];
    if (this.ip && this.ip !== ip) lines.push(`addr del ${this.ip}/32 dev ${this.ifname}`, `rule del pref ${table}`);
    if (this.ip !== ip) {
      // /32 plus a route in the node's own table: the main table stays free of 200 routes to one subnet.
      lines.push(`addr add ${ip}/32 dev ${this.ifname}`, `route replace ${subnet} dev ${this.ifname} src ${ip} table ${table}`, `rule add pref ${table} from ${ip} lookup ${table}`);
      await ipBatch(lines);
    }
    this.ip = ip;
  }

  async openUdp(port: number): Promise<UdpEndpoint> {
    const ip = this.ip;
    if (!ip) throw new Error(`${this.ifname} has no address yet`);
    const socket = createSocket({ type: 'udp4', reuseAddr: port !== 0 });
    this.sockets.add(socket);
    socket.on('error', () => undefined); // ICMP errors and the like: a lost packet to firmware
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: ip, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const sockets = this.sockets;
    // dgram sends complete asynchronously: a close() right after send() (the tsize probe's ERROR 8)
    // would drop the datagram, so closing waits for sends in flight.
    let inFlight = 0;
    let closeWhenIdle = false;
    const closeNow = (): void => {
      sockets.delete(socket);
      try {
        socket.close();
      } catch {
        // already closed
      }
    };
    return {
      port: socket.address().port,
      send: (payload, toPort, address) => {
        inFlight++;
        socket.send(payload, toPort, address, () => {
          if (--inFlight === 0 && closeWhenIdle) closeNow();
        });
      },
      onMessage: (handler: (payload: Buffer, from: UdpFrom) => void) => {
        const listener = (msg: Buffer, rinfo: { address: string; port: number }) => handler(msg, { address: rinfo.address, port: rinfo.port });
        socket.on('message', listener);
        return () => socket.off('message', listener);
      },
      close: () => {
        if (inFlight > 0) closeWhenIdle = true;
        else closeNow();
      },
    };
  }

  /**
   * Like iPXE (src/net/tcp/httpcore.c), a request that fails before any response on a reused
   * keep-alive connection (the server closed it while idle) is retried once on a new connection.
   */
  async httpGet(url: string, options: { keepBody: boolean; idleMs: number; onBytes?: (total: number) => void }): Promise<HttpResult> {
    const first = await this.httpGetOnce(url, options);
    if (first.retryable) return this.httpGetOnce(url, options);
    return first;
  }

  private httpGetOnce(url: string, options: { keepBody: boolean; idleMs: number; onBytes?: (total: number) => void }): Promise<HttpResult & { retryable?: boolean }> {
    return new Promise((resolve) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      let settled = false;
      let responded = false;
      const done = (result: HttpResult & { retryable?: boolean }): void => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      let request: http.ClientRequest;
      try {
        request = http.get(url, { agent: this.agent, localAddress: this.ip, headers: { 'user-agent': 'iPXE/1.21.1 (rackboot storm)' } }, (response) => {
          responded = true;
          const length = response.headers['content-length'];
          const expected = length !== undefined ? Number(length) : undefined;
          response.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (options.keepBody) chunks.push(chunk);
            options.onBytes?.(bytes);
          });
          response.on('end', () => done({ status: response.statusCode ?? 0, bytes, expected, body: options.keepBody ? Buffer.concat(chunks) : undefined }));
          response.on('error', (err) => done({ status: response.statusCode ?? 0, bytes, expected, error: err.message }));
          response.on('aborted', () => done({ status: response.statusCode ?? 0, bytes, expected, error: 'connection closed' }));
        });
      } catch (err) {
        done({ status: 0, bytes: 0, error: (err as Error).message });
        return;
      }
      request.setTimeout(options.idleMs, () => {
        request.destroy(new Error(`no data for ${options.idleMs / 1000} s`));
      });
      request.on('error', (err) => done({ status: 0, bytes, error: err.message, retryable: !responded && request.reusedSocket }));
    });
  }

  async arpUnresolved(ip: Ipv4): Promise<boolean> {
    const table = await readFile('/proc/net/arp', 'utf8');
    for (const line of table.split('\n').slice(1)) {
      const [address, , flags, , , device] = line.trim().split(/\s+/);
      if (address === ip && device === this.ifname) return flags === '0x0';
    }
    return false;
  }

  async close(): Promise<void> {
    this.link?.close();
    this.link = undefined;
    this.dhcpHandlers.clear();
    for (const socket of this.sockets) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    this.sockets.clear();
    this.agent.destroy();
  }
}
