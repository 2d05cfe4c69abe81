/**
 * Scenarios for power-gpio.test.ts. Each runs in its own private mount
 * namespace (`unshare --mount --propagation private node <bundle> NAME`), with a
 * tmpfs over /sys/class and the GPIO emulator answering exports, and prints one
 * JSON line with what it observed. The real onoff package drives the files.
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { GpioChannelConfig, SafeState } from '../../firmware/src/config/schema.js';
import { realSleep } from '../../firmware/src/power/driver.js';
import { GpioDriver } from '../../firmware/src/power/gpio.js';
import { GpioSysfsEmulator, mountPrivateSysClass, type GpioSysfsOptions } from '../helpers/gpio-sysfs.js';

const PI4_CHIPS = [
  // Sorted before the SoC controller on purpose: the driver must pick by label, not by position.
  { base: 504, ngpio: 8, label: 'raspberrypi-exp-gpio' },
  { base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
];

function hold(name: string, pin: number, activeLow = false, offMs = 200): GpioChannelConfig {
  return { name, driver: 'gpio', pin, activeLow, mode: 'hold', pressMs: 150, longPressMs: 1000, offMs, senseActiveLow: false };
}
function pulse(name: string, pin: number, activeLow: boolean, sensePin?: number): GpioChannelConfig {
  return {
    name,
    driver: 'gpio',
    pin,
    activeLow,
    mode: 'pulse',
    pressMs: 150,
    longPressMs: 1000,
    offMs: 100,
    ...(sensePin !== undefined && { sensePin }),
    senseActiveLow: false,
  };
}

function emulator(options: Partial<GpioSysfsOptions> = {}): GpioSysfsEmulator {
  mountPrivateSysClass();
  return GpioSysfsEmulator.start({ chips: PI4_CHIPS, ...options });
}

/** A sleep that first lets the emulator see the current level, so each level of a press is recorded. */
function observedSleep(emu: GpioSysfsEmulator) {
  return async (ms: number) => {
    emu.scan();
    await realSleep(ms);
  };
}

async function open(emu: GpioSysfsEmulator, channels: GpioChannelConfig[], start: SafeState = 'off', exit: SafeState = 'keep', exportTimeoutMs = 2000) {
  const driver = await GpioDriver.open({ channels, safeState: { start, exit }, sleep: observedSleep(emu), exportTimeoutMs });
  emu.scan();
  return driver;
}

const failuresOf = (driver: GpioDriver) => driver.failures().map((f) => ({ channel: f.channel, code: f.code, message: f.message }));

async function errorOf(promise: Promise<unknown>): Promise<{ code?: string; message: string } | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
}

