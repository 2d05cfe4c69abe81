// Loading the one configuration file: YAML text -> node tree (with line numbers)
// -> sections read by the walker in schema.ts -> checks across sections ->
// normalised RackbootConfig. Every problem found on the way is collected and
// thrown together as one ConfigError, so a single `rackboot check-config`
// run lists everything to fix.

import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, parseDocument, type Node as YamlNode } from 'yaml';
import { intToIp, ipToInt, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import { DEFAULTS, builtinProfiles } from './defaults.js';
import { readPowerSection, type PowerConfig } from '../power/config.js';
import { ConfigError, didYouMean, sortProblems, type ConfigProblem } from './errors.js';
import {
  DEFAULT_MENU_TIMEOUT,
  DocumentReader,
  KEYS,
  LOG_FORMATS,
  LOG_LEVELS,
  MAX_LEASE_SECONDS,
  MODES,
  MapView,
  PROFILE_KINDS,
  UNKNOWN_NODE_POLICIES,
  baudSpec,
  bootPathSpec,
  chainUrlSpec,
  devicePathSpec,
  directorySpec,
  domainSpec,
  durationSpec,
  enumSpec,
  hostnameSpec,
  interfaceSpec,
  ipv4Spec,
  labelSpec,
  lineSpec,
  macSpec,
  portSpec,
  integerSpec,
  rateMbitSpec,
  type HttpConfig,
  profileNameSpec,
  rangeSpec,
  subnetSpec,
  type ProfileConfig,
  type RackbootConfig,
  type ValueSpec,
} from './schema.js';

export interface ConfigOverrides {
  /** --interface: replaces the file's `interface` (which may then be left out). */
  interface?: string;
  /** --root: replaces `boot.root`; relative to the current directory, like any command-line path. */
  root?: string;
}

export type CheckResult = { ok: true; config: RackbootConfig } | { ok: false; error: ConfigError };

/** Where the file names come from when a problem is with a command-line override rather than the file. */
const COMMAND_LINE = '<command line>';

/** Reads and checks the configuration file at `path`. Throws ConfigError listing every problem. */
export async function loadConfigFile(path: string, overrides: ConfigOverrides = {}): Promise<RackbootConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ file, keyPath: '(file)', found: describeReadError(error), expected: 'a readable YAML configuration file' }]);
  }
  return parseConfigText(text, file, overrides);
}

/** For `rackboot check-config`: the configuration, or the error listing every problem. */
export async function checkConfigFile(path: string, overrides: ConfigOverrides = {}): Promise<CheckResult> {
  try {
    return { ok: true, config: await loadConfigFile(path, overrides) };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw error;
  }
}

/**
 * Checks configuration text as if read from `source` (a file path, or a label
 * such as '<web>'). Relative paths in the text resolve against the directory of
 * `source` when it is an absolute path, else against the current directory.
 * Synchronous: no I/O. Throws ConfigError listing every problem.
 */
export function parseConfigText(text: string, source: string, overrides: ConfigOverrides = {}): RackbootConfig {
  const lineCounter = new LineCounter();
  // uniqueKeys off: the walker reports duplicate keys itself, with the key path and both lines.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const r = new DocumentReader(source, text, doc, lineCounter);

  if (doc.errors.length > 0) {
    // After a syntax error the tree is the parser's best guess; value problems found in it would mislead.
    throw new ConfigError(syntaxProblems(source, text, lineCounter, doc.errors));
  }
  r.problems.push(...syntaxProblems(source, text, lineCounter, doc.warnings));

  const draft = readDocument(r, r.deref(doc.contents), overrides);
  if (draft) checkAcross(r, draft);
  const overrideProblems = checkOverrides(overrides);
  const problems = sortProblems([...r.problems, ...overrideProblems]);
  if (problems.length > 0 || !draft) {
    throw new ConfigError(problems.length > 0 ? problems : [{ file: source, keyPath: '(top level)', found: 'nothing usable', expected: 'a configuration' }]);
  }
  return finish(draft, source, overrides);
}

// ---------------------------------------------------------------------------
// Reading the sections. A draft holds what was read; a field is undefined when
// its value was wrong (already reported), so later checks skip it instead of
// piling a second problem onto the first.

interface PoolDraft {
  keyPath: string;
  subnet?: { subnet: Ipv4; prefix: number };
  range?: { start: Ipv4; end: Ipv4 };
  router?: Ipv4;
  leaseTime?: number;
  /** Every written field of this pool was valid. */
  ok: boolean;
}

