// A firmware DHCP client: DISCOVER, collect offers, REQUEST, ACK, then the
// port 4011 request when a proxy offer asks for boot server discovery. The
// same code plays a PXE ROM, UEFI HTTP Boot and iPXE; only the behaviour
// table (timings.ts) differs. Failures carry the diagnosis firmware would show.
import { randomBytes, randomUUID } from 'node:crypto';
import { ZERO_IP, maskToPrefix, macToBytes, type Ipv4 } from '../net/addr.js';
import { decodeDhcp, encodeDhcp } from '../dhcp/codec.js';
import { BOOTREQUEST, MessageType, Opt, PXE_PROXY_PORT, type DhcpMessage, type DhcpOptions } from '../dhcp/message.js';
import {
  IpxeSubOpt,
  clientUuidOption,
  ipOption,
  ipxe,
  messageType,
  pxeOptions,
  serverId,
  stringOption,
  u16Option,
  u8Option,
  vendorClass,
} from '../dhcp/options.js';
import type { Diagnosis } from '../model/boot.js';
import type { DhcpFrom, NodeNet } from './node-net.js';
import type { DhcpBehaviour } from './timings.js';
import type { TimerHandle, Timers } from '../util/timers.js';
import { exchange } from './exchange.js';

/** PXE discovery control bit 3: "download the boot file named in this packet" (PXE 2.1, table 2-1). */
const USE_BOOT_FILE = 0x08;
/** What PXE ROMs and iPXE ask for (1 mask, 3 router, 6 DNS, 43/60/66/67 boot, 175 iPXE...). */
const PARAMETER_REQUEST_LIST = [1, 3, 6, 12, 15, 17, 43, 60, 66, 67, 97, 128, 175];

export interface DhcpLease {
  ip: Ipv4;
  prefix: number;
  /** The DHCP server that acknowledged (option 54). */
  server: Ipv4;
  /** Where TFTP goes: siaddr, else option 66, else the boot information's server. */
  nextServer: Ipv4;
  bootFile: string;
  /** The boot file came from a proxy offer or a port 4011 ACK. */
  viaProxy: boolean;
}

export type DhcpOutcome = { ok: true; lease: DhcpLease; transmissions: number } | { ok: false; diagnosis: Diagnosis; detail: string; transmissions: number };

export interface DhcpEvents {
  /** First address offer (or proxy offer) seen. */
  offered?(): void;
  acknowledged?(lease: DhcpLease): void;
}

interface Received {
  message: DhcpMessage;
  from: DhcpFrom;
  type: MessageType | undefined;
}

export interface DhcpClientOptions {
  net: NodeNet;
  timers: Timers;
  behaviour: DhcpBehaviour;
  /** Answers from other servers are ignored (a storm aimed at one server). */
  onlyServer?: Ipv4;
  /** SMBIOS UUID sent in option 97 (PXE) — stable per node. */
  uuid?: string;
  events?: DhcpEvents;
}

const isAddressOffer = (r: Received): boolean => r.type === MessageType.Offer && r.message.yiaddr !== ZERO_IP;
/** A PXE proxy offer: no address, PXEClient (or HTTPClient) in option 60 (PXE 2.1, 2.2.5). */
const isProxyOffer = (r: Received): boolean =>
  r.type === MessageType.Offer && r.message.yiaddr === ZERO_IP && /^(PXEClient|HTTPClient)/.test(safe(() => vendorClass(r.message.options)) ?? '');
/** iPXE's 175.176 (no-pxedhcp) in the address offer: do not wait for ProxyDHCP offers (src/net/udp/dhcp.c). */
const skipsProxyDhcp = (m: DhcpMessage): boolean => (safe(() => ipxe(m.options)?.get(IpxeSubOpt.NoPxeDhcp)?.[0]) ?? 0) !== 0;
export const bootFileOf = (m: DhcpMessage): string | undefined => {
  const fromOption = m.options.get(Opt.BootfileName)?.toString('latin1').replace(/\0+$/, '');
  return fromOption || m.file || undefined;
};

export class DhcpClient {
  private readonly xid = randomBytes(4).readUInt32BE(0);
  private readonly started: number;
  private transmissions = 0;

  constructor(private readonly opts: DhcpClientOptions) {
    this.started = opts.timers.now();
  }

