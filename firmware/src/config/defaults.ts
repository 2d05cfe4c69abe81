// Defaults: the values a configuration file may leave out, and the whole
// configuration `rackboot serve --interface IF --root DIR` runs with when there
// is no file at all.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { intToIp, ipToInt, prefixToMask, type Ipv4 } from '../net/addr.js';
import { hasControlCharacter } from './value-specs.js';
import type { PoolConfig, PowerConfig, PowerDriverKind, ProfileConfig, RackbootConfig, SafeState } from './schema.js';

export const DEFAULTS = {
  mode: 'dhcp',
  leaseTime: 12 * 3600,
  stateDir: '/var/lib/rackboot',
  httpPort: 80,
  tftpPort: 69,
  dhcpMaxOffers: 1024,
  // Half of each pool for clients nobody listed: a flood of made-up MACs leaves the other
  // half to the nodes in hosts and the inventory (docs/config.md).
  dhcpUnknownSharePercent: 50,
  // A Pi 4's gigabit port: leave headroom for DHCP/ARP and HTTP.
  tftpMaxTransfers: 128,
  tftpMaxRateMbit: 400,
  tftpTransferRateMbit: 100,
  unknownNodes: 'boot',
  bootTimeoutSeconds: 15 * 60,
  openTimeoutSeconds: 30,
  stallTimeoutSeconds: 60,
  consoleBaud: 115200,
  consoleIdleTimeoutSeconds: 15 * 60,
  logLevel: 'info',
  logFormat: 'auto',
  defaultProfile: 'default',
  loader: 'ipxe',
} as const;

/** Menu timeouts default to this when a menu profile does not say. */
export const DEFAULT_MENU_TIMEOUT = 10;

/** http.management: HTTPS on port 443 of every address, a self-signed certificate, no UI or API over plain HTTP. */
export const MANAGEMENT_DEFAULTS = { port: 443, listen: [] as { address: string; port: number }[], plainHttp: false };

export const POWER_DEFAULTS = {
  driver: 'gpio' as PowerDriverKind,
  safeState: 'keep' as SafeState,
  pressMs: 300,
  longPressMs: 6000,
  offMs: 5000,
  commandTimeoutMs: 30_000,
  qemuStopTimeoutMs: 10_000,
  staggerMs: 2000,
  batchSize: 1,
  adaptive: false,
  maxTransfers: 8,
  maxEarlyBoot: 4,
  pollMs: 500,
  recoveryEnabled: false,
  maxAttempts: 3,
  backoffMs: 30_000,
  maxBackoffMs: 600_000,
} as const;

/** No power section: no channels, nothing switched, the sequencer idle. */
export const DEFAULT_POWER_CONFIG: PowerConfig = {
  safeState: { start: POWER_DEFAULTS.safeState, exit: POWER_DEFAULTS.safeState },
  channels: {},
  sequencer: {
    staggerMs: POWER_DEFAULTS.staggerMs,
    batchSize: POWER_DEFAULTS.batchSize,
    adaptive: POWER_DEFAULTS.adaptive,
    maxTransfers: POWER_DEFAULTS.maxTransfers,
    maxEarlyBoot: POWER_DEFAULTS.maxEarlyBoot,
    pollMs: POWER_DEFAULTS.pollMs,
    recovery: {
      enabled: POWER_DEFAULTS.recoveryEnabled,
      maxAttempts: POWER_DEFAULTS.maxAttempts,
      backoffMs: POWER_DEFAULTS.backoffMs,
      maxBackoffMs: POWER_DEFAULTS.maxBackoffMs,
    },
  },
};

export function defaultInventory(): RackbootConfig['inventory'] {
  return {
    unknownNodes: DEFAULTS.unknownNodes,
    bootTimeoutMs: DEFAULTS.bootTimeoutSeconds * 1000,
    openTimeoutMs: DEFAULTS.openTimeoutSeconds * 1000,
    stallTimeoutMs: DEFAULTS.stallTimeoutSeconds * 1000,
  };
}

/** The profiles a file gets when it has no boot.profiles: one Linux profile named 'default'. */
export function builtinProfiles(): Record<string, ProfileConfig> {
  return { default: { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: '' } };
}

