// The decoded form of a BOOTP/DHCP message (RFC 2131 section 2) and the option codes
// rackboot reads or writes (RFC 2132, RFC 4578, RFC 3046, iPXE's 175).
// This file is the contract between the codec (codec.ts), the option accessors
// (options.ts) and the servers: no I/O here.

import type { Ipv4, Mac } from '../net/addr.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const PXE_PROXY_PORT = 4011;

/** RFC 2131 flags: the client cannot receive unicast before it has an address. */
export const FLAG_BROADCAST = 0x8000;

export enum MessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
  ForceRenew = 9,
  LeaseQuery = 10,
  LeaseUnassigned = 11,
  LeaseUnknown = 12,
  LeaseActive = 13,
  BulkLeaseQuery = 14,
  LeaseQueryDone = 15,
  ActiveLeaseQuery = 16,
  LeaseQueryStatus = 17,
  Tls = 18,
}

export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  TimeOffset: 2,
  Router: 3,
  DnsServers: 6,
  HostName: 12,
  DomainName: 15,
  InterfaceMtu: 26,
  BroadcastAddress: 28,
  NtpServers: 42,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  ClientFqdn: 81,
  RelayAgentInfo: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  DomainSearch: 119,
  ClasslessRoutes: 121,
  Ipxe: 175,
  End: 255,
} as const;

/**
 * Options in the order they appeared (or should be written). Each value is the
 * option's payload; an option split over several instances (RFC 3396) is joined.
 * Unknown options are kept as they are so nothing a client sent is lost.
 */
export type DhcpOptions = Map<number, Buffer>;

export interface DhcpMessage {
  op: number; // BOOTREQUEST or BOOTREPLY
  htype: number; // 1 = Ethernet
  hlen: number; // 6 for Ethernet
  hops: number;
  xid: number; // uint32
  secs: number;
  flags: number;
  ciaddr: Ipv4;
  yiaddr: Ipv4;
  siaddr: Ipv4;
  giaddr: Ipv4;
  chaddr: Buffer; // 16 bytes as on the wire
  sname: string; // from the header field; empty when it held options (overload)
  file: string; // likewise
  options: DhcpOptions;
}

/** The client's hardware address as a MAC string, for Ethernet (htype 1, hlen 6). */
export type ClientMac = Mac;
