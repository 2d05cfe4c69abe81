// DHCP as the appliance runs it: replies over the serving interface, leases in
// the lease store, what it sees fed to boot tracking, the inventory deciding who
// may boot and who is known, and other DHCP servers on the segment reported as
// events.

import { ipxeBooter, type LoaderChoice } from '../boot-policy/booter.js';
import { loaderPolicy } from '../boot-policy/loader.js';
import { fixedAddressRules } from '../config/fixed-address.js';
import type { Mac } from '../net/addr.js';
import type { BootLoader, RackbootConfig } from '../config/schema.js';
import type { PlanHost } from '../dhcp/address-plan.js';
import type { ClientDirectory } from '../dhcp/client-limits.js';
import type { ForeignServerReport } from '../dhcp/rogue-detector.js';
import { DhcpService } from '../dhcp/service.js';
import type { NodeInventory } from '../inventory/nodes.js';
import type { NodeRecord } from '../model/node.js';
import { icmpEchoProbe } from '../net/icmp-probe.js';
import { setNeighbor } from '../net/link.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { BootTracking } from './boot-tracking.js';
import type { ServingInterface } from './interface.js';
import { StartupError } from './startup-error.js';
import type { Stores } from './state.js';

export interface StartDhcpDeps {
  clock: Clock;
  log: Logger;
  counters: Counters;
}

export async function startDhcp(
  config: RackbootConfig,
  serving: ServingInterface,
  stores: Stores,
  boot: BootTracking,
  deps: StartDhcpDeps,
): Promise<DhcpService> {
  const { leases, events, inventory, settings } = stores;
  let service: DhcpService;
  try {
    service = await DhcpService.start({
      config,
      serverAddress: serving.serverAddress,
      link: serving.link,
      leases,
      clock: deps.clock,
      log: deps.log,
      counters: deps.counters,
      icmpProbe: icmpEchoProbe,
      connected: serving.connected,
      seedNeighbor: (ip, mac) => setNeighbor(config.interface, ip, mac),
      booter: ipxeBooter({ serverAddress: serving.serverAddress, httpPort: config.http.port }, loaderChoice(config, stores)),
      observer: { dhcpEvent: (event) => boot.observations.dhcp(event), arp: (packet) => boot.observations.arp(packet) },
      bootGate: { allowBoot: (mac) => inventory.isBootAllowed(mac) },
      clients: inventoryClients(inventory, () => settings.unknownNodes),
      onForeignServer: (report) => events.append({ type: 'dhcp', message: foreignServerMessage(report, config.interface), detail: { ...report } }),
      onForgedTraffic: (report) =>
        events.append({
          type: 'dhcp',
          mac: report.claimedMac,
          message: `forged DHCP traffic from ${report.sourceMac} on ${config.interface} ignored: ${report.frames} ${report.frames === 1 ? 'frame' : 'frames'} claiming to be ${report.claimedMac}, latest a ${report.messageType.toUpperCase()}`,
          detail: { ...report },
        }),
    });
  } catch (error) {
    throw new StartupError(`cannot start DHCP: ${(error as Error).message}`, { interface: config.interface });
  }
  // One source of reservations and host names: the inventory (seeded from the
  // configuration's hosts). Every change reaches the address plan before the
  // API call that made it returns.
  const server = service.server;
  server.setHosts(inventoryHosts(inventory));
  inventory.subscribe(() => server.setHosts(inventoryHosts(inventory)));
  inventory.setAddressRules({
    ...fixedAddressRules(config, serving.serverAddress),
    boundTo: (ip) => {
      const lease = leases.byIp(ip);
      return lease && lease.state === 'bound' && lease.expires > deps.clock.now() ? lease.mac : undefined;
    },
  });
  return service;
}

/**
 * The nodes DHCP knows by name and address: those from the configuration or the
 * API (and discovered ones an operator edited, which become API nodes). A node's
 * name is the host name it is sent; its ip, if any, is reserved for it.
 */
function inventoryHosts(inventory: NodeInventory): PlanHost[] {
  return inventory
    .list()
    .filter((node) => node.origin !== 'discovered')
    .map((node) => ({ mac: node.mac, hostname: node.name, ...(node.ip !== undefined && { ip: node.ip }) }));
}

/** Each node's loader as the boot policy chooses it (boot-policy/loader.ts), for DHCP and the API alike. */
export function nodeLoaderPolicy(config: RackbootConfig, stores: Pick<Stores, 'inventory' | 'settings'>): (mac: Mac) => BootLoader {
  const { inventory, settings } = stores;
  return loaderPolicy({
    hosts: config.hosts,
    profiles: config.boot.profiles,
    defaultLoader: config.boot.loader,
    profileOf: (mac: Mac) => inventory.nextBoot(mac) ?? inventory.get(mac)?.profile ?? settings.defaultProfile,
  });
}

/** Each node's loader (boot-policy/loader.ts); a GRUB node that cannot get GRUB is reported once per node and client kind. */
function loaderChoice(config: RackbootConfig, stores: Stores): LoaderChoice {
  const { events } = stores;
  const warned = new Set<string>();
  return {
    loaderOf: nodeLoaderPolicy(config, stores),
    onGrubUnavailable: (mac, kind) => {
      const key = `${mac} ${kind}`;
      if (warned.has(key)) return;
      warned.add(key);
      events.append({
        type: 'system',
        mac,
        message: `${mac} has loader grub, but shim + GRUB boot only UEFI x64 PXE clients; this ${kind} client gets iPXE`,
        detail: { loader: 'grub', client: kind },
      });
    },
  };
}

function foreignServerMessage(report: ForeignServerReport, ifname: string): string {
  const replies = `${report.replies} ${report.replies === 1 ? 'reply' : 'replies'} since the last report, latest a ${report.messageType.toUpperCase()} of ${report.yiaddr}`;
  switch (report.kind) {
    case 'rogue':
      return `another DHCP server ${report.serverId} (${report.mac}) is answering on ${ifname}: ${replies}`;
    case 'impersonation':
      return `a station with MAC ${report.mac} is answering DHCP on ${ifname} with rackboot's server identifier ${report.serverId}: ${replies}`;
    case 'site':
      return `site DHCP server ${report.serverId} (${report.mac}) seen on ${ifname}, as expected in proxy mode`;
  }
}

/**
 * Known DHCP clients, whom the starvation limits never refuse: nodes from the
 * config or the API, and discovered nodes an operator approved under `hold`.
 * Nodes merely discovered from their own DHCP traffic stay unknown.
 */
function inventoryClients(inventory: NodeInventory, policy: () => string): ClientDirectory {
  const known = (node: NodeRecord | undefined): boolean => !!node && (node.origin !== 'discovered' || (policy() === 'hold' && node.approved));
  return {
    isKnown: (mac) => known(inventory.get(mac)),
    knownDynamic: () =>
      inventory
        .list()
        .filter((node) => known(node) && !node.ip)
        .map((node) => node.mac),
  };
}
