// The configuration's shape: the normalised types the rest of rackboot codes
// against, and a small walker over the YAML node tree that reads the file into
// them. The walker reads nodes rather than plain JS values because every problem
// must point at a line, and it keeps going after a bad value so that one run
// reports everything wrong with a file. Checks that relate sections to each
// other (overlaps, references, mode) live in load.ts.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode, type Scalar } from 'yaml';
import { intToIp, ipToInt, isIpv4, isMac, normalizeMac, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import { DURATION_EXPECTED, DurationError, parseDuration } from './duration.js';
import { didYouMean, type ConfigProblem } from './errors.js';
import type { PowerConfig } from '../power/config.js';

// ---------------------------------------------------------------------------
// Normalised form (what loadConfigFile returns)

export type ProfileConfig =
  | { kind: 'linux'; kernel: string; initrds: string[]; cmdline: string }
  | { kind: 'chain'; url: string }
  | { kind: 'local' }
  | { kind: 'menu'; items: { profile: string; label: string }[]; timeout: number /* seconds */ };
export interface PoolConfig {
  subnet: Ipv4;
  prefix: number;
  start: Ipv4;
  end: Ipv4;
  router?: Ipv4;
  leaseTime?: number;
}
export interface HostConfig {
  mac: Mac;
  ip?: Ipv4;
  hostname?: string;
  profile?: string;
  powerChannel?: string;
}
export interface RackbootConfig {
  source: string; // absolute file path, or '<defaults for IF>'
  interface: string;
  serverAddress?: Ipv4;
  mode: 'dhcp' | 'proxy';
  leaseTime: number; // seconds
  dhcp: DhcpLimitsConfig;
  stateDir: string; // absolute
  pools: PoolConfig[];
  options: { router?: Ipv4; dns: Ipv4[]; domain?: string; ntp: Ipv4[] };
  hosts: HostConfig[];
  boot: { root: string /* absolute */; defaultProfile: string; profiles: Record<string, ProfileConfig> };
  http: HttpConfig;
  tftp: TftpConfig;
  inventory: InventoryConfig;
  /** Node power: channels (relays, commands, lab VMs) and the power-on sequencer; no channels when the file has no power section. */
  power: PowerConfig;
  /** The serial management console; absent when no device is configured. */
  console?: ConsoleConfig;
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'auto' | 'json' | 'text' };
}

export const MODES = ['dhcp', 'proxy'] as const;

/**
 * Limits that keep a flood of forged clients (random MACs) from taking the
 * pool or the memory. Known clients (config hosts, inventory nodes that were
 * not merely discovered) are never refused by them.
 */
export interface DhcpLimitsConfig {
  /** Unconfirmed offers kept at once; beyond it the oldest offer is forgotten. */
  maxOffers: number;
  /** Share of each pool (percent) that unknown clients may hold, offered or bound. */
  unknownSharePercent: number;
}
/**
 * TFTP under load: transfers beyond max_transfers wait (never refused); all
 * TFTP data is paced below max_rate_mbit so DHCP and ARP replies never queue
 * behind it, and one transfer never takes more than transfer_rate_mbit.
 */
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
}

export interface TftpConfig {
  port: number;
  maxTransfers: number;
  /** Transfers and waiting requests per client address; absent: half of maxTransfers. */
  maxTransfersPerClient?: number;
  maxRateMbit: number;
  transferRateMbit: number;
}

/** Unknown MACs that ask to boot: `boot` the default profile, or `hold` them (no boot file) until approved. */
export const UNKNOWN_NODE_POLICIES = ['boot', 'hold'] as const;

