// The virtual nodes' network on this host: one macvlan per node on the storm's
// interface, so each node has its own MAC on the wire, and once leased its own
// address on its own interface. DHCP before the lease goes through a packet
// socket on the parent with the node's MAC (dhcp-tap.ts); after it, TFTP is
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
// At scale (scale.ts): the kernel-wide neighbour table is raised to fit the
// storm, the open-files limit is checked before anything is created, address
// changes of nodes leased together share one `ip -batch`, and all nodes' DHCP
// goes through one packet socket on the parent (dhcp-tap.ts: a socket per
// node blocked the event loop for seconds opening and closing).
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { ZERO_IP, BROADCAST_IP, BROADCAST_MAC, intToIp, ipToInt, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import { encodeUdpFrame } from '../net/frame.js';
import { encodeDhcp } from '../dhcp/codec.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, type DhcpMessage } from '../dhcp/message.js';
import type { DhcpFrom, HttpResult, NodeNet, UdpEndpoint, UdpFrom } from './node-net.js';
import { DhcpTap, type DhcpHandler } from './dhcp-tap.js';
import {
  BatchRunner,
  DEFAULT_NEIGHBOUR_LIMIT,
  fileDescriptorProblem,
  neighbourEntriesNeeded,
  neighbourThresholdsFor,
  parseBatchFailures,
  parseOpenFilesLimit,
  type BatchFailures,
  type NeighbourThresholds,
} from './scale.js';

/** Interface groups of storms are BASE + pid (group 0 is the default of every interface). */
const STORM_GROUP_BASE = 0x72000000;

/** Policy routing tables and rule preferences for node i are BASE + i. */
const TABLE_BASE = 20000;

function runRaw(argv: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = execFile(argv[0], argv.slice(1), { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, error: err ?? undefined });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

async function run(argv: string[], input?: string): Promise<string> {
  const r = await runRaw(argv, input);
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout;
}

/** `ip -batch -`: many changes for the price of one process. */
const ipBatch = (lines: string[]): Promise<string> => run(['ip', '-batch', '-'], lines.join('\n') + '\n');

/** `ip -force -batch -`: goes on past failing lines and reports them by line number. */
async function ipForceBatch(lines: string[]): Promise<BatchFailures> {
  const r = await runRaw(['ip', '-force', '-batch', '-'], lines.join('\n') + '\n');
  if (r.code === 0) return new Map();
  const failures = parseBatchFailures(r.stderr);
  if ([...failures.keys()].every((n) => n === 0)) throw new Error(`ip -batch: ${r.stderr.trim() || r.error?.message}`);
  return failures;
}

/**
 * The neighbour table's thresholds exist only in the initial network namespace
 * (scale.ts): written directly when the storm runs there, else through nsenter
 * into pid 1's namespace (which a sandbox may refuse: then the caller warns).
 */
const NEIGH_KEYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'] as const;
const neighPath = (key: string): string => `/proc/sys/net/ipv4/neigh/default/${key}`;
const inInitNs = (argv: string[]): string[] => ['nsenter', '--net=/proc/1/ns/net', '--', ...argv];

async function readNeighbourThresholds(): Promise<NeighbourThresholds> {
  let values: number[];
  try {
    values = await Promise.all(NEIGH_KEYS.map(async (k) => Number((await readFile(neighPath(k), 'utf8')).trim())));
  } catch {
    const out = await run(inInitNs(['sysctl', '-n', ...NEIGH_KEYS.map((k) => `net.ipv4.neigh.default.${k}`)]));
    values = out.trim().split(/\s+/).map(Number);
  }
  if (values.length !== 3 || !values.every((n) => Number.isInteger(n))) throw new Error(`unexpected neighbour thresholds: ${values.join(' ')}`);
  return { gc_thresh1: values[0], gc_thresh2: values[1], gc_thresh3: values[2] };
}

async function writeNeighbourThresholds(t: NeighbourThresholds): Promise<void> {
  try {
    for (const k of NEIGH_KEYS) await writeFile(neighPath(k), String(t[k]));
  } catch {
    await run(inInitNs(['sysctl', '-q', '-w', ...NEIGH_KEYS.map((k) => `net.ipv4.neigh.default.${k}=${t[k]}`)]));
  }
}

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
  /** Warnings a person should see (e.g. the neighbour table could not be raised). */
  warn?: (message: string) => void;
}

export class StormHost {
  readonly nodes: HostNodeNet[];
  /** Every node's DHCP, through one packet socket on the parent (dhcp-tap.ts). */
  tap!: DhcpTap;
  /** Address changes of all nodes, coalesced into few `ip` runs. */
  readonly batch = new BatchRunner(ipForceBatch);
  /** Interface group of this storm's macvlans (ip link ... group), so they go in one delete. */
  readonly group = STORM_GROUP_BASE + (process.pid & 0xffffff);
  /** ms spent creating the interfaces (and raising limits). */
  setupMs = 0;
  private readonly savedSysctls = new Map<string, string>();
  /** Neighbour thresholds before and after this storm raised them. */
  private neighbours: { before: NeighbourThresholds; set: NeighbourThresholds } | undefined;

  private constructor(private readonly opts: StormHostOptions) {
    this.nodes = opts.macs.map((mac, index) => new HostNodeNet(this, index, mac, `${opts.ifPrefix}${index}`));
  }

  static async create(opts: StormHostOptions): Promise<StormHost> {
    if (`${opts.ifPrefix}${opts.macs.length - 1}`.length > 15)
      throw new RangeError(`interface prefix "${opts.ifPrefix}" too long for ${opts.macs.length} nodes`);
    const started = performance.now();
    const limits = parseOpenFilesLimit(await readFile('/proc/self/limits', 'utf8').catch(() => ''));
    const fdProblem = limits === undefined ? undefined : fileDescriptorProblem(opts.macs.length, limits);
    if (fdProblem) throw new Error(fdProblem);
    const host = new StormHost(opts);
    try {
      await host.setUp(started);
    } catch (error) {
      // Put back what was changed (sysctls, neighbour table, interfaces made so far).
      await host.close().catch(() => undefined);
      throw error;
    }
    return host;
  }

  private async setUp(started: number): Promise<void> {
    const opts = this.opts;
    await this.raiseNeighbourTable();
    for (const [path, value] of Object.entries(SYSCTLS)) {
      this.savedSysctls.set(path, (await readFile(path, 'utf8')).trim());
      await writeFile(path, value);
    }
    // Stale interfaces from a killed run would make `link add` fail.
    await ipBatch(this.nodes.map((n) => `link del ${n.ifname}`)).catch(() => undefined);
    await ipBatch(this.nodes.map((n) => `link add ${n.ifname} link ${opts.parent} address ${n.mac} group ${this.group} type macvlan mode private`));
    // Firmware speaks no IPv6: no router solicitations or DAD from the virtual nodes.
    await Promise.all(this.nodes.map((n) => writeFile(`/proc/sys/net/ipv6/conf/${n.ifname}/disable_ipv6`, '1').catch(() => undefined)));
    await ipBatch(this.nodes.map((n) => `link set ${n.ifname} up`));
    this.tap = DhcpTap.open(
      opts.parent,
      opts.macs[0]
        .split(':')
        .slice(0, 4)
        .map((b) => parseInt(b, 16)),
    );
    this.setupMs = Math.round(performance.now() - started);
  }

  /** Makes room in the kernel's neighbour table for this storm (never lowers it). */
  private async raiseNeighbourTable(): Promise<void> {
    try {
      const before = await readNeighbourThresholds();
      const wanted = neighbourThresholdsFor(this.opts.macs.length, before);
      if (!wanted) return;
      await writeNeighbourThresholds(wanted);
      this.neighbours = { before, set: wanted };
    } catch (error) {
      // Unreadable: only a storm too big for the kernel's default needs a word.
      if (neighbourEntriesNeeded(this.opts.macs.length) <= DEFAULT_NEIGHBOUR_LIMIT) return;
      const need = neighbourThresholdsFor(this.opts.macs.length, { gc_thresh1: 0, gc_thresh2: 0, gc_thresh3: 0 })!;
      this.opts.warn?.(
        `could not check the kernel's neighbour table, which all namespaces share (${(error as Error).message.split('\n')[0]}); ${this.opts.macs.length} nodes need room for ${need.gc_thresh2} entries: if nodes fail with ARP or TFTP timeouts, run in the host's namespace: sysctl -w net.ipv4.neigh.default.gc_thresh2=${need.gc_thresh2} net.ipv4.neigh.default.gc_thresh3=${need.gc_thresh3}`,
      );
    }
  }

  /** Puts the thresholds back, unless something else changed them meanwhile. */
  private async restoreNeighbourTable(): Promise<void> {
    if (!this.neighbours) return;
    const { before, set } = this.neighbours;
    this.neighbours = undefined;
    const now = await readNeighbourThresholds().catch(() => undefined);
    if (now && NEIGH_KEYS.every((k) => now[k] === set[k])) await writeNeighbourThresholds(before).catch(() => undefined);
  }

  /** Table/rule number for node `index`. */
  tableOf(index: number): number {
    return TABLE_BASE + index;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.close()));
    this.tap?.close();
    await ipBatch(this.nodes.filter((n) => n.ip).map((n) => `rule del pref ${this.tableOf(n.index)}`)).catch(() => undefined);
    // One request for all: deleting 1,000 macvlans one by one took 19 s here (each waits for
    // RCU), `link del group` unregisters them together in 0.2 s.
    await run(['ip', 'link', 'del', 'group', String(this.group)]).catch(() => ipBatch(this.nodes.map((n) => `link del ${n.ifname}`)).catch(() => undefined));
    for (const [path, value] of this.savedSysctls) await writeFile(path, value).catch(() => undefined);
    await this.restoreNeighbourTable();
  }
}

