// The `power:` section: which driver switches each power channel, how (pin,
// polarity, wiring, commands, QEMU argv), what the relays do when rackboot
// starts and stops, and how the sequencer paces power-on and recovery.
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
//       recovery: {enabled: false, max_attempts: 3, backoff: 30s, max_backoff: 10m}   # opt-in; a channel may say recovery: true|false

import { isScalar, type Node as YamlNode } from 'yaml';
import { DEFAULT_POWER_CONFIG, POWER_DEFAULTS } from '../defaults.js';
import { formatMsDuration } from '../duration.js';
import type {
  CommandChannelConfig,
  GpioChannelConfig,
  GpioMode,
  PowerChannelConfig,
  PowerConfig,
  PowerDriverKind,
  QemuChannelConfig,
  RecoveryConfig,
  SafeState,
  SequencerConfig,
  StateSource,
} from '../schema.js';
import { argumentSpec, booleanSpec, channelNameSpec, countSpec, enumSpec, logPathSpec, millisecondsSpec, msDurationSpec, pinSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const POWER_DRIVERS = ['gpio', 'command', 'qemu'] as const satisfies readonly PowerDriverKind[];
export const SAFE_STATES = ['keep', 'off'] as const satisfies readonly SafeState[];
export const GPIO_MODES = ['hold', 'pulse'] as const satisfies readonly GpioMode[];
export const STATE_SOURCES = ['words', 'exit_code'] as const satisfies readonly StateSource[];

export const POWER_KEYS = ['driver', 'safe_state', 'press_ms', 'long_press_ms', 'off_ms', 'timeout', 'channels', 'sequencer'] as const;
export const SAFE_STATE_KEYS = ['start', 'exit'] as const;
export const CHANNEL_KEYS = {
  gpio: ['driver', 'pin', 'active_low', 'mode', 'press_ms', 'long_press_ms', 'off_ms', 'sense_pin', 'sense_active_low', 'recovery'],
  command: ['driver', 'on', 'off', 'cycle', 'state', 'state_from', 'timeout', 'off_ms', 'recovery'],
  qemu: ['driver', 'argv', 'log', 'stop_timeout', 'off_ms', 'recovery'],
} as const satisfies Record<PowerDriverKind, readonly string[]>;
export const SEQUENCER_KEYS = ['stagger', 'batch_size', 'adaptive', 'max_transfers', 'max_early_boot', 'poll', 'recovery'] as const;
export const RECOVERY_KEYS = ['enabled', 'max_attempts', 'backoff', 'max_backoff'] as const;

const CHANNEL_EXPECTED = 'channel settings like {pin: 17} or {driver: qemu, argv: [...]}';
const ARGV_EXPECTED = 'a command as a list of arguments like [ipmitool, -H, "{channel}", power, on] (no shell)';

const pressSpec = millisecondsSpec(50, 10_000);
const longPressSpec = millisecondsSpec(1000, 30_000);
const offSpec = millisecondsSpec(0, 120_000);
const commandTimeoutSpec = msDurationSpec(100, 600_000);

/** Section-wide settings that each channel may override. */
interface ChannelDefaults {
  driver: PowerDriverKind;
  pressMs: number;
  longPressMs: number;
  offMs: number;
  timeoutMs: number;
}

/**
 * Reads the `power:` section of `top`. Never fails: wrong values are reported
 * and fall back to defaults so the rest of the section is still checked, and
 * channels with a wrong value are left out. Absent: no channels.
 */
export function readPowerSection(r: DocumentReader, top: MapView): PowerConfig {
  const section = r.section(top, 'power', POWER_KEYS);
  const defaults = readChannelDefaults(section);
  return {
    safeState: readSafeState(r, section),
    channels: readChannels(r, section, defaults),
    sequencer: readSequencer(r, section),
  };
}

function readChannelDefaults(section: MapView): ChannelDefaults {
  return {
    driver: section.getOr('driver', enumSpec(POWER_DRIVERS), POWER_DEFAULTS.driver) ?? POWER_DEFAULTS.driver,
    pressMs: section.getOr('press_ms', pressSpec, POWER_DEFAULTS.pressMs) ?? POWER_DEFAULTS.pressMs,
    longPressMs: section.getOr('long_press_ms', longPressSpec, POWER_DEFAULTS.longPressMs) ?? POWER_DEFAULTS.longPressMs,
    offMs: section.getOr('off_ms', offSpec, POWER_DEFAULTS.offMs) ?? POWER_DEFAULTS.offMs,
    timeoutMs: section.getOr('timeout', commandTimeoutSpec, POWER_DEFAULTS.commandTimeoutMs) ?? POWER_DEFAULTS.commandTimeoutMs,
  };
}

/** `keep`, `off`, or {start, exit}. */
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
  view.rejectUnknown(SAFE_STATE_KEYS);
  return {
    start: view.getOr('start', enumSpec(SAFE_STATES), fallback.start) ?? fallback.start,
    exit: view.getOr('exit', enumSpec(SAFE_STATES), fallback.exit) ?? fallback.exit,
  };
}