interface HostDraft {
  keyPath: string;
  mac?: Mac;
  ip?: Ipv4;
  hostname?: string;
  profile?: string;
  powerChannel?: string;
  ok: boolean;
}

interface Draft {
  interface?: string;
  serverAddress?: Ipv4;
  mode?: (typeof MODES)[number];
  leaseTime?: number;
  stateDir?: string;
  pools: PoolDraft[];
  /** How `pools` was written: the mode checks need to tell "left out" from "wrong". */
  poolsWritten: 'absent' | 'empty' | 'listed' | 'invalid';
  options: { router?: Ipv4; dns: Ipv4[]; domain?: string; ntp: Ipv4[] };
  hosts: HostDraft[];
  boot: {
    root?: string;
    defaultProfile?: string;
    defaultProfileWritten: boolean;
    profiles: Record<string, ProfileConfig>;
    /** Every profile name written, valid or not, so a reference to a broken profile is not also "undefined". */
    profileNames: string[];
    menuRefs: { keyPath: string; profile: string; menu: string }[];
  };
  http?: Partial<HttpConfig>;
  dhcp?: { maxOffers?: number; unknownSharePercent?: number };
  tftp?: { port?: number; maxTransfers?: number; maxTransfersPerClient?: number; maxRateMbit?: number; transferRateMbit?: number };
  inventory?: { unknownNodes?: (typeof UNKNOWN_NODE_POLICIES)[number]; bootTimeout?: number; openTimeout?: number; stallTimeout?: number };
  console?: { device?: string; baud?: number; idleTimeout?: number };
  power?: PowerConfig;
  log: { level?: (typeof LOG_LEVELS)[number]; format?: (typeof LOG_FORMATS)[number] };
}

const POOL_EXPECTED = 'a pool like {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199}';
const HOST_EXPECTED = 'a host like {mac: 52:54:00:00:00:01, ip: 10.0.0.11, hostname: node01}';

