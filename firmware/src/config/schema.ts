// The configuration's shape: the normalised types the rest of rackboot codes
// against, as loadConfigFile returns them. Types only: reading the file is
// document.ts, what each section accepts is under sections/.

import type { Ipv4, Mac } from '../net/addr.js';

export interface RackbootConfig {
  source: string; // absolute file path, or '<defaults for IF>'
  interface: string;
  serverAddress?: Ipv4;
  mode: Mode;
  leaseTime: number; // seconds
  dhcp: DhcpLimitsConfig;
  stateDir: string; // absolute
  pools: PoolConfig[];
  options: OptionsConfig;
  hosts: HostConfig[];
  boot: BootConfig;
  http: HttpConfig;
  tftp: TftpConfig;
  inventory: InventoryConfig;
  /** Node power: channels (relays, commands, lab VMs) and the power-on sequencer; no channels when the file has no power section. */
  power: PowerConfig;
  /** The serial management console; absent when no device is configured. */
  console?: ConsoleConfig;
  log: LogConfig;
}

/** Values given on the command line that replace the file's. */
export interface ConfigOverrides {
  /** --interface: replaces the file's `interface` (which may then be left out). */
  interface?: string;
  /** --root: replaces `boot.root`; relative to the current directory, like any command-line path. */
  root?: string;
}

/** dhcp: rackboot hands out addresses; proxy: another DHCP server does, rackboot only adds the boot offer. */
export type Mode = 'dhcp' | 'proxy';

export interface PoolConfig {
  subnet: Ipv4;
  prefix: number;
  start: Ipv4;
  end: Ipv4;
  router?: Ipv4;
  leaseTime?: number;
}

export interface OptionsConfig {
  router?: Ipv4;
  dns: Ipv4[];
  domain?: string;
  ntp: Ipv4[];
}

export interface HostConfig {
  mac: Mac;
  ip?: Ipv4;
  hostname?: string;
  profile?: string;
  powerChannel?: string;
  /** The boot loader this host gets, over its profile's and boot.loader. */
  loader?: BootLoader;
}

export interface BootConfig {
  root: string; // absolute
  defaultProfile: string;
  profiles: Record<string, ProfileConfig>;
  /** The boot loader of nodes whose host entry and profile name none (boot.loader). */
  loader: BootLoader;
}

/**
 * Which boot loader UEFI x64 PXE nodes are handed: Debian's iPXE (unsigned), or
 * shim + GRUB (signed: boots with Secure Boot on). See boot-policy/loader.ts.
 */
export type BootLoader = 'ipxe' | 'grub';

export type ProfileKind = ProfileConfig['kind'];
export type ProfileConfig =
  | { kind: 'linux'; kernel: string; initrds: string[]; cmdline: string; loader?: BootLoader }
  | { kind: 'chain'; url: string }
  | { kind: 'local'; loader?: BootLoader }
  | { kind: 'menu'; items: MenuItemConfig[]; timeout: number /* seconds */ };
export interface MenuItemConfig {
  profile: string;
  label: string;
}

/**
 * Limits that keep a flood of forged clients (random MACs) from taking the
 * pool or the memory. Known clients (config hosts, inventory nodes that were
 * not merely discovered) are never refused by them.
 */
export interface DhcpLimitsConfig {
  /** Unconfirmed offers kept at once; beyond it the oldest offer is forgotten. */
  maxOffers: number;
  /** Share of each pool (percent) that unknown clients may hold: offered, bound, or quarantined on their DECLINE. */
  unknownSharePercent: number;
  /**
   * DHCP relays whose packets (giaddr set) are served; a packet with giaddr from any
   * other IP source is dropped. Trusted by IP source address, which can be forged.
   */
  relays: Ipv4[];
}

/** The HTTP server; the optional limits are set only when the file gives them (http/server.ts has the defaults). */
export interface HttpConfig {
  port: number;
  /** Connections served at once; past it 503, past it + 64 dropped. */
  maxConnections?: number;
  /** Connections one client address may hold; past it dropped (slowloris from one host). */
  maxConnectionsPerAddress?: number;
  /** Seconds a client has to send its request head. */
  headerTimeout?: number;
  /** Memory for boot files kept in memory, MiB; 0 streams every file. */
  memoryCacheMb?: number;
  /** The management plane (web UI, API, event stream) over HTTPS; absent: MANAGEMENT_DEFAULTS. */
  management?: ManagementConfig;
}

/** Where the web UI, the API and the event stream are served over HTTPS, and with which certificate. */
export interface ManagementConfig {
  /** The port of addresses listed without one. */
  port: number;
  /** Addresses to serve on (with their ports); none and no interface: every address. */
  listen: { address: string; port: number }[];
  /** Also serve on every address of this interface (resolved at start). */
  interface?: string;
  /** The operator's certificate and key (PEM files); absent: a self-signed pair made at first start in the state directory. */
  cert?: string;
  key?: string;
  /** Also serve the UI and API on the plain-HTTP port, as before HTTPS existed (warned at start). */
  plainHttp: boolean;
}

/**
 * TFTP under load: transfers beyond maxTransfers wait (never refused); all
 * TFTP data is paced below maxRateMbit so DHCP and ARP replies never queue
 * behind it, and one transfer never takes more than transferRateMbit.
 */
