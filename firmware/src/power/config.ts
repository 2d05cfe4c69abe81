// The `power:` section of the configuration: which driver switches each power
// channel, how (pin, polarity, wiring, commands, QEMU argv), what the relays do
// when rackboot starts and stops, and how the sequencer paces power-on and
// recovery. Read with the config walker (DocumentReader) so every problem names
// its key path and line, like the rest of the file.
//
//   power:
//     driver: gpio              # default driver for channels that do not name one
//     safe_state: off           # keep | off, or {start: keep, exit: off}
//     channels:
//       node01: {pin: 17, active_low: true}
//       node02: {pin: 27, mode: pulse, press_ms: 300, sense_pin: 22}
//       bmc03:  {driver: command, on: [ipmitool, -H, bmc03, power, on], state: [ipmitool, -H, bmc03, power, status]}
//       vm1:    {driver: qemu, argv: [qemu-system-x86_64, -nographic, ...], log: /var/log/rackboot/vm1.log}
//     sequencer:
//       stagger: 2s
//       adaptive: true
//       max_transfers: 8
//       max_early_boot: 4
//       recovery: {enabled: true, max_attempts: 3, backoff: 30s, max_backoff: 10m}

import { isScalar, type Node as YamlNode, type Scalar } from 'yaml';
import { type DocumentReader, enumSpec, integerSpec, type MapView, textSpec, type ValueSpec } from '../config/schema.js';

// ---------------------------------------------------------------------------
// Normalised form

export const POWER_DRIVERS = ['gpio', 'command', 'qemu'] as const;
export type PowerDriverKind = (typeof POWER_DRIVERS)[number];
export const SAFE_STATES = ['keep', 'off'] as const;
export type SafeState = (typeof SAFE_STATES)[number];
export const GPIO_MODES = ['hold', 'pulse'] as const;
export type GpioMode = (typeof GPIO_MODES)[number];
export const STATE_SOURCES = ['words', 'exit_code'] as const;
export type StateSource = (typeof STATE_SOURCES)[number];

export interface GpioChannelConfig {
  name: string;
  driver: 'gpio';
  /** BCM number, as printed on Raspberry Pi pinouts (GPIO17), not the header pin. */
  pin: number;
  /** The relay board switches on a low level (most opto-isolated boards). */
  activeLow: boolean;
  /** hold: the relay is in the supply (energised = on). pulse: the relay presses the node's power button. */
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
  name: string;
  driver: 'command';
  /** argv per action; `{channel}` in any argument is replaced by the channel name. No shell is involved. */
  on: string[];
  off: string[];
  /** Absent: a cycle is off, a pause of offMs, on. */
  cycle?: string[];
  /** Absent: the state cannot be read. */
  state?: string[];
  /** words: stdout says "on" or "off"; exit_code: 0 means on, 1 means off. */
  stateFrom: StateSource;
  timeoutMs: number;
  offMs: number;
}