function readDocument(r: DocumentReader, root: YamlNode | undefined, overrides: ConfigOverrides): Draft | undefined {
  // An empty file reads as an empty mapping, so each required key is reported as missing.
  if (!r.isEmpty(root) && !isMap(root)) {
    r.wrong('(top level)', root!, 'a mapping of settings like "interface: eth0"');
    return undefined;
  }
  const top = r.map(root, '', '') ?? emptyMap(r, '');
  top.rejectUnknown(KEYS.top);

  const draft: Draft = {
    interface: overrides.interface
      ? top.get('interface', interfaceSpec)
      : top.need('interface', interfaceSpec, `${interfaceSpec.expected}, or --interface on the command line`),
    serverAddress: top.get('server_address', ipv4Spec),
    mode: top.getOr('mode', enumSpec(MODES), DEFAULTS.mode),
    leaseTime: top.getOr('lease_time', durationSpec(MAX_LEASE_SECONDS), DEFAULTS.leaseTime),
    stateDir: top.getOr('state_dir', directorySpec, DEFAULTS.stateDir),
    pools: [],
    poolsWritten: !top.has('pools') ? 'absent' : top.node('pools') === undefined ? 'empty' : 'listed',
    options: { dns: [], ntp: [] },
    hosts: [],
    boot: { defaultProfileWritten: false, profiles: {}, profileNames: [], menuRefs: [] },
    log: {},
  };

  const pools = r.list(top.node('pools'), 'pools', `a list of pools, each ${POOL_EXPECTED.replace(/^a /, '')}`);
  if (pools === undefined) draft.poolsWritten = 'invalid';
  else if (pools.length === 0 && draft.poolsWritten === 'listed') draft.poolsWritten = 'empty';
  for (const item of pools ?? []) draft.pools.push(readPool(r, item.node, item.keyPath));

  const options = section(r, top, 'options');
  options.rejectUnknown(KEYS.options);
  draft.options = {
    router: options.get('router', ipv4Spec),
    dns: readAddressList(r, options, 'dns'),
    domain: options.get('domain', domainSpec),
    ntp: readAddressList(r, options, 'ntp'),
  };

  const hosts = r.list(top.node('hosts'), 'hosts', `a list of hosts, each ${HOST_EXPECTED.replace(/^a /, '')}`);
  for (const item of hosts ?? []) draft.hosts.push(readHost(r, item.node, item.keyPath));

  readBoot(r, section(r, top, 'boot'), draft, overrides);

  const dhcp = section(r, top, 'dhcp');
  dhcp.rejectUnknown(KEYS.dhcp);
  draft.dhcp = {
    maxOffers: dhcp.getOr('max_offers', integerSpec(16, 1_000_000, 'a whole number of offers from 16 to 1000000'), DEFAULTS.dhcpMaxOffers),
    unknownSharePercent: dhcp.getOr('unknown_share_percent', integerSpec(0, 100, 'a whole percentage from 0 to 100'), DEFAULTS.dhcpUnknownSharePercent),
  };

  const http = section(r, top, 'http');
  http.rejectUnknown(KEYS.http);
  const httpDraft: Partial<HttpConfig> = { port: http.getOr('port', portSpec, DEFAULTS.httpPort) };
  draft.http = httpDraft;
  // Limits only when written: http/server.ts owns the defaults.
  const httpLimits = {
    maxConnections: http.get('max_connections', integerSpec(1, 65_536, 'a whole number of connections from 1 to 65536')),
    maxConnectionsPerAddress: http.get('max_connections_per_address', integerSpec(1, 65_536, 'a whole number of connections from 1 to 65536')),
    headerTimeout: http.get('header_timeout', durationSpec(600)),
    memoryCacheMb: http.get('memory_cache_mb', integerSpec(0, 65_536, 'MiB from 0 (stream every file) to 65536')),
  };
  for (const [key, value] of Object.entries(httpLimits)) if (value !== undefined) Object.assign(httpDraft, { [key]: value });
  const tftp = section(r, top, 'tftp');
  tftp.rejectUnknown(KEYS.tftp);
  draft.tftp = {
    port: tftp.getOr('port', portSpec, DEFAULTS.tftpPort),
    maxTransfers: tftp.getOr('max_transfers', integerSpec(1, 4096, 'a whole number of transfers from 1 to 4096'), DEFAULTS.tftpMaxTransfers),
    maxTransfersPerClient: tftp.getOr('max_transfers_per_client', integerSpec(1, 8192, 'a whole number of transfers from 1 to 8192'), undefined),
    maxRateMbit: tftp.getOr('max_rate_mbit', rateMbitSpec, DEFAULTS.tftpMaxRateMbit),
    transferRateMbit: tftp.getOr('transfer_rate_mbit', rateMbitSpec, DEFAULTS.tftpTransferRateMbit),
  };

  const inventory = section(r, top, 'inventory');
  inventory.rejectUnknown(KEYS.inventory);
  draft.inventory = {
    unknownNodes: inventory.getOr('unknown_nodes', enumSpec(UNKNOWN_NODE_POLICIES), DEFAULTS.unknownNodes),
    bootTimeout: inventory.getOr('boot_timeout', durationSpec(24 * 3600), DEFAULTS.bootTimeoutSeconds),
    openTimeout: inventory.getOr('open_timeout', durationSpec(3600), DEFAULTS.openTimeoutSeconds),
    stallTimeout: inventory.getOr('stall_timeout', durationSpec(3600), DEFAULTS.stallTimeoutSeconds),
  };

  draft.power = readPowerSection(r, top.node('power'));
  for (const host of draft.hosts) {
    if (host.powerChannel !== undefined && !Object.hasOwn(draft.power.channels, host.powerChannel)) {
      const names = Object.keys(draft.power.channels);
      r.report(
        `${host.keyPath}.power_channel`,
        undefined,
        JSON.stringify(host.powerChannel),
        names.length > 0 ? `one of the channels in power.channels: ${names.join(', ')}` : 'a channel defined in power.channels (there are none)',
        didYouMean(host.powerChannel, names),
      );
    }
  }

  // No console section: no console. One without a device is reported, since a speed alone opens nothing.
  if (top.has('console')) {
    const consoleSection = section(r, top, 'console');
    consoleSection.rejectUnknown(KEYS.console);
    draft.console = {
      device: consoleSection.need('device', devicePathSpec),
      baud: consoleSection.getOr('baud', baudSpec, DEFAULTS.consoleBaud),
      idleTimeout: consoleSection.getOr('idle_timeout', durationSpec(24 * 3600), DEFAULTS.consoleIdleTimeoutSeconds),
    };
  }

  const log = section(r, top, 'log');
  log.rejectUnknown(KEYS.log);
  draft.log = { level: log.getOr('level', enumSpec(LOG_LEVELS), DEFAULTS.logLevel), format: log.getOr('format', enumSpec(LOG_FORMATS), DEFAULTS.logFormat) };
  return draft;
}

