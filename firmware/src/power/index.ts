// Wiring for the app: builds one driver per kind from the `power:` section and
// hands back the channel -> driver map that PowerService takes. A channel that
// could not be opened (a busy pin, no sysfs GPIO) is reported, not fatal: the
// rest of the rack stays switchable.

import { join } from 'node:path';
import { CommandDriver } from './command.js';
import type { CommandChannelConfig, GpioChannelConfig, PowerConfig, QemuChannelConfig } from '../config/schema.js';
import type { PowerDriver, PowerError } from './driver.js';
import { GpioDriver } from './gpio.js';
import { QemuDriver } from './qemu.js';

export interface OpenedPower {
  /** Channel name -> driver, for PowerService. */
  drivers: Map<string, PowerDriver>;
  /** Channels that will refuse every action, with why (log them at start). */
  failures: PowerError[];
  /** Closes every driver (applies the exit safe state). */
  close(): Promise<void>;
}

export interface OpenPowerOptions {
  /** rackboot's state directory; QEMU pid and log files go to <stateDir>/power. */
  stateDir: string;
}

export async function openPowerDrivers(config: PowerConfig, options: OpenPowerOptions): Promise<OpenedPower> {
  const channels = Object.values(config.channels);
  const gpio = channels.filter((c): c is GpioChannelConfig => c.driver === 'gpio');
  const command = channels.filter((c): c is CommandChannelConfig => c.driver === 'command');
  const qemu = channels.filter((c): c is QemuChannelConfig => c.driver === 'qemu');
  const drivers = new Map<string, PowerDriver>();
  const opened: PowerDriver[] = [];
  const failures: PowerError[] = [];

  if (gpio.length > 0) {
    const driver = await GpioDriver.open({ channels: gpio, safeState: config.safeState });
    failures.push(...driver.failures());
    opened.push(driver);
    for (const c of gpio) drivers.set(c.name, driver);
  }
  if (command.length > 0) {
    const driver = new CommandDriver({ channels: command });
    opened.push(driver);
    for (const c of command) drivers.set(c.name, driver);
  }
  if (qemu.length > 0) {
    const driver = await QemuDriver.open({ channels: qemu, runDir: join(options.stateDir, 'power'), safeState: config.safeState });
    opened.push(driver);
    for (const c of qemu) drivers.set(c.name, driver);
  }
  return {
    drivers,
    failures,
    close: async () => {
      for (const driver of opened) await driver.close();
    },
  };
}

export { PowerError, isPowerError, type PowerDriver } from './driver.js';
export { PowerService, type PowerOutcome, type StateOutcome, type PowerServiceHost, type PowerEvent } from './service.js';
export {
  PowerSequencer,
  EARLY_BOOT_STAGES,
  type SequencerHost,
  type SequencerClock,
  type PowerOnRun,
  type PowerOnSummary,
  type RecoveryStatus,
  systemSequencerClock,
} from './sequencer.js';
export { probeLiveness, describeEvidence, type LivenessEvidence, type LivenessProbes, type ProbeResult } from './liveness.js';