export interface QemuChannelConfig {
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

export type PowerChannelConfig = GpioChannelConfig | CommandChannelConfig | QemuChannelConfig;

export interface RecoveryConfig {
  enabled: boolean;
  /** Power-cycles per node before recovery gives up on it (until it boots or someone acts). */
  maxAttempts: number;
  /** Wait before the first attempt; doubled for each further attempt, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
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

export interface PowerConfig {
  safeState: { start: SafeState; exit: SafeState };
  channels: Record<string, PowerChannelConfig>;
  sequencer: SequencerConfig;
}

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
  recoveryEnabled: true,
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

export const POWER_KEYS = {
  power: ['driver', 'safe_state', 'press_ms', 'long_press_ms', 'off_ms', 'timeout', 'channels', 'sequencer'],
  safeState: ['start', 'exit'],
  channel: {
    gpio: ['driver', 'pin', 'active_low', 'mode', 'press_ms', 'long_press_ms', 'off_ms', 'sense_pin', 'sense_active_low'],
    command: ['driver', 'on', 'off', 'cycle', 'state', 'state_from', 'timeout', 'off_ms'],
    qemu: ['driver', 'argv', 'log', 'stop_timeout', 'off_ms'],
  },
  sequencer: ['stagger', 'batch_size', 'adaptive', 'max_transfers', 'max_early_boot', 'poll', 'recovery'],
  recovery: ['enabled', 'max_attempts', 'backoff', 'max_backoff'],
} as const;

// ---------------------------------------------------------------------------
// Value specs

/** BCM numbers on every Raspberry Pi stay below 64 (the RP1 on a Pi 5 has 54 user GPIOs). */
export const MAX_BCM_PIN = 63;
const pinSpec = integerSpec(0, MAX_BCM_PIN, `a BCM GPIO number from 0 to ${MAX_BCM_PIN} (GPIO17 is 17, not header pin 11)`);
const msSpec = (min: number, max: number) => integerSpec(min, max, `a whole number of milliseconds from ${min} to ${max}`);
const countSpec = (min: number, max: number, what: string) => integerSpec(min, max, `a whole number of ${what} from ${min} to ${max}`);

export const booleanSpec: ValueSpec<boolean> = {
  expected: 'true or false',
  read(r, node, keyPath) {
    const value = isScalar(node) ? (node as Scalar).value : undefined;
    if (typeof value === 'boolean') return value;
    return r.wrong(keyPath, node, 'true or false');
  },
};

const MS_UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
const MS_DURATION_EXPECTED = 'a duration: seconds as a number, or a string with units like 500ms, 2s, 1m30s';

/** Parses "500ms", "2s", "1m30s", or a number of seconds (1.5 allowed) into milliseconds; undefined when not one. */
export function parseMsDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (!match || text === '') return undefined;
  const [, d, h, m, s, ms] = match;
  return Number(d ?? 0) * MS_UNITS.d + Number(h ?? 0) * MS_UNITS.h + Number(m ?? 0) * MS_UNITS.m + Number(s ?? 0) * MS_UNITS.s + Number(ms ?? 0);
}

/** A duration in milliseconds between min and max (both in ms). */
export function msDurationSpec(minMs: number, maxMs: number): ValueSpec<number> {
  const expected = `${MS_DURATION_EXPECTED}, from ${formatMs(minMs)} to ${formatMs(maxMs)}`;
  return {
    expected,
    read(r, node, keyPath) {
      const ms = parseMsDuration(isScalar(node) ? (node as Scalar).value : undefined);
      if (ms === undefined || ms < minMs || ms > maxMs) return r.wrong(keyPath, node, expected);
      return ms;
    },
  };
}

function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export const channelNameSpec: ValueSpec<string> = textSpec('a channel name of letters, digits, ".", "_" and "-" (at most 63 characters)', (text) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text),
);

const ARGV_EXPECTED = 'a command as a list of arguments like [ipmitool, -H, "{channel}", power, on] (no shell)';
const argumentSpec = textSpec<string>('a single-line argument', (text) => text.length > 0);
const logPathSpec = textSpec('an absolute file path like /var/log/rackboot/vm1.log', (text) => /^\/[^\u0000-\u001f]*$/.test(text) && !text.endsWith('/'));

function readArgv(r: DocumentReader, view: MapView, key: string, required: boolean): string[] | undefined {
  const node = view.node(key);
  if (node === undefined) {
    if (required) view.need(key, argumentSpec, ARGV_EXPECTED);
    return undefined;
  }
  const items = r.list(node, view.path(key), ARGV_EXPECTED);
  if (items === undefined) return undefined;
  if (items.length === 0) {
    r.report(view.path(key), node, 'an empty list', ARGV_EXPECTED);
    return undefined;
  }
  const argv: string[] = [];
  for (const item of items) {
    const arg = r.item(item.node, item.keyPath, argumentSpec);
    if (arg === undefined) return undefined;
    argv.push(arg);
  }
  return argv;
}

// ---------------------------------------------------------------------------
// The reader

interface ChannelDefaults {
  driver: PowerDriverKind;
  pressMs: number;
  longPressMs: number;
  offMs: number;
  timeoutMs: number;
}

/**
 * Reads the `power:` section (`node` is its value; undefined when absent).
 * Problems go to `r.problems`; wrong values fall back to defaults so the rest
 * of the section is still checked. Channels with a wrong required value are left out.
 */