/** A mapping section; absent, empty or wrong (reported) all read as an empty mapping so defaults apply. */
function section(r: DocumentReader, top: MapView, key: string): MapView {
  const keys = (KEYS as Record<string, readonly string[] | object>)[key];
  const sample = Array.isArray(keys) ? ` with keys ${keys.join(', ')}` : '';
  return r.map(top.node(key), key, `a mapping${sample}`) ?? emptyMap(r, key);
}

function emptyMap(r: DocumentReader, keyPath: string): MapView {
  return new MapView(r, { items: [] } as unknown as ConstructorParameters<typeof MapView>[1], keyPath);
}

/** A mapping that must be present as a list item; an empty item (`- `) is reported. */
function itemMap(r: DocumentReader, node: YamlNode | undefined, keyPath: string, expected: string): MapView | undefined {
  if (r.isEmpty(node)) {
    r.report(keyPath, node, node === undefined ? 'missing' : 'an empty value', expected);
    return undefined;
  }
  return r.map(node, keyPath, expected);
}

/** `dns`/`ntp`: a list of addresses, or one address. */
function readAddressList(r: DocumentReader, view: MapView, key: string): Ipv4[] {
  const keyPath = view.path(key);
  const items = r.list(view.node(key), keyPath, 'a list of IPv4 addresses like [10.0.0.1], or one address', true) ?? [];
  return items.map((item) => r.item(item.node, item.keyPath, ipv4Spec)).filter((ip): ip is Ipv4 => ip !== undefined);
}

function readList<T>(r: DocumentReader, view: MapView, key: string, spec: ValueSpec<T>, expected: string): T[] | undefined {
  const keyPath = view.path(key);
  const items = r.list(view.node(key), keyPath, expected, true);
  if (items === undefined) return undefined;
  const values = items.map((item) => r.item(item.node, item.keyPath, spec));
  return values.every((v) => v !== undefined) ? (values as T[]) : undefined;
}

/** The integer bounds of a subnet. */
function bounds(subnet: { subnet: Ipv4; prefix: number }): { network: number; broadcast: number; text: string } {
  const network = (ipToInt(subnet.subnet) & prefixToMask(subnet.prefix)) >>> 0;
  return { network, broadcast: network + 2 ** (32 - subnet.prefix) - 1, text: `${subnet.subnet}/${subnet.prefix}` };
}

function inSubnet(subnet: { subnet: Ipv4; prefix: number }, ip: Ipv4): boolean {
  const { network, broadcast } = bounds(subnet);
  const value = ipToInt(ip);
  return value >= network && value <= broadcast;
}

function readPool(r: DocumentReader, node: YamlNode | undefined, keyPath: string): PoolDraft {
  const before = r.problems.length;
  const draft: PoolDraft = { keyPath, ok: false };
  const view = itemMap(r, node, keyPath, POOL_EXPECTED);
  if (!view) return draft;
  view.rejectUnknown(KEYS.pool);
  draft.subnet = view.need('subnet', subnetSpec);
  draft.range = view.need('range', rangeSpec(`${keyPath}.subnet`));
  draft.router = view.get('router', ipv4Spec);
  draft.leaseTime = view.get('lease_time', durationSpec(MAX_LEASE_SECONDS));

  const { subnet, range, router } = draft;
  if (subnet && range) {
    const { network, broadcast, text } = bounds(subnet);
    const start = ipToInt(range.start);
    const end = ipToInt(range.end);
    const usable = `${intToIp(network + 1)}-${intToIp(broadcast - 1)}`;
    const rangeNode = view.node('range')!;
    if (start > end) {
      r.wrong(view.path('range'), rangeNode, `an IPv4 range from low to high, like ${range.end}-${range.start}`);
    } else if (start < network || end > broadcast) {
      r.wrong(view.path('range'), rangeNode, `an IPv4 range inside ${keyPath}.subnet ${text} (${usable})`);
    } else if (start === network || end === broadcast) {
      r.wrong(
        view.path('range'),
        rangeNode,
        `an IPv4 range without ${keyPath}.subnet's network address ${intToIp(network)} and broadcast address ${intToIp(broadcast)} (${usable} at most)`,
      );
      draft.range = undefined;
    }
    if (start > end || start < network || end > broadcast) draft.range = undefined;
  }
  if (subnet && router) checkRouter(r, view.path('router'), router, { ...draft, subnet });
  draft.ok = r.problems.length === before;
  return draft;
}

