/**
 * A sysfs GPIO tree that behaves like the kernel's, for running the real onoff
 * package (and rackboot's gpio driver) on a machine without GPIO hardware.
 *
 * Use it inside a private mount namespace with a tmpfs over /sys/class (so
 * /sys/class/gpio can be created and nothing outside the namespace sees it):
 *
 *   unshare --mount --propagation private node script.mjs
 *     mountPrivateSysClass();                                   // tmpfs on /sys/class
 *     const emu = GpioSysfsEmulator.start({ chips: [{ base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }] });
 *     ... new Gpio(529, 'out') ...
 *     emu.scan();                                               // see every change made so far
 *     emu.history(529)                                          // [{ at, raw, direction }...]
 *
 * What it emulates (drivers/gpio/gpiolib-sysfs.c):
 * - gpiochipN/{base,label,ngpio}; `export` (mode 0200) and `unexport` (0200).
 * - Writing a number to export creates gpioN/{direction,value,active_low,edge}
 *   (direction "in", value the line's input level from `pulls`), unless the
 *   number is outside every chip or `claimed` (a pin a kernel driver holds).
 *   The kernel fails such writes with EINVAL/EBUSY; a tmpfs write cannot fail,
 *   so here the directory simply never appears.
 * - direction "high"/"low"/"out"/"in" set the raw line level the way the kernel
 *   does (raw: active_low does not apply), and read back as "out"/"in".
 * - value is logical: raw = value XOR active_low; changing active_low keeps the
 *   raw level and re-renders value, as reading it from the kernel would.
 *
 * The files are ordinary tmpfs files, so the emulator learns of writes by
 * scanning: on inotify events, on a short poll, and whenever a test calls
 * scan(). A test that needs every intermediate level (a button press) calls
 * scan() between the writes — the gpio driver's injectable sleep is the place.
 * Unlike the kernel, the emulator answers after the fact: a writer in another
 * process should let it take a direction write (which changes what `value`
 * shows) before writing a value, or the emulator's re-render of `value` can
 * race with that write.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export interface EmulatedChip {
  base: number;
  ngpio: number;
  label: string;
}

export interface LevelChange {
  at: number;
  raw: 0 | 1;
  direction: 'in' | 'out';
}

export interface GpioSysfsOptions {
  root?: string;
  chips: EmulatedChip[];
  /** Input level per sysfs number when not driven (the relay board's pull-up or pull-down); default 0. */
  pulls?: Record<number, 0 | 1>;
  /** Sysfs numbers a kernel driver holds: export never produces their directory. */
  claimed?: number[];
  /** Pins exported before the test (by an earlier run), with their state. */
  preExported?: Record<number, { direction: 'in' | 'out'; raw: 0 | 1; activeLow: boolean }>;
  pollMs?: number;
}

interface Line {
  direction: 'in' | 'out';
  raw: 0 | 1;
  activeLow: boolean;
  /** File contents as last written by the emulator, to tell the user's writes apart. */
  seen: { direction: string; value: string; active_low: string };
}

/** Mounts a tmpfs over /sys/class. Only inside a private mount namespace! */
export function mountPrivateSysClass(): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'rbpwr-sysclass', '/sys/class']);
}

export class GpioSysfsEmulator {
  private readonly lines = new Map<number, Line>();
  private readonly records = new Map<number, LevelChange[]>();
  private readonly exportLog: { at: number; gpio: number; accepted: boolean }[] = [];
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly root: string;

  private constructor(private readonly options: GpioSysfsOptions) {
    this.root = options.root ?? '/sys/class/gpio';
  }

