// The serial console over a real pty pair made by socat: the console opens one
// end with @serialport/stream (the native binding, as on the appliance), the
// test is the laptop at the other end, typing and reading the screen. The host
// is a fake; the session timers (lockout, idle logout) run on a fake clock so
// nothing here depends on how fast the machine is.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Console } from '../../firmware/src/console/console.js';
import { realConsoleTimers, type ConsoleTimers } from '../../firmware/src/console/shell.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeConsoleHost, SocatPair, Terminal, serialNoise, until } from '../helpers/pty.js';

const PASSWORD = 'correct horse';
const UP = '\x1b[A';
const DOWN = '\x1b[B';
const LEFT = '\x1b[D';
const RIGHT = '\x1b[C';

describe('serial console over a socat pty pair', () => {
  let pair: SocatPair;
  let terminal: Terminal;
  let console_: Console;
  const host = new FakeConsoleHost();
  const earlierRows: string[] = [];
  const clock = new FakeClock();
  const sessionTimers: ConsoleTimers = { now: () => clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer };

  // `terminal` is replaced after a re-plug: these always use the current one.
  const run = (line: string) => terminal.run(line);
  const login = () => terminal.login(PASSWORD);

  beforeAll(async () => {
    pair = await SocatPair.start('rbcon');
    host.setupDone = false;
    console_ = new Console({ host, timers: sessionTimers, version: '0.1.0 (test)' });
    console_.startSerial({ device: pair.console, baud: 115200, timers: realConsoleTimers, firstRetryMs: 100, maxRetryMs: 400 });
    terminal = await Terminal.open(pair.laptop);
  });

  afterAll(async () => {
    console_?.close();
    await terminal?.close();
    await pair?.stop();
  });

  it('before setup only prints the setup token (and help)', async () => {
    await terminal.enter('');
    await terminal.waitForPrompt('setup>');
    // Shown unasked before the first prompt, with what can be done.
    expect(terminal.since(0)).toEqual(
      expect.arrayContaining(['setup token: ABCD-EFGH-IJKL', 'Type setup-token for the token the web UI asks for, or passwd to set the admin']),
    );
    let mark = terminal.mark();
    await terminal.enter('status');
    await terminal.waitFor('Setup is not done: only help, setup-token, tls, passwd work', mark);
    expect(host.callsOf('status')).toHaveLength(0);
    await terminal.waitForPrompt('setup>');

    await terminal.type('se\t');
    await terminal.waitForPrompt('setup> setup-token');
    mark = terminal.mark();
    await terminal.enter('');
    await terminal.waitFor('setup token: ABCD-EFGH-IJKL', mark);
    await terminal.waitFor('Open https://10.0.0.2/ and enter it', mark);
  });

  it('a passwd begun before setup does not overwrite a password set through the web while it asked', async () => {
    await terminal.waitForPrompt('setup>');
    const mark = terminal.mark();
    await terminal.enter('passwd');
    await terminal.waitForPrompt('New password:');
    await terminal.enter('typed at the console');
    await terminal.waitForPrompt('Again:');
    // Meanwhile the web UI completes the setup.
    host.setupDone = true;
    await terminal.enter('typed at the console');
    await terminal.waitFor('passwd failed: The admin password was set meanwhile (through the web UI?); log', mark);
    expect(host.callsOf('setPassword').at(-1)).toEqual(['console', true]);
    expect(host.password).toBe(PASSWORD);
    // Back to the state the next test starts from.
    await terminal.waitForPrompt('Password:');
    host.setupDone = false;
    await terminal.enter('');
    await terminal.waitForPrompt('setup>');
  });

  it('asks for the password once setup is done, without echo, and locks out after failures (30 s, then 60 s)', async () => {
    host.setupDone = true;
    await terminal.waitForPrompt('setup>');
    await terminal.enter('');
    await terminal.waitForPrompt('Password:');
    let mark = terminal.mark();
    for (let i = 0; i < 3; i++) {
      await terminal.waitForPrompt('Password:');
      await terminal.enter(`wrong-${i}`);
      await terminal.waitFor(/Login incorrect/, mark + i);
    }
    await terminal.waitFor('Locked after failed logins; try again in 30 s.', mark);
    expect(terminal.raw).not.toContain('wrong-0');

    // While locked, even the right password is not looked at.
    const checks = host.callsOf('verifyPassword').length;
    await terminal.enter(PASSWORD);
    // Wait until the console has the bytes (and dropped them), or they could arrive after the lock ends.
    await until(() => console_.shell.counters.droppedInput >= PASSWORD.length + 1);
    clock.advance(29_000);
    expect(host.callsOf('verifyPassword')).toHaveLength(checks);
    clock.advance(1_000);
    await terminal.waitForPrompt('Password:');

    mark = terminal.mark();
    for (let i = 0; i < 3; i++) {
      await terminal.waitForPrompt('Password:');
      await terminal.enter('still-wrong');
      await terminal.waitFor(/Login incorrect/, mark + i);
    }
    await terminal.waitFor('try again in 60 s.', mark);
    clock.advance(60_000);
    await terminal.waitForPrompt('Password:');
    mark = terminal.mark();
    await terminal.enter(PASSWORD);
    await terminal.waitFor('Logged in. Type help for the commands.', mark);
    expect(terminal.raw).not.toContain(PASSWORD);
    expect(host.callsOf('verifyPassword').length).toBe(checks + 4);
  });

  it('help lists every command and explains one; bad input says what was expected', async () => {
    const all = await run('help');
    for (const name of [
      'help',
      'status',
      'nodes',
      'node NAME',
      'leases',
      'power on|off|cycle NODE|all',
      'boot NODE PROFILE',
      'log',
      'net',
      'setup-token',
      'passwd',
      'reboot',
      'shutdown',
      'logout',
    ]) {
      expect(
        all.some((row) => row.startsWith(name)),
        name,
      ).toBe(true);
    }
    expect(await run('help power')).toEqual(expect.arrayContaining(['usage: power on|off|cycle NODE|all']));
    expect((await run('help nope')).join('\n')).toContain("help: no command 'nope'; expected one of: help, status");
    expect((await run('frobnicate now')).join('\n')).toContain("Unknown command 'frobnicate'. Expected one of: help, status, nodes");
    expect(await run('status extra')).toEqual(["status: unexpected 'extra'", 'usage: status']);
  });

  it('status, nodes, node, leases', async () => {
    const status = await run('status');
    expect(status[0]).toBe('rackboot 0.1.0 (test) on rackboot-lab, up 1d 02:03:04');
    expect(status[1]).toBe('interface eth1  address 10.0.0.2  mode dhcp  http :80  tftp :69');
    expect(status[2]).toBe('nodes 3: off 1, nbp_tftp 1, booted 1');
    expect(status[3]).toBe('recovery on for 1 node (automatic power-cycling after a failed boot)');
    expect(status.join('\n')).toMatch(/dhcp\.ack +80 +dhcp\.discover +120/);

    const nodes = await run('nodes');
    expect(nodes[0]).toMatch(/^NAME +MAC +IP +STAGE +BOOT +DIAGNOSIS$/);
    // BOOT: the architecture the firmware announced (compact) and the loader; "-" until a firmware has asked.
    expect(nodes).toContainEqual(expect.stringMatching(/^compute-with-~ +52:54:00:00:00:0c +10\.0\.0\.12 +off +- ipxe$/));
    expect(nodes).toContainEqual(expect.stringMatching(/^node-a +52:54:00:00:00:0a +10\.0\.0\.10 +booted +x64 grub +booted$/));
    expect(nodes).toContainEqual(expect.stringMatching(/^node-b +52:54:00:00:00:0b +10\.0\.0\.11 +nbp_tftp +arm64h ipxe +tftp_read_tim~$/));
    expect(nodes.at(-1)).toBe('3 nodes');

    const node = await run('node node-a');
    expect(node[0]).toBe('node-a  52:54:00:00:00:0a  ip 10.0.0.10  power on');
    expect(node).toContain('recovery on (1 power-cycle since an operator switched it)');
    expect(node).toContain('arch x64 UEFI  loader GRUB (shim)');
    expect(node).toContain('timeline (2 of 2 events):');
    expect(node).toContain('  22:01:02 stage           booted in 42 s');
    expect(await run('node ghost')).toEqual(["node: no node named 'ghost' (type nodes to list them)", 'usage: node NAME']);
    const nodeB = (await run('node node-b')).join('\n');
    expect(nodeB).toContain('diagnosis: tftp_read_timeout - block 17 never acknowledged');
    expect(nodeB).toContain('recovery off');
    expect(nodeB).toContain('arch arm64 UEFI HTTP  loader iPXE');
    expect(await run('node compute-with-a-very-long-name-01')).toContain('arch not seen yet  loader iPXE');

    const leases = await run('leases');
    expect(leases[0]).toMatch(/^IP +MAC +STATE +EXPIRES +NODE$/);
    expect(leases[1]).toMatch(/^10\.0\.0\.10 +52:54:00:00:00:0a +bound +in (59|60) min +node-a$/);
  });

  it('power: on runs at once, off and all ask first; bad actions say what was expected', async () => {
    expect((await run('power on node-a')).join('\n')).toMatch(/node-a +on +ok +on/);
    expect(host.callsOf('power')).toEqual([['node-a', 'on', 'console']]);

    let mark = terminal.mark();
    await terminal.enter('power off node-b');
    await terminal.waitForPrompt('Power off node-b? [y/N]');
    await terminal.enter('n');
    await terminal.waitFor('Nothing done.', mark);
    expect(host.callsOf('power')).toHaveLength(1);

    mark = terminal.mark();
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('power cycle all');
    await terminal.waitForPrompt('Power cycle every node with a power channel? [y/N]');
    await terminal.enter('y');
    await terminal.waitFor(/node-b +cycle +ok/, mark);
    expect(host.callsOf('power').at(-1)).toEqual(['all', 'cycle', 'console']);

    expect(await run('power sideways node-a')).toEqual(["power: expected on, off or cycle, found 'sideways'", 'usage: power on|off|cycle NODE|all']);
    expect(await run('power on')).toEqual(['power: expected 1 more argument', 'usage: power on|off|cycle NODE|all']);
  });

  it('boot sets the next boot profile', async () => {
    expect(await run('boot node-a reimage')).toEqual(['node-a boots reimage next time (once).']);
    expect(host.callsOf('setNextBoot')).toEqual([['52:54:00:00:00:0a', 'reimage', 'console']]);
    expect((await run('boot node-a nope'))[0]).toBe("boot: no profile 'nope'; expected one of: debian, reimage, local");
  });

  it('log follows events until a key is pressed', async () => {
    await terminal.waitForPrompt('rackboot>');
    const mark = terminal.mark();
    await terminal.enter('log');
    await terminal.waitFor('Following events; press any key to stop.', mark);
    expect(host.subscribers).toBe(1);
    host.emit({
      id: 3,
      at: Date.UTC(2026, 10, 23, 22, 5, 0),
      type: 'power',
      mac: '52:54:00:00:00:0b',
      node: 'node-b',
      message: 'power cycle ok (by console)\x1b[2J',
    });
    await terminal.waitFor('22:05:00 power           node-b: power cycle ok (by console)?[2J', mark);
    await terminal.type('q');
    await terminal.waitFor('Stopped following.', mark);
    await terminal.waitForPrompt('rackboot>');
    expect(host.subscribers).toBe(0);
  });

  it('net shows the address and sets a new one after confirmation; bad addresses are refused', async () => {
    expect(await run('net')).toEqual(['interface  eth1', 'address    10.0.0.2/24', 'gateway    10.0.0.1']);
    const mark = terminal.mark();
    await terminal.enter('net set 10.0.0.3/24 gw 10.0.0.254');
    await terminal.waitFor('eth1: 10.0.0.2/24 gw 10.0.0.1  ->  10.0.0.3/24 gw 10.0.0.254', mark);
    await terminal.waitForPrompt('Apply the new address? [y/N]');
    await terminal.enter('yes');
    await terminal.waitFor('eth1 now has 10.0.0.3/24 gw 10.0.0.254.', mark);
    expect(host.callsOf('setNetwork')).toEqual([[{ address: '10.0.0.3', prefix: 24, gateway: '10.0.0.254' }, 'console']]);
    expect((await run('net set 10.0.0.0/24'))[0]).toBe('net: 10.0.0.0 is the network address of 10.0.0.0/24, expected a host address');
    expect((await run('net set 10.0.0.3/24 gw 192.168.1.1'))[0]).toBe('net: expected a gateway inside 10.0.0.3/24, found 192.168.1.1');
    expect((await run('net set 10.0.0.300/24'))[0]).toBe("net: expected an IPv4 address like 10.0.0.2, found '10.0.0.300'");
    expect(host.callsOf('setNetwork')).toHaveLength(1);
  });

  it('setup-token after setup, passwd (twice, no echo), reboot and shutdown with confirmation', async () => {
    // Prose longer than the screen wraps at a space, continuation indented.
    expect(await run('setup-token')).toEqual(['Setup is done; the setup token is no longer valid. Use passwd to reset the', '  password.']);

    let mark = terminal.mark();
    await terminal.enter('passwd');
    await terminal.waitForPrompt('New password:');
    await terminal.enter('new-secret-1');
    await terminal.waitForPrompt('Again:');
    await terminal.enter('new-secret-2');
    await terminal.waitFor('The passwords differ; password not changed.', mark);
    mark = terminal.mark();
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('passwd');
    await terminal.waitForPrompt('New password:');
    await terminal.enter('short');
    await terminal.waitForPrompt('Again:');
    await terminal.enter('short');
    await terminal.waitFor('passwd failed: expected at least 8 characters, found 5', mark);
    mark = terminal.mark();
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('passwd');
    await terminal.waitForPrompt('New password:');
    await terminal.enter('battery staple');
    await terminal.waitForPrompt('Again:');
    await terminal.enter('battery staple');
    await terminal.waitFor('Password changed.', mark);
    expect(host.password).toBe('battery staple');
    expect(terminal.raw).not.toContain('battery staple');
    expect(terminal.raw).not.toContain('new-secret');

    mark = terminal.mark();
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('reboot');
    await terminal.waitForPrompt('Reboot the appliance? [y/N]');
    await terminal.enter('');
    await terminal.waitFor('Nothing done.', mark);
    expect(host.callsOf('reboot')).toHaveLength(0);
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('reboot');
    await terminal.waitForPrompt('Reboot the appliance? [y/N]');
    await terminal.enter('y');
    await terminal.waitFor('Rebooting...', mark);
    await terminal.waitForPrompt('rackboot>');
    expect(host.callsOf('reboot')).toEqual([['console']]);
    await terminal.enter('shutdown');
    await terminal.waitForPrompt('Shut the appliance down? [y/N]');
    await terminal.enter('y');
    await terminal.waitFor('Shutting down...', mark);
    expect(host.callsOf('shutdown')).toEqual([['console']]);
    host.password = PASSWORD;
  });

  it('line editing: insert in the middle, Ctrl-A/E, arrows, backspace (DEL and BS), Ctrl-U, Ctrl-C', async () => {
    await terminal.waitForPrompt('rackboot>');
    await terminal.type('nods');
    await terminal.type(LEFT + 'e');
    await terminal.waitForPrompt('rackboot> nodes');
    expect(terminal.cursorColumn).toBe('rackboot> node'.length);
    await terminal.type('\x01X');
    await terminal.waitForPrompt('rackboot> Xnodes');
    await terminal.type('\x7f\x05Z');
    await terminal.waitForPrompt('rackboot> nodesZ');
    await terminal.type('\x08');
    await terminal.waitForPrompt('rackboot> nodes');
    await terminal.type('\x15');
    await terminal.waitForPrompt('rackboot>');
    await terminal.type('leases' + LEFT + LEFT + RIGHT + RIGHT + 'x\x7f');
    await terminal.waitForPrompt('rackboot> leases');
    const calls = host.callsOf('leases').length;
    const mark = terminal.mark();
    await terminal.type('\x03');
    await terminal.waitFor('rackboot> leases^C', mark);
    await terminal.waitForPrompt('rackboot>');
    expect(host.callsOf('leases')).toHaveLength(calls);
    expect((await run('nodes')).at(-1)).toBe('3 nodes');
  });

  it('history: up and down arrows recall earlier lines', async () => {
    await run('leases');
    await run('net');
    await terminal.type(UP);
    await terminal.waitForPrompt('rackboot> net');
    await terminal.type(UP);
    await terminal.waitForPrompt('rackboot> leases');
    await terminal.type(UP);
    await terminal.waitForPrompt('rackboot> nodes');
    await terminal.type(UP);
    await terminal.waitForPrompt('rackboot> shutdown');
    await terminal.type(DOWN);
    await terminal.waitForPrompt('rackboot> nodes');
    await terminal.type(DOWN + DOWN + DOWN);
    await terminal.waitForPrompt('rackboot>');
    await terminal.type(UP + UP);
    await terminal.waitForPrompt('rackboot> leases');
    const mark = terminal.mark();
    await terminal.enter('');
    await terminal.waitFor(/^IP +MAC/, mark);
    await terminal.waitForNextPrompt(mark);
  });

  it('tab completes commands, arguments and node names', async () => {
    await terminal.type('po\t');
    await terminal.waitForPrompt('rackboot> power');
    const bells = terminal.bells;
    await terminal.type('o\t');
    await terminal.waitForPrompt('rackboot> power o');
    const mark = terminal.mark();
    await terminal.type('\t');
    await terminal.waitFor(/^off +on$/, mark);
    expect(terminal.bells).toBeGreaterThan(bells);
    await terminal.type('n\tnode-\t\tb\t');
    await terminal.waitForPrompt('rackboot> power on node-b');
    await terminal.type('\x15node comp\t');
    await terminal.waitForPrompt('rackboot> node compute-with-a-very-long-name-01');
    await terminal.type('\x15boot node-a r\t');
    await terminal.waitForPrompt('rackboot> boot node-a reimage');
    await terminal.type('\x15');
    await terminal.waitForPrompt('rackboot>');
  });

  it('CR, LF and CRLF each end one line', async () => {
    const before = host.callsOf('leases').length;
    const mark = terminal.mark();
    await terminal.type('leases\r\nleases\nleases\r');
    await until(() => host.callsOf('leases').length === before + 3);
    await until(() => terminal.since(mark).filter((r) => r.startsWith('1 lease')).length === 3);
    await terminal.waitForPrompt('rackboot>');
    expect(terminal.since(mark).filter((r) => r.startsWith('rackboot> leases'))).toHaveLength(3);
    expect(host.callsOf('leases')).toHaveLength(before + 3);
  });

  it('survives binary noise, a 10 kB line and a break, and keeps working', { timeout: 90_000 }, async () => {
    // Noise may contain CR, Ctrl-C and Tab (not Ctrl-D, which logs out); the line is cleared afterwards.
    const noise = serialNoise(8192, 12345);
    const received = console_.counters.inputBytes;
    await terminal.type(noise);
    // Lines in the noise run as (unknown) commands; what arrives meanwhile is typed ahead, the excess dropped.
    await until(() => console_.counters.inputBytes === received + noise.length && console_.shell.isIdle);
    // The noise made a lot of screen output (redraws); a marker command tells when the laptop has all of it.
    const noiseMark = terminal.mark();
    await terminal.type('\x15help nodes\r');
    await terminal.waitFor('usage: nodes', noiseMark, 60_000);
    await terminal.waitForPrompt('rackboot>');
    expect(console_.shell.isLoggedIn).toBe(true);

    const bells = terminal.bells;
    const mark = terminal.mark();
    await terminal.type('x'.repeat(10 * 1024) + '\r');
    await terminal.waitFor(/^ {2}'x+~$/, mark);
    expect(console_.counters.droppedOutput).toBe(0);
    expect(terminal.bells).toBeGreaterThan(bells);
    expect(console_.shell.editor.counters.overflowChars).toBe(10 * 1024 - 1024);

    await terminal.type('\x00\x00\x00sta\x00tus\x00\r');
    const status = await terminal.waitFor(/^rackboot 0\.1\.0 \(test\) on rackboot-lab/, mark);
    expect(status).toContain('up 1d');
    expect((await run('nodes')).at(-1)).toBe('3 nodes');
    expect(console_.shell.editor.counters.ignoredBytes).toBeGreaterThan(0);
  });

  it('logs out after 15 minutes without input, and on logout and Ctrl-D', async () => {
    await terminal.waitForPrompt('rackboot>');
    let mark = terminal.mark();
    clock.advance(15 * 60_000);
    await terminal.waitFor('Logged out after 00:15:00 without input.', mark);
    await terminal.waitForPrompt('Password:');
    expect(console_.shell.isLoggedIn).toBe(false);

    await terminal.enter(PASSWORD);
    await terminal.waitForPrompt('rackboot>');
    mark = terminal.mark();
    await terminal.enter('logout');
    await terminal.waitFor('Logged out.', mark);
    await terminal.waitForPrompt('Password:');

    await login();
    mark = terminal.mark();
    await terminal.type('\x04');
    await terminal.waitFor('Logged out.', mark);
    await terminal.waitForPrompt('Password:');
  });

  it('comes back when the adapter is unplugged and plugged in again, logged out', async () => {
    await login();
    earlierRows.push(...terminal.rows);
    await terminal.close();
    await pair.unplug();
    await until(() => !console_.shell.isLoggedIn);
    await pair.plug();
    terminal = await Terminal.open(pair.laptop);
    await terminal.enter('');
    await terminal.waitForPrompt('Password:');
    const mark = terminal.mark();
    await terminal.enter(PASSWORD);
    await terminal.waitFor('Logged in.', mark);
    expect((await run('nodes')).at(-1)).toBe('3 nodes');
  });

  it('never prints past 80 columns', () => {
    // Everything the console printed in this file, as the terminal shows it.
    const wide = [...earlierRows, ...terminal.rows].filter((row) => row.trimEnd().length > 80);
    expect(wide).toEqual([]);
  });
});