/** The node inventory and the boot tracker's limits (durations in milliseconds). */
export interface InventoryConfig {
  unknownNodes: (typeof UNKNOWN_NODE_POLICIES)[number];
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

export const PROFILE_KINDS = ['linux', 'chain', 'local', 'menu'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;

/** The keys each mapping of the file accepts, as written (snake_case). */
export const KEYS = {
  top: [
    'interface',
    'server_address',
    'mode',
    'lease_time',
    'dhcp',
    'state_dir',
    'pools',
    'options',
    'hosts',
    'boot',
    'http',
    'tftp',
    'inventory',
    'power',
    'console',
    'log',
  ],
  pool: ['subnet', 'range', 'router', 'lease_time'],
  dhcp: ['max_offers', 'unknown_share_percent'],
  options: ['router', 'dns', 'domain', 'ntp'],
  host: ['mac', 'ip', 'hostname', 'profile', 'power_channel'],
  boot: ['root', 'default_profile', 'profiles'],
  profile: {
    linux: ['kind', 'kernel', 'initrds', 'cmdline'],
    chain: ['kind', 'url'],
    local: ['kind'],
    menu: ['kind', 'items', 'timeout'],
  },
  menuItem: ['profile', 'label'],
  http: ['port', 'max_connections', 'max_connections_per_address', 'header_timeout', 'memory_cache_mb'],
  tftp: ['port', 'max_transfers', 'max_transfers_per_client', 'max_rate_mbit', 'transfer_rate_mbit'],
  inventory: ['unknown_nodes', 'boot_timeout', 'open_timeout', 'stall_timeout'],
  console: ['device', 'baud', 'idle_timeout'],
  log: ['level', 'format'],
} as const;

/** A DHCP lease time is a 32-bit count of seconds, and 0xffffffff means "infinite" (RFC 2132 9.2). */
export const MAX_LEASE_SECONDS = 0xfffffffe;
/** Menu timeouts default to this when a menu profile does not say. */
export const DEFAULT_MENU_TIMEOUT = 10;

// ---------------------------------------------------------------------------
// The walker

/** Reads one kind of value from a present, non-empty node; reports and returns undefined when it is wrong. */
export interface ValueSpec<T> {
  /** Plain words for "expected ...", also used when the key is missing. */
  expected: string;
  read(r: DocumentReader, node: YamlNode, keyPath: string): T | undefined;
}

/** Joins a key onto a key path, bracketing keys that would not read as one identifier. */
export function childPath(parent: string, key: string): string {
  const segment = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  if (parent === '') return /^[A-Za-z0-9_-]+$/.test(key) ? key : `[${segment}]`;
  return /^[A-Za-z0-9_-]+$/.test(key) ? `${parent}.${key}` : `${parent}[${segment}]`;
}

export class DocumentReader {
  readonly problems: ConfigProblem[] = [];
  /** Line of every key and list item seen, so checks after the walk can still point into the file. */
  private readonly lines = new Map<string, number>();

  constructor(
    readonly file: string,
    private readonly text: string,
    private readonly doc: Document | undefined,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Follows an alias (*name) to its anchored node; everything else is returned as is. */
  deref(node: unknown): YamlNode | undefined {
    if (node === null || node === undefined) return undefined;
    if (isAlias(node) && this.doc) return (node.resolve(this.doc) as YamlNode | undefined) ?? undefined;
    return node as YamlNode;
  }

  lineOf(node: unknown): number | undefined {
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (!range) return undefined;
    const line = this.lineCounter.linePos(range[0]).line;
    return line > 0 ? line : 1;
  }

  remember(keyPath: string, node: unknown): void {
    const line = this.lineOf(node);
    if (line !== undefined && !this.lines.has(keyPath)) this.lines.set(keyPath, line);
  }

  /** The line remembered for `keyPath`, or for its nearest ancestor. */
  lineAt(keyPath: string): number | undefined {
    let path = keyPath;
    for (;;) {
      const line = this.lines.get(path);
      if (line !== undefined) return line;
      const parent = path.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, '');
      if (parent === path || parent === '') return undefined;
      path = parent;
    }
  }

  report(keyPath: string, at: YamlNode | number | undefined, found: string, expected: string, suggestion?: string): void {
    const line = typeof at === 'number' ? at : at !== undefined ? this.lineOf(at) : this.lineAt(keyPath);
    const problem: ConfigProblem = { file: this.file, keyPath, found, expected: suggestion ? `${expected}; did you mean "${suggestion}"?` : expected };
    if (line !== undefined) problem.line = line;
    if (suggestion !== undefined) problem.suggestion = suggestion;
    this.problems.push(problem);
  }

  /** Reports `node` as not what `spec` expects, rendering it as written. */
  wrong(keyPath: string, node: YamlNode, expected: string, suggestion?: string): undefined {
    this.report(keyPath, node, this.render(node), expected, suggestion);
    return undefined;
  }

  /** The text of a scalar as a string. Plain numbers and booleans count as their source text, so `hostname: 0042` stays "0042". */
  scalarText(node: YamlNode | undefined): string | undefined {
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'string') return node.value;
    if (node.value === null) return undefined;
    if (node.type === 'PLAIN' && node.range) return this.text.slice(node.range[0], node.range[1]);
    return String(node.value);
  }

  isEmpty(node: YamlNode | undefined): boolean {
    return node === undefined || (isScalar(node) && node.value === null);
  }

  /** The value as written, JSON-ish: strings quoted, numbers as in the file, collections abbreviated. */
  render(node: YamlNode | undefined): string {
    const target = this.deref(node);
    if (target === undefined) return 'missing';
    if (isScalar(target)) {
      if (target.value === null) return 'an empty value';
      if (typeof target.value === 'string') return JSON.stringify(target.value);
      return this.scalarText(target) ?? String(target.value);
    }
    let json: string;
    try {
      json = JSON.stringify(target.toJS(this.doc ?? (undefined as never))) ?? String(target);
    } catch {
      json = isMap(target) ? 'a mapping' : isSeq(target) ? 'a list' : 'a value';
    }
    return json.length > 70 ? `${json.slice(0, 69)}…` : json;
  }

  /** Opens a mapping, or reports that `node` is not one. */
  map(node: YamlNode | undefined, keyPath: string, expected: string): MapView | undefined {
    const target = this.deref(node);
    if (!isMap(target)) {
      if (target !== undefined) this.wrong(keyPath, target, expected);
      return undefined;
    }
    return new MapView(this, target, keyPath);
  }

  /**
   * Items of a list with their key paths. With `single`, one scalar stands for a
   * one-item list (`dns: 10.0.0.1`), and keeps the list's own key path.
   */
  list(node: YamlNode | undefined, keyPath: string, expected: string, single = false): { node: YamlNode | undefined; keyPath: string }[] | undefined {
    const target = this.deref(node);
    if (target === undefined || this.isEmpty(target)) return [];
    if (isSeq(target)) {
      return target.items.map((item, index) => {
        const path = `${keyPath}[${index}]`;
        this.remember(path, item);
        return { node: this.deref(item), keyPath: path };
      });
    }
    if (single && isScalar(target)) return [{ node: target, keyPath }];
    this.wrong(keyPath, target, expected);
    return undefined;
  }

  /** Reads a list item (or any value that must be present) with `spec`. */
  item<T>(node: YamlNode | undefined, keyPath: string, spec: ValueSpec<T>): T | undefined {
    const target = this.deref(node);
    if (target === undefined || this.isEmpty(target)) {
      this.report(keyPath, target, target === undefined ? 'missing' : 'an empty value', spec.expected);
      return undefined;
    }
    return spec.read(this, target, keyPath);
  }
}

/** One YAML mapping being read: its keys with their lines, duplicates and unknown keys reported. */
export class MapView {
  private readonly entries = new Map<string, { key: YamlNode; value: YamlNode | undefined }>();
  readonly line: number | undefined;