/** The channels by name; a channel with a wrong value, or a GPIO pin another channel already uses, is left out. */
function readChannels(r: DocumentReader, section: MapView, defaults: ChannelDefaults): Record<string, PowerChannelConfig> {
  const channels: Record<string, PowerChannelConfig> = {};
  const view = r.map(section.node('channels'), section.path('channels'), 'a mapping of channel name to channel settings, like node01: {pin: 17}');
  const pinOwners = new Map<number, string>();
  for (const name of view?.keys() ?? []) {
    const path = view!.path(name);
    if (channelNameSpec.read(r, view!.keyNode(name)!, path) === undefined) continue;
    const channel = readChannel(r, view!.node(name), path, name, defaults);
    if (!channel) continue;
    if (channel.driver === 'gpio' && !claimPins(r, channel, path, pinOwners)) continue;
    channels[name] = channel;
  }
  return channels;
}

/** Records the pins of a GPIO channel in `pinOwners`; false (reported) when another channel has one of them. */
function claimPins(r: DocumentReader, channel: GpioChannelConfig, path: string, pinOwners: Map<number, string>): boolean {
  let free = true;
  const pins = [[channel.pin, 'pin'], ...(channel.sensePin !== undefined ? [[channel.sensePin, 'sense_pin'] as const] : [])] as const;
  for (const [pin, what] of pins) {
    const owner = pinOwners.get(pin);
    if (owner !== undefined) {
      r.report(`${path}.${what}`, undefined, String(pin), `a pin no other channel uses (${owner} uses GPIO${pin})`);
      free = false;
    } else {
      pinOwners.set(pin, `${channel.name}.${what}`);
    }
  }
  return free;
}

function readChannel(r: DocumentReader, node: YamlNode | undefined, keyPath: string, name: string, defaults: ChannelDefaults): PowerChannelConfig | undefined {
  if (node === undefined) {
    r.report(keyPath, undefined, 'an empty value', CHANNEL_EXPECTED);
    return undefined;
  }
  const view = r.map(node, keyPath, CHANNEL_EXPECTED);
  if (!view) return undefined;
  const driver = view.getOr('driver', enumSpec(POWER_DRIVERS), defaults.driver);
  if (driver === undefined) return undefined;
  view.rejectUnknown(CHANNEL_KEYS[driver], ` (for driver ${driver})`);
  const offMs = view.getOr('off_ms', offSpec, defaults.offMs);
  // The channel's own recovery switch; absent: power.sequencer.recovery.enabled decides.
  const recovery = view.get('recovery', booleanSpec);
  if (view.has('recovery') && recovery === undefined) return undefined;
  const channel = readDriverChannel(r, view, name, driver, defaults, offMs);
  return channel && recovery !== undefined ? { ...channel, recovery } : channel;
}

function readDriverChannel(
  r: DocumentReader,
  view: MapView,
  name: string,
  driver: PowerDriverKind,
  defaults: ChannelDefaults,
  offMs: number | undefined,
): PowerChannelConfig | undefined {
  switch (driver) {
    case 'gpio':
      return readGpioChannel(r, view, name, defaults, offMs);
    case 'command':
      return readCommandChannel(r, view, name, defaults, offMs);
    case 'qemu':
      return readQemuChannel(r, view, name, offMs);
  }
}

function readGpioChannel(r: DocumentReader, view: MapView, name: string, defaults: ChannelDefaults, offMs: number | undefined): GpioChannelConfig | undefined {
  const pin = view.need('pin', pinSpec);
  const activeLow = view.getOr('active_low', booleanSpec, false);
  const mode = view.getOr('mode', enumSpec(GPIO_MODES), 'hold');
  const pressMs = view.getOr('press_ms', pressSpec, defaults.pressMs);
  const longPressMs = view.getOr('long_press_ms', longPressSpec, defaults.longPressMs);
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
  return { name, driver: 'gpio', pin, activeLow, mode, pressMs, longPressMs, offMs, ...(sensePin !== undefined && { sensePin }), senseActiveLow };
}