export function readPowerSection(r: DocumentReader, node: YamlNode | undefined, keyPath = 'power'): PowerConfig {
  const section = r.map(node, keyPath, `a mapping with keys ${POWER_KEYS.power.join(', ')}`);
  if (!section) return structuredClone(DEFAULT_POWER_CONFIG);
  section.rejectUnknown(POWER_KEYS.power);

  const defaults: ChannelDefaults = {
    driver: section.getOr('driver', enumSpec(POWER_DRIVERS), POWER_DEFAULTS.driver) ?? POWER_DEFAULTS.driver,
    pressMs: section.getOr('press_ms', msSpec(50, 10_000), POWER_DEFAULTS.pressMs) ?? POWER_DEFAULTS.pressMs,
    longPressMs: section.getOr('long_press_ms', msSpec(1000, 30_000), POWER_DEFAULTS.longPressMs) ?? POWER_DEFAULTS.longPressMs,
    offMs: section.getOr('off_ms', msSpec(0, 120_000), POWER_DEFAULTS.offMs) ?? POWER_DEFAULTS.offMs,
    timeoutMs: section.getOr('timeout', msDurationSpec(100, 600_000), POWER_DEFAULTS.commandTimeoutMs) ?? POWER_DEFAULTS.commandTimeoutMs,
  };

  const channels: Record<string, PowerChannelConfig> = {};
  const channelsPath = section.path('channels');
  const channelsView = r.map(section.node('channels'), channelsPath, 'a mapping of channel name to channel settings, like node01: {pin: 17}');
  const pinOwners = new Map<number, string>();
  for (const name of channelsView?.keys() ?? []) {
    const path = channelsView!.path(name);
    if (channelNameSpec.read(r, channelsView!.keyNode(name)!, path) === undefined) continue;
    const channel = readChannel(r, channelsView!.node(name), path, name, defaults);
    if (!channel) continue;
    if (channel.driver === 'gpio') {
      let clash = false;
      for (const [pin, what] of [[channel.pin, 'pin'], ...(channel.sensePin !== undefined ? [[channel.sensePin, 'sense_pin'] as const] : [])] as const) {
        const owner = pinOwners.get(pin);
        if (owner !== undefined) {
          r.report(`${path}.${what}`, undefined, String(pin), `a pin no other channel uses (${owner} uses GPIO${pin})`);
          clash = true;
        } else {
          pinOwners.set(pin, `${name}.${what}`);
        }
      }
      if (clash) continue;
    }
    channels[name] = channel;
  }

  return {
    safeState: readSafeState(r, section),
    channels,
    sequencer: readSequencer(r, section),
  };
}

function readSafeState(r: DocumentReader, section: MapView): PowerConfig['safeState'] {
  const node = section.node('safe_state');
  const fallback = { start: POWER_DEFAULTS.safeState, exit: POWER_DEFAULTS.safeState };
  if (node === undefined) return fallback;
  if (isScalar(node)) {
    const value = enumSpec(SAFE_STATES).read(r, node, section.path('safe_state'));
    return value === undefined ? fallback : { start: value, exit: value };
  }
  const view = r.map(node, section.path('safe_state'), 'keep, off, or a mapping like {start: keep, exit: off}');
  if (!view) return fallback;
  view.rejectUnknown(POWER_KEYS.safeState);
  return {
    start: view.getOr('start', enumSpec(SAFE_STATES), fallback.start) ?? fallback.start,
    exit: view.getOr('exit', enumSpec(SAFE_STATES), fallback.exit) ?? fallback.exit,
  };
}

