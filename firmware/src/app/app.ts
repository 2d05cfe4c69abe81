// The running appliance: opens what `rackboot serve` needs, one part after
// another, and records on one ResourceStack how to close each part. A start-up
// that fails half-way and a normal stop unwind through the same steps, so the
// ones opened so far are closed (stores last), then the state lock released.

import { stat } from 'node:fs/promises';
import type { RackbootConfig } from '../config/schema.js';
import { Console } from '../console/index.js';
import { createApi } from '../http/api/index.js';
import { isIpv4, sameSubnet, type Ipv4 } from '../net/addr.js';
import type { ArpProber } from '../net/arp-prober.js';
import { icmpEchoProbe } from '../net/icmp-probe.js';
import type { LivenessProbes } from '../power/index.js';
import { TftpServer } from '../tftp/server.js';
import { GrubFiles } from '../boot-policy/loader.js';
import { httpBaseUrl } from '../boot-policy/booter.js';
import { bootedCallbackUrl } from '../http/booted-url.js';
import { systemClock } from '../util/clock.js';
import { Counters } from '../util/counters.js';
import type { LogFields, Logger } from '../util/log.js';
import { AppApiHost } from './api-host.js';
import { trackBoots, type BootTracking } from './boot-tracking.js';
import { AppConsoleHost } from './console-host.js';
import { nodeLoaderPolicy, startDhcp } from './dhcp.js';
import { createBootHttp, createManagementHttps, managementCertificate, managementConfig, managementListen } from './http.js';
import { openInterface } from './interface.js';
import { openPower } from './open-power.js';
import { NO_POWER, type PowerControl } from './power-control.js';
import { ResourceStack } from './resource-stack.js';
import { StartupError } from './startup-error.js';
import { openState, type Stores } from './state.js';

/** How often bound leases past their expiry are marked expired. */
const LEASE_SWEEP_MS = 30_000;
/** How often the boot tracker looks for stalled boots. */
const BOOT_TICK_MS = 1000;

export interface StartAppOptions {
  version: string;
  log: Logger;
}

export interface App {
  readonly serverAddress: Ipv4;
  readonly counters: Counters;
  /** What the ready line tells about the appliance now. */
  readyFields(): LogFields;
  /** Records why it stops in the event log, then closes everything; true when every step closed cleanly. */
  stop(reason: string): Promise<boolean>;
}

/**
 * Starts the appliance. Undefined when start-up failed: the reason is logged
 * and whatever had been opened is closed again. An unexpected error is thrown
 * after the same unwinding.
 */
export async function startApp(config: RackbootConfig, opts: StartAppOptions): Promise<App | undefined> {
  const stack = new ResourceStack();
  try {
    return await openApp(config, opts, stack);
  } catch (error) {
    // Logged before the unwinding, so the reason is the first error a reader sees.
    if (error instanceof StartupError) opts.log.error(error.message, error.fields);
    await stack.closeAll(opts.log);
    if (error instanceof StartupError) return undefined;
    throw error;
  }
}