function readCommandChannel(
  r: DocumentReader,
  view: MapView,
  name: string,
  defaults: ChannelDefaults,
  offMs: number | undefined,
): CommandChannelConfig | undefined {
  const on = readArgv(r, view, 'on', true);
  const off = readArgv(r, view, 'off', true);
  const cycle = readArgv(r, view, 'cycle', false);
  const state = readArgv(r, view, 'state', false);
  const stateFrom = view.getOr('state_from', enumSpec(STATE_SOURCES), 'words');
  const timeoutMs = view.getOr('timeout', commandTimeoutSpec, defaults.timeoutMs);
  if (!on || !off || stateFrom === undefined || timeoutMs === undefined || offMs === undefined) return undefined;
  if ((view.has('cycle') && !cycle) || (view.has('state') && !state)) return undefined;
  return { name, driver: 'command', on, off, ...(cycle && { cycle }), ...(state && { state }), stateFrom, timeoutMs, offMs };
}

function readQemuChannel(r: DocumentReader, view: MapView, name: string, offMs: number | undefined): QemuChannelConfig | undefined {
  const argv = readArgv(r, view, 'argv', true);
  const logFile = view.get('log', logPathSpec);
  const stopTimeoutMs = view.getOr('stop_timeout', msDurationSpec(100, 120_000), POWER_DEFAULTS.qemuStopTimeoutMs);
  if (!argv || stopTimeoutMs === undefined || offMs === undefined || (view.has('log') && logFile === undefined)) return undefined;
  return { name, driver: 'qemu', argv, ...(logFile !== undefined && { logFile }), stopTimeoutMs, offMs };
}

/** A command's argv: a non-empty list of arguments. Undefined when absent (reported if `required`) or wrong. */
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

function readSequencer(r: DocumentReader, section: MapView): SequencerConfig {
  const d = DEFAULT_POWER_CONFIG.sequencer;
  const view = r.map(section.node('sequencer'), section.path('sequencer'), `a mapping with keys ${SEQUENCER_KEYS.join(', ')}`);
  if (!view) return structuredClone(d);
  view.rejectUnknown(SEQUENCER_KEYS);
  // Read in file order of the usual layout (scalars first, then recovery), so problems come out in that order.
  const sequencer = {
    staggerMs: view.getOr('stagger', msDurationSpec(0, 3_600_000), d.staggerMs) ?? d.staggerMs,
    batchSize: view.getOr('batch_size', countSpec(1, 1000, 'nodes'), d.batchSize) ?? d.batchSize,
    adaptive: view.getOr('adaptive', booleanSpec, d.adaptive) ?? d.adaptive,
    maxTransfers: view.getOr('max_transfers', countSpec(1, 100_000, 'transfers'), d.maxTransfers) ?? d.maxTransfers,
    maxEarlyBoot: view.getOr('max_early_boot', countSpec(1, 1000, 'nodes'), d.maxEarlyBoot) ?? d.maxEarlyBoot,
    pollMs: view.getOr('poll', msDurationSpec(50, 60_000), d.pollMs) ?? d.pollMs,
  };
  return { ...sequencer, recovery: readRecovery(r, view) };
}

/** `sequencer.recovery`; max_backoff shorter than backoff is reported. */
function readRecovery(r: DocumentReader, sequencer: MapView): RecoveryConfig {
  const view = r.map(sequencer.node('recovery'), sequencer.path('recovery'), `a mapping with keys ${RECOVERY_KEYS.join(', ')}`);
  view?.rejectUnknown(RECOVERY_KEYS);
  const d = DEFAULT_POWER_CONFIG.sequencer.recovery;
  const recovery: RecoveryConfig = {
    enabled: view?.getOr('enabled', booleanSpec, d.enabled) ?? d.enabled,
    maxAttempts: view?.getOr('max_attempts', countSpec(1, 100, 'attempts'), d.maxAttempts) ?? d.maxAttempts,
    backoffMs: view?.getOr('backoff', msDurationSpec(0, 24 * 3_600_000), d.backoffMs) ?? d.backoffMs,
    maxBackoffMs: view?.getOr('max_backoff', msDurationSpec(0, 24 * 3_600_000), d.maxBackoffMs) ?? d.maxBackoffMs,
  };
  if (recovery.maxBackoffMs < recovery.backoffMs) {
    r.report(
      sequencer.path('recovery') + '.max_backoff',
      view?.node('max_backoff'),
      formatMsDuration(recovery.maxBackoffMs),
      `a duration no shorter than recovery.backoff (${formatMsDuration(recovery.backoffMs)})`,
    );
  }
  return recovery;
}
