// The cluster-facing interface: the address rackboot serves from, the subnets
// it is on, and the packet link DHCP and ARP are read from. Opened before the
// state directory, so an interface that cannot be used is refused before
// anything is written.

import type { RackbootConfig } from '../config/schema.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, PXE_PROXY_PORT } from '../dhcp/message.js';
import type { Ipv4 } from '../net/addr.js';
import { PacketLink, interfaceInfo } from '../net/link.js';
import type { Logger } from '../util/log.js';
import { StartupError } from './startup-error.js';

export interface ServingInterface {
  link: PacketLink;
  serverAddress: Ipv4;
  connected: { address: Ipv4; prefix: number }[];
}

export function openInterface(config: RackbootConfig, log: Logger): ServingInterface {
  try {
    const info = interfaceInfo(config.interface);
    const serverAddress = config.serverAddress ?? info.ipv4[0]?.address ?? '';
    if (!serverAddress) throw new Error(`interface ${config.interface} has no IPv4 address; give it one or set server_address`);
    if (!info.up) log.warn('interface is down; waiting for link is not supported yet, replies may fail', { interface: config.interface });
    // Port 68: replies from other DHCP servers, watched for rogue servers (dhcp/rogue-detector.ts).
    const link = PacketLink.open(config.interface, { udpPorts: [DHCP_SERVER_PORT, PXE_PROXY_PORT, DHCP_CLIENT_PORT] });
    return { link, serverAddress, connected: info.ipv4 };
  } catch (error) {
    throw new StartupError((error as Error).message, { interface: config.interface });
  }
}