  static start(options: GpioSysfsOptions): GpioSysfsEmulator {
    const emu = new GpioSysfsEmulator(options);
    emu.build();
    emu.watcher = watch(emu.root, () => emu.scan());
    emu.timer = setInterval(() => emu.scan(), options.pollMs ?? 5);
    return emu;
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** Every level the line had, in order, from export (or pre-export) on. */
  history(gpio: number): LevelChange[] {
    return this.records.get(gpio) ?? [];
  }

  exports(): { at: number; gpio: number; accepted: boolean }[] {
    return this.exportLog;
  }

  isExported(gpio: number): boolean {
    return this.lines.has(gpio);
  }

  line(gpio: number): { direction: 'in' | 'out'; raw: 0 | 1; activeLow: boolean } | undefined {
    const line = this.lines.get(gpio);
    return line && { direction: line.direction, raw: line.raw, activeLow: line.activeLow };
  }

  /** Processes everything written so far. */
  scan(): void {
    this.handleExportFile('export');
    this.handleExportFile('unexport');
    for (const [gpio, line] of this.lines) this.scanLine(gpio, line);
  }

  private build(): void {
    mkdirSync(this.root, { recursive: true });
    for (const chip of this.options.chips) {
      const dir = join(this.root, `gpiochip${chip.base}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'base'), `${chip.base}\n`);
      writeFileSync(join(dir, 'ngpio'), `${chip.ngpio}\n`);
      writeFileSync(join(dir, 'label'), `${chip.label}\n`);
    }
    for (const name of ['export', 'unexport']) {
      writeFileSync(join(this.root, name), '');
      chmodSync(join(this.root, name), 0o200);
    }
    for (const [gpio, state] of Object.entries(this.options.preExported ?? {})) {
      this.create(Number(gpio), state.direction, state.raw, state.activeLow);
    }
  }

  private handleExportFile(name: 'export' | 'unexport'): void {
    const path = join(this.root, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    if (text === '') return;
    writeFileSync(path, '');
    for (const word of text.split(/\s+/).filter(Boolean)) {
      const gpio = Number(word);
      if (name === 'unexport') {
        if (this.lines.delete(gpio)) rmSync(join(this.root, `gpio${gpio}`), { recursive: true, force: true });
        continue;
      }
      const accepted = Number.isInteger(gpio) && this.chipOf(gpio) !== undefined && !(this.options.claimed ?? []).includes(gpio) && !this.lines.has(gpio);
      this.exportLog.push({ at: Date.now(), gpio, accepted });
      if (accepted) this.create(gpio, 'in', this.options.pulls?.[gpio] ?? 0, false);
    }
  }

  private chipOf(gpio: number): EmulatedChip | undefined {
    return this.options.chips.find((chip) => gpio >= chip.base && gpio < chip.base + chip.ngpio);
  }

  private create(gpio: number, direction: 'in' | 'out', raw: 0 | 1, activeLow: boolean): void {
    const dir = join(this.root, `gpio${gpio}`);
    mkdirSync(dir);
    const line: Line = { direction, raw, activeLow, seen: { direction: '', value: '', active_low: '' } };
    writeFileSync(join(dir, 'edge'), 'none\n');
    this.render(gpio, line);
    this.lines.set(gpio, line);
    this.record(gpio, line);
  }

  /**
   * Writes the files as the kernel would show them now. Only files whose text
   * changes are rewritten: a rewrite can race with a writer in another process
   * (read, their write, our write), which the kernel's files never do.
   */
  private render(gpio: number, line: Line): void {
    const dir = join(this.root, `gpio${gpio}`);
    const shown = { direction: `${line.direction}\n`, value: `${line.raw ^ (line.activeLow ? 1 : 0)}\n`, active_low: `${line.activeLow ? 1 : 0}\n` };
    for (const [file, text] of Object.entries(shown)) {
      const path = join(dir, file);
      if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
    }
    line.seen = shown;
  }

  private scanLine(gpio: number, line: Line): void {
    const dir = join(this.root, `gpio${gpio}`);
    if (!existsSync(dir)) return;
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    let changed = false;
    const activeLow = read('active_low');
    if (activeLow !== line.seen.active_low) {
      line.activeLow = activeLow.trim() === '1';
      changed = true;
    }
    const direction = read('direction');
    if (direction !== line.seen.direction) {
      const word = direction.trim();
      if (word === 'in') {
        line.direction = 'in';
        line.raw = this.options.pulls?.[gpio] ?? 0;
      } else if (word === 'high' || word === 'low' || word === 'out') {
        line.direction = 'out';
        line.raw = word === 'high' ? 1 : 0;
      }
      changed = true;
    }
    const value = read('value');
    // Applied after direction: a writer sets the direction before it can write a value (inputs refuse values).
    if (value !== line.seen.value && line.direction === 'out') {
      // onoff writes one byte at offset 0 without truncating: the first character is what was written.
      line.raw = ((value[0] === '1' ? 1 : 0) ^ (line.activeLow ? 1 : 0)) as 0 | 1;
      changed = true;
    }
    if (value !== line.seen.value || changed) {
      this.render(gpio, line);
      this.record(gpio, line);
    }
  }

  private record(gpio: number, line: Line): void {
    const list = this.records.get(gpio) ?? [];
    const last = list.at(-1);
    if (!last || last.raw !== line.raw || last.direction !== line.direction) list.push({ at: Date.now(), raw: line.raw, direction: line.direction });
    this.records.set(gpio, list);
  }
}

/** For tests that need to see which gpio directories exist. */
export function listExported(root = '/sys/class/gpio'): number[] {
  return readdirSync(root)
    .filter((name) => /^gpio\d+$/.test(name))
    .map((name) => Number(name.slice(4)))
    .sort((a, b) => a - b);
}