async function openApp(config: RackbootConfig, { version, log }: StartAppOptions, stack: ResourceStack): Promise<App> {
  const rootProblem = await checkBootRoot(config.boot.root);
  if (rootProblem) throw new StartupError(rootProblem, { config: config.source });
  const clock = systemClock;
  const counters = new Counters();

  const serving = openInterface(config, log);
  const { link, serverAddress } = serving;
  // Only for a start-up that fails before DHCP reads from the link; see the intake step below.
  stack.push('packet link', () => link.close());

  const startedAt = clock.now();
  // eslint-disable-next-line prefer-const -- assigned once below, but read (through onNodeDeleted) before that assignment
  let tracking: BootTracking | undefined;
  const stores = await openState(config, stack, { clock, log, onNodeDeleted: (mac) => tracking?.forget(mac) });
  const { leases, events, inventory, settings, auth } = stores;
  const boot = trackBoots(config, stores, { clock, log, counters });
  tracking = boot;

  // Adaptive power-on waits for downloads in progress, but the servers are created
  // after power (the API reports it): their counts are filled in once they exist.
  const inFlight = { tftp: () => 0, http: () => 0 };
  // Recovery's liveness probes use the DHCP service's ARP prober (one ARP mechanism), set once DHCP has started.
  const dhcpProber: { current?: ArpProber } = {};
  const liveness: LivenessProbes = {
    addressOf: (mac) => {
      const lease = stores.leases.byClient(mac);
      return boot.addresses.addressOf(mac) ?? boot.tracker.state(mac)?.ip ?? (lease?.state === 'bound' ? lease.ip : undefined) ?? stores.inventory.get(mac)?.ip;
    },
    isConnected: (ip) => serving.connected.some((net) => sameSubnet(ip, net.address, net.prefix)),
    arp: (ip) => (dhcpProber.current ? dhcpProber.current.inUse(ip) : Promise.reject(new Error('DHCP (and its ARP prober) has not started'))),
    icmp: icmpEchoProbe,
  };
  const power = await openNodePower(config, stores, boot, log, () => inFlight.tftp() + inFlight.http(), liveness);
  stack.push('power', () => power.close());

  const dhcp = await startDhcp(config, serving, stores, boot, { clock, log, counters });
  stack.push('dhcp', () => dhcp.close());
  dhcpProber.current = dhcp.prober;

  const grubFiles = new GrubFiles({
    nodes: boot.nodes,
    profiles: config.boot.profiles,
    serverBase: httpBaseUrl(serverAddress, config.http.port),
    bootedUrl: (mac, token) => bootedCallbackUrl(httpBaseUrl(serverAddress, config.http.port), mac, token),
    onUnknownPlaceholders: (profile, names) =>
      log.warn('profile uses placeholders with no value; left as written', { profile, placeholders: names.map((name) => `{${name}}`).join(' ') }),
  });
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
    onEvent: (event) => boot.observations.tftp(event),
    generated: async (relative, client) => (await grubFiles.file(relative, client))?.content,
  });
  inFlight.tftp = () => tftp.activeCount;
  const apiHost = new AppApiHost({
    config,
    version,
    startedAt,
    serverAddress,
    inventory,
    tracker: boot.tracker,
    events,
    leases,
    counters,
    clock,
    power,
    settings,
    loaderOf: nodeLoaderPolicy(config, stores),
    addressOf: (mac) => boot.addresses.addressOf(mac),
    confirmBoot: (mac, token) => boot.confirmBoot(mac, token),
    activeTftpTransfers: () => tftp.activeCount,
    tftpSlotsInUse: () => tftp.slotsInUse,
    activeHttpDownloads: () => inFlight.http(),
  });
  const api = createApi({ host: apiHost, auth, log, counters, clock });
  let managementAt: ReturnType<typeof managementListen>;
  let cert: Awaited<ReturnType<typeof managementCertificate>>;
  try {
    managementAt = managementListen(config);
    cert = await managementCertificate(config, serverAddress, managementAt, log);
  } catch (error) {
    throw new StartupError((error as Error).message, { config: config.source });
  }
  const http = createBootHttp(config, {
    serverAddress,
    boot,
    settings,
    apiRoutes: api.routes,
    bootRoute: api.bootRoute,
    managementListen: managementAt,
    log,
    counters,
    generated: async (relative, client) => (isIpv4(client) ? (await grubFiles.file(relative, client))?.content : undefined),
  });
  const https = createManagementHttps(config, cert, managementAt, { apiRoutes: api.routes, log, counters });
  inFlight.http = () => http.activeConnections();

  // Pushed before they start, so a failed listen closes them too. They close in
  // the reverse: event streams first (the servers' close would wait out their
  // grace period on them), then tftp, then the HTTPS servers, then http.
  stack.push('http', () => http.close());
  stack.push('https', async () => {
    await Promise.all(https.map((h) => h.server.close()));
  });
  stack.push('tftp', () => tftp.close());
  stack.push('event streams', () => api.close());
  // The intake step. The link was opened first, so its own step closes last; but
  // it must stop delivering frames before DHCP drains its requests and the
  // stores close, or a late request writes to a closed lease store. Closing it
  // again here (a second close does nothing) ends intake before the servers
  // close, after a failed listen as at a normal stop.
  stack.push('packet link', () => link.close());
  try {
    await tftp.start();
    await http.listen(config.http.port);
    for (const h of https) await h.server.listen(h.port, h.address === '' ? undefined : h.address);
  } catch (error) {
    throw new StartupError(`cannot listen: ${(error as Error).message}`, {
      tftpPort: config.tftp.port,
      httpPort: config.http.port,
      httpsPorts: managementAt.map((l) => `${l.address || '*'}:${l.port}`).join(' '),
    });
  }
  log.info(`management https certificate SHA-256 ${cert.identity.sha256}`, {
    component: 'tls',
    listen: managementAt.map((l) => `${l.address || '*'}:${l.port}`).join(' '),
    pin: `sha256//${cert.identity.spkiSha256}`,
    source: cert.source,
    certFile: cert.certFile,
  });
  if (managementConfig(config).plainHttp) {
    log.warn(
      'http.management.plain_http is on: the web UI and API also answer over plain HTTP, where passwords and session cookies cross the network in the clear',
    );
  }
  api.start();

  if (config.console) {
    const serialConsole = new Console({
      host: new AppConsoleHost({
        api: apiHost,
        inventory,
        events,
        power: () => power,
        auth,
        interfaceName: config.interface,
        tls: {
          sha256: cert.identity.sha256,
          pin: `sha256//${cert.identity.spkiSha256}`,
          source: cert.source,
          certFile: cert.certFile,
          listen: managementAt.map((l) => `${l.address.includes(':') ? `[${l.address}]` : l.address || '*'}:${l.port}`),
        },
      }),
      version,
      idleMs: config.console.idleTimeoutMs,
      logger: log.child({ component: 'console' }),
    });
    serialConsole.startSerial({ device: config.console.device, baud: config.console.baud });
    // Closed before the rest: nobody at the console may start an action while the rest closes.
    stack.push('serial console', () => serialConsole.close());
  }
  // Started last so they stop first: a boot tick while http waits out its grace
  // period could still declare a stall and have the sequencer power-cycle a node.
  const sweep = setInterval(() => leases.sweep(clock.now()), LEASE_SWEEP_MS);
  const bootTick = setInterval(() => boot.tracker.tick(), BOOT_TICK_MS);
  stack.push('timers', () => {
    clearInterval(sweep);
    clearInterval(bootTick);
  });

  events.append({ type: 'system', message: `rackboot ${version} started on ${config.interface} (${serverAddress}, ${config.mode} mode)` });
  return {
    serverAddress,
    counters,
    readyFields: () => ({
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
    }),
    stop: async (reason) => {
      events.append({ type: 'system', message: `rackboot stopping (${reason})` });
      return stack.closeAll(log);
    },
  };
}

/** The configured power channels, or NO_POWER when the config has none. */
async function openNodePower(
  config: RackbootConfig,
  stores: Stores,
  boot: BootTracking,
  log: Logger,
  inFlightTransfers: () => number,
  liveness: LivenessProbes,
): Promise<PowerControl> {
  if (Object.keys(config.power.channels).length === 0) return NO_POWER;
  try {
    return await openPower(config, {
      inventory: stores.inventory,
      tracker: boot.tracker,
      events: stores.events,
      log: log.child({ component: 'power' }),
      inFlightTransfers,
      liveness,
    });
  } catch (error) {
    throw new StartupError(`cannot start node power: ${(error as Error).message}`);
  }
}

async function checkBootRoot(root: string): Promise<string | undefined> {
  try {
    const info = await stat(root);
    return info.isDirectory() ? undefined : `boot root ${root} is not a directory`;
  } catch {
    return `boot root ${root} does not exist (set boot.root, or --root DIR)`;
  }
}
