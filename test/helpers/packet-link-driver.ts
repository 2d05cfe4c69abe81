// A PacketLink inside a namespace, driven from the test over JSON lines: the driver
// is TypeScript bundled and run in the namespace by ts-in-ns.ts.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { InterfaceInfo } from '../../firmware/src/net/link.js';
import type { Netns } from './netns.js';
import { spawnTsInNs, type TsRunOptions } from './ts-in-ns.js';

const DRIVER_SOURCE = `
import { createInterface } from 'node:readline';
import { PacketLink, interfaceInfo, setNeighbor } from './firmware/src/net/link.js';

let link: PacketLink | undefined;
const write = (message: object) => process.stdout.write(JSON.stringify(message) + '\\n');
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line);
  try {
    let result: unknown = null;
    switch (command.op) {
      case 'open':
        link = PacketLink.open(command.ifname, { udpPorts: command.udpPorts });
        link.onFrame((frame) => write({ event: 'frame', hex: frame.toString('hex') }));
        link.onError((err) => write({ event: 'error', message: err.message }));
        result = link.info;
        break;
      case 'send':
        if (!link) throw new Error('no link open');
        link.send(Buffer.from(command.hex, 'hex'));
        break;
      case 'close':
        link?.close();
        link = undefined;
        break;
      case 'interfaceInfo':
        result = interfaceInfo(command.ifname);
        break;
      case 'setNeighbor':
        setNeighbor(command.ifname, command.ip, command.mac);
        break;
      default:
        throw new Error('unknown op ' + command.op);
    }
    write({ id: command.id, ok: true, result });
  } catch (err) {
    const e = err as Error & { code?: string };
    write({ id: command.id, ok: false, message: e.message, code: e.code });
  }
});
lines.on('close', () => link?.close());
`;

type DriverReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string; code?: string };

/**
 * A PacketLink (and interfaceInfo / setNeighbor) running in a child process inside
 * a namespace. Received frames collect in `frames`; calls reject with the remote
 * error's message and code.
 */
export class PacketLinkDriver {
  /** Every frame received since open(), in order. */
  readonly frames: Buffer[] = [];
  /** Errors the link reported (onError). */
  readonly errors: string[] = [];
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private readonly frameWaiters = new Set<() => void>();
  private stderr = '';
  private exited: Error | undefined;

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.stdin!.on('error', () => {}); // EPIPE after the driver died; the exit handler reports it
    child.once('exit', (code, signal) => {
      this.exited = new Error(`packet link driver exited (${code ?? signal}): ${this.stderr.trim()}`);
      for (const { reject } of this.pending.values()) reject(this.exited);
      this.pending.clear();
    });
  }

  static async start(ns: Netns, options: Pick<TsRunOptions, 'wrapper' | 'env'> = {}): Promise<PacketLinkDriver> {
    return new PacketLinkDriver(await spawnTsInNs(ns, { source: DRIVER_SOURCE, name: 'packet-link-driver.ts' }, [], options));
  }

  open(ifname: string, udpPorts: readonly number[]): Promise<InterfaceInfo> {
    return this.call({ op: 'open', ifname, udpPorts }) as Promise<InterfaceInfo>;
  }

  async send(frame: Buffer): Promise<void> {
    await this.call({ op: 'send', hex: frame.toString('hex') });
  }

  interfaceInfo(ifname: string): Promise<InterfaceInfo> {
    return this.call({ op: 'interfaceInfo', ifname }) as Promise<InterfaceInfo>;
  }

  async setNeighbor(ifname: string, ip: string, mac: string): Promise<void> {
    await this.call({ op: 'setNeighbor', ifname, ip, mac });
  }

  async closeLink(): Promise<void> {
    await this.call({ op: 'close' });
  }

  /** Resolves with the first frame (already received or arriving) that matches. */
  async waitForFrame(predicate: (frame: Buffer) => boolean, timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    let checked = 0;
    for (;;) {
      for (; checked < this.frames.length; checked++) {
        if (predicate(this.frames[checked])) return this.frames[checked];
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms (${this.frames.length} frames seen)`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(done, left);
        const waiters = this.frameWaiters;
        function done(): void {
          clearTimeout(timer);
          waiters.delete(done);
          wake();
        }
        waiters.add(done);
      });
    }
  }

  /** Closes stdin (the driver closes its link and exits) and waits for the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private call(command: Record<string, unknown>): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.nextId;
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject });
      this.child.stdin!.write(JSON.stringify({ ...command, id }) + '\n');
    });
  }

  private onLine(line: string): void {
    let message: DriverReply | { event: 'frame'; hex: string } | { event: 'error'; message: string };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return; // not ours (a stray console.log in code under test)
    }
    if ('event' in message) {
      if (message.event === 'frame') {
        this.frames.push(Buffer.from(message.hex, 'hex'));
        for (const wake of [...this.frameWaiters]) wake();
      } else {
        this.errors.push(message.message);
      }
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(Object.assign(new Error(message.message), { code: message.code }));
  }
}