/** A router must be on the pool's link and must not be lent out as a dynamic address. */
function checkRouter(r: DocumentReader, keyPath: string, router: Ipv4, pool: PoolDraft & { subnet: { subnet: Ipv4; prefix: number } }): void {
  const { network, broadcast, text } = bounds(pool.subnet);
  const value = ipToInt(router);
  if (value <= network || value >= broadcast) {
    r.report(
      keyPath,
      undefined,
      JSON.stringify(router),
      `a host address inside ${pool.keyPath}.subnet ${text}${keyPath.startsWith('options') ? `, or a router set on ${pool.keyPath}` : ''}`,
    );
  } else if (pool.range && value >= ipToInt(pool.range.start) && value <= ipToInt(pool.range.end)) {
    r.report(
      keyPath,
      undefined,
      JSON.stringify(router),
      `an address outside ${pool.keyPath}.range ${pool.range.start}-${pool.range.end}, or the router's address would be leased to a client`,
    );
  }
}

function readHost(r: DocumentReader, node: YamlNode | undefined, keyPath: string): HostDraft {
  const before = r.problems.length;
  const draft: HostDraft = { keyPath, ok: false };
  const view = itemMap(r, node, keyPath, HOST_EXPECTED);
  if (!view) return draft;
  view.rejectUnknown(KEYS.host);
  draft.mac = view.need('mac', macSpec);
  draft.ip = view.get('ip', ipv4Spec);
  draft.hostname = view.get('hostname', hostnameSpec);
  draft.profile = view.get('profile', profileNameSpec);
  draft.powerChannel = view.get('power_channel', profileNameSpec);
  draft.ok = r.problems.length === before;
  return draft;
}

function readBoot(r: DocumentReader, boot: MapView, draft: Draft, overrides: ConfigOverrides): void {
  boot.rejectUnknown(KEYS.boot);
  const rootExpected = `${directorySpec.expected} holding the kernels, initrds and iPXE binaries (relative to this file's directory), or --root on the command line`;
  draft.boot.root = overrides.root ? boot.get('root', directorySpec) : boot.need('root', directorySpec, rootExpected);
  draft.boot.defaultProfileWritten = boot.node('default_profile') !== undefined;
  draft.boot.defaultProfile = boot.getOr('default_profile', profileNameSpec, DEFAULTS.defaultProfile);

  // Absent (or written empty): the built-in 'default' Linux profile.
  const profilesNode = boot.node('profiles');
  if (profilesNode === undefined) {
    draft.boot.profiles = builtinProfiles();
    draft.boot.profileNames = Object.keys(draft.boot.profiles);
    return;
  }
  const profiles = r.map(profilesNode, 'boot.profiles', 'a mapping of profile names to profiles, like {default: {kind: linux, kernel: vmlinuz}}');
  if (!profiles) return;
  for (const name of profiles.keys()) {
    draft.boot.profileNames.push(name);
    const keyPath = profiles.path(name);
    const nameOk = profileNameSpec.read(r, profiles.keyNode(name)!, keyPath) !== undefined;
    const profile = readProfile(r, profiles.node(name), keyPath, name, draft.boot.menuRefs);
    if (nameOk && profile) draft.boot.profiles[name] = profile;
  }
}

function readProfile(
  r: DocumentReader,
  node: YamlNode | undefined,
  keyPath: string,
  name: string,
  menuRefs: Draft['boot']['menuRefs'],
): ProfileConfig | undefined {
  const before = r.problems.length;
  const view = itemMap(r, node, keyPath, `a profile with a kind (${PROFILE_KINDS.join(', ')}), like {kind: linux, kernel: vmlinuz}`);
  if (!view) return undefined;
  const kind = view.need('kind', enumSpec(PROFILE_KINDS));
  // Which keys belong depends on the kind; without a valid kind, reporting keys would only guess.
  if (!kind) return undefined;
  view.rejectUnknown(KEYS.profile[kind], ` (the keys of a ${kind} profile)`);
  let profile: ProfileConfig | undefined;
  switch (kind) {
    case 'linux': {
      const kernel = view.need('kernel', bootPathSpec);
      const initrds = readList(r, view, 'initrds', bootPathSpec, 'a list of paths relative to boot.root like [initrd.img], or one path');
      const cmdline = view.getOr('cmdline', lineSpec, '');
      if (kernel !== undefined && initrds !== undefined && cmdline !== undefined) profile = { kind, kernel, initrds, cmdline };
      break;
    }
    case 'chain': {
      const url = view.need('url', chainUrlSpec);
      if (url !== undefined) profile = { kind, url };
      break;
    }
    case 'local':
      profile = { kind };
      break;
    case 'menu': {
      const itemsExpected = 'a list of menu items like [{profile: default, label: "Linux"}]';
      const itemsNode = view.node('items');
      if (itemsNode === undefined) view.need('items', { expected: itemsExpected, read: () => undefined });
      const list = itemsNode === undefined ? undefined : r.list(itemsNode, view.path('items'), itemsExpected);
      if (list && list.length === 0) r.report(view.path('items'), itemsNode, r.render(itemsNode), `${itemsExpected}, with at least one item`);
      const items: { profile: string; label: string }[] = [];
      for (const item of list ?? []) {
        const itemView = itemMap(r, item.node, item.keyPath, 'a menu item like {profile: default, label: "Linux"}');
        if (!itemView) continue;
        itemView.rejectUnknown(KEYS.menuItem);
        const target = itemView.need('profile', profileNameSpec);
        const label = itemView.need('label', labelSpec);
        if (target !== undefined) menuRefs.push({ keyPath: itemView.path('profile'), profile: target, menu: name });
        if (target !== undefined && label !== undefined) items.push({ profile: target, label });
      }
      const timeout = view.getOr('timeout', durationSpec(), DEFAULT_MENU_TIMEOUT);
      if (timeout !== undefined) profile = { kind, items, timeout };
      break;
    }
  }
  return r.problems.length === before ? profile : undefined;
}

