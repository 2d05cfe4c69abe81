import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { DocumentReader } from '../../firmware/src/config/yaml-reader.js';
import { formatProblem } from '../../firmware/src/config/errors.js';
import { DEFAULT_POWER_CONFIG } from '../../firmware/src/config/defaults.js';
import { parseMsDuration } from '../../firmware/src/config/duration.js';
import { readPowerSection } from '../../firmware/src/config/sections/power.js';

/** Reads the `power:` key of a YAML text the way the config loader would. */
function read(text: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  expect(doc.errors).toEqual([]);
  const r = new DocumentReader('/etc/rackboot/rackboot.yaml', text, doc, lineCounter);
  const top = r.map(r.deref(doc.contents), '', '') ?? r.emptyMap('');
  const config = readPowerSection(r, top);
  return { config, problems: r.problems.map(formatProblem) };
}

describe('power configuration', () => {
  it('reads channels of every driver with defaults applied', () => {
    const { config, problems } = read(`
power:
  safe_state: off
  press_ms: 400
  channels:
    node01: {pin: 17, active_low: true}
    node02: {pin: 27, mode: pulse, sense_pin: 22, long_press_ms: 8000}
    bmc03:
      driver: command
      on: [ipmitool, -H, "{channel}", power, on]
      off: [ipmitool, -H, "{channel}", power, off]
      state: [ipmitool, -H, "{channel}", power, status]
      timeout: 10s
      recovery: false
    vm1: {driver: qemu, argv: [qemu-system-x86_64, -nographic], log: /var/log/rackboot/vm1.log, recovery: true}
  sequencer:
    stagger: 500ms
    adaptive: true
    max_transfers: 6
    max_early_boot: 3
    recovery: {max_attempts: 5, backoff: 1m, max_backoff: 20m}
`);
    expect(problems).toEqual([]);
    expect(config.safeState).toEqual({ start: 'off', exit: 'off' });
    expect(config.channels.node01).toEqual({
      name: 'node01',
      driver: 'gpio',
      pin: 17,
      activeLow: true,
      mode: 'hold',
      pressMs: 400,
      longPressMs: 6000,
      offMs: 5000,
      senseActiveLow: false,
    });
    expect(config.channels.node02).toMatchObject({ mode: 'pulse', sensePin: 22, longPressMs: 8000, pressMs: 400, activeLow: false });
    expect(config.channels.bmc03).toEqual({
      name: 'bmc03',
      driver: 'command',
      on: ['ipmitool', '-H', '{channel}', 'power', 'on'],
      off: ['ipmitool', '-H', '{channel}', 'power', 'off'],
      state: ['ipmitool', '-H', '{channel}', 'power', 'status'],
      stateFrom: 'words',
      timeoutMs: 10_000,
      offMs: 5000,
      recovery: false,
    });
    expect(config.channels.vm1).toEqual({
      name: 'vm1',
      driver: 'qemu',
      argv: ['qemu-system-x86_64', '-nographic'],
      logFile: '/var/log/rackboot/vm1.log',
      stopTimeoutMs: 10_000,
      offMs: 5000,
      recovery: true,
    });
    expect(config.sequencer).toEqual({
      staggerMs: 500,
      batchSize: 1,
      adaptive: true,
      maxTransfers: 6,
      maxEarlyBoot: 3,
      pollMs: 500,
      // Recovery is opt-in: enabled stays false unless the file says so (a channel's recovery overrides it).
      recovery: { enabled: false, maxAttempts: 5, backoffMs: 60_000, maxBackoffMs: 1_200_000 },
    });
  });

  it('no power section means no channels and the default sequencer', () => {
    expect(read('interface: eth0\n')).toEqual({ config: DEFAULT_POWER_CONFIG, problems: [] });
    expect(read('power:\n  safe_state: {start: keep, exit: off}\n').config.safeState).toEqual({ start: 'keep', exit: 'off' });
  });

  it('reports every problem with its key path, line and what was expected', () => {
    const { config, problems } = read(`
power:
  driver: relay
  channels:
    n1: {pin: 17, activ_low: true}
    n2: {pin: 17}
    n3: {pin: 70}
    n4: {driver: command, on: ipmitool}
    n5: {driver: qemu}
    n6: {pin: 5, mode: toggle, sense_pin: 5}
    "bad name": {pin: 6}
    n7: {pin: 9, recovery: sometimes}
  sequencer:
    stagger: soon
    max_early_boot: 0
    recovery: {enabled: yes please, backoff: 10m, max_backoff: 1m}
`);
    const file = '/etc/rackboot/rackboot.yaml';
    expect(problems).toEqual([
      `${file}:3: power.driver: found "relay", expected one of: gpio, command, qemu`,
      `${file}:5: power.channels.n1.activ_low: found unknown key, expected one of: driver, pin, active_low, mode, press_ms, long_press_ms, off_ms, sense_pin, sense_active_low, recovery (for driver gpio); did you mean "active_low"?`,
      `${file}:6: power.channels.n2.pin: found 17, expected a pin no other channel uses (n1.pin uses GPIO17)`,
      `${file}:7: power.channels.n3.pin: found 70, expected a BCM GPIO number from 0 to 63 (GPIO17 is 17, not header pin 11)`,
      `${file}:8: power.channels.n4.on: found "ipmitool", expected a command as a list of arguments like [ipmitool, -H, "{channel}", power, on] (no shell)`,
      `${file}:8: power.channels.n4.off: found missing, expected a command as a list of arguments like [ipmitool, -H, "{channel}", power, on] (no shell)`,
      `${file}:9: power.channels.n5.argv: found missing, expected a command as a list of arguments like [ipmitool, -H, "{channel}", power, on] (no shell)`,
      `${file}:10: power.channels.n6.mode: found "toggle", expected one of: hold, pulse`,
      `${file}:10: power.channels.n6.sense_pin: found 5, expected a pin other than the channel's own relay pin`,
      `${file}:11: power.channels["bad name"]: found "bad name", expected a channel name of letters, digits, ".", "_" and "-" (at most 63 characters)`,
      `${file}:12: power.channels.n7.recovery: found "sometimes", expected true or false`,
      `${file}:14: power.sequencer.stagger: found "soon", expected a duration: seconds as a number, or a string with units like 500ms, 2s, 1m30s, from 0s to 1h`,
      `${file}:15: power.sequencer.max_early_boot: found 0, expected a whole number of nodes from 1 to 1000`,
      `${file}:16: power.sequencer.recovery.enabled: found "yes please", expected true or false`,
      `${file}:16: power.sequencer.recovery.max_backoff: found 1m, expected a duration no shorter than recovery.backoff (10m)`,
    ]);
    // Wrong channels are left out rather than half-read; the good part of the file still counts.
    expect(Object.keys(config.channels)).toEqual(['n1']);
  });

  it('parses durations with milliseconds', () => {
    expect(parseMsDuration('500ms')).toBe(500);
    expect(parseMsDuration('1m30s')).toBe(90_000);
    expect(parseMsDuration('2s250ms')).toBe(2250);
    expect(parseMsDuration(1.5)).toBe(1500);
    expect(parseMsDuration('3')).toBe(3000);
    expect(parseMsDuration('1x')).toBeUndefined();
    expect(parseMsDuration('')).toBeUndefined();
    expect(parseMsDuration(-1)).toBeUndefined();
  });
});