  constructor(
    private readonly r: DocumentReader,
    node: YamlNode & { items: { key: unknown; value: unknown }[] },
    readonly keyPath: string,
  ) {
    this.line = r.lineOf(node);
    for (const pair of node.items) {
      const keyNode = r.deref(pair.key);
      const key = r.scalarText(keyNode);
      if (keyNode === undefined || key === undefined) {
        r.report(keyPath || '(top level)', keyNode ?? this.line, keyNode ? r.render(keyNode) : 'an empty key', 'keys that are plain words like "interface"');
        continue;
      }
      const path = childPath(keyPath, key);
      const earlier = this.entries.get(key);
      if (earlier) {
        // The yaml parser is told not to reject duplicates itself, so the problem can name the key and both lines.
        r.report(path, keyNode, 'a second value for this key', `each key once per mapping (first set on line ${r.lineOf(earlier.key) ?? '?'})`);
        continue;
      }
      r.remember(path, keyNode);
      this.entries.set(key, { key: keyNode, value: r.deref(pair.value) });
    }
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  path(key: string): string {
    return childPath(this.keyPath, key);
  }

  /** The value node of `key`; undefined when absent or written empty (`key:` or `key: ~`). */
  node(key: string): YamlNode | undefined {
    const value = this.entries.get(key)?.value;
    return this.r.isEmpty(value) ? undefined : value;
  }

  keyNode(key: string): YamlNode | undefined {
    return this.entries.get(key)?.key;
  }

  /** Reports keys outside `allowed`, with the closest allowed key as a suggestion. */
  rejectUnknown(allowed: readonly string[], what = ''): void {
    for (const [key, entry] of this.entries) {
      if (allowed.includes(key)) continue;
      const suggestion = didYouMean(key, allowed);
      this.r.report(this.path(key), entry.key, 'unknown key', `one of: ${allowed.join(', ')}${what}`, suggestion);
    }
  }

  /** An optional value: undefined when absent, empty or wrong (wrong values are reported). */
  get<T>(key: string, spec: ValueSpec<T>): T | undefined {
    const node = this.node(key);
    return node === undefined ? undefined : spec.read(this.r, node, this.path(key));
  }

  /** An optional value with a default: `fallback` when absent or empty, undefined only when wrong. */
  getOr<T>(key: string, spec: ValueSpec<T>, fallback: T): T | undefined {
    const node = this.node(key);
    return node === undefined ? fallback : spec.read(this.r, node, this.path(key));
  }

  /** A required value: absent or empty is reported (at the mapping's line, or the key's when written empty). */
  need<T>(key: string, spec: ValueSpec<T>, missingExpected = spec.expected): T | undefined {
    const node = this.node(key);
    if (node === undefined) {
      const written = this.entries.get(key);
      this.r.report(this.path(key), written ? written.key : this.line, written ? 'an empty value' : 'missing', missingExpected);
      return undefined;
    }
    return spec.read(this.r, node, this.path(key));
  }
}

// ---------------------------------------------------------------------------
// Value specs

/** A single-line string accepted by `test`, converted by `convert`. */
export function textSpec<T = string>(
  expected: string,
  test: (text: string) => boolean = () => true,
  convert: (text: string) => T = (text) => text as unknown as T,
): ValueSpec<T> {
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      // Control characters would end up in iPXE scripts and DHCP options; a newline there is an injection.
      if (text === undefined || /[\u0000-\u001f\u007f]/.test(text) || !test(text)) return r.wrong(keyPath, node, expected);
      return convert(text);
    },
  };
}

