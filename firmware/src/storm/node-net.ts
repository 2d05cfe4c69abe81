// What a virtual node needs from the network, as an interface: raw DHCP frames
// before it has an address, then kernel UDP and TCP bound to its own address.
// host-net.ts implements it on a macvlan per node; unit tests use fakes.
import type { Ipv4, Mac } from '../net/addr.js';
import type { DhcpMessage } from '../dhcp/message.js';

export interface DhcpFrom {
  ip: Ipv4;
  port: number;
  mac: Mac;
}

export interface UdpFrom {
  address: Ipv4;
  port: number;
}

/** A kernel UDP socket bound to the node's address. */
export interface UdpEndpoint {
  readonly port: number;
  send(payload: Buffer, port: number, address: Ipv4): void;
  onMessage(handler: (payload: Buffer, from: UdpFrom) => void): () => void;
  close(): void;
}

export interface HttpResult {
  status: number;
  bytes: number;
  /** Content-Length, when the server sent one. */
  expected?: number;
  body?: Buffer;
  /** Why the download stopped early (connection reset, idle timeout...). */
  error?: string;
}

export interface NodeNet {
  readonly mac: Mac;
  /** Broadcasts a DHCP message from 0.0.0.0:68 (or unicasts a frame when `to` is given). */
  sendDhcp(message: DhcpMessage, to?: DhcpFrom): void;
  /** Every DHCP reply addressed to this node's MAC or broadcast; returns unsubscribe. */
  onDhcp(handler: (message: DhcpMessage, from: DhcpFrom) => void): () => void;
  /** Gives the node its leased address (and the route to the server's subnet). */
  configure(ip: Ipv4, prefix: number): Promise<void>;
  /** A kernel UDP socket on the node's address; port 0 = ephemeral. */
  openUdp(port: number): Promise<UdpEndpoint>;
  /**
   * GET over kernel TCP from the node's address. `keepBody` keeps the bytes
   * (scripts); otherwise they are counted and dropped. Aborts after `idleMs` of silence.
   */
  httpGet(url: string, options: { keepBody: boolean; idleMs: number; onBytes?: (total: number) => void }): Promise<HttpResult>;
  /** True when the kernel's neighbour entry for `ip` never resolved (ARP unanswered). */
  arpUnresolved(ip: Ipv4): Promise<boolean>;
  close(): Promise<void>;
}