// ---------------------------------------------------------------------------
// Checks across sections

function checkAcross(r: DocumentReader, draft: Draft): void {
  checkMode(r, draft);
  checkPoolOverlaps(r, draft.pools);
  checkOptionsRouter(r, draft);
  checkHosts(r, draft);
  checkProfileReferences(r, draft);
}

function checkMode(r: DocumentReader, draft: Draft): void {
  const count = draft.pools.length;
  if (draft.mode === 'proxy' && count > 0) {
    r.report('pools', undefined, `${count} pool(s)`, 'no pools: proxy mode does not hand out addresses; remove pools or set mode: dhcp');
  }
  if (draft.mode === 'dhcp' && (draft.poolsWritten === 'absent' || draft.poolsWritten === 'empty')) {
    r.report(
      'pools',
      undefined,
      draft.poolsWritten === 'absent' ? 'missing' : 'no pools',
      'at least one pool like {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199}, because mode dhcp hands out addresses (or mode: proxy beside an existing DHCP server)',
    );
  }
}

function checkPoolOverlaps(r: DocumentReader, pools: PoolDraft[]): void {
  // One problem per pool, against the first earlier pool it clashes with: enough to act on, without a cascade.
  for (let j = 0; j < pools.length; j++) {
    const later = pools[j]!;
    const earlier = pools.slice(0, j);
    // Two pools may share one subnet (several ranges on a link), but a subnet nested in another
    // would make "which subnet is this client on" ambiguous.
    const nested = earlier.find((pool) => pool.subnet && later.subnet && subnetsConflict(pool.subnet, later.subnet));
    if (nested) {
      const text = bounds(later.subnet!).text;
      r.report(
        `${later.keyPath}.subnet`,
        undefined,
        JSON.stringify(text),
        `a subnet equal to or apart from ${nested.keyPath}.subnet ${bounds(nested.subnet!).text}`,
      );
      continue;
    }
    const range = later.range;
    if (!range) continue;
    const overlapping = earlier.find(
      (pool) => pool.range && ipToInt(pool.range.start) <= ipToInt(range.end) && ipToInt(range.start) <= ipToInt(pool.range.end),
    );
    if (overlapping) {
      r.report(
        `${later.keyPath}.range`,
        undefined,
        JSON.stringify(`${range.start}-${range.end}`),
        `a range that does not overlap ${overlapping.keyPath}.range ${overlapping.range!.start}-${overlapping.range!.end}`,
      );
    }
  }
}

function subnetsConflict(a: { subnet: Ipv4; prefix: number }, b: { subnet: Ipv4; prefix: number }): boolean {
  const x = bounds(a);
  const y = bounds(b);
  const same = x.network === y.network && x.broadcast === y.broadcast;
  return !same && x.network <= y.broadcast && y.network <= x.broadcast;
}

/** The global router serves every pool that has no router of its own, so it must be on each such pool's link. */
function checkOptionsRouter(r: DocumentReader, draft: Draft): void {
  const router = draft.options.router;
  if (!router || draft.mode !== 'dhcp') return;
  for (const pool of draft.pools) {
    if (!pool.subnet || pool.router !== undefined) continue;
    const before = r.problems.length;
    checkRouter(r, 'options.router', router, { ...pool, subnet: pool.subnet });
    if (r.problems.length > before) return; // one problem names the first pool it fails for; enough to act on
  }
}