export function enumSpec<const V extends string>(values: readonly V[]): ValueSpec<V> {
  const expected = `one of: ${values.join(', ')}`;
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      if (text !== undefined && (values as readonly string[]).includes(text)) return text as V;
      return r.wrong(keyPath, node, expected, text === undefined ? undefined : didYouMean(text, values));
    },
  };
}

export function integerSpec(min: number, max: number, expected: string): ValueSpec<number> {
  return numberSpec(min, max, expected, { whole: true });
}

export const portSpec = integerSpec(1, 65535, 'a port number from 1 to 65535');

/** A number from `min` to `max`; fractions allowed unless `whole`. */
export function numberSpec(min: number, max: number, expected: string, { whole = false } = {}): ValueSpec<number> {
  return {
    expected,
    read(r, node, keyPath) {
      const value = isScalar(node) ? (node as Scalar).value : undefined;
      const wrongKind = typeof value !== 'number' || !Number.isFinite(value) || (whole && !Number.isInteger(value));
      if (wrongKind || value < min || value > max) return r.wrong(keyPath, node, expected);
      return value;
    },
  };
}

/** TFTP pacing rates: fractions, so a slow or shared uplink (0.25 = 250 kbit/s) can be paced too. */
export const rateMbitSpec = numberSpec(0.05, 100_000, 'a rate in Mbit/s from 0.05 to 100000 (0.25 is 250 kbit/s)');

/** A positive duration in whole seconds, at most `max`. */
export function durationSpec(max = Number.MAX_SAFE_INTEGER): ValueSpec<number> {
  const expected = `a positive ${DURATION_EXPECTED.replace(/^a /, '')}`;
  return {
    expected,
    read(r, node, keyPath) {
      const raw = isScalar(node) ? (node as Scalar).value : undefined;
      if (typeof raw !== 'number' && typeof raw !== 'string') return r.wrong(keyPath, node, expected);
      let seconds: number;
      try {
        seconds = parseDuration(raw);
      } catch (error) {
        if (error instanceof DurationError) return r.wrong(keyPath, node, expected);
        throw error;
      }
      if (seconds <= 0) return r.wrong(keyPath, node, expected);
      if (seconds > max) return r.wrong(keyPath, node, `${expected}, at most ${max} seconds`);
      return seconds;
    },
  };
}

const IPV4_EXPECTED = 'a unicast IPv4 address like 10.0.0.1';

/** A host's or server's address: 0.0.0.0, broadcast and multicast never make sense there. */
export const ipv4Spec: ValueSpec<Ipv4> = textSpec(IPV4_EXPECTED, (text) => isIpv4(text) && isUnicast(text));

function isUnicast(ip: Ipv4): boolean {
  const value = ipToInt(ip);
  return value !== 0 && value !== 0xffffffff && value >>> 28 !== 0xe;
}

export const macSpec: ValueSpec<Mac> = textSpec('a MAC address like 52:54:00:12:34:56', isMac, normalizeMac);

/** Linux's dev_valid_name(): at most IFNAMSIZ-1 bytes, no '/', ':' or whitespace, not "." or "..". */
export const interfaceSpec: ValueSpec<string> = textSpec(
  'a network interface name like eth0 (1 to 15 characters, no spaces, "/" or ":")',
  (text) => /^[^\s/:]{1,15}$/.test(text) && text !== '.' && text !== '..',
);

