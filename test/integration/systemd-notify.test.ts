// rackboot under systemd's eyes: a real unix datagram socket stands in for
// $NOTIFY_SOCKET (Python binds it, as systemd would), the real bundle runs in a
// namespace, and the test reads what it said: READY=1 once serving, WATCHDOG=1
// on the interval WATCHDOG_USEC asks for, STOPPING=1 on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import { RackbootProcess } from '../helpers/rackboot-process.js';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

class NotifyReceiver {
  readonly messages: string[] = [];
  private constructor(private readonly child: ChildProcess) {}

  static async start(path: string): Promise<NotifyReceiver> {
    const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const receiver = new NotifyReceiver(child);
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      child.once('exit', (code) => reject(new Error(`notify receiver exited with ${code}`)));
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line === 'bound') resolve();
          else receiver.messages.push(JSON.parse(line) as string);
        }
      });
    });
    return receiver;
  }

  async waitFor(predicate: (messages: string[]) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.messages)) {
      if (Date.now() > deadline) throw new Error(`systemd was told only: ${JSON.stringify(this.messages)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): void {
    this.child.kill();
  }
}

describe('systemd notification', () => {
  let lab: DhcpLab;
  let receiver: NotifyReceiver;
  beforeAll(async () => {
    lab = await DhcpLab.create('10.94.0.1/24');
    receiver = await NotifyReceiver.start(join(lab.dir, 'notify.sock'));
  });
  afterAll(async () => {
    receiver?.stop();
    await lab?.destroy();
  });

  it('says READY=1 once serving, pings the watchdog, and says STOPPING=1 on SIGTERM', async () => {
    const root = join(lab.dir, 'root');
    await mkdir(root);
    await writeFile(join(root, 'vmlinuz'), 'kernel');
    const server = await RackbootProcess.start(
      lab.server.name,
      ['serve', '--interface', 'eth0', '--root', root, '--state-dir', join(lab.dir, 'state')],
      15_000,
      { NOTIFY_SOCKET: join(lab.dir, 'notify.sock'), WATCHDOG_USEC: '400000' },
    );
    await receiver.waitFor((m) => m.some((x) => x.startsWith('READY=1')));
    const ready = receiver.messages.find((x) => x.startsWith('READY=1'))!;
    expect(ready).toMatch(/^READY=1\nSTATUS=serving dhcp boot on eth0 \(10\.94\.0\.1\)$/);
    // WATCHDOG_USEC=400 ms: a ping every 200 ms while the event loop runs.
    await receiver.waitFor((m) => m.filter((x) => x === 'WATCHDOG=1').length >= 3);
    expect(await server.stop()).toBe(0);
    await receiver.waitFor((m) => m.includes('STOPPING=1'));
    expect(receiver.messages.indexOf('STOPPING=1')).toBeGreaterThan(receiver.messages.indexOf(ready));
  });
});
