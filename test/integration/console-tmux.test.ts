// What a session on the serial console looks like in a real terminal: tmux
// (80x24) runs socat on the laptop end of a pty pair, the console runs on the
// other end, keys are sent with `tmux send-keys` and the screen is read with
// `tmux capture-pane -p`. The capture is printed; docs/console.md shows one.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Console } from '../../firmware/src/console/console.js';
import { realConsoleTimers } from '../../firmware/src/console/shell.js';
import { exec } from '../helpers/netns.js';
import { FakeConsoleHost, SocatPair } from '../helpers/pty.js';

const SESSION = `rbcon-${process.pid}`;

describe('serial console in tmux', () => {
  let pair: SocatPair;
  let console_: Console;
  const host = new FakeConsoleHost();

  const keys = (...args: string[]): Promise<string> => exec(['tmux', 'send-keys', '-t', SESSION, ...args]);
  const capture = async (): Promise<string> => (await exec(['tmux', 'capture-pane', '-p', '-t', SESSION])).replace(/\s+$/, '');

  async function waitForScreen(text: string): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const screen = await capture();
      if (screen.includes(text)) return screen;
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} on the tmux screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    pair = await SocatPair.start('rbcon');
    console_ = new Console({ host, timers: realConsoleTimers, version: '0.1.0' });
    console_.startSerial({ device: pair.console, baud: 115200, timers: realConsoleTimers });
    await exec(['tmux', 'new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', `socat -,raw,echo=0 ${pair.laptop}`]);
  });

  afterAll(async () => {
    await exec(['tmux', 'kill-session', '-t', SESSION]).catch(() => '');
    console_?.close();
    await pair?.stop();
  });

  it('logs in, shows the nodes and one node, completes a name, in 80x24', async () => {
    await waitForScreen('Password:');
    await keys('-l', 'correct horse');
    await keys('Enter');
    await waitForScreen('Logged in.');
    await keys('-l', 'nodes');
    await keys('Enter');
    await waitForScreen('3 nodes');
    await keys('-l', 'node node-');
    await keys('Tab');
    await keys('-l', 'b');
    await keys('Tab');
    await waitForScreen('rackboot> node node-b');
    await keys('Enter');
    await waitForScreen('diagnosis: tftp_read_timeout');
    await keys('-l', 'power cycle all');
    await keys('Enter');
    await waitForScreen('Power cycle every node with a power channel? [y/N]');
    await keys('y', 'Enter');
    const screen = await waitForScreen('node-b  ');
    process.stdout.write(`\n--- tmux capture-pane -p (80x24) ---\n${screen}\n---\n`);
    const rows = screen.split('\n');
    expect(rows.length).toBeLessThanOrEqual(24);
    expect(rows.every((row) => row.length <= 80)).toBe(true);
    expect(screen).not.toContain('correct horse');
    expect(host.callsOf('power')).toEqual([['all', 'cycle', 'console']]);
  });
});