function checkHosts(r: DocumentReader, draft: Draft): void {
  const byMac = new Map<Mac, string>();
  const byIp = new Map<Ipv4, string>();
  const byName = new Map<string, string>();
  const poolSubnets = draft.pools.map((pool) => pool.subnet);
  const allSubnetsKnown = poolSubnets.every((s) => s !== undefined);
  const subnetList = [...new Set(poolSubnets.map((s) => (s ? `${s.subnet}/${s.prefix}` : '')))].join(', ');
  const routers = new Map<Ipv4, string>();
  if (draft.options.router) routers.set(draft.options.router, 'options.router');
  for (const pool of draft.pools) if (pool.router) routers.set(pool.router, `${pool.keyPath}.router`);

  for (const host of draft.hosts) {
    if (host.mac) {
      const first = byMac.get(host.mac);
      if (first) r.report(`${host.keyPath}.mac`, undefined, JSON.stringify(host.mac), `a MAC address no other host has (${first}.mac is the same address)`);
      else byMac.set(host.mac, host.keyPath);
    }
    if (host.hostname) {
      const key = host.hostname.toLowerCase(); // DNS names compare case-insensitively
      const first = byName.get(key);
      if (first)
        r.report(`${host.keyPath}.hostname`, undefined, JSON.stringify(host.hostname), `a host name no other host has (${first}.hostname is the same name)`);
      else byName.set(key, host.keyPath);
    }
    if (!host.ip) continue;
    const ipPath = `${host.keyPath}.ip`;
    const found = JSON.stringify(host.ip);
    const first = byIp.get(host.ip);
    if (first) {
      r.report(ipPath, undefined, found, `an address no other host has (${first}.ip is the same address)`);
      continue;
    }
    byIp.set(host.ip, host.keyPath);
    if (draft.serverAddress === host.ip) {
      r.report(ipPath, undefined, found, "an address other than server_address, which is rackboot's own");
      continue;
    }
    const router = routers.get(host.ip);
    if (router) {
      r.report(ipPath, undefined, found, `an address other than the router's (${router})`);
      continue;
    }
    // In dhcp mode a static address is only handed out on a link rackboot has a pool (subnet, netmask, router) for.
    if (draft.mode === 'dhcp' && allSubnetsKnown && draft.pools.length > 0) {
      const subnet = poolSubnets.find((s) => s && inSubnet(s, host.ip!));
      if (!subnet) {
        r.report(ipPath, undefined, found, `an address inside one of the pool subnets (${subnetList}), because mode is dhcp`);
      } else {
        const { network, broadcast, text } = bounds(subnet);
        const value = ipToInt(host.ip);
        if (value === network || value === broadcast) {
          r.report(ipPath, undefined, found, `a host address of ${text}, not its network or broadcast address`);
        }
      }
    }
  }
}

function checkProfileReferences(r: DocumentReader, draft: Draft): void {
  const names = draft.boot.profileNames;
  const defined = names.length > 0 ? `one of the profiles in boot.profiles: ${names.join(', ')}` : 'a profile defined in boot.profiles (there are none)';
  const check = (keyPath: string, name: string, found = JSON.stringify(name)) => {
    if (!names.includes(name)) r.report(keyPath, undefined, found, defined, didYouMean(name, names));
  };
  if (draft.boot.defaultProfile !== undefined) {
    const written = draft.boot.defaultProfileWritten;
    check(
      'boot.default_profile',
      draft.boot.defaultProfile,
      written ? undefined : `${JSON.stringify(draft.boot.defaultProfile)} (the default when boot.default_profile is not set)`,
    );
  }
  for (const host of draft.hosts) if (host.profile) check(`${host.keyPath}.profile`, host.profile);
  for (const ref of draft.boot.menuRefs) {
    if (ref.profile === ref.menu) r.report(ref.keyPath, undefined, JSON.stringify(ref.profile), `a profile other than the menu itself (${ref.menu})`);
    else check(ref.keyPath, ref.profile);
  }
}

