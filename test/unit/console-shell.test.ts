// The console's pure parts (net set parsing, 80-column formatting) and one
// session over an in-memory Duplex stream with a fake clock.

import { EventEmitter } from 'node:events';
import { PassThrough, Writable, Duplex } from 'node:stream';
import type { SerialPortStream } from '@serialport/stream';
import { describe, expect, it } from 'vitest';
import { Console } from '../../firmware/src/console/console.js';
import { fit, table, wrap, printable } from '../../firmware/src/console/format.js';
import { parseNetSet } from '../../firmware/src/console/network.js';
import { pollForEveryWaiter } from '../../firmware/src/console/poller-fix.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeConsoleHost } from '../helpers/pty.js';

describe('net set parsing', () => {
  it('accepts a host address with an optional gateway inside the subnet', () => {
    expect(parseNetSet(['10.0.0.2/24'])).toEqual({ ok: true, change: { address: '10.0.0.2', prefix: 24 } });
    expect(parseNetSet(['192.168.7.9/31'])).toEqual({ ok: true, change: { address: '192.168.7.9', prefix: 31 } });
    expect(parseNetSet(['10.0.0.2/24', 'gw', '10.0.0.1'])).toEqual({ ok: true, change: { address: '10.0.0.2', prefix: 24, gateway: '10.0.0.1' } });
  });
  it.each([
    [[], 'expected net set ADDRESS/PREFIX [gw GATEWAY]'],
    [['10.0.0.2'], 'expected ADDRESS/PREFIX like 10.0.0.2/24'],
    [['10.0.0.2/33'], 'expected a prefix length from 1 to 32, found 33'],
    [['10.0.0.2/0'], 'expected a prefix length from 1 to 32, found 0'],
    [['127.0.0.5/8'], 'expected a unicast host address'],
    [['224.0.0.1/24'], 'expected a unicast host address'],
    [['10.0.0.255/24'], 'is the broadcast address of /24'],
    [['10.0.0.0/24'], 'is the network address of 10.0.0.0/24'],
    [['10.0.0.2/24', 'via', '10.0.0.1'], "expected 'gw GATEWAY' after the address, found 'via'"],
    [['10.0.0.2/24', 'gw', '10.0.0.2'], 'expected a gateway other than the appliance itself'],
    [['10.0.0.2/24', 'gw', '10.0.1.1'], 'expected a gateway inside 10.0.0.2/24, found 10.0.1.1'],
    [['10.0.0.2/24', 'gw', 'router'], "expected a gateway IPv4 address, found 'router'"],
  ])('refuses %j', (args, problem) => {
    const result = parseNetSet(args);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });
});

describe('80-column formatting', () => {
  it('fits, wraps and makes text inert', () => {
    expect(fit('abcdef', 4)).toBe('abc~');
    expect(fit('abc', 4)).toBe('abc');
    expect(printable('a\x1b[2Jb\u00e9')).toBe('a?[2Jb?');
    expect(wrap('one two three four', 9)).toEqual(['one two', '  three', '  four']);
    expect(wrap('x'.repeat(20), 8)).toEqual(['xxxxxxx~']);
  });
  it('lays out a table with flexible columns within the screen', () => {
    const rows = table(
      [
        { title: 'A', width: 3 },
        { title: 'NAME', flex: true },
        { title: 'N', width: 4, align: 'right' },
      ],
      [['x', 'n'.repeat(200), '7']],
      40,
    );
    // 39 usable columns: 3 + 2 + 28 (flex) + 2 + 4; the right-aligned number ends at column 39.
    expect(rows[0]).toBe('A    NAME' + ' '.repeat(29) + 'N');
    expect(rows[1]).toBe('x    ' + 'n'.repeat(27) + '~     7');
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(39);
  });
});

describe('Console over a Duplex stream', () => {
  function session() {
    const clock = new FakeClock();
    const host = new FakeConsoleHost();
    const input = new PassThrough();
    let screen = '';
    const output = new Writable({
      write(chunk: Buffer, _encoding, done) {
        screen += chunk.toString('latin1');
        done();
      },
    });
    const stream = Duplex.from({ readable: input, writable: output });
    const console_ = new Console({ host, timers: { now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer }, idleMs: 60_000 });
    const detach = console_.attach(stream);
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    return { clock, host, input, console_, detach, settle, screen: () => screen };
  }

  it('logs in, runs a command, logs out when idle, and on detach', async () => {
    const s = session();
    await s.settle();
    expect(s.screen()).toContain('Password: ');
    s.input.write('correct horse\rstatus\r');
    await s.settle();
    expect(s.screen()).toContain('rackboot 0.1.0 (test) on rackboot-lab');
    expect(s.console_.shell.isLoggedIn).toBe(true);
    s.clock.advance(59_000);
    expect(s.console_.shell.isLoggedIn).toBe(true);
    s.input.write('n');
    await s.settle();
    s.clock.advance(59_000);
    expect(s.console_.shell.isLoggedIn).toBe(true);
    s.clock.advance(1_000);
    await s.settle();
    expect(s.console_.shell.isLoggedIn).toBe(false);
    expect(s.screen()).toContain('Logged out after 00:01:00 without input.');

    s.input.write('correct horse\r');
    await s.settle();
    expect(s.console_.shell.isLoggedIn).toBe(true);
    s.detach();
    expect(s.console_.shell.isLoggedIn).toBe(false);
    s.console_.close();
  });

  it('a command that fails in the host prints the error and the session carries on', async () => {
    const s = session();
    await s.settle();
    s.input.write('correct horse\r');
    await s.settle();
    s.host.failNext = 'inventory not ready';
    s.input.write('leases\rnet\r');
    await s.settle();
    expect(s.screen()).toContain('leases failed: inventory not ready');
    expect(s.screen()).toContain('address    10.0.0.2/24');
    expect(s.console_.shell.counters.commandErrors).toBe(1);
    s.console_.close();
  });
});

describe('pollForEveryWaiter (the bindings-cpp poller fix)', () => {
  it('asks the native poller for every event that still has a waiter', () => {
    const asked: number[] = [];
    const poller = Object.assign(new EventEmitter(), { poll: (flags: number) => void asked.push(flags) });
    pollForEveryWaiter({ port: { poller } } as unknown as SerialPortStream);
    poller.once('writable', () => {});
    poller.poll(0b010); // a write waits for "writable"
    poller.once('readable', () => {});
    poller.poll(0b001); // then the read loop waits for "readable": the write's wait must stay
    expect(asked).toEqual([0b010, 0b011]);
    poller.emit('writable');
    poller.poll(0b001);
    expect(asked.at(-1)).toBe(0b001);
  });
});