  async run(): Promise<DhcpOutcome> {
    const { behaviour } = this.opts;
    // Offers are kept across DISCOVER retransmissions: firmware selects from all it has seen.
    let addressOffer: Received | undefined;
    let proxyOffer: Received | undefined;
    let proxyWaitTimer: TimerHandle;
    let settleDiscover: ((value: Received | undefined) => void) | undefined;
    // iPXE counts any offer with "PXEClient" as a ProxyDHCP offer (src/net/udp/dhcp.c dhcp_discovery_rx).
    let pxeClientSeen = false;
    const proxyWaitOver = (): boolean => this.opts.timers.now() - this.started > behaviour.proxyWait * 1000;
    const ready = (): boolean => {
      if (!addressOffer) return false;
      if (behaviour.ipxe) return pxeClientSeen || skipsProxyDhcp(addressOffer.message) || proxyWaitOver();
      return bootFileOf(addressOffer.message) !== undefined || proxyOffer !== undefined;
    };
    const chosen = await exchange<Received>({
      timers: this.opts.timers,
      schedule: behaviour.discover,
      send: () => {
        // iPXE's discovery timer expiry: with an offer in hand and the ProxyDHCP wait over, REQUEST instead.
        if (behaviour.ipxe && addressOffer && proxyWaitOver()) return settleDiscover?.(addressOffer);
        this.send(this.message(MessageType.Discover));
      },
      subscribe: (on) => this.subscribe(on),
      started: (settle) => (settleDiscover = settle),
      accept: (r) => {
        if (/^PXEClient/.test(safe(() => vendorClass(r.message.options)) ?? '')) pxeClientSeen = true;
        if (isAddressOffer(r) && !addressOffer) {
          addressOffer = r;
          this.opts.events?.offered?.();
          // A PXE ROM given an address without boot information gives proxyDHCP servers a moment to answer.
          if (!behaviour.ipxe && !ready()) proxyWaitTimer = this.opts.timers.setTimer(behaviour.proxyWait * 1000, () => settleDiscover?.(addressOffer));
        } else if (isProxyOffer(r) && !proxyOffer) {
          proxyOffer = r;
          if (!addressOffer) this.opts.events?.offered?.();
        }
        return ready();
      },
    });
    this.opts.timers.clearTimer(proxyWaitTimer);
    if (!chosen) {
      const seen = proxyOffer ? 'only a proxy offer (no address)' : 'no offer';
      return this.fail('no_offer', `PXE-E51: ${seen} after ${behaviour.discover.length} DISCOVERs over ${sum(behaviour.discover)} s`);
    }
    if (!bootFileOf(chosen.message) && !proxyOffer) {
      return this.fail('no_boot_filename', `PXE-E53: offer from ${chosen.from.ip} has no boot file name`);
    }

    const ack = await exchange<Received>({
      timers: this.opts.timers,
      schedule: behaviour.request,
      send: () => this.send(this.message(MessageType.Request, { requestedIp: chosen.message.yiaddr, serverId: serverIdOf(chosen) })),
      subscribe: (on) => this.subscribe(on),
      accept: (r) => r.type === MessageType.Ack || r.type === MessageType.Nak,
    });
    if (!ack) return this.fail('no_offer', `PXE-E51: no ACK for ${chosen.message.yiaddr} after ${behaviour.request.length} REQUESTs`);
    if (ack.type === MessageType.Nak) return this.fail('no_offer', `DHCPNAK from ${ack.from.ip} for ${chosen.message.yiaddr}`);

    const ip = ack.message.yiaddr !== ZERO_IP ? ack.message.yiaddr : chosen.message.yiaddr;
    const mask = ack.message.options.get(Opt.SubnetMask);
    const prefix = mask && mask.length === 4 ? (safe(() => maskToPrefix(`${mask[0]}.${mask[1]}.${mask[2]}.${mask[3]}`)) ?? 24) : 24;
    const server = serverIdOf(ack) ?? ack.from.ip;
    await this.opts.net.configure(ip, prefix);

    let boot: DhcpMessage = ack.message;
    let viaProxy = false;
    if (!bootFileOf(ack.message) && !bootFileOf(chosen.message) && proxyOffer) {
      boot = proxyOffer.message;
      viaProxy = true;
      const control = safe(() => pxeOptions(proxyOffer!.message.options))?.discoveryControl ?? 0;
      if (!bootFileOf(boot) || (control & USE_BOOT_FILE) === 0) {
        const proxyServer = serverIdOf(proxyOffer) ?? proxyOffer.from.ip;
        const proxyAck = await this.requestBootServer(ip, proxyServer);
        if (!proxyAck) {
          return this.fail('no_boot_filename', `PXE-E55: proxyDHCP ${proxyServer} did not answer on port 4011 after ${behaviour.proxyRequest.length} requests`);
        }
        boot = proxyAck;
      }
    } else if (!bootFileOf(ack.message)) {
      boot = chosen.message;
    }
    const bootFile = bootFileOf(boot);
    if (!bootFile) return this.fail('no_boot_filename', `PXE-E53: no boot file name from ${server}`);
    const option66 = boot.options.get(Opt.TftpServerName)?.toString('latin1');
    const nextServer = boot.siaddr !== ZERO_IP ? boot.siaddr : option66 && /^\d+\.\d+\.\d+\.\d+$/.test(option66) ? option66 : server;
    const lease: DhcpLease = { ip, prefix, server, nextServer, bootFile, viaProxy };
    this.opts.events?.acknowledged?.(lease);
    return { ok: true, lease, transmissions: this.transmissions };
  }

