// The command driver with real processes: small sh scripts in a temp dir stand
// in for ipmitool or a PDU CLI and record how they were called.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandDriver, parseStateWords } from '../../firmware/src/power/command.js';
import type { CommandChannelConfig } from '../../firmware/src/config/schema.js';
import { PowerError } from '../../firmware/src/power/driver.js';

let dir = '';
const script = (name: string, body: string) => {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rbpwr-cmd-'));
  // A fake BMC: remembers each channel's power in a file, logs every call with its arguments.
  script(
    'bmc',
    `echo "$@" >> "${dir}/calls"\ncase "$2" in\n  on|off) echo "$2" > "${dir}/state-$1" ;;\n  status) echo "Chassis Power is $(cat "${dir}/state-$1" 2>/dev/null || echo off)" ;;\n  fail) echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1 ;;\nesac`,
  );
  // Not exec: the sleep is a grandchild that holds stdout open, so only killing the group ends the wait.
  script('sleepy', 'echo "connecting to pdu..." >&2\nsleep 30\necho done');
  script('exitcode', `test "$(cat "${dir}/state-$1" 2>/dev/null)" = on && exit 0\ntest -e "${dir}/broken" && { echo "no route to host" >&2; exit 7; }\nexit 1`);
  script('mumble', 'echo "Power: unknown"');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function channel(name: string, overrides: Partial<CommandChannelConfig> = {}): CommandChannelConfig {
  return {
    name,
    driver: 'command',
    on: [join(dir, 'bmc'), '{channel}', 'on'],
    off: [join(dir, 'bmc'), '{channel}', 'off'],
    state: [join(dir, 'bmc'), '{channel}', 'status'],
    stateFrom: 'words',
    timeoutMs: 5000,
    offMs: 20,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<PowerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PowerError);
  return error as PowerError;
}

describe('command driver', () => {
  it('runs the argv per action with {channel} substituted, and reads state from words', async () => {
    const driver = new CommandDriver({ channels: [channel('node-01'), channel('weird; rm -rf x', {})] });
    expect(driver.canReadState('node-01')).toBe(true);
    expect(await driver.state('node-01')).toBe('off');
    await driver.on('node-01');
    expect(await driver.state('node-01')).toBe('on');
    await driver.cycle('node-01'); // no cycle command: off, pause, on
    expect(await driver.state('node-01')).toBe('on');
    // No shell: the name is one argument, never shell syntax.
    await driver.on('weird; rm -rf x');
    const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
    expect(calls).toEqual(['node-01 status', 'node-01 on', 'node-01 status', 'node-01 off', 'node-01 on', 'node-01 status', 'weird; rm -rf x on']);
    await driver.close();
  });

  it('uses a configured cycle command, and exit codes for state when told to', async () => {
    writeFileSync(join(dir, 'calls'), '');
    const driver = new CommandDriver({
      channels: [channel('n2', { cycle: [join(dir, 'bmc'), '{channel}', 'cycle'], state: [join(dir, 'exitcode'), '{channel}'], stateFrom: 'exit_code' })],
    });
    await driver.cycle('n2');
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe('n2 cycle\n');
    expect(await driver.state('n2')).toBe('off');
    await driver.on('n2');
    expect(await driver.state('n2')).toBe('on');
    await driver.off('n2');
    writeFileSync(join(dir, 'broken'), '');
    const error = await rejection(driver.state('n2'));
    rmSync(join(dir, 'broken'));
    expect(error.code).toBe('command_failed');
    expect(error.message).toContain('exited with code 7; expected 0 (on) or 1 (off): no route to host');
  });

  it('kills a command that outlives its timeout and quotes its stderr', async () => {
    const driver = new CommandDriver({ channels: [channel('n3', { on: [join(dir, 'sleepy')], timeoutMs: 300 })] });
    const started = Date.now();
    const error = await rejection(driver.on('n3'));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.code).toBe('timeout');
    expect(error.message).toMatch(/did not finish within 300 ms and was killed: connecting to pdu\.\.\./);
  });

  it('reports a failing command with its exit code and stderr, a missing program, and unreadable state', async () => {
    const driver = new CommandDriver({
      channels: [
        channel('n4', { off: [join(dir, 'bmc'), '{channel}', 'fail'] }),
        channel('n5', { on: [join(dir, 'no-such-tool'), '{channel}'] }),
        channel('n6', { state: [join(dir, 'mumble')] }),
        channel('n7', { state: undefined }),
      ],
    });
    const failed = await rejection(driver.off('n4'));
    expect(failed).toMatchObject({ channel: 'n4', code: 'command_failed' });
    expect(failed.message).toBe(
      `power channel n4: off command "${join(dir, 'bmc')} n4 fail" exited with code 1: Error: Unable to establish IPMI v2 / RMCP+ session`,
    );
    const missing = await rejection(driver.on('n5'));
    expect(missing.code).toBe('spawn_failed');
    expect(missing.message).toContain('not found');
    const mumble = await rejection(driver.state('n6'));
    expect(mumble.code).toBe('bad_output');
    expect(mumble.message).toContain('"Power: unknown"');
    expect(driver.canReadState('n7')).toBe(false);
    expect(await driver.state('n7')).toBe('unknown');
    expect((await rejection(driver.on('nope'))).code).toBe('unknown_channel');
  });

  it('reads on/off as whole words only', () => {
    expect(parseStateWords('Chassis Power is on\n')).toBe('on');
    expect(parseStateWords('Outlet 3: OFF')).toBe('off');
    expect(parseStateWords('online')).toBeUndefined();
    expect(parseStateWords('on/off')).toBeUndefined();
  });
});