function readChannel(r: DocumentReader, node: YamlNode | undefined, keyPath: string, name: string, defaults: ChannelDefaults): PowerChannelConfig | undefined {
  if (node === undefined) {
    r.report(keyPath, undefined, 'an empty value', 'channel settings like {pin: 17} or {driver: qemu, argv: [...]}');
    return undefined;
  }
  const view = r.map(node, keyPath, 'channel settings like {pin: 17} or {driver: qemu, argv: [...]}');
  if (!view) return undefined;
  const driver = view.getOr('driver', enumSpec(POWER_DRIVERS), defaults.driver);
  if (driver === undefined) return undefined;
  view.rejectUnknown(POWER_KEYS.channel[driver], ` (for driver ${driver})`);
  const offMs = view.getOr('off_ms', msSpec(0, 120_000), defaults.offMs);

  if (driver === 'gpio') {
    const pin = view.need('pin', pinSpec);
    const activeLow = view.getOr('active_low', booleanSpec, false);
    const mode = view.getOr('mode', enumSpec(GPIO_MODES), 'hold');
    const pressMs = view.getOr('press_ms', msSpec(50, 10_000), defaults.pressMs);
    const longPressMs = view.getOr('long_press_ms', msSpec(1000, 30_000), defaults.longPressMs);
    const sensePin = view.get('sense_pin', pinSpec);
    const senseActiveLow = view.getOr('sense_active_low', booleanSpec, false);
    if (sensePin !== undefined && sensePin === pin) {
      r.report(view.path('sense_pin'), view.node('sense_pin'), String(sensePin), "a pin other than the channel's own relay pin");
      return undefined;
    }
    if (
      pin === undefined ||
      activeLow === undefined ||
      mode === undefined ||
      pressMs === undefined ||
      longPressMs === undefined ||
      offMs === undefined ||
      senseActiveLow === undefined
    )
      return undefined;
    if (view.has('sense_pin') && sensePin === undefined) return undefined;
    return { name, driver, pin, activeLow, mode, pressMs, longPressMs, offMs, ...(sensePin !== undefined && { sensePin }), senseActiveLow };
  }

  if (driver === 'command') {
    const on = readArgv(r, view, 'on', true);
    const off = readArgv(r, view, 'off', true);
    const cycle = readArgv(r, view, 'cycle', false);
    const state = readArgv(r, view, 'state', false);
    const stateFrom = view.getOr('state_from', enumSpec(STATE_SOURCES), 'words');
    const timeoutMs = view.getOr('timeout', msDurationSpec(100, 600_000), defaults.timeoutMs);
    if (!on || !off || stateFrom === undefined || timeoutMs === undefined || offMs === undefined) return undefined;
    if ((view.has('cycle') && !cycle) || (view.has('state') && !state)) return undefined;
    return { name, driver, on, off, ...(cycle && { cycle }), ...(state && { state }), stateFrom, timeoutMs, offMs };
  }

  const argv = readArgv(r, view, 'argv', true);
  const logFile = view.get('log', logPathSpec);
  const stopTimeoutMs = view.getOr('stop_timeout', msDurationSpec(100, 120_000), POWER_DEFAULTS.qemuStopTimeoutMs);
  if (!argv || stopTimeoutMs === undefined || offMs === undefined || (view.has('log') && logFile === undefined)) return undefined;
  return { name, driver, argv, ...(logFile !== undefined && { logFile }), stopTimeoutMs, offMs };
}

function readSequencer(r: DocumentReader, section: MapView): SequencerConfig {
  const d = DEFAULT_POWER_CONFIG.sequencer;
  const view = r.map(section.node('sequencer'), section.path('sequencer'), `a mapping with keys ${POWER_KEYS.sequencer.join(', ')}`);
  if (!view) return structuredClone(d);
  view.rejectUnknown(POWER_KEYS.sequencer);
  // Read in file order of the usual layout (scalars first, then recovery), so problems come out in that order.
  const sequencer = {
    staggerMs: view.getOr('stagger', msDurationSpec(0, 3_600_000), d.staggerMs) ?? d.staggerMs,
    batchSize: view.getOr('batch_size', countSpec(1, 1000, 'nodes'), d.batchSize) ?? d.batchSize,
    adaptive: view.getOr('adaptive', booleanSpec, d.adaptive) ?? d.adaptive,
    maxTransfers: view.getOr('max_transfers', countSpec(1, 100_000, 'transfers'), d.maxTransfers) ?? d.maxTransfers,
    maxEarlyBoot: view.getOr('max_early_boot', countSpec(1, 1000, 'nodes'), d.maxEarlyBoot) ?? d.maxEarlyBoot,
    pollMs: view.getOr('poll', msDurationSpec(50, 60_000), d.pollMs) ?? d.pollMs,
  };
  const recoveryView = r.map(view.node('recovery'), view.path('recovery'), `a mapping with keys ${POWER_KEYS.recovery.join(', ')}`);
  recoveryView?.rejectUnknown(POWER_KEYS.recovery);
  const rd = d.recovery;
  const recovery: RecoveryConfig = {
    enabled: recoveryView?.getOr('enabled', booleanSpec, rd.enabled) ?? rd.enabled,
    maxAttempts: recoveryView?.getOr('max_attempts', countSpec(1, 100, 'attempts'), rd.maxAttempts) ?? rd.maxAttempts,
    backoffMs: recoveryView?.getOr('backoff', msDurationSpec(0, 24 * 3_600_000), rd.backoffMs) ?? rd.backoffMs,
    maxBackoffMs: recoveryView?.getOr('max_backoff', msDurationSpec(0, 24 * 3_600_000), rd.maxBackoffMs) ?? rd.maxBackoffMs,
  };
  if (recovery.maxBackoffMs < recovery.backoffMs) {
    r.report(
      view.path('recovery') + '.max_backoff',
      recoveryView?.node('max_backoff'),
      formatMs(recovery.maxBackoffMs),
      `a duration no shorter than recovery.backoff (${formatMs(recovery.backoffMs)})`,
    );
  }
  return { ...sequencer, recovery };
}