export class HostNodeNet implements NodeNet {
  ip: Ipv4 | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly host: StormHost,
    readonly index: number,
    readonly mac: Mac,
    readonly ifname: string,
  ) {}

  sendDhcp(message: DhcpMessage, to?: DhcpFrom): void {
    this.host.tap.send(
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
    return this.host.tap.subscribe(this.mac, handler);
  }

  async configure(ip: Ipv4, prefix: number): Promise<void> {
    const table = this.host.tableOf(this.index);
    const subnet = `${intToIp((ipToInt(ip) & prefixToMask(prefix)) >>> 0)}/${prefix}`;
    const lines: string[] = [];
    if (this.ip && this.ip !== ip) lines.push(`addr del ${this.ip}/32 dev ${this.ifname}`, `rule del pref ${table}`);
    if (this.ip !== ip) {
      // /32 plus a route in the node's own table: the main table stays free of 200 routes to one subnet.
      lines.push(
        `addr add ${ip}/32 dev ${this.ifname}`,
        `route replace ${subnet} dev ${this.ifname} src ${ip} table ${table}`,
        `rule add pref ${table} from ${ip} lookup ${table}`,
      );
      await this.host.batch.submit(lines);
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

  private httpGetOnce(
    url: string,
    options: { keepBody: boolean; idleMs: number; onBytes?: (total: number) => void },
  ): Promise<HttpResult & { retryable?: boolean }> {
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

  close(): Promise<void> {
    for (const socket of this.sockets) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    this.sockets.clear();
    this.agent.destroy();
    return Promise.resolve();
  }
}