/** RFC 1123 2.1 host name label: letters, digits and hyphens, 1-63, no hyphen at either end. */
export function isHostnameLabel(text: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(text);
}

export const hostnameSpec: ValueSpec<string> = textSpec(
  'a host name of letters, digits and hyphens (1 to 63 characters, not starting or ending with a hyphen; the domain goes in options.domain)',
  isHostnameLabel,
);

export const domainSpec: ValueSpec<string> = textSpec(
  'a domain name like cluster.local (dot-separated labels of letters, digits and hyphens)',
  (text) => {
    const name = text.endsWith('.') ? text.slice(0, -1) : text;
    return name.length > 0 && name.length <= 253 && name.split('.').every(isHostnameLabel);
  },
  (text) => (text.endsWith('.') ? text.slice(0, -1) : text),
);

export const profileNameSpec: ValueSpec<string> = textSpec('a profile name of letters, digits, ".", "_" and "-" (at most 63 characters)', (text) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text),
);

const SUBNET_EXPECTED = 'a subnet in network/prefix form like 10.0.0.0/24';

export const subnetSpec: ValueSpec<{ subnet: Ipv4; prefix: number }> = {
  expected: SUBNET_EXPECTED,
  read(r, node, keyPath) {
    const text = r.scalarText(node);
    const match = text === undefined ? null : /^\s*([\d.]+)\s*\/\s*(\d{1,2})\s*$/.exec(text);
    const prefix = match ? Number(match[2]) : NaN;
    if (!match || !isIpv4(match[1]!) || prefix > 32) return r.wrong(keyPath, node, SUBNET_EXPECTED);
    const mask = prefixToMask(prefix);
    const network = intToIp((ipToInt(match[1]!) & mask) >>> 0);
    if (network !== match[1]) {
      return r.wrong(keyPath, node, `a network address with the host bits zero, like ${network}/${prefix}`);
    }
    // /31 and /32 have no room for a DHCP client beside the network and broadcast addresses.
    if (prefix > 30) return r.wrong(keyPath, node, 'a subnet of prefix /30 or shorter (a pool needs addresses besides network and broadcast)');
    return { subnet: network, prefix };
  },
};

export function rangeSpec(subnetPath: string): ValueSpec<{ start: Ipv4; end: Ipv4 }> {
  const expected = `an IPv4 range like 10.0.0.100-10.0.0.199 inside ${subnetPath}`;
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      const match = text === undefined ? null : /^\s*([\d.]+)\s*-\s*([\d.]+)\s*$/.exec(text);
      if (!match || !isIpv4(match[1]!) || !isIpv4(match[2]!)) return r.wrong(keyPath, node, expected);
      return { start: match[1]!, end: match[2]! };
    },
  };
}

/** Kernel and initrd paths are served from boot.root, so they must stay inside it. */
export const bootPathSpec: ValueSpec<string> = textSpec(
  'a path relative to boot.root like vmlinuz or images/vmlinuz (no leading "/", no ".." segment, not a URL; use kind: chain for URLs)',
  (text) => text.trim() !== '' && !text.startsWith('/') && !text.includes('\\') && !text.includes('://') && !text.split('/').includes('..'),
);

export const chainUrlSpec: ValueSpec<string> = textSpec('an absolute http://, https:// or tftp:// URL like http://10.0.0.1/boot.ipxe', (text) => {
  try {
    const url = new URL(text);
    return ['http:', 'https:', 'tftp:'].includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
});

/** Any single line (cmdline may be empty). */
export const lineSpec: ValueSpec<string> = textSpec('a single line of text');
export const labelSpec: ValueSpec<string> = textSpec('a non-empty single line of text', (text) => text.trim() !== '');
/** The serial speeds a UART or USB adapter is realistically set to. */
export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;
export const baudSpec: ValueSpec<number> = {
  expected: `a serial speed: one of ${BAUD_RATES.join(', ')}`,
  read(r, node, keyPath) {
    const value = isScalar(node) ? (node as Scalar).value : undefined;
    if (typeof value === 'number' && (BAUD_RATES as readonly number[]).includes(value)) return value;
    r.wrong(keyPath, node, this.expected);
    return undefined;
  },
};
export const devicePathSpec: ValueSpec<string> = textSpec('an absolute device path like /dev/ttyAMA0 or /dev/ttyUSB0', (text) =>
  /^\/[^\u0000-\u001f]+$/.test(text),
);
export const directorySpec: ValueSpec<string> = textSpec('a directory path like /srv/rackboot', (text) => text.trim() !== '');
