// Where a DHCP reply goes (RFC 2131 section 4.1, "giaddr/ciaddr/broadcast bit"
// rules) and the small interface the server sends through, so the decision is
// unit-testable and the sockets stay at the edge.

import { BROADCAST_IP, BROADCAST_MAC, ZERO_IP, type Ipv4, type Mac } from '../net/addr.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, FLAG_BROADCAST, MessageType, type DhcpMessage } from './message.js';

export type Destination =
  /** Built as an Ethernet frame by rackboot: the client has no address (or must not be ARPed). */
  | { via: 'frame'; mac: Mac; ip: Ipv4; port: number }
  /** Sent through the kernel's UDP stack: the peer has an address and answers ARP. */
  | { via: 'udp'; ip: Ipv4; port: number };

export interface DhcpTransport {
  send(payload: Buffer, to: Destination, fromPort: number): void;
}

/**
 * RFC 2131 4.1: relayed -> the relay's port 67; a client with ciaddr -> unicast
 * to it; NAK or broadcast bit -> broadcast; otherwise unicast to chaddr/yiaddr
 * at layer 2 (the client cannot answer ARP yet).
 */
export function replyDestination(request: DhcpMessage, reply: DhcpMessage, replyType: MessageType, clientMac: Mac): Destination {
  if (request.giaddr !== ZERO_IP) return { via: 'udp', ip: request.giaddr, port: DHCP_SERVER_PORT };
  if (replyType === MessageType.Nak) return { via: 'frame', mac: BROADCAST_MAC, ip: BROADCAST_IP, port: DHCP_CLIENT_PORT };
  if (request.ciaddr !== ZERO_IP) return { via: 'udp', ip: request.ciaddr, port: DHCP_CLIENT_PORT };
  if ((request.flags & FLAG_BROADCAST) !== 0 || reply.yiaddr === ZERO_IP) {
    return { via: 'frame', mac: BROADCAST_MAC, ip: BROADCAST_IP, port: DHCP_CLIENT_PORT };
  }
  return { via: 'frame', mac: clientMac, ip: reply.yiaddr, port: DHCP_CLIENT_PORT };
}
