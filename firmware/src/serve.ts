// `rackboot serve`: loads the configuration, opens the store and the sockets,
// runs until SIGTERM/SIGINT, then shuts down in order so no acknowledged
// change is lost.

import { mkdir, stat } from 'node:fs/promises';
import { loadConfigFile } from './config/load.js';
import { STATE_DIR_MODE } from './store/journal.js';
import { defaultConfigForInterface } from './config/defaults.js';
import { ConfigError } from './config/errors.js';
import type { RackbootConfig } from './config/schema.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from './util/log.js';
import { Counters } from './util/counters.js';
import { systemClock } from './util/clock.js';
import { systemdNotifier } from './util/systemd-notify.js';
import { loadPacketAddon } from './net/native.js';
import { PacketLink, interfaceInfo, setNeighbor } from './net/link.js';
import { icmpEchoProbe } from './net/icmp-probe.js';
import { LeaseTable } from './dhcp/leases.js';
import { DhcpService } from './dhcp/service.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, PXE_PROXY_PORT } from './dhcp/message.js';
import type { Ipv4 } from './net/addr.js';
import { TftpServer } from './tftp/server.js';
import { hotFilesFor } from './http/boot-files.js';
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import { NodeResolver, procNetArpLookup } from './boot/nodes.js';
import { OneShotBoots } from './boot/one-shot.js';
import { httpBaseUrl } from './boot/policy.js';
import { AddressBook } from './boot/address-book.js';
import { BootObservations, type ProfileFiles } from './boot/observe.js';
import { BootTracker } from './boot/tracker.js';
import { EventLog } from './inventory/events.js';
import { NodeInventory, inventoryChangeEvent } from './inventory/nodes.js';
import { AuthService } from './auth/index.js';
import { BOOTED_PATH, createApi } from './http/api/index.js';
import { createUiRoutes } from './http/ui.js';
import webAssets from 'rackboot:web-assets';
import { AppApiHost } from './app/api-host.js';
import { NO_POWER, type PowerControl } from './app/power-control.js';
import { openPower } from './app/open-power.js';
import { RuntimeSettings } from './app/settings.js';
import { StateDirLock, StateDirLockedError } from './store/lock.js';
import type { Mac } from './net/addr.js';
import { Console } from './console/index.js';
import { AppConsoleHost } from './app/console-host.js';
import type { ClientDirectory } from './dhcp/client-limits.js';
import type { NodeRecord } from './inventory/types.js';

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
/** How often the boot tracker looks for stalled boots. */
const BOOT_TICK_MS = 1000;
/** Profiles remembered per MAC for naming downloads (kernel, initrd); the oldest are forgotten first. */
const SERVED_PROFILES_KEPT = 8192;

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
    // Port 68: replies from other DHCP servers, watched for rogue servers (dhcp/rogue-detector.ts).
    link = PacketLink.open(config.interface, { udpPorts: [DHCP_SERVER_PORT, PXE_PROXY_PORT, DHCP_CLIENT_PORT] });
  } catch (error) {
    log.error((error as Error).message, { interface: config.interface });
    return 1;
  }

  // The stores, opened together under the state directory's lock: if one fails to
  // open, the ones already open are closed (their files stay consistent) and the lock released.
  const startedAt = systemClock.now();
  let stateLock: StateDirLock;
  try {
    await mkdir(config.stateDir, { recursive: true, mode: STATE_DIR_MODE });
    stateLock = await StateDirLock.acquire(config.stateDir, {
      onStale: (holder) => log.info('state directory lock left by a stopped rackboot; taking it over', { stateDir: config.stateDir, pid: holder?.pid }),
    });
  } catch (error) {
    link.close();
    log.error(error instanceof StateDirLockedError ? error.message : `cannot use state directory ${config.stateDir}: ${(error as Error).message}`, { stateDir: config.stateDir });
    return 1;
  }
  const openedStores: { name: string; close(): Promise<void> }[] = [];
  const openStore = async <T extends { close(): Promise<void> }>(name: string, opening: () => Promise<T>): Promise<T> => {
    let store: T;
    try {
      store = await opening();
    } catch (error) {
      throw new Error(`cannot open the ${name} store in ${config.stateDir}: ${(error as Error).message}`);
    }
    openedStores.push({ name, close: () => store.close() });
    return store;
  };
  /** Start-up failed after the lock: close what is open (power first, stores last), release the lock. */
  const abandonStartup = async (): Promise<void> => {
    await power.close().catch((closeError: unknown) => log.error('closing power failed', { error: closeError as Error }));
    for (const store of openedStores.reverse()) {
      await store.close().catch((closeError: unknown) => log.error(`closing the ${store.name} store failed`, { error: closeError as Error }));
    }
    await stateLock.release().catch(() => {});
    link.close();
  };
  let power: PowerControl = NO_POWER;
  let tracker: BootTracker | undefined;
  let leases!: LeaseTable;
  let events!: EventLog;
  let inventory!: NodeInventory;
  let settings!: RuntimeSettings;
  let auth!: AuthService;
  try {
    leases = await openStore('lease', () => LeaseTable.open(config.stateDir, systemClock, { logger: log.child({ component: 'leases' }) }));
    events = await openStore('event', () => EventLog.open(config.stateDir, { clock: systemClock, log: log.child({ component: 'events' }) }));
    inventory = await openStore('inventory', () =>
      NodeInventory.open(config.stateDir, {
        clock: systemClock,
        seed: config.hosts,
        unknownNodes: config.inventory.unknownNodes,
        log: log.child({ component: 'inventory' }),
        knownProfiles: () => Object.keys(config.boot.profiles),
        knownPowerChannels: () => Object.keys(config.power.channels),
        onChange: (change) => {
          events.append(inventoryChangeEvent(change));
          if (change.type === 'node.deleted') tracker?.forget(change.node.mac);
        },
      }),
    );
    settings = await openStore('settings', () =>
      RuntimeSettings.open(config.stateDir, config, {
        log,
        now: () => systemClock.now(),
        onChange: (change, by) => {
          if (change.unknownNodes !== undefined) inventory.setUnknownNodes(change.unknownNodes);
          const words = Object.entries(change).map(([key, value]) => `${key} = ${String(value)}`).join(', ');
          events.append({ type: 'config', message: `settings changed: ${words}`, by, detail: { ...change } });
        },
      }),
    );
    auth = await openStore('auth', () =>
      AuthService.open(config.stateDir, {
        log,
        clock: systemClock,
        onEvent: (event) => events.append({ type: 'auth', message: event.message, ...(event.by !== undefined && { by: event.by }), ...(event.detail && { detail: event.detail }) }),
      }),
    );
  } catch (error) {
    log.error((error as Error).message, { stateDir: config.stateDir });
    await abandonStartup();
    return 1;
  }
  inventory.setUnknownNodes(settings.unknownNodes);

  const trackerLimits = { bootTimeoutMs: config.inventory.bootTimeoutMs, openTimeoutMs: config.inventory.openTimeoutMs, stallTimeoutMs: config.inventory.stallTimeoutMs };
  tracker = new BootTracker({
    inventory,
    events,
    clock: systemClock,
    log: log.child({ component: 'boot' }),
    counters,
    limits: trackerLimits,
    scriptEndsBoot: (profile) => ['local', 'chain'].includes(config.boot.profiles[profile]?.kind ?? ''),
  });
  const bootTracker = tracker;
  let httpForLoad: { activeConnections(): number } | undefined;
  let tftpForLoad: { activeCount: number } | undefined;
  if (Object.keys(config.power.channels).length > 0) {
    try {
      power = await openPower(config, {
        inventory,
        tracker: bootTracker,
        events,
        log: log.child({ component: 'power' }),
        inFlightTransfers: () => (tftpForLoad?.activeCount ?? 0) + (httpForLoad?.activeConnections() ?? 0),
      });
    } catch (error) {
      log.error(`cannot start node power: ${(error as Error).message}`);
      await abandonStartup();
      return 1;
    }
  }
  const servedProfiles = new Map<Mac, string>();
  const profileOf = (mac: Mac): string => servedProfiles.get(mac) ?? inventory.get(mac)?.profile ?? settings.defaultProfile;
  const addresses = new AddressBook({ fallback: (ip) => leases.byIp(ip)?.mac, slowFallback: procNetArpLookup });
  const oneShots = new OneShotBoots({
    store: inventory,
    hasBootFiles: (profile) => config.boot.profiles[profile]?.kind === 'linux',
    log: log.child({ component: 'boot' }),
  });
  const observations = new BootObservations({
    observe: (obs) => {
      bootTracker.observe(obs);
      oneShots.observe(obs);
    },
    addresses,
    clock: systemClock,
    counters,
    log,
    profileFilesOf: (mac): ProfileFiles | undefined => {
      const profile = config.boot.profiles[profileOf(mac)];
      return profile?.kind === 'linux' ? { kernel: profile.kernel, initrds: profile.initrds } : undefined;
    },
  });

  let dhcp: DhcpService;
  try {
    dhcp = await DhcpService.start({
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
      observer: { dhcpEvent: (event) => observations.dhcp(event), arp: (packet) => observations.arp(packet) },
      bootGate: { allowBoot: (mac) => inventory.isBootAllowed(mac) },
      clients: inventoryClients(inventory, () => settings.unknownNodes),
      onForeignServer: (report) =>
        events.append({
          type: 'dhcp',
          message:
            report.kind === 'rogue'
              ? `another DHCP server ${report.serverId} (${report.mac}) is answering on ${config.interface}: ${report.replies} ${report.replies === 1 ? 'reply' : 'replies'} since the last report, latest a ${report.messageType.toUpperCase()} of ${report.yiaddr}`
              : `site DHCP server ${report.serverId} (${report.mac}) seen on ${config.interface}, as expected in proxy mode`,
          detail: { ...report },
        }),
    });
  } catch (error) {
    log.error(`cannot start DHCP: ${(error as Error).message}`, { interface: config.interface });
    await abandonStartup();
    return 1;
  }
  const sweep = setInterval(() => leases.sweep(systemClock.now()), LEASE_SWEEP_MS);
  const bootTick = setInterval(() => bootTracker.tick(), BOOT_TICK_MS);

  const tftp = new TftpServer({
    root: config.boot.root,
    address: serverAddress,
    port: config.tftp.port,
    mtu: link.mtu,
    maxTransfers: config.tftp.maxTransfers,
    maxPerClient: config.tftp.maxTransfersPerClient,
    maxRateMbit: config.tftp.maxRateMbit,
    transferRateMbit: config.tftp.transferRateMbit,
    log: log.child({ component: 'tftp' }),
    counters,
    onEvent: (event) => observations.tftp(event),
  });
  tftpForLoad = tftp;
  const nodes = new NodeResolver({
    directory: inventory,
    defaultProfile: () => settings.defaultProfile,
    leases,
    addressOf: (ip) => addresses.lookup(ip),
    onProfileServed: (mac, profile, oneShot) => {
      oneShots.served(mac, profile, oneShot);
      servedProfiles.delete(mac);
      servedProfiles.set(mac, profile);
      if (servedProfiles.size > SERVED_PROFILES_KEPT) servedProfiles.delete(servedProfiles.keys().next().value as Mac);
    },
  });
  // Declared before the API host, which reads its connection count, and assigned once the API's routes exist.
  let http: ReturnType<typeof createHttpServer> | undefined;
  const apiHost = new AppApiHost({
    config,
    version,
    startedAt,
    serverAddress,
    inventory,
    tracker: bootTracker,
    events,
    leases,
    counters,
    clock: systemClock,
    power,
    settings,
    addressOf: (mac) => addresses.addressOf(mac),
    activeTftpTransfers: () => tftp.activeCount,
    activeHttpDownloads: () => http?.activeConnections() ?? 0,
  });
  const api = createApi({ host: apiHost, auth, log, counters, clock: systemClock });
  http = createHttpServer({
    root: config.boot.root,
    resolveNode: (query) => nodes.resolve(query),
    profiles: config.boot.profiles,
    defaultProfile: () => settings.defaultProfile,
    serverBase: httpBaseUrl(serverAddress, config.http.port),
    bootedCallbackPath: BOOTED_PATH,
    extraRoutes: [...api.routes, ...createUiRoutes(webAssets)],
    ...httpTuning(config.http),
    log,
    counters,
    onEvent: (event) => {
      // Downloads tell the operator (and the boot tracker) that a node fetched its kernel.
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
      observations.http(event);
    },
  });
  const httpServer = http;
  httpForLoad = httpServer;

  let serialConsole: Console | undefined;
  /** Closes everything opened so far, stores last; each step runs even if an earlier one fails. */
  const shutdown = async (): Promise<boolean> => {
    clearInterval(sweep);
    clearInterval(bootTick);
    let clean = true;
    for (const [name, step] of [
      // First: nobody at the console may start an action while the rest closes.
      ['serial console', async () => serialConsole?.close()],
      ['packet link', async () => link.close()],
      ['event streams', async () => api.close()],
      ['tftp', () => tftp.close()],
      ['http', () => httpServer.close()],
      ['dhcp', () => dhcp.close()],
      ['power', () => power.close()],
      ['settings store', () => settings.close()],
      ['auth store', () => auth.close()],
      ['inventory store', () => inventory.close()],
      ['event store', () => events.close()],
      ['lease store', () => leases.close()],
      ['state directory lock', () => stateLock.release()],
    ] as const) {
      try {
        await step();
      } catch (error) {
        clean = false;
        log.error(`stopping ${name} failed`, { error: error as Error });
      }
    }
    return clean;
  };

  try {
    await tftp.start();
    await httpServer.listen(config.http.port);
  } catch (error) {
    log.error(`cannot listen: ${(error as Error).message}`, { tftpPort: config.tftp.port, httpPort: config.http.port });
    await shutdown();
    return 1;
  }
  api.start();
  if (config.console) {
    serialConsole = new Console({
      host: new AppConsoleHost({ api: apiHost, inventory, events, power: () => power, auth, interfaceName: config.interface }),
      version,
      idleMs: config.console.idleTimeoutMs,
      logger: log.child({ component: 'console' }),
    });
    serialConsole.startSerial({ device: config.console.device, baud: config.console.baud });
  }
  events.append({ type: 'system', message: `rackboot ${version} started on ${config.interface} (${serverAddress}, ${config.mode} mode)` });

  // Listen for the stop signal before saying ready: whoever reads the line may send it at once.
  const stopSignal = waitForStopSignal();
  log.info('rackboot ready', {
    version,
    config: config.source,
    interface: config.interface,
    address: serverAddress,
    mode: config.mode,
    pools: config.pools.map((p) => `${p.start}-${p.end}`).join(','),
    leases: leases.all().length,
    nodes: inventory.size,
    stateDir: config.stateDir,
    root: config.boot.root,
    tftpPort: config.tftp.port,
    httpPort: config.http.port,
  });
  const systemd = systemdNotifier({ send: (socket, message) => loadPacketAddon().notifySystemd(socket, message), log });
  systemd.ready(`serving ${config.mode} boot on ${config.interface} (${serverAddress})`);

  const signal = await stopSignal;
  systemd.stopping();
  log.info('stopping', { signal });
  events.append({ type: 'system', message: `rackboot stopping (${signal})` });
  const clean = await shutdown();
  log.info('stopped', { counters: counters.snapshot() });
  return clean ? 0 : 1;
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
    knownDynamic: () => inventory.list().filter((node) => known(node) && !node.ip).map((node) => node.mac),
  };
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

/** The http section's optional limits as createHttpServer options (its defaults for what the file leaves out). */
function httpTuning(http: RackbootConfig['http']): Pick<HttpServerOptions, 'limits' | 'hotFiles'> {
  return {
    limits: {
      ...(http.maxConnections !== undefined && { maxConnections: http.maxConnections }),
      ...(http.maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress: http.maxConnectionsPerAddress }),
      ...(http.headerTimeout !== undefined && { headersTimeoutMs: http.headerTimeout * 1000 }),
    },
    ...(http.memoryCacheMb !== undefined && { hotFiles: hotFilesFor(http.memoryCacheMb) }),
  };
}
