// What a session on the serial console looks like in a real terminal: the real
// bundle serves a namespace lab with its console on one end of a socat pty
// pair; tmux (80x24) runs socat on the other end as a laptop's terminal
// program would; keys go in with `tmux send-keys`, the screen comes out with
// `tmux capture-pane -p`. The captures are printed; docs/console.md shows them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';
import { exec } from '../helpers/exec.js';
import { SocatPair } from '../helpers/pty.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SESSION = `rbcon-${process.pid}`;
const PASSWORD = 'tmux session test';

describe('serial console in tmux', () => {
  let lab: DhcpLab;
  let pair: SocatPair;
  let server: RackbootProcess;

  const keys = (...args: string[]): Promise<string> => exec(['tmux', 'send-keys', '-t', SESSION, ...args]);
  const capture = async (): Promise<string> => (await exec(['tmux', 'capture-pane', '-p', '-t', SESSION])).replace(/\s+$/, '');
  const type = async (text: string): Promise<void> => {
    await keys('-l', text);
    await keys('Enter');
  };

  async function waitForScreen(text: string | RegExp): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const screen = await capture();
      if (typeof text === 'string' ? screen.includes(text) : text.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`no ${String(text)} on the tmux screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function show(title: string, screen: string): void {
    process.stdout.write(`\n--- ${title}: tmux capture-pane -p (80x24) ---\n${screen}\n---\n`);
    const rows = screen.split('\n');
    expect(rows.length).toBeLessThanOrEqual(24);
    expect(rows.filter((row) => row.length > 80)).toEqual([]);
  }

  beforeAll(async () => {
    lab = await DhcpLab.create('10.90.0.1/24');
    pair = await SocatPair.start('rbtmux');
    const root = join(lab.dir, 'root');
    await mkdir(root);
    const config = await lab.writeConfig(`
interface: eth0
pools:
  - subnet: 10.90.0.0/24
    range: 10.90.0.100-10.90.0.150
hosts:
  - { mac: "52:54:00:90:00:01", ip: 10.90.0.11, hostname: rack1-n01 }
  - { mac: "52:54:00:90:00:02", ip: 10.90.0.12, hostname: rack1-n02 }
  - { mac: "52:54:00:90:00:03", ip: 10.90.0.13, hostname: rack1-n03 }
boot:
  root: ${root}
console:
  device: ${pair.console}
`);
    // The laptop's terminal is on the line before rackboot opens it, so it shows the greeting.
    await exec(['tmux', 'new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', `socat -,raw,echo=0 ${pair.laptop}`]);
    server = await lab.startServer(['--config', config]);
    await server.waitFor((l) => l.msg === 'serial console open');
    // Two of the nodes get their address from rackboot, one of them as a PXE boot.
    for (const [mac, vendor] of [
      ['52:54:00:90:00:01', 'PXEClient:Arch:00000:UNDI:002001'],
      ['52:54:00:90:00:02', undefined],
    ] as const) {
      const node = await lab.client(mac);
      const { script, events } = await lab.clientScript('udhcpc', mac.replace(/:/g, ''));
      await node.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2', ...(vendor ? ['-V', vendor] : [])]);
      await waitForEvent(events, /^bound /);
    }
  }, 60_000);

  afterAll(async () => {
    await exec(['tmux', 'kill-session', '-t', SESSION]).catch(() => '');
    const code = await server?.stop();
    await pair?.stop();
    await lab?.destroy();
    expect(code).toBe(0);
  });

  it('first contact: the setup token, then the admin password set at the console', async () => {
    await waitForScreen('setup>');
    await type('passwd');
    await waitForScreen('New password:');
    await type(PASSWORD);
    await waitForScreen('Again:');
    await type(PASSWORD);
    await waitForScreen('Password changed.');
    await waitForScreen(/Password: *$/);
    await type(PASSWORD);
    const screen = await waitForScreen('Logged in.');
    show('setup and login', screen);
    expect(screen).toMatch(/^setup token: [A-Z0-9-]+$/m);
    expect(screen).not.toContain(PASSWORD);
  });

  it('help lists every command', async () => {
    await keys('C-l');
    await type('help');
    const screen = await waitForScreen('Type help COMMAND for more about one command.');
    show('help', screen);
    for (const name of [
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
    ]) {
      expect(screen).toMatch(new RegExp(`^${name.replace(/[|[\]]/g, '\\$&')} `, 'm'));
    }
  });

  it('status, nodes and a node completed with Tab', async () => {
    await keys('C-l');
    await type('status');
    await waitForScreen(/^counters:/m);
    await type('nodes');
    show('status and nodes', await waitForScreen('3 nodes'));
    await keys('C-l');
    await keys('-l', 'node rack1-n0');
    await keys('Tab', 'Tab');
    await waitForScreen(/rack1-n01 +rack1-n02 +rack1-n03/);
    await keys('-l', '1');
    await keys('Enter');
    const screen = await waitForScreen(/timeline \(\d+ of \d+ events\)/);
    show('a node, its name completed with Tab', screen);
    expect(screen).toMatch(/^rack1-n01 {2}52:54:00:90:00:01 {2}ip 10\.90\.0\.11 {2}power unknown$/m);
  });
});
