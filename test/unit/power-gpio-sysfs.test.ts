// BCM -> sysfs mapping and errno wording, on a plain directory laid out like
// /sys/class/gpio (the kernel-behaviour tests with onoff are in
// test/integration/power-gpio.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bcmToSysfs, exportError, exportPin, sysfsError } from '../../firmware/src/power/gpio-sysfs.js';

let root = '';
const chip = (base: number, ngpio: number, label: string) => {
  const dir = join(root, `gpiochip${base}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'base'), `${base}\n`);
  writeFileSync(join(dir, 'ngpio'), `${ngpio}\n`);
  writeFileSync(join(dir, 'label'), `${label}\n`);
};
const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'rbpwr-sysfs-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('BCM to sysfs numbers', () => {
  it.each([
    ['pinctrl-bcm2835', 0, 54, 17, 17], // Pi 3 on an older kernel
    ['pinctrl-bcm2711', 512, 58, 17, 529], // Pi 4 on 6.x
    ['pinctrl-rp1', 571, 54, 4, 575], // Pi 5
  ])('%s (base %i, %i lines): GPIO%i is sysfs %i', async (label, base, ngpio, bcm, expected) => {
    chip(504, 8, 'raspberrypi-exp-gpio');
    chip(base, ngpio, label);
    expect((await bcmToSysfs('n1', bcm, root)).sysfs).toBe(expected);
  });

  it('refuses a pin past the controller and a board without one', async () => {
    chip(512, 58, 'pinctrl-bcm2711');
    await expect(bcmToSysfs('n1', 58, root)).rejects.toMatchObject({
      code: 'pin_out_of_range',
      message: 'power channel n1: GPIO58 is outside pinctrl-bcm2711 (gpiochip512), which has GPIO0 to GPIO57',
    });
    rmSync(join(root, 'gpiochip512'), { recursive: true });
    await expect(bcmToSysfs('n1', 4, root)).rejects.toMatchObject({ code: 'no_gpio_chip' });
    await expect(bcmToSysfs('n1', 4, join(root, 'nope'))).rejects.toMatchObject({ code: 'sysfs_missing' });
  });
});

describe('errors a person can act on', () => {
  it('names the cause of each export errno', () => {
    /* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest types its asymmetric matchers (expect.stringContaining) as any */
    expect(exportError('n1', 17, 529, errno('EBUSY'))).toMatchObject({
      code: 'pin_busy',
      message: expect.stringContaining('GPIO17 (sysfs 529) is busy: a kernel driver or device-tree overlay'),
    });
    expect(exportError('n1', 17, 529, errno('EACCES'))).toMatchObject({ code: 'permission_denied', message: expect.stringContaining('group gpio') });
    expect(exportError('n1', 17, 529, errno('EINVAL'))).toMatchObject({ code: 'pin_out_of_range' });
    expect(exportError('n1', 17, 529, errno('EIO'))).toMatchObject({ code: 'io', message: expect.stringContaining('EIO: failed') });
    expect(sysfsError('n1', errno('ENOENT'))).toMatchObject({ code: 'sysfs_missing', message: expect.stringContaining('CONFIG_GPIO_SYSFS') });
    /* eslint-enable @typescript-eslint/no-unsafe-assignment */
  });

  it('waits for an exported pin to appear, and gives up with a clear error', async () => {
    chip(512, 58, 'pinctrl-bcm2711');
    writeFileSync(join(root, 'export'), '');
    const waits: number[] = [];
    // The "kernel" (this sleep) creates gpio529 after three polls, as udev would after setting permissions.
    const sleep = (ms: number) => {
      waits.push(ms);
      if (waits.length === 3) {
        mkdirSync(join(root, 'gpio529'));
        writeFileSync(join(root, 'gpio529', 'value'), '0\n');
        writeFileSync(join(root, 'gpio529', 'direction'), 'in\n');
      }
      return Promise.resolve();
    };
    expect(await exportPin('n1', 17, 529, { root, sleep, timeoutMs: 1000, pollMs: 10 })).toEqual({ alreadyExported: false });
    expect(waits).toEqual([10, 10, 10]);
    expect(await exportPin('n1', 17, 529, { root, sleep, timeoutMs: 1000 })).toEqual({ alreadyExported: true });
    await expect(exportPin('n1', 18, 530, { root, sleep: async () => {}, timeoutMs: 50, pollMs: 10 })).rejects.toMatchObject({ code: 'pin_busy' });
  });
});