/** Initrds tried, in order, for the file-less default profile. */
const DEFAULT_INITRDS = ['initrd.img', 'initrd.gz'];

/**
 * The dynamic pool for a subnet when no file says otherwise.
 *
 * Rule: the pool is the upper half of the subnet, up to the last address below
 * broadcast — network + size/2 .. broadcast - 1 (/24: .128-.254; /16:
 * x.y.128.0-x.y.255.254; /28: .8-.14). The lower half stays free for static
 * addresses, which is where routers and servers usually sit. If the server's own
 * address falls inside that half, the pool is the larger of the two pieces either
 * side of it (the upper piece on a tie), so the pool never contains the server.
 * /30 and smaller are refused: two host addresses at most, nothing sensible to lend.
 */
export function defaultPool(address: Ipv4, prefix: number): PoolConfig {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new RangeError(`not a prefix length: ${prefix}`);
  const mask = prefixToMask(prefix);
  const network = (ipToInt(address) & mask) >>> 0;
  const subnet = `${intToIp(network)}/${prefix}`;
  if (prefix >= 30) {
    throw new Error(
      `the subnet ${subnet} is too small to derive a DHCP pool from (a /${prefix} has at most two host addresses); ` +
        'use a /29 or larger, or write a configuration file with a pool (rackboot serve --config FILE)',
    );
  }
  const size = 2 ** (32 - prefix);
  const broadcast = network + size - 1;
  let start = network + size / 2;
  let end = broadcast - 1;
  const server = ipToInt(address);
  if (server >= start && server <= end) {
    const below = server - start;
    const above = end - server;
    if (above >= below) start = server + 1;
    else end = server - 1;
  }
  return { subnet: intToIp(network), prefix, start: intToIp(start), end: intToIp(end) };
}

/**
 * The configuration for `rackboot serve --interface IF --root DIR` without a file:
 * full DHCP on the interface's subnet with the pool from defaultPool(), served
 * from the interface's address, no router or DNS options (the appliance is not
 * a router), and one Linux profile booting DIR/vmlinuz with the first initrd
 * found (initrd.img, then initrd.gz; none if neither exists).
 */
export function defaultConfigForInterface(
  ifname: string,
  iface: { address: Ipv4; prefix: number },
  root: string,
  opts: { kernelArgs?: string } = {},
): RackbootConfig {
  const pool = defaultPool(iface.address, iface.prefix);
  // The same rule as a profile's cmdline in a file: one line, or it could inject iPXE script commands.
  if (opts.kernelArgs !== undefined && hasControlCharacter(opts.kernelArgs)) {
    throw new Error('--kernel-args: expected a single line of text (no newlines or control characters)');
  }
  const bootRoot = resolve(root);
  const initrd = DEFAULT_INITRDS.find((name) => existsSync(resolve(bootRoot, name)));
  return {
    source: `<defaults for ${ifname}>`,
    interface: ifname,
    serverAddress: iface.address,
    mode: 'dhcp',
    leaseTime: DEFAULTS.leaseTime,
    stateDir: DEFAULTS.stateDir,
    pools: [pool],
    options: { dns: [], ntp: [] },
    hosts: [],
    boot: {
      root: bootRoot,
      defaultProfile: DEFAULTS.defaultProfile,
      profiles: { default: { kind: 'linux', kernel: 'vmlinuz', initrds: initrd ? [initrd] : [], cmdline: opts.kernelArgs ?? '' } },
      loader: DEFAULTS.loader,
    },
    http: { port: DEFAULTS.httpPort },
    dhcp: { maxOffers: DEFAULTS.dhcpMaxOffers, unknownSharePercent: DEFAULTS.dhcpUnknownSharePercent, relays: [] },
    tftp: {
      port: DEFAULTS.tftpPort,
      maxTransfers: DEFAULTS.tftpMaxTransfers,
      maxRateMbit: DEFAULTS.tftpMaxRateMbit,
      transferRateMbit: DEFAULTS.tftpTransferRateMbit,
    },
    inventory: defaultInventory(),
    power: structuredClone(DEFAULT_POWER_CONFIG),
    log: { level: DEFAULTS.logLevel, format: DEFAULTS.logFormat },
  };
}
