// One packet socket on the storm's interface for every virtual node's DHCP,
// instead of one per node on its macvlan. Opening and closing an AF_PACKET
// socket blocks the caller in the kernel (bind and close wait for an RCU grace
// period), on the event loop that runs every node, so a socket per node would
// stall the simulator's timers. A macvlan's packets cross its parent, where
// one tap sees them all: frames to a node's MAC (unicast offers and ACKs) go
// to that node, broadcast replies to the node named in chaddr. Frames are
// sent from the parent with the node's source MAC, which on the wire is the
// same frame the macvlan would send.
import type { BpfInstruction } from '../net/native.js';
import {
  assemble,
  jeq,
  jset,
  ld,
  ldAncillary,
  ldb,
  ldh,
  ldhIndirect,
  ldxIpHeaderLength,
  label,
  ret,
  ACCEPT_WHOLE_FRAME,
  ETH_P_ARP,
  ETH_P_IP,
  IPPROTO_UDP,
  PACKET_OUTGOING,
  SKF_AD_PKTTYPE,
} from '../net/bpf.js';
import { loadPacketAddon, type NativePacketHandle } from '../net/native.js';
import { BROADCAST_MAC, macFromBytes, type Mac } from '../net/addr.js';
import { decodeEthernet, ETHERTYPE_IPV4 } from '../net/ethernet.js';
import { decodeIpv4 } from '../net/ipv4.js';
import { decodeUdp } from '../net/udp.js';
import { decodeDhcp } from '../dhcp/codec.js';
import { DHCP_CLIENT_PORT, type DhcpMessage } from '../dhcp/message.js';
import type { DhcpFrom } from './node-net.js';

/**
 * IPv4 UDP to port 68, unfragmented, addressed to broadcast or to a MAC that
 * starts with `macPrefix` (the storm's 02:72:62:RR). Frames for the nodes'
 * MACs arrive as PACKET_OTHERHOST on the parent, so unlike rackboot's own
 * filter this one keeps them; outgoing frames (the nodes' own) are dropped.
 */
export function stormDhcpFilter(macPrefix: readonly number[]): BpfInstruction[] {
  if (macPrefix.length !== 4) throw new RangeError('the MAC prefix is 4 bytes');
  const prefix = ((macPrefix[0] << 24) | (macPrefix[1] << 16) | (macPrefix[2] << 8) | macPrefix[3]) >>> 0;
  const IP = 14;
  return assemble([
    ldAncillary(SKF_AD_PKTTYPE),
    jeq(PACKET_OUTGOING, 'drop'),
    ld(0), // first 4 bytes of the destination MAC
    jeq(prefix, 'ethertype'),
    jeq(0xffffffff, 'next', 'drop'),
    ldh(4),
    jeq(0xffff, 'ethertype', 'drop'),
    label('ethertype'),
    ldh(12),
    jeq(ETH_P_IP, 'next', 'drop'),
    ldb(IP + 9),
    jeq(IPPROTO_UDP, 'next', 'drop'),
    ldh(IP + 6),
    jset(0x1fff, 'drop'),
    ldxIpHeaderLength(IP),
    ldhIndirect(IP + 2),
    jeq(DHCP_CLIENT_PORT, 'accept', 'drop'),
    label('drop'),
    ret(0),
    label('accept'),
    ret(ACCEPT_WHOLE_FRAME),
  ]);
}

export type DhcpHandler = (message: DhcpMessage, from: DhcpFrom) => void;

/** Which node a DHCP reply is for: the destination MAC, or chaddr when it was broadcast. */
export function dhcpRecipient(dstMac: Mac, message: DhcpMessage): Mac {
  return dstMac === BROADCAST_MAC ? macFromBytes(message.chaddr) : dstMac;
}

/** Decodes a frame the filter let through; undefined when it is not a DHCP message to port 68. */
export function decodeDhcpFrame(frame: Buffer, checksumPending: boolean): { to: Mac; message: DhcpMessage; from: DhcpFrom } | undefined {
  const eth = decodeEthernet(frame);
  if (eth.ethertype !== ETHERTYPE_IPV4) return undefined;
  const ip = decodeIpv4(eth.payload);
  if (ip.protocol !== IPPROTO_UDP) return undefined;
  const udp = decodeUdp(ip.payload, ip.src, ip.dst, { checksumPending });
  if (udp.dstPort !== DHCP_CLIENT_PORT) return undefined;
  const message = decodeDhcp(udp.payload);
  return { to: dhcpRecipient(eth.dst, message), message, from: { ip: ip.src, port: udp.srcPort, mac: eth.src } };
}

/** The shared socket: opened once per storm on the parent interface. */
export class DhcpTap {
  private readonly handlers = new Map<Mac, Set<DhcpHandler>>();
  /** Frames that passed the filter but did not decode (counted, never thrown). */
  malformed = 0;

  private constructor(private readonly handle: NativePacketHandle) {}

  static open(parent: string, macPrefix: readonly number[]): DhcpTap {
    // The callbacks may run before the tap exists; until then there is no one to deliver to.
    const created: { tap?: DhcpTap } = {};
    // ETH_P_ARP with ETH_P_IP makes the addon bind ETH_P_ALL: the tap then sees frames before the
    // macvlan driver takes them; the filter lets only DHCP replies for this storm through.
    const handle = loadPacketAddon().open(
      parent,
      [ETH_P_ARP, ETH_P_IP],
      stormDhcpFilter(macPrefix),
      (frame, checksumPending) => created.tap?.deliver(frame, checksumPending),
      () => created.tap && created.tap.malformed++,
    );
    created.tap = new DhcpTap(handle);
    return created.tap;
  }

  subscribe(mac: Mac, handler: DhcpHandler): () => void {
    let set = this.handlers.get(mac);
    if (!set) this.handlers.set(mac, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.handlers.delete(mac);
    };
  }

  send(frame: Buffer): void {
    this.handle.send(frame);
  }

  close(): void {
    this.handlers.clear();
    this.handle.close();
  }

  private deliver(frame: Buffer, checksumPending: boolean): void {
    let decoded;
    try {
      decoded = decodeDhcpFrame(frame, checksumPending);
    } catch {
      this.malformed++;
      return;
    }
    if (!decoded) return;
    const set = this.handlers.get(decoded.to);
    if (!set) return;
    for (const handler of [...set]) handler(decoded.message, decoded.from);
  }
}
