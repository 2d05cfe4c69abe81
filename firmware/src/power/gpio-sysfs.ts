// The kernel's sysfs GPIO interface as the gpio driver needs it: map a BCM pin
// number to the kernel's global GPIO number, export a pin and wait until it is
// usable, and turn every errno on the way into a sentence an operator can act on.
//
// Since Linux 6.x on the Raspberry Pi the SoC's GPIO controller no longer starts
// at 0: /sys/class/gpio/gpiochip512 (label pinctrl-bcm2711) means BCM 17 is
// sysfs 529. The controller is the chip whose label starts with "pinctrl-"
// (pinctrl-bcm2835, pinctrl-bcm2711, pinctrl-rp1 on the Pi 5).

import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { PowerError, type Sleep } from './driver.js';

export const GPIO_SYSFS_ROOT = '/sys/class/gpio';

export interface GpioChip {
  /** Directory name, e.g. gpiochip512. */
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

/** Reads every gpiochipN under `root`. Throws PowerError sysfs_missing when `root` is absent. */
export async function listGpioChips(channel: string, root = GPIO_SYSFS_ROOT): Promise<GpioChip[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (error) {
    throw sysfsError(channel, error, root);
  }
  const chips: GpioChip[] = [];
  for (const name of names.filter((n) => /^gpiochip\d+$/.test(n)).sort()) {
    const dir = join(root, name);
    try {
      const [base, ngpio, label] = await Promise.all(['base', 'ngpio', 'label'].map((f) => fs.readFile(join(dir, f), 'utf8')));
      const chip = { name, base: Number(base.trim()), ngpio: Number(ngpio.trim()), label: label.trim() };
      if (Number.isInteger(chip.base) && Number.isInteger(chip.ngpio)) chips.push(chip);
    } catch {
      // A chip directory we cannot read is not the SoC controller we are looking for.
    }
  }
  return chips;
}

/** The SoC's pin controller: the first chip labelled pinctrl-*. */
export function findPinctrlChip(chips: readonly GpioChip[]): GpioChip | undefined {
  return chips.find((chip) => chip.label.startsWith('pinctrl-'));
}

/** The kernel's GPIO number for BCM pin `bcm`, with errors that say which chip and range were found. */
export async function bcmToSysfs(channel: string, bcm: number, root = GPIO_SYSFS_ROOT): Promise<{ sysfs: number; chip: GpioChip }> {
  const chips = await listGpioChips(channel, root);
  const chip = findPinctrlChip(chips);
  if (!chip) {
    const seen = chips.length === 0 ? 'no gpiochip at all' : chips.map((c) => `${c.name} (${c.label})`).join(', ');
    throw new PowerError(channel, 'no_gpio_chip', `no GPIO controller labelled pinctrl-* under ${root} (found ${seen}); is this a Raspberry Pi kernel?`);
  }
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new PowerError(channel, 'pin_out_of_range', `GPIO${bcm} is outside ${chip.label} (${chip.name}), which has GPIO0 to GPIO${chip.ngpio - 1}`);
  }
  return { sysfs: chip.base + bcm, chip };
}

export interface ExportOptions {
  root?: string;
  sleep: Sleep;
  /** How long to wait for the kernel (and udev, which sets group permissions afterwards) to make gpioN usable. */
  timeoutMs: number;
  pollMs?: number;
}

/**
 * Exports sysfs GPIO `sysfs` unless already exported (by an earlier run of
 * rackboot, or another tool; reclaiming it keeps a relay from glitching), then
 * waits until gpioN/value and gpioN/direction open for writing.
 */
export async function exportPin(channel: string, bcm: number, sysfs: number, options: ExportOptions): Promise<{ alreadyExported: boolean }> {
  const root = options.root ?? GPIO_SYSFS_ROOT;
  const dir = join(root, `gpio${sysfs}`);
  const alreadyExported = await exists(dir);
  if (!alreadyExported) {
    try {
      await fs.writeFile(join(root, 'export'), String(sysfs));
    } catch (error) {
      throw exportError(channel, bcm, sysfs, error, root);
    }
  }
  const pollMs = options.pollMs ?? 10;
  let waited = 0;
  for (;;) {
    const problem = await firstUnwritable([join(dir, 'value'), join(dir, 'direction')]);
    if (!problem) return { alreadyExported };
    if (waited >= options.timeoutMs) {
      if (problem.code === 'EACCES' || problem.code === 'EPERM') throw permissionError(channel, problem.path);
      throw new PowerError(
        channel,
        'pin_busy',
        `exported GPIO${bcm} (sysfs ${sysfs}) but ${dir} did not become usable within ${options.timeoutMs} ms; another program or a kernel driver (an overlay in config.txt) may hold the pin`,
      );
    }
    await options.sleep(pollMs);
    waited += pollMs;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

async function firstUnwritable(paths: string[]): Promise<{ path: string; code: string } | undefined> {
  for (const path of paths) {
    try {
      await fs.access(path, constants.W_OK);
    } catch (error) {
      return { path, code: (error as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }
  return undefined;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function sysfsError(channel: string, error: unknown, root = GPIO_SYSFS_ROOT): PowerError {
  const code = errnoOf(error);
  if (code === 'ENOENT') {
    return new PowerError(
      channel,
      'sysfs_missing',
      `${root} does not exist: this kernel has no sysfs GPIO interface (CONFIG_GPIO_SYSFS is off); use a kernel with CONFIG_GPIO_SYSFS=y`,
    );
  }
  if (code === 'EACCES' || code === 'EPERM') return permissionError(channel, root);
  return new PowerError(channel, 'io', `cannot read ${root}: ${(error as Error).message}`);
}

/** What an errno from writing `export` means for a person at the rack. */
export function exportError(channel: string, bcm: number, sysfs: number, error: unknown, root = GPIO_SYSFS_ROOT): PowerError {
  const code = errnoOf(error);
  const pin = `GPIO${bcm} (sysfs ${sysfs})`;
  switch (code) {
    case 'EBUSY':
      return new PowerError(
        channel,
        'pin_busy',
        `${pin} is busy: a kernel driver or device-tree overlay (I2C, SPI, 1-Wire, a LED...) has claimed it; pick another pin or remove the overlay`,
      );
    case 'EACCES':
    case 'EPERM':
      return permissionError(channel, join(root, 'export'));
    case 'EINVAL':
      return new PowerError(channel, 'pin_out_of_range', `the kernel refused to export ${pin} (EINVAL): no such GPIO on this board`);
    case 'ENOENT':
      return sysfsError(channel, error, root);
    default:
      return new PowerError(channel, 'io', `exporting ${pin} failed: ${(error as Error).message}`);
  }
}

export function permissionError(channel: string, path: string): PowerError {
  const user = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? `uid ${process.getuid?.()}`);
  return new PowerError(
    channel,
    'permission_denied',
    `permission denied on ${path} (running as ${user}): add the user to the group gpio (usermod -aG gpio USER, then log in again) or run rackboot as root`,
  );
}