export interface TftpConfig {
  port: number;
  maxTransfers: number;
  /** Transfers and waiting requests per client address; absent: half of maxTransfers. */
  maxTransfersPerClient?: number;
  maxRateMbit: number;
  transferRateMbit: number;
}

/** Unknown MACs that ask to boot: `boot` the default profile, or `hold` them (no boot file) until approved. */
export type UnknownNodePolicy = 'boot' | 'hold';

/** The node inventory and the boot tracker's limits (durations in milliseconds). */
export interface InventoryConfig {
  unknownNodes: UnknownNodePolicy;
  /** A boot still not finished after this long is diagnosed took_too_long. */
  bootTimeoutMs: number;
  /** Acknowledged with a boot file, and no transfer started after this long: tftp_open_timeout (or arp_timeout). */
  openTimeoutMs: number;
  /** Nothing heard from a node in the middle of a boot for this long: the stage's stall diagnosis. */
  stallTimeoutMs: number;
}

export interface ConsoleConfig {
  /** The serial device, e.g. /dev/ttyAMA0 or /dev/ttyUSB0. */
  device: string;
  baud: number;
  /** A logged-in console session ends after this long without input. */
  idleTimeoutMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** auto: text on a terminal, JSON lines otherwise. */
export type LogFormat = 'auto' | 'json' | 'text';
export interface LogConfig {
  level: LogLevel;
  format: LogFormat;
}

// ---------------------------------------------------------------------------
// The power section

export type PowerDriverKind = 'gpio' | 'command' | 'qemu';
/** What the relays do when rackboot starts and when it exits: leave them, or switch them off. */
export type SafeState = 'keep' | 'off';
/** hold: the relay is in the supply (energised = on). pulse: the relay presses the node's power button. */
export type GpioMode = 'hold' | 'pulse';
/** words: stdout says "on" or "off"; exit_code: 0 means on, 1 means off. */
export type StateSource = 'words' | 'exit_code';

export interface PowerConfig {
  safeState: { start: SafeState; exit: SafeState };
  channels: Record<string, PowerChannelConfig>;
  sequencer: SequencerConfig;
}

export type PowerChannelConfig = GpioChannelConfig | CommandChannelConfig | QemuChannelConfig;

export interface GpioChannelConfig {
  /** Recovery for the nodes on this channel, overriding power.sequencer.recovery.enabled; absent: that decides. */
  recovery?: boolean;
  name: string;
  driver: 'gpio';
  /** BCM number, as printed on Raspberry Pi pinouts (GPIO17), not the header pin. */
  pin: number;
  /** The relay board switches on a low level (most opto-isolated boards). */
  activeLow: boolean;
  mode: GpioMode;
  /** Pulse mode: how long a press lasts. */
  pressMs: number;
  /** Pulse mode: how long the button is held to force the node off (ATX needs over 4 s). */
  longPressMs: number;
  /** Hold mode: how long a cycle keeps the supply off before switching it on again. */
  offMs: number;
  /** An input pin that reads the node's power (e.g. from a power LED header), so pulse mode can report state. */
  sensePin?: number;
  senseActiveLow: boolean;
}

export interface CommandChannelConfig {
  /** Recovery for the nodes on this channel, overriding power.sequencer.recovery.enabled; absent: that decides. */
  recovery?: boolean;
  name: string;
  driver: 'command';
  /** argv per action; `{channel}` in any argument is replaced by the channel name. No shell is involved. */
  on: string[];
  off: string[];
  /** Absent: a cycle is off, a pause of offMs, on. */
  cycle?: string[];
  /** Absent: the state cannot be read. */
  state?: string[];
  stateFrom: StateSource;
  timeoutMs: number;
  offMs: number;
}

export interface QemuChannelConfig {
  /** Recovery for the nodes on this channel, overriding power.sequencer.recovery.enabled; absent: that decides. */
  recovery?: boolean;
  name: string;
  driver: 'qemu';
  /** QEMU's argv (no shell); `{channel}` is replaced by the channel name. */
  argv: string[];
  /** Where the process's stdout and stderr go; absent: <state_dir>/power/<channel>.log chosen by the app. */
  logFile?: string;
  /** How long off waits after SIGTERM before SIGKILL. */
  stopTimeoutMs: number;
  offMs: number;
}

export interface SequencerConfig {
  /** Pause between batches of a power-on. */
  staggerMs: number;
  /** Nodes switched on per batch. */
  batchSize: number;
  /** Adaptive: a batch also waits until in-flight TFTP+HTTP transfers are below maxTransfers. */
  adaptive: boolean;
  maxTransfers: number;
  /** Never more than this many nodes between power_on and nbp_tftp at once. */
  maxEarlyBoot: number;
  /** How often a waiting power-on re-checks load and early-boot count. */
  pollMs: number;
  recovery: RecoveryConfig;
}

export interface RecoveryConfig {
  /** Off by default: recovery is opt-in, for the rack or per channel (a channel's `recovery`). */
  enabled: boolean;
  /** Power-cycles per node before recovery gives up on it, until an operator acts on the node. */
  maxAttempts: number;
  /** Wait before the first attempt; doubled for each further attempt, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
}