  /** PXE 2.1 2.2.4: unicast REQUEST from the new address to the boot server's port 4011. */
  private async requestBootServer(ip: Ipv4, proxyServer: Ipv4): Promise<DhcpMessage | undefined> {
    const udp = await this.opts.net.openUdp(68);
    try {
      const request = this.message(MessageType.Request, { ciaddr: ip });
      const payload = encodeDhcp(request);
      const reply = await exchange<DhcpMessage>({
        timers: this.opts.timers,
        schedule: this.opts.behaviour.proxyRequest,
        send: () => {
          this.transmissions++;
          udp.send(payload, PXE_PROXY_PORT, proxyServer);
        },
        subscribe: (on) =>
          udp.onMessage((buf) => {
            const message = safe(() => decodeDhcp(buf));
            if (message && message.xid === this.xid) on(message);
          }),
        accept: (m) => messageType(m.options) === MessageType.Ack,
      });
      return reply;
    } finally {
      udp.close();
    }
  }

  private subscribe(on: (r: Received) => void): () => void {
    return this.opts.net.onDhcp((message, from) => {
      if (message.xid !== this.xid || message.op !== 2) return;
      if (!message.chaddr.subarray(0, 6).equals(macToBytes(this.opts.net.mac))) return;
      const type = safe(() => messageType(message.options));
      const origin = safe(() => serverId(message.options)) ?? from.ip;
      if (this.opts.onlyServer && origin !== this.opts.onlyServer && from.ip !== this.opts.onlyServer) return;
      on({ message, from, type });
    });
  }

  private send(message: DhcpMessage): void {
    this.transmissions++;
    this.opts.net.sendDhcp(message);
  }

  private message(type: MessageType, extra: { requestedIp?: Ipv4; serverId?: Ipv4; ciaddr?: Ipv4 } = {}): DhcpMessage {
    const { behaviour } = this.opts;
    const options: DhcpOptions = new Map();
    options.set(Opt.MessageType, u8Option(type));
    if (extra.requestedIp) options.set(Opt.RequestedIp, ipOption(extra.requestedIp));
    if (extra.serverId) options.set(Opt.ServerId, ipOption(extra.serverId));
    options.set(Opt.MaxMessageSize, u16Option(1472));
    options.set(Opt.ParameterRequestList, Buffer.from(PARAMETER_REQUEST_LIST));
    options.set(Opt.ClientArch, u16Option(behaviour.arch));
    options.set(Opt.ClientNdi, Buffer.from(behaviour.ndi));
    options.set(Opt.ClientUuid, clientUuidOption(this.opts.uuid ?? randomUUID()));
    options.set(Opt.VendorClass, stringOption(behaviour.vendorClass));
    if (behaviour.ipxe) {
      // iPXE's 175 carries its feature flags (src/net/udp/dhcp.c dhcp_features); 0x13 = HTTP.
      options.set(Opt.UserClass, stringOption('iPXE'));
      options.set(Opt.Ipxe, Buffer.from([0x13, 1, 1, 0x10, 1, 1]));
    }
    return {
      op: BOOTREQUEST,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: this.xid,
      secs: Math.min(0xffff, Math.floor((this.opts.timers.now() - this.started) / 1000)),
      // Unicast replies reach a node's MAC before it has an address; like most ROMs, no broadcast flag.
      flags: 0,
      ciaddr: extra.ciaddr ?? ZERO_IP,
      yiaddr: ZERO_IP,
      siaddr: ZERO_IP,
      giaddr: ZERO_IP,
      chaddr: Buffer.concat([macToBytes(this.opts.net.mac), Buffer.alloc(10)]),
      sname: '',
      file: '',
      options,
    };
  }

  private fail(diagnosis: Diagnosis, detail: string): DhcpOutcome {
    return { ok: false, diagnosis, detail, transmissions: this.transmissions };
  }
}

function serverIdOf(r: Received): Ipv4 | undefined {
  return safe(() => serverId(r.message.options));
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
