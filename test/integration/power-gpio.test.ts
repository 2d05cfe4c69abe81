// The gpio power driver and the real onoff package against an emulated sysfs
// GPIO tree (test/helpers/gpio-sysfs.ts): each scenario of
// power-gpio-scenarios.ts runs in its own private mount namespace with a tmpfs
// over /sys/class, so nothing outside it sees the fake tree. The emulated board
// is a Raspberry Pi 4 on a 6.x kernel: pinctrl-bcm2711 at base 512 (BCM 17 is
// sysfs 529), with another chip sorted before it.
import { beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../helpers/exec.js';
import { bundleTs } from '../helpers/ts-in-ns.js';
import type { LevelChange } from '../helpers/gpio-sysfs.js';

let bundle = '';

beforeAll(async () => {
  bundle = await bundleTs('test/integration/power-gpio-scenarios.ts');
}, 60_000);

async function scenario<T = any>(name: string): Promise<T> {
  const stdout = await exec(['unshare', '--mount', '--propagation', 'private', process.execPath, '--enable-source-maps', bundle, name], { timeoutMs: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

const levels = (history: LevelChange[]) => history.map((h) => `${h.direction}:${h.raw}`);

describe('gpio driver on an emulated sysfs GPIO tree (real onoff)', () => {
  it('maps BCM pins through the pinctrl chip base, drives hold relays active-high and active-low, and reads state back', async () => {
    const r = await scenario('hold');
    expect(r.pins).toEqual({ n1: { relay: 529 }, n2: { relay: 539 } });
    expect(r.exports.map((e: { gpio: number }) => e.gpio)).toEqual([529, 539]);
    expect(r.canRead).toBe(true);
    expect(r.states).toEqual({ start1: 'off', start2: 'off', on1: 'on', on2: 'on', off2: 'off', cycled1: 'on' });
    // On means energised: high on the active-high board, low on the active-low one (the kernel inverts).
    expect(r.linesWhenOn['529']).toEqual({ direction: 'out', raw: 1, activeLow: false });
    expect(r.linesWhenOn['539']).toEqual({ direction: 'out', raw: 0, activeLow: true });
    // Safe start (off), on, then a cycle: off for offMs (200), on again.
    expect(levels(r.history['529'])).toEqual(['in:0', 'out:0', 'out:1', 'out:0', 'out:1']);
    const [, , , offAt, onAgainAt] = (r.history['529'] as LevelChange[]).map((h) => h.at);
    expect(onAgainAt - offAt).toBeGreaterThanOrEqual(200);
    // Active-low: the safe state is high (relay off) straight from the export, never a low glitch.
    expect(levels(r.history['539'])).toEqual(['in:0', 'out:1', 'out:0', 'out:1']);
  });

  it('pulse mode presses for press_ms, cycles with a long press then a press, and uses a sense pin', async () => {
    const r = await scenario('pulse');
    expect(r.canRead).toEqual({ p1: false, p2: true });
    expect(r.state).toEqual({ p1: 'unknown', p2: 'on' });
    // p1 (GPIO22, active-low): released is high; on = one press; cycle = long press, pause, press.
    const h: LevelChange[] = r.history['534'];
    expect(levels(h)).toEqual(['in:0', 'out:1', 'out:0', 'out:1', 'out:0', 'out:1', 'out:0', 'out:1']);
    expect(r.afterOn).toBe(4);
    const press = h[3].at - h[2].at;
    const longPress = h[5].at - h[4].at;
    const pause = h[6].at - h[5].at;
    const secondPress = h[7].at - h[6].at;
    expect(press).toBeGreaterThanOrEqual(150);
    expect(longPress).toBeGreaterThanOrEqual(1000);
    expect(pause).toBeGreaterThanOrEqual(100);
    expect(secondPress).toBeGreaterThanOrEqual(150);
    // p2 (GPIO23, sense GPIO24 pulled high = on): on() does not press, off() presses once.
    expect(levels(r.history['535'])).toEqual(['in:0', 'out:0', 'out:1', 'out:0']);
    expect(levels(r.history['536'])).toEqual(['in:1']);
  });

  it('safe state keep takes over relays at their current level; off switches them off', async () => {
    const keep = await scenario('keep-start');
    expect(keep.state).toEqual({ n1: 'on', n2: 'off' });
    expect(levels(keep.history['529'])).toEqual(['out:1']); // left on by an earlier run: untouched
    expect(levels(keep.history['539'])).toEqual(['in:1', 'out:1']); // pulled up, active-low: stays off
    const off = await scenario('off-start');
    expect(off.state).toBe('off');
    expect(levels(off.history)).toEqual(['out:1', 'out:0']);
  });

  it('applies the exit safe state when the process exits and on close()', async () => {
    const r = await scenario('exit');
    expect(r['child-exit-off']).toMatchObject({ code: 0, before: { raw: 1 }, after: { direction: 'out', raw: 0 } });
    expect(r['child-exit-keep']).toMatchObject({ code: 0, before: { raw: 1 }, after: { direction: 'out', raw: 1 } });
    expect(r.close).toMatchObject({ beforeClose: { raw: 1 }, afterClose: { raw: 0 }, afterCloseError: { code: 'closed' } });
  });

  it('says when a pin is busy, and keeps the other channels working', async () => {
    const r = await scenario('busy');
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ channel: 'n1', code: 'pin_busy' });
    expect(r.failures[0].message).toMatch(/GPIO17 \(sysfs 529\).*kernel driver/);
    expect(r.onBusy.code).toBe('pin_busy');
    expect(r.other).toEqual({ direction: 'out', raw: 1, activeLow: false });
  });

  it('explains a kernel without sysfs GPIO, a board without a pinctrl chip and a pin out of range', async () => {
    const missing = await scenario('missing-sysfs');
    expect(missing.failures[0]).toMatchObject({ code: 'sysfs_missing' });
    expect(missing.failures[0].message).toContain('CONFIG_GPIO_SYSFS');
    expect(missing.onError.code).toBe('sysfs_missing');
    const noChip = await scenario('no-pinctrl');
    expect(noChip.failures[0]).toMatchObject({ code: 'no_gpio_chip' });
    expect(noChip.failures[0].message).toContain('gpiochip0 (gpio-mockup-A)');
    const range = await scenario('out-of-range');
    expect(range.failures).toEqual([expect.objectContaining({ channel: 'n1', code: 'pin_out_of_range' })]);
    expect(range.failures[0].message).toContain('GPIO0 to GPIO57');
    expect(range.n2).toEqual({ relay: 569 });
  });

  it('says to join the gpio group when export is not writable', async () => {
    const r = await scenario('permission');
    expect(r.code).toBe(0);
    expect(r.childResult.uid).toBe(65534);
    expect(r.childResult.failures[0]).toMatchObject({ code: 'permission_denied' });
    expect(r.childResult.failures[0].message).toContain('group gpio');
    expect(r.exports).toEqual([]);
  });
});
