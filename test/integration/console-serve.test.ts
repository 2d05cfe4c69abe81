// The serial console of the real bundle: `rackboot serve` with `console.device`
// set to one end of a socat pty pair, in a namespace lab with a real DHCP
// client (udhcpc) and a `command` power channel; the test is the laptop on the
// other end. This is the wiring in app/app.ts (AppConsoleHost over the API host,
// auth, the power sequencer, `ip` and `systemctl`), not the shell with a fake
// host (console-pty.test.ts covers every key and timing with a fake clock).
// `systemctl` is a recording script put first on rackboot's PATH: a test must
// never reboot the machine it runs on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { SocatPair, Terminal, serialNoise } from '../helpers/pty.js';

const SERVER = '10.89.0.1';
const NODE_MAC = '52:54:00:89:00:01';
const NODE_IP = '10.89.0.42';
const PASSWORD = 'console wiring test';

describe('serial console of a real rackboot', () => {
  let lab: DhcpLab;
  let pair: SocatPair;
  let terminal: Terminal;
  let server: RackbootProcess;
  let powerLog: string;
  let systemctlLog: string;
  let fakeSystemctl: string;
  const savedPath = process.env.PATH;
  /** The screen before the re-plug (a new Terminal starts empty). */
  const earlierRows: string[] = [];

  // `terminal` is replaced after a re-plug: these always use the current one.
  const run = (line: string) => terminal.run(line);
  const answer = (question: string, reply: string) => terminal.answer(question, reply);
  const login = () => terminal.login(PASSWORD);

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    pair = await SocatPair.start('rbsrv');
    const root = join(lab.dir, 'root');
    await mkdir(root);
    powerLog = join(lab.dir, 'power.log');
    const relay = join(lab.dir, 'relay.sh');
    await writeFile(relay, `#!/bin/sh\necho "$1 $2" >> ${powerLog}\n`);
    await chmod(relay, 0o755);
    const bin = join(lab.dir, 'bin');
    await mkdir(bin);
    systemctlLog = join(lab.dir, 'systemctl.log');
    fakeSystemctl = join(bin, 'systemctl');
    await writeFile(fakeSystemctl, `#!/bin/sh\necho "$*" >> ${systemctlLog}\n`);
    await chmod(fakeSystemctl, 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    const config = await lab.writeConfig(`
interface: eth0
pools:
  - subnet: 10.89.0.0/24
    range: 10.89.0.100-10.89.0.150
hosts:
  - { mac: "${NODE_MAC}", ip: ${NODE_IP}, hostname: rack1-n01, power_channel: relay1 }
power:
  channels:
    relay1:
      driver: command
      on: [${relay}, on, "{channel}"]
      off: [${relay}, off, "{channel}"]
      cycle: [${relay}, cycle, "{channel}"]
boot:
  root: ${root}
  profiles:
    default: { kind: local }
    reimage: { kind: local }
console:
  device: ${pair.console}
  baud: 115200
`);
    // The laptop is on the line before rackboot opens it, so it sees the greeting.
    terminal = await Terminal.open(pair.laptop);
    server = await lab.startServer(['--config', config]);
    await server.waitFor((l) => l.msg === 'serial console open');
  }, 60_000);

  afterAll(async () => {
    process.env.PATH = savedPath;
    const code = await server?.stop();
    await terminal?.close();
    await pair?.stop();
    await lab?.destroy();
    expect(code).toBe(0);
  });

  it('before setup prints the logged setup token, refuses the rest, and sets the password with passwd', async () => {
    const logged = await server.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('setup token: '));
    const token = logged.msg.slice('setup token: '.length);
    // Shown unasked when the console starts, and again on Enter.
    expect(await terminal.waitFor(/^setup token: /)).toBe(`setup token: ${token}`);
    await terminal.waitFor('Type setup-token for the token the web UI asks for');
    await terminal.waitForPrompt('setup>');
    let mark = terminal.mark();
    await terminal.enter('');
    expect(await terminal.waitFor(/^setup token: /, mark)).toBe(`setup token: ${token}`);
    await terminal.waitForPrompt('setup>');
    mark = terminal.mark();
    await terminal.enter('status');
    await terminal.waitFor('Setup is not done: only help, setup-token, tls, passwd work', mark);
    await terminal.waitForPrompt('setup>');
    mark = terminal.mark();
    await terminal.enter('setup-token');
    expect(await terminal.waitFor(/^setup token: /, mark)).toBe(`setup token: ${token}`);
    await terminal.waitFor(`Open https://${SERVER}/ and enter it`, mark);
    // The certificate fingerprint, as logged at start, for comparing with the browser's.
    await terminal.waitForPrompt('setup>');
    mark = terminal.mark();
    await terminal.enter('tls');
    const fingerprint = (await server.waitFor((l) => l.msg.startsWith('management https certificate SHA-256 '))).msg.split(' ').pop()!;
    await terminal.waitFor(`  ${fingerprint.slice(0, 47)}`, mark);
    await terminal.waitFor(`  ${fingerprint.slice(48)}`, mark);

    await terminal.waitForPrompt('setup>');
    await terminal.enter('passwd');
    await answer('New password:', PASSWORD);
    await answer('Again:', PASSWORD);
    await terminal.waitFor('Password changed.', mark);
    await server.waitFor((l) => l.msg === 'admin password set' && l.by === 'console');
    expect(terminal.raw).not.toContain(PASSWORD);

    // Setup is done: the token is gone and the console asks for the password.
    await terminal.waitForPrompt('Password:');
    mark = terminal.mark();
    await terminal.enter('not the password');
    await terminal.waitFor('Login incorrect.', mark);
    await server.waitFor((l) => l.msg === 'console login failed');
    await terminal.waitForPrompt('Password:');
    await terminal.enter(PASSWORD);
    await terminal.waitFor('Logged in. Type help for the commands.', mark);
    expect(await run('setup-token')).toContain('Setup is done; the setup token is no longer valid. Use passwd to reset the');
  });

  it('status, nodes, leases and node show what rackboot knows, a real udhcpc lease included', async () => {
    const client = await lab.client(NODE_MAC);
    const { script, events } = await lab.clientScript('udhcpc', 'node');
    await client.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
    expect(await waitForEvent(events, /^bound /)).toContain(`bound ${NODE_IP} 24`);

    const status = await run('status');
    expect(status[0]).toMatch(/^rackboot 0\.1\.0 \(.+\) on \S+, up \d\d:\d\d:\d\d$/);
    expect(status[1]).toBe(`interface eth0  address ${SERVER}  mode dhcp  http :80  tftp :69`);
    expect(status.join('\n')).toMatch(/dhcp\S* +\d+/);

    const nodes = await run('nodes');
    expect(nodes[0]).toMatch(/^NAME +MAC +IP +STAGE +BOOT +DIAGNOSIS$/);
    expect(nodes).toContainEqual(expect.stringMatching(new RegExp(`^rack1-n01 +${NODE_MAC} +${NODE_IP.replace(/\./g, '\\.')} +\\S+`)));

    const leases = await run('leases');
    expect(leases[0]).toMatch(/^IP +MAC +STATE +EXPIRES +NODE$/);
    expect(leases).toContainEqual(expect.stringMatching(new RegExp(`^${NODE_IP.replace(/\./g, '\\.')} +${NODE_MAC} +bound +in \\d+ (h|min) +rack1-n01$`)));
    expect(leases.at(-1)).toBe('1 lease');

    const node = await run('node rack1-n01');
    expect(node[0]).toBe(`rack1-n01  ${NODE_MAC}  ip ${NODE_IP}  power unknown`);
    expect(node.join('\n')).toMatch(/timeline \(\d+ of \d+ events\):/);
  });

  it('power goes through the command channel; off asks first; boot sets the next profile', async () => {
    expect((await run('power cycle rack1-n01')).join('\n')).toMatch(/rack1-n01 +cycle +ok +on/);
    expect(await readFile(powerLog, 'utf8')).toBe('cycle relay1\n');

    const mark = terminal.mark();
    await terminal.enter('power off rack1-n01');
    await answer('Power off rack1-n01? [y/N]', 'y');
    await terminal.waitFor(/rack1-n01 +off +ok +off/, mark);
    expect((await readFile(powerLog, 'utf8')).trim().split('\n').at(-1)).toBe('off relay1');

    expect(await run('boot rack1-n01 reimage')).toEqual(['rack1-n01 boots reimage next time (once).']);
    expect((await run('node rack1-n01')).join('\n')).toContain('next boot reimage');
    expect((await run('boot rack1-n01 nope'))[0]).toBe("boot: no profile 'nope'; expected one of: default, reimage");
  });

  it('log follows live events until a key is pressed', async () => {
    await terminal.waitForPrompt('rackboot>');
    const mark = terminal.mark();
    await terminal.enter('log');
    await terminal.waitFor('Following events; press any key to stop.', mark);
    // A new node asks to boot (PXE's vendor class): its discovery shows up as it happens.
    const client = await lab.client('52:54:00:89:00:02');
    const { script } = await lab.clientScript('udhcpc', 'other');
    await client.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2', '-V', 'PXEClient:Arch:00000:UNDI:002001']);
    await terminal.waitFor(/^\d\d:\d\d:\d\d \S+ +.*52:54:00:89:00:02/, mark);
    await terminal.type(' ');
    await terminal.waitFor('Stopped following.', mark);
    await terminal.waitForPrompt('rackboot>');
  });

  it('survives binary noise and a 10 kB line, and comes back after an unplug', async () => {
    await terminal.type(serialNoise(4096, 7));
    await terminal.type('x'.repeat(10 * 1024) + '\r');
    const mark = terminal.mark();
    await terminal.type('\x15help status\r');
    await terminal.waitFor('usage: status', mark, 60_000);
    expect((await run('status'))[1]).toBe(`interface eth0  address ${SERVER}  mode dhcp  http :80  tftp :69`);

    earlierRows.push(...terminal.rows);
    await terminal.close();
    await pair.unplug();
    await server.waitFor((l) => l.msg === 'serial console line gone; reopening when the device is back');
    await pair.plug();
    await server.waitFor((l) => l.msg === 'serial console device back', 20_000);
    terminal = await Terminal.open(pair.laptop);
    await login();
    expect((await run('nodes')).at(-1)).toBe('2 nodes');
  });

  it("net shows the appliance's address and changes it with ip after confirmation", async () => {
    expect(await run('net')).toEqual(['interface  eth0', `address    ${SERVER}/24`, 'gateway    none']);
    expect((await run('net set 10.89.0.255/24'))[0]).toBe('net: 10.89.0.255 is the broadcast address of /24, expected a host address');
    const mark = terminal.mark();
    await terminal.enter('net set 10.89.0.2/24 gw 10.89.0.254');
    await terminal.waitFor(`eth0: ${SERVER}/24  ->  10.89.0.2/24 gw 10.89.0.254`, mark);
    await answer('Apply the new address? [y/N]', 'y');
    await terminal.waitFor('eth0 now has 10.89.0.2/24 gw 10.89.0.254.', mark);
    const addresses = await lab.server.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addresses).toContain('inet 10.89.0.2/24');
    expect(addresses).not.toContain(`inet ${SERVER}/`);
    expect(await lab.server.exec(['ip', '-4', 'route', 'show', 'default'])).toContain('default via 10.89.0.254 dev eth0');
    expect(await run('net')).toEqual(['interface  eth0', 'address    10.89.0.2/24', 'gateway    10.89.0.254']);
  });

  it('reboot and shutdown ask first, then call systemctl', async () => {
    // Guard: rackboot must find the recording systemctl, not the machine's.
    expect((await lab.server.exec(['sh', '-c', 'command -v systemctl'])).trim()).toBe(fakeSystemctl);
    let mark = terminal.mark();
    await terminal.enter('reboot');
    await answer('Reboot the appliance? [y/N]', 'n');
    await terminal.waitFor('Nothing done.', mark);
    expect(existsSync(systemctlLog)).toBe(false);
    mark = terminal.mark();
    await terminal.waitForPrompt('rackboot>');
    await terminal.enter('reboot');
    await answer('Reboot the appliance? [y/N]', 'y');
    await terminal.waitFor('Rebooting...', mark);
    await terminal.waitForPrompt('rackboot>');
    expect(await readFile(systemctlLog, 'utf8')).toBe('reboot\n');
    await terminal.enter('shutdown');
    await answer('Shut the appliance down? [y/N]', 'yes');
    await terminal.waitFor('Shutting down...', mark);
    await terminal.waitForPrompt('rackboot>');
    expect(await readFile(systemctlLog, 'utf8')).toBe('reboot\npoweroff\n');
  });

  it('never printed past 80 columns', () => {
    expect([...earlierRows, ...terminal.rows].filter((row) => row.trimEnd().length > 80)).toEqual([]);
  });
});
