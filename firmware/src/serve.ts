// `rackboot serve`: loads the configuration, opens the store and the sockets,
// runs until SIGTERM/SIGINT, then shuts down in order so no acknowledged
// change is lost.

import { mkdir, stat } from 'node:fs/promises';
import { loadConfigFile } from './config/load.js';
import { defaultConfigForInterface } from './config/defaults.js';
import { ConfigError } from './config/errors.js';
import type { RackbootConfig } from './config/schema.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './util/log.js';
import { Counters } from './util/counters.js';
import { systemClock } from './util/clock.js';
import { PacketLink, interfaceInfo, setNeighbor } from './net/link.js';
import { icmpEchoProbe } from './net/icmp-probe.js';
import { LeaseTable } from './dhcp/leases.js';
import { DhcpService } from './dhcp/service.js';
import { DHCP_SERVER_PORT, PXE_PROXY_PORT } from './dhcp/message.js';
import type { Ipv4 } from './net/addr.js';
import { TftpServer } from './tftp/server.js';
import { createHttpServer } from './http/server.js';
import { NodeResolver } from './boot/nodes.js';
import { httpBaseUrl } from './boot/policy.js';

export interface ServeArgs {
  configFile?: string;
  interface?: string;
  root?: string;
  kernelArgs?: string;
  stateDir?: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

/** How often bound leases past their expiry are marked expired. */
const LEASE_SWEEP_MS = 30_000;

export async function serve(args: ServeArgs, version: string): Promise<number> {
  const bootLog = createLogger({ level: args.logLevel ?? 'info', format: args.logFormat ?? 'auto' });
  let config: RackbootConfig;
  try {
    config = await resolveConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(error.format() + '\n');
      return 1;
    }
    bootLog.error((error as Error).message);
    return 1;
  }
  const log = createLogger({ level: args.logLevel ?? config.log.level, format: args.logFormat ?? config.log.format });
  const rootProblem = await checkBootRoot(config.boot.root);
  if (rootProblem) {
    log.error(rootProblem, { config: config.source });
    return 1;
  }
  const counters = new Counters();

  let link: PacketLink;
  let serverAddress: Ipv4;
  let connected: { address: Ipv4; prefix: number }[];
  try {
    const info = interfaceInfo(config.interface);
    connected = info.ipv4;
    serverAddress = config.serverAddress ?? info.ipv4[0]?.address ?? '';
    if (!serverAddress) throw new Error(`interface ${config.interface} has no IPv4 address; give it one or set server_address`);
    if (!info.up) log.warn('interface is down; waiting for link is not supported yet, replies may fail', { interface: config.interface });
    link = PacketLink.open(config.interface, { udpPorts: [DHCP_SERVER_PORT, PXE_PROXY_PORT] });
  } catch (error) {
    log.error((error as Error).message, { interface: config.interface });
    return 1;
  }

  await mkdir(config.stateDir, { recursive: true });
  const leases = await LeaseTable.open(config.stateDir, systemClock);
  const dhcp = await DhcpService.start({
    config,
    serverAddress,
    link,
    leases,
    clock: systemClock,
    log,
    counters,
    icmpProbe: icmpEchoProbe,
    connected,
    seedNeighbor: (ip, mac) => setNeighbor(config.interface, ip, mac),
  });
  const sweep = setInterval(() => leases.sweep(systemClock.now()), LEASE_SWEEP_MS);

  const tftp = new TftpServer({
    root: config.boot.root,
    address: serverAddress,
    port: config.tftp.port,
    mtu: link.mtu,
    maxTransfers: config.tftp.maxTransfers,
    maxRateMbit: config.tftp.maxRateMbit,
    transferRateMbit: config.tftp.transferRateMbit,
    log: log.child({ component: 'tftp' }),
    counters,
  });
  const nodes = new NodeResolver({ hosts: config.hosts, defaultProfile: config.boot.defaultProfile, leases });
  const http = createHttpServer({
    root: config.boot.root,
    resolveNode: (query) => nodes.resolve(query),
    profiles: config.boot.profiles,
    defaultProfile: config.boot.defaultProfile,
    serverBase: httpBaseUrl(serverAddress, config.http.port),
    log,
    counters,
    onEvent: (event) => {
      // Downloads tell the operator (and later the boot tracker) that a node fetched its kernel.
      if (event.type === 'http-download' && event.method === 'GET') {
        log.info(event.complete ? 'http download done' : 'http download ended early', {
          component: 'http',
          path: event.path,
          status: event.status,
          bytes: event.bytes,
          ms: event.ms,
          client: event.remote,
        });
      }
    },
  });
  try {
    await tftp.start();
    await http.listen(config.http.port);
  } catch (error) {
    log.error(`cannot listen: ${(error as Error).message}`, { tftpPort: config.tftp.port, httpPort: config.http.port });
    clearInterval(sweep);
    link.close();
    await tftp.close();
    await dhcp.close();
    await leases.close();
    return 1;
  }

  log.info('rackboot ready', {
    version,
    config: config.source,
    interface: config.interface,
    address: serverAddress,
    mode: config.mode,
    pools: config.pools.map((p) => `${p.start}-${p.end}`).join(','),
    leases: leases.all().length,
    stateDir: config.stateDir,
    root: config.boot.root,
    tftpPort: config.tftp.port,
    httpPort: config.http.port,
  });

  const signal = await waitForStopSignal();
  log.info('stopping', { signal });
  clearInterval(sweep);
  // Each step runs even if an earlier one fails: the lease store must always be closed last.
  let clean = true;
  for (const [name, step] of [
    ['packet link', async () => link.close()],
    ['tftp', () => tftp.close()],
    ['http', () => http.close()],
    ['dhcp', () => dhcp.close()],
    ['lease store', () => leases.close()],
  ] as const) {
    try {
      await step();
    } catch (error) {
      clean = false;
      log.error(`stopping ${name} failed`, { error: error as Error });
    }
  }
  log.info('stopped', { counters: counters.snapshot() });
  return clean ? 0 : 1;
}

async function resolveConfig(args: ServeArgs): Promise<RackbootConfig> {
  if (args.configFile) {
    const config = await loadConfigFile(args.configFile, { interface: args.interface, root: args.root });
    return args.stateDir ? { ...config, stateDir: args.stateDir } : config;
  }
  const ifname = args.interface!;
  const info = interfaceInfo(ifname);
  const address = info.ipv4[0];
  if (!address) throw new Error(`interface ${ifname} has no IPv4 address; rackboot derives its DHCP pool from it`);
  const config = defaultConfigForInterface(ifname, address, args.root!, { kernelArgs: args.kernelArgs });
  return args.stateDir ? { ...config, stateDir: args.stateDir } : config;
}

async function checkBootRoot(root: string): Promise<string | undefined> {
  try {
    const info = await stat(root);
    return info.isDirectory() ? undefined : `boot root ${root} is not a directory`;
  } catch {
    return `boot root ${root} does not exist (set boot.root, or --root DIR)`;
  }
}

function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export type { Logger };