function checkOverrides(overrides: ConfigOverrides): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (overrides.interface !== undefined && !/^[^\s/:]{1,15}$/.test(overrides.interface)) {
    problems.push({ file: COMMAND_LINE, keyPath: '--interface', found: JSON.stringify(overrides.interface), expected: interfaceSpec.expected });
  }
  if (overrides.root !== undefined && overrides.root.trim() === '') {
    problems.push({ file: COMMAND_LINE, keyPath: '--root', found: JSON.stringify(overrides.root), expected: directorySpec.expected });
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Normalising a problem-free draft

function finish(draft: Draft, source: string, overrides: ConfigOverrides): RackbootConfig {
  // Paths in the file are relative to the file, so a configuration can be moved with its boot tree.
  const base = isAbsolute(source) ? dirname(source) : process.cwd();
  const config: RackbootConfig = {
    source,
    interface: overrides.interface ?? draft.interface!,
    mode: draft.mode!,
    leaseTime: draft.leaseTime!,
    stateDir: resolve(base, draft.stateDir!),
    pools: draft.pools.map((pool) => ({
      subnet: pool.subnet!.subnet,
      prefix: pool.subnet!.prefix,
      start: pool.range!.start,
      end: pool.range!.end,
      ...(pool.router !== undefined && { router: pool.router }),
      ...(pool.leaseTime !== undefined && { leaseTime: pool.leaseTime }),
    })),
    options: {
      ...(draft.options.router !== undefined && { router: draft.options.router }),
      dns: draft.options.dns,
      ...(draft.options.domain !== undefined && { domain: draft.options.domain }),
      ntp: draft.options.ntp,
    },
    hosts: draft.hosts.map((host) => ({
      mac: host.mac!,
      ...(host.ip !== undefined && { ip: host.ip }),
      ...(host.hostname !== undefined && { hostname: host.hostname }),
      ...(host.profile !== undefined && { profile: host.profile }),
      ...(host.powerChannel !== undefined && { powerChannel: host.powerChannel }),
    })),
    boot: {
      root: overrides.root !== undefined ? resolve(overrides.root) : resolve(base, draft.boot.root!),
      defaultProfile: draft.boot.defaultProfile!,
      profiles: draft.boot.profiles,
    },
    http: { ...draft.http!, port: draft.http!.port! },
    dhcp: { maxOffers: draft.dhcp!.maxOffers!, unknownSharePercent: draft.dhcp!.unknownSharePercent! },
    tftp: {
      port: draft.tftp!.port!,
      maxTransfers: draft.tftp!.maxTransfers!,
      ...(draft.tftp!.maxTransfersPerClient === undefined ? {} : { maxTransfersPerClient: draft.tftp!.maxTransfersPerClient }),
      maxRateMbit: draft.tftp!.maxRateMbit!,
      transferRateMbit: draft.tftp!.transferRateMbit!,
    },
    inventory: {
      unknownNodes: draft.inventory!.unknownNodes!,
      bootTimeoutMs: draft.inventory!.bootTimeout! * 1000,
      openTimeoutMs: draft.inventory!.openTimeout! * 1000,
      stallTimeoutMs: draft.inventory!.stallTimeout! * 1000,
    },
    power: draft.power!,
    ...(draft.console && { console: { device: draft.console.device!, baud: draft.console.baud!, idleTimeoutMs: draft.console.idleTimeout! * 1000 } }),
    log: { level: draft.log.level!, format: draft.log.format! },
  };
  if (draft.serverAddress !== undefined) config.serverAddress = draft.serverAddress;
  return config;
}

// ---------------------------------------------------------------------------
// Problems that are not about a key

function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return `a file rackboot may not read (${code})`;
    case 'EISDIR':
      return 'a directory';
    default:
      return `a file that could not be read (${code ?? (error as Error)?.message ?? String(error)})`;
  }
}

/** YAML syntax errors and warnings as problems: the offending line's text as found, the parser's complaint as expected. */
function syntaxProblems(
  file: string,
  text: string,
  lineCounter: LineCounter,
  errors: readonly { code: string; message: string; pos: [number, number] }[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seenLines = new Set<number>();
  const lines = text.split(/\r?\n/);
  for (const error of errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const lineNumber = Math.max(line, 1);
    // One slip often trips several parser errors on the same line; the first says it best.
    if (seenLines.has(lineNumber)) continue;
    seenLines.add(lineNumber);
    const source = (lines[lineNumber - 1] ?? '').trim();
    const found =
      source === ''
        ? error.pos[0] >= text.length
          ? 'the end of the file'
          : 'an empty line'
        : JSON.stringify(source.length > 60 ? `${source.slice(0, 59)}…` : source);
    const expected =
      error.code === 'MULTIPLE_DOCS'
        ? 'a single YAML document (remove the "---" separator; one file holds one configuration)'
        : `valid YAML (${error.message.replace(/\s+at line \d+, column \d+.*$/s, '')})`;
    problems.push({ file, keyPath: '(yaml syntax)', found, expected, line: lineNumber, column: Math.max(col, 1) });
  }
  return problems;
}
