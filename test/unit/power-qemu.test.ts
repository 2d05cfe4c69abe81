// The qemu driver with harmless stand-ins for QEMU (sleep, sh): start detached
// with output in a log file, stop with SIGTERM then SIGKILL, state from
// liveness, adopt or stop what a previous run left.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QemuChannelConfig } from '../../firmware/src/config/schema.js';
import { PowerError } from '../../firmware/src/power/driver.js';
import { QemuDriver } from '../../firmware/src/power/qemu.js';

let dir = '';
const started: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rbpwr-qemu-'));
});

afterEach(() => {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.length = 0;
  rmSync(dir, { recursive: true, force: true });
});

function vm(name: string, argv: string[], overrides: Partial<QemuChannelConfig> = {}): QemuChannelConfig {
  return { name, driver: 'qemu', argv, stopTimeoutMs: 2000, offMs: 10, ...overrides };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Waits (up to 10 s) until `path` holds `count` lines saying `text`: the stand-in got that far. */
async function waitForLog(path: string, text: string, count = 1) {
  for (let i = 0; i < 1000; i++) {
    if (existsSync(path) && readFileSync(path, 'utf8').split(text).length - 1 >= count) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${path} never said ${text} ${count} time(s)`);
}

async function open(channels: QemuChannelConfig[], start: 'keep' | 'off' = 'keep', exit: 'keep' | 'off' = 'off') {
  return QemuDriver.open({ channels, runDir: join(dir, 'run'), safeState: { start, exit }, pollMs: 20 });
}

describe('qemu driver', () => {
  it('starts the argv detached with output to its log, reports liveness, stops it, and cycles to a new process', async () => {
    const driver = await open([vm('vm1', ['sh', '-c', 'echo "booting {channel}"; exec sleep 300'], { logFile: join(dir, 'vm1.log') })]);
    expect(driver.canReadState('vm1')).toBe(true);
    expect(await driver.state('vm1')).toBe('off');
    await driver.on('vm1');
    const pid = driver.pidOf('vm1')!;
    started.push(pid);
    expect(alive(pid)).toBe(true);
    expect(await driver.state('vm1')).toBe('on');
    expect(readFileSync(join(dir, 'run', 'vm1.pid'), 'utf8')).toMatch(new RegExp(`^${pid} \\d+\\n$`));
    // Its own process group and session-less stdio: not rackboot's terminal.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    expect(Number(stat[2])).toBe(pid); // pgrp
    await driver.on('vm1'); // already on: no second VM
    expect(driver.pidOf('vm1')).toBe(pid);
    await waitForLog(join(dir, 'vm1.log'), 'booting vm1');

    await driver.cycle('vm1');
    const second = driver.pidOf('vm1')!;
    started.push(second);
    expect(second).not.toBe(pid);
    expect(alive(pid)).toBe(false);
    await waitForLog(join(dir, 'vm1.log'), 'booting vm1', 2);
    await driver.off('vm1');
    expect(alive(second)).toBe(false);
    expect(await driver.state('vm1')).toBe('off');
    expect(existsSync(join(dir, 'run', 'vm1.pid'))).toBe(false);
    expect(readFileSync(join(dir, 'vm1.log'), 'utf8')).toBe('booting vm1\nbooting vm1\n');
    await driver.close();
  });

  it('kills a VM that ignores SIGTERM after stop_timeout', async () => {
    const driver = await open([vm('stubborn', ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'], { stopTimeoutMs: 300 })]);
    await driver.on('stubborn');
    const pid = driver.pidOf('stubborn')!;
    started.push(pid);
    // Wait until the trap is set (the log says ready), so SIGTERM really is ignored.
    await waitForLog(join(dir, 'run', 'stubborn.log'), 'ready');
    const t0 = Date.now();
    await driver.off('stubborn');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(alive(pid)).toBe(false);
  });

  it('adopts a VM a previous run left running (keep), or stops it (off); close() stops VMs with exit off', async () => {
    const config = vm('vm2', ['sleep', '300']);
    const first = await open([config], 'keep', 'keep');
    await first.on('vm2');
    const pid = first.pidOf('vm2')!;
    started.push(pid);
    await first.close(); // exit keep: left running
    expect(alive(pid)).toBe(true);

    const second = await open([config], 'keep', 'off');
    expect(await second.state('vm2')).toBe('on');
    expect(second.pidOf('vm2')).toBe(pid);
    await second.on('vm2'); // adopted: no second copy
    expect(second.pidOf('vm2')).toBe(pid);
    await second.close(); // exit off: stopped
    expect(alive(pid)).toBe(false);
    const closedError = await second.on('vm2').catch((e: unknown) => e);
    expect(closedError).toMatchObject({ code: 'closed' });

    const third = await open([config], 'keep', 'keep');
    await third.on('vm2');
    const pid3 = third.pidOf('vm2')!;
    started.push(pid3);
    const fourth = await open([config], 'off', 'keep');
    expect(alive(pid3)).toBe(false);
    expect(await fourth.state('vm2')).toBe('off');
  });

  it('does not adopt a stale pid file whose pid now names another process', async () => {
    const config = vm('vm3', ['qemu-system-x86_64', '-nographic']);
    const runDir = join(dir, 'run');
    await open([]); // creates runDir
    writeFileSync(join(runDir, 'vm3.pid'), `${process.pid} 1\n`); // alive, but started at another time: a reused pid
    const driver = await open([config]);
    expect(await driver.state('vm3')).toBe('off');
    expect(existsSync(join(runDir, 'vm3.pid'))).toBe(false);
  });

  it('says when the program cannot start', async () => {
    const driver = await open([vm('vm4', ['/nonexistent/qemu-system-x86_64'])]);
    const error = await driver.on('vm4').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PowerError);
    expect(error).toMatchObject({ code: 'spawn_failed', channel: 'vm4' });
    expect((error as Error).message).toContain('not found (is QEMU installed?)');
    expect(await driver.state('vm4')).toBe('off');
  });
});
