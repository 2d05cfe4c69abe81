// The frame link: rackboot's only Ethernet I/O. Servers (DHCP, proxyDHCP, ARP)
// depend on the small FrameLink interface, so unit tests hand them a fake and
// integration tests hand them a PacketLink on a veth inside a namespace.

import { ipToInt, normalizeMac, type Ipv4, type Mac } from './addr.js';
import { bpfForDhcpAndArp, ETH_P_ARP, ETH_P_IP } from './bpf.js';
import { loadPacketAddon, type NativeInterfaceInfo, type NativePacketHandle } from './native.js';

/** What servers need from a link: whole Ethernet frames in and out. */
export interface FrameLink {
  /** Sends one complete Ethernet frame (destination MAC first). Throws if it cannot. */
  send(frame: Buffer): void;
  /** Adds a handler; every handler sees every received frame. */
  onFrame(handler: FrameHandler): void;
  close(): void;
  readonly mac: Mac;
  readonly ifname: string;
  readonly mtu: number;
}

export type InterfaceInfo = NativeInterfaceInfo;

export interface FrameMeta {
  /** The kernel never filled in the UDP/TCP checksum (a local peer with offload): do not verify it. */
  checksumPending: boolean;
}

export type FrameHandler = (frame: Buffer, meta: FrameMeta) => void;

export interface PacketLinkOptions {
  /** UDP destination ports to receive besides ARP, e.g. [67, 4011]. */
  udpPorts: readonly number[];
}

/**
 * A packet socket on one interface receiving ARP and IPv4 UDP to `udpPorts`
 * (see bpfForDhcpAndArp); frames this host sends are never received back.
 * Must be close()d: an open link keeps the process alive, as a server socket does.
 */
export class PacketLink implements FrameLink {
  /** Interface facts read when the link was opened. */
  readonly info: InterfaceInfo;
  /** Receive errors and handler exceptions, counted for status pages. */
  errorCount = 0;
  private readonly frameHandlers: FrameHandler[] = [];
  private readonly errorHandlers: Array<(err: Error) => void> = [];
  private handle: NativePacketHandle | undefined;

  private constructor(info: InterfaceInfo) {
    this.info = info;
  }

  /**
   * Opens the link. Throws with code 'EPERM' (and how to grant CAP_NET_RAW) when
   * unprivileged, or 'ENODEV' when the interface does not exist.
   */
  static open(ifname: string, options: PacketLinkOptions): PacketLink {
    const addon = loadPacketAddon();
    const filter = bpfForDhcpAndArp({ udpPorts: options.udpPorts });
    const link = new PacketLink(addon.interfaceInfo(ifname));
    link.handle = addon.open(
      ifname,
      [ETH_P_ARP, ETH_P_IP],
      filter,
      (frame, checksumPending) => link.deliver(frame, { checksumPending }),
      (err) => link.fail(err),
    );
    return link;
  }

  get ifname(): string {
    return this.info.name;
  }

  get mac(): Mac {
    return this.info.mac;
  }

  get mtu(): number {
    return this.info.mtu;
  }

  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  onFrame(handler: FrameHandler): void {
    this.frameHandlers.push(handler);
  }

  /**
   * Receive-side errors (e.g. ENETDOWN when the cable is pulled) and exceptions
   * thrown by frame handlers. Without a handler they become process warnings:
   * a bad frame or a flapping link must never take the server down.
   */
  onError(handler: (err: Error) => void): void {
    this.errorHandlers.push(handler);
  }

  send(frame: Buffer): void {
    if (!this.handle) throw Object.assign(new Error(`packet link on ${this.ifname} is closed`), { code: 'ERR_SOCKET_CLOSED' });
    this.handle.send(frame);
  }

  close(): void {
    const handle = this.handle;
    this.handle = undefined;
    handle?.close();
  }

  private deliver(frame: Buffer, meta: FrameMeta): void {
    for (const handler of this.frameHandlers) {
      try {
        handler(frame, meta);
      } catch (err) {
        this.fail(new Error(`frame handler on ${this.ifname} threw: ${(err as Error).message}`, { cause: err }));
      }
    }
  }

  private fail(err: Error): void {
    this.errorCount++;
    if (this.errorHandlers.length === 0) {
      process.emitWarning(err.message, { code: 'RACKBOOT_PACKET_LINK' });
      return;
    }
    for (const handler of this.errorHandlers) {
      try {
        handler(err);
      } catch (inner) {
        process.emitWarning(`error handler on ${this.ifname} threw: ${(inner as Error).message}`, { code: 'RACKBOOT_PACKET_LINK' });
      }
    }
  }
}

/** Index, MAC, MTU, flags and IPv4 addresses of `ifname`. Throws 'ENODEV' if absent. */
export function interfaceInfo(ifname: string): InterfaceInfo {
  return loadPacketAddon().interfaceInfo(ifname);
}

/**
 * Pre-seeds the kernel's ARP cache with ip -> mac on `ifname` (REACHABLE, replacing
 * any entry) so replies to a node that just got its lease never wait on ARP.
 * Needs CAP_NET_ADMIN.
 */
export function setNeighbor(ifname: string, ip: Ipv4, mac: Mac): void {
  ipToInt(ip); // throws a RangeError naming the bad address
  loadPacketAddon().setNeighbor(ifname, ip, normalizeMac(mac));
}