/** Runs this bundle again as a child (same mount namespace) and waits until it prints "ready". */
// eslint-disable-next-line @typescript-eslint/require-await -- callers await it; a spawn failure must arrive as a rejection
async function startChild(name: string, wrapper: string[] = []) {
  const argv = [...wrapper, process.execPath, process.argv[1], name];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const output: string[] = [];
  const said = (word: string) => new Promise<void>((resolve) => lines.on('line', (line) => line === word && resolve()));
  lines.on('line', (line) => output.push(line));
  const opened = said('opened');
  const ready = said('ready');
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  return { child, opened, ready, exited, output };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  async hold() {
    const emu = emulator();
    const driver = await open(emu, [hold('n1', 17), hold('n2', 27, true)]);
    const pins = { n1: driver.sysfsPins('n1'), n2: driver.sysfsPins('n2') };
    const states: Record<string, string> = {};
    states.start1 = await driver.state('n1');
    states.start2 = await driver.state('n2');
    await driver.on('n1');
    await driver.on('n2');
    emu.scan();
    states.on1 = await driver.state('n1');
    states.on2 = await driver.state('n2');
    const linesWhenOn = { 529: emu.line(529), 539: emu.line(539) };
    await driver.off('n2');
    emu.scan();
    states.off2 = await driver.state('n2');
    const cycleStart = Date.now();
    await driver.cycle('n1');
    emu.scan();
    states.cycled1 = await driver.state('n1');
    await driver.close();
    emu.stop();
    return {
      pins,
      states,
      linesWhenOn,
      cycleStart,
      history: { 529: emu.history(529), 539: emu.history(539) },
      canRead: driver.canReadState('n1'),
      exports: emu.exports(),
    };
  },

  async pulse() {
    const emu = emulator({ pulls: { [512 + 24]: 1 } });
    const driver = await open(emu, [pulse('p1', 22, true), pulse('p2', 23, false, 24)]);
    const canRead = { p1: driver.canReadState('p1'), p2: driver.canReadState('p2') };
    const state = { p1: await driver.state('p1'), p2: await driver.state('p2') };
    await driver.on('p1');
    emu.scan();
    const afterOn = emu.history(534).length;
    await driver.cycle('p1');
    emu.scan();
    // p2's sense pin says the node is on: on() must not press (a press would switch it off).
    await driver.on('p2');
    await driver.off('p2');
    emu.scan();
    await driver.close();
    emu.stop();
    return { canRead, state, afterOn, history: { 534: emu.history(534), 535: emu.history(535), 536: emu.history(536) } };
  },

  async 'keep-start'() {
    // 529 was left on by an earlier run; 539 (active-low board, pulled up) was never exported.
    const emu = emulator({ preExported: { 529: { direction: 'out', raw: 1, activeLow: false } }, pulls: { 539: 1 } });
    const driver = await open(emu, [hold('n1', 17), hold('n2', 27, true)], 'keep');
    const state = { n1: await driver.state('n1'), n2: await driver.state('n2') };
    await driver.close();
    emu.stop();
    return { state, history: { 529: emu.history(529), 539: emu.history(539) } };
  },

  async 'off-start'() {
    const emu = emulator({ preExported: { 529: { direction: 'out', raw: 1, activeLow: false } } });
    const driver = await open(emu, [hold('n1', 17)], 'off');
    const state = await driver.state('n1');
    await driver.close();
    emu.stop();
    return { state, history: emu.history(529) };
  },

  async exit() {
    const emu = emulator();
    const result: Record<string, unknown> = {};
    for (const [name, pin, sysfs] of [
      ['child-exit-off', 17, 529],
      ['child-exit-keep', 27, 539],
    ] as const) {
      void pin;
      const child = await startChild(name);
      await child.opened;
      emu.scan(); // the child's direction write is processed before it writes a value (see childHoldOn)
      child.child.stdin.write('on\n');
      await child.ready;
      emu.scan();
      const before = emu.line(sysfs);
      child.child.stdin.end('exit\n');
      const [code, signal] = await child.exited;
      emu.scan();
      result[name] = { code, signal, before, after: emu.line(sysfs), history: emu.history(sysfs) };
    }
    // close() applies the exit safe state too, without the process ending.
    const driver = await open(emu, [hold('n3', 5)], 'off', 'off');
    await driver.on('n3');
    emu.scan();
    const beforeClose = emu.line(517);
    await driver.close();
    emu.scan();
    result.close = { beforeClose, afterClose: emu.line(517), afterCloseError: await errorOf(driver.on('n3')) };
    emu.stop();
    return result;
  },

  async 'child-exit-off'() {
    return childHoldOn('n1', 17, 'off');
  },
  async 'child-exit-keep'() {
    return childHoldOn('n2', 27, 'keep');
  },

  async busy() {
    const emu = emulator({ claimed: [529] });
    const driver = await open(emu, [hold('n1', 17), hold('n2', 27)], 'off', 'keep', 300);
    const onBusy = await errorOf(driver.on('n1'));
    await driver.on('n2');
    emu.scan();
    const other = emu.line(539);
    await driver.close();
    emu.stop();
    return { failures: failuresOf(driver), onBusy, other };
  },

  async 'missing-sysfs'() {
    mountPrivateSysClass(); // /sys/class without gpio: a kernel built without CONFIG_GPIO_SYSFS
    const driver = await GpioDriver.open({ channels: [hold('n1', 17)], safeState: { start: 'off', exit: 'keep' } });
    const onError = await errorOf(driver.on('n1'));
    await driver.close();
    return { failures: failuresOf(driver), onError };
  },

  async 'no-pinctrl'() {
    const emu = emulator({ chips: [{ base: 0, ngpio: 32, label: 'gpio-mockup-A' }] });
    const driver = await open(emu, [hold('n1', 17)]);
    await driver.close();
    emu.stop();
    return { failures: failuresOf(driver) };
  },

  async 'out-of-range'() {
    const emu = emulator();
    const driver = await open(emu, [hold('n1', 60), hold('n2', 57)]);
    const n2 = driver.sysfsPins('n2');
    await driver.close();
    emu.stop();
    return { failures: failuresOf(driver), n2 };
  },

  async permission() {
    const emu = emulator();
    const child = await startChild('child-permission', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']);
    const [code] = await child.exited;
    emu.stop();
    return { code, childResult: JSON.parse(child.output.at(-1) ?? 'null') as unknown, exports: emu.exports() };
  },

  async 'child-permission'() {
    const driver = await GpioDriver.open({ channels: [hold('n1', 17)], safeState: { start: 'off', exit: 'keep' }, exportTimeoutMs: 300 });
    await driver.close();
    return { uid: process.getuid?.(), failures: failuresOf(driver) };
  },
};

/**
 * Opens a channel and says "opened"; on "on" (stdin) switches it on and says
 * "ready"; on "exit" leaves through process.exit(), as rackboot's main does on
 * SIGTERM. The pause between opening and switching lets the emulator (another
 * process, reacting after the fact) take the direction write before the value
 * write, which the kernel would have done synchronously.
 */
async function childHoldOn(name: string, pin: number, exit: SafeState): Promise<never> {
  const driver = await GpioDriver.open({ channels: [hold(name, pin)], safeState: { start: 'off', exit } });
  if (driver.failures().length > 0) throw driver.failures()[0];
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'on') void driver.on(name).then(() => console.log('ready'));
    if (line === 'exit') process.exit(0);
  });
  console.log('opened');
  return new Promise<never>(() => {});
}

const name = process.argv[2] ?? '';
const scenario = scenarios[name];
if (!scenario) {
  console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
scenario().then(
  (result) => {
    console.log(JSON.stringify(result));
    // onoff's epoll thread would keep the process alive.
    process.exit(0);
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);
