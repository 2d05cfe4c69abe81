// Serial console tests over real pseudo-terminals: `SocatPair` makes a pty pair
// with socat (both ends raw, no echo, like a null-modem cable), `Terminal` is
// the laptop at the other end (it types, logs in and runs commands at the
// prompt, and keeps a model of the screen that understands the few VT100
// sequences the console sends), `serialNoise` is line noise to type, and
// `FakeConsoleHost` stands in for rackboot's inventory, power and auth.

import { SerialPortStream } from '@serialport/stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollForEveryWaiter } from '../../firmware/src/console/poller-fix.js';
import type { ConsoleHost, ManagementTls, NetworkChange, NetworkSettings, PowerAction } from '../../firmware/src/console/host.js';
import type { ApplianceStatus, LeaseView, NodeView, PowerResult, ProfileView, RackbootEvent } from '../../firmware/src/model/api.js';

/** `what` is a function so that the screen in the message is the one at the timeout, not at the start. */
export async function until(condition: () => boolean, what: () => string = () => 'the condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The console's prompt once logged in. */
export const PROMPT = 'rackboot>';

/**
 * `length` bytes of line noise, the same for the same `seed`. Ctrl-D is made
 * NUL: it logs out, a keystroke the tests mean to send on purpose, not noise;
 * everything else (CR, Ctrl-C, Tab, escapes) stays.
 */
export function serialNoise(length: number, seed: number): Buffer {
  const noise = Buffer.alloc(length);
  for (let i = 0; i < noise.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    noise[i] = seed >>> 24;
    if (noise[i] === 0x04) noise[i] = 0x00;
  }
  return noise;
}

/** A pty pair from socat: `console` is the appliance's end, `laptop` the field engineer's. */
export class SocatPair {
  readonly dir: string;
  readonly console: string;
  readonly laptop: string;
  private child: ChildProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.console = join(dir, 'a');
    this.laptop = join(dir, 'b');
  }

  /** `prefix` names the temporary directory (tests use their unique prefix). */
  static async start(prefix: string): Promise<SocatPair> {
    const pair = new SocatPair(mkdtempSync(join(tmpdir(), `${prefix}-`)));
    await pair.plug();
    return pair;
  }

  /** Starts socat (again), with the same link paths: the "USB adapter" is plugged in. */
  async plug(): Promise<void> {
    if (this.child) throw new Error('socat is already running');
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.console}`, `pty,raw,echo=0,link=${this.laptop}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.resume();
    this.child = child;
    await until(
      () => existsSync(this.console) && existsSync(this.laptop),
      () => 'socat to create the pty links',
    );
  }

  /** Kills socat: both ptys vanish, like an unplugged USB serial adapter. */
  async unplug(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
    await until(
      () => !existsSync(this.console) && !existsSync(this.laptop),
      () => 'socat to remove the pty links',
    );
  }

  async stop(): Promise<void> {
    await this.unplug();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The laptop's terminal: a screen model fed by what the console sends. It
 * handles CR, LF, BS, BEL, ESC[K, ESC[nC/D, ESC[H and ESC[2J; printable
 * characters overwrite at the cursor. Rows are kept without limit (scrollback),
 * so tests can look at everything since a mark.
 */
export class Terminal {
  readonly rows: string[] = [''];
  private row = 0;
  private col = 0;
  bells = 0;
  /** Every byte received, as latin1 text. */
  raw = '';
  private escape = '';
  private port: SerialPortStream | undefined;
  private closed = false;

  static async open(path: string, baud = 115200): Promise<Terminal> {
    const terminal = new Terminal();
    await terminal.connect(path, baud);
    return terminal;
  }

  async connect(path: string, baud = 115200): Promise<void> {
    const port = new SerialPortStream({ binding: autoDetect(), path, baudRate: baud, autoOpen: false, hupcl: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    // The laptop's port has the same poller as the console's (see poller-fix.ts).
    pollForEveryWaiter(port);
    port.on('data', (data: Buffer) => this.receive(data));
    port.on('error', () => {});
    this.port = port;
    this.closed = false;
    port.once('close', () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Sends bytes (a string is sent as latin1) and waits until they have left. */
  async type(data: string | Buffer): Promise<void> {
    const port = this.port;
    if (!port) throw new Error('terminal not connected');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    await new Promise<void>((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => port.drain((err) => (err ? reject(err) : resolve())));
  }

  /** Types a line and presses Enter (CR, like a terminal emulator). */
  async enter(line: string): Promise<void> {
    await this.type(line + '\r');
  }

  /** A position in the transcript; `waitFor` and `since` look only after it. */
  mark(): number {
    return this.rows.length - 1;
  }

  /** Rows from `mark` on, trailing blanks removed. */
  since(mark: number): string[] {
    return this.rows.slice(mark).map((r) => r.trimEnd());
  }

  /** The last `height` rows: what an 80x24 screen shows. */
  screen(height = 24): string[] {
    return this.rows.slice(-height).map((r) => r.trimEnd());
  }

  /** The row the cursor is on, and the cursor column. */
  get currentRow(): string {
    return this.rows[this.row].trimEnd();
  }

  get cursorColumn(): number {
    return this.col;
  }

  /** Waits until a row at or after `mark` matches; returns that row. */
  async waitFor(pattern: RegExp | string, mark = 0, timeoutMs = 10_000): Promise<string> {
    const test = (row: string): boolean => (typeof pattern === 'string' ? row.includes(pattern) : pattern.test(row));
    let found: string | undefined;
    await until(
      () => {
        found = this.rows.slice(mark).find(test);
        return found !== undefined;
      },
      () => `${String(pattern)} on the screen; screen:\n${this.screen().join('\n')}`,
      timeoutMs,
    );
    return found!;
  }

  /** Waits until the cursor row (the prompt line) equals `text` exactly. */
  async waitForPrompt(text: string, timeoutMs = 10_000): Promise<void> {
    await until(
      () => this.currentRow === text.trimEnd() && this.escape === '',
      () => `the prompt ${JSON.stringify(text)}; row is ${JSON.stringify(this.currentRow)}\n${this.screen().join('\n')}`,
      timeoutMs,
    );
  }

  /** Runs a command at the logged-in prompt and returns the rows it printed, up to the next prompt. */
  async run(line: string): Promise<string[]> {
    await this.waitForPrompt(PROMPT);
    const mark = this.mark();
    await this.enter(line);
    await this.waitForNextPrompt(mark);
    return this.since(mark + 1).slice(0, -1);
  }

  /** Waits for a fresh, empty prompt after `mark` (not the row a command was typed on). */
  async waitForNextPrompt(mark: number): Promise<void> {
    await this.waitFor(/^rackboot> ?$/, mark + 1);
    await this.waitForPrompt(PROMPT);
  }

  /** Waits for `question` on the prompt line, then types `reply` and Enter. */
  async answer(question: string, reply: string): Promise<void> {
    await this.waitForPrompt(question);
    await this.enter(reply);
  }

  /** Wakes the console with Enter and logs in with `password`. */
  async login(password: string): Promise<void> {
    await this.enter('');
    await this.waitForPrompt('Password:');
    const mark = this.mark();
    await this.enter(password);
    await this.waitFor('Logged in.', mark);
    await this.waitForPrompt(PROMPT);
  }

  private receive(data: Buffer): void {
    const text = data.toString('latin1');
    this.raw += text;
    for (const ch of text) this.put(ch);
  }

  private put(ch: string): void {
    if (this.escape) {
      this.escape += ch;
      if (this.escape.length === 2 && ch !== '[') this.escape = '';
      else if (this.escape.length > 2 && /[@-~]/.test(ch)) this.runEscape(this.escape.slice(2));
      return;
    }
    switch (ch) {
      case '\x1b':
        this.escape = ch;
        return;
      case '\r':
        this.col = 0;
        return;
      case '\n':
        this.row++;
        if (this.row === this.rows.length) this.rows.push('');
        return;
      case '\b':
        this.col = Math.max(0, this.col - 1);
        return;
      case '\x07':
        this.bells++;
        return;
      default: {
        const line = this.rows[this.row].padEnd(this.col);
        this.rows[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col++;
      }
    }
  }

  private runEscape(body: string): void {
    this.escape = '';
    const final = body.slice(-1);
    const n = Number(body.slice(0, -1)) || 1;
    if (final === 'K') this.rows[this.row] = this.rows[this.row].slice(0, this.col);
    else if (final === 'D') this.col = Math.max(0, this.col - n);
    else if (final === 'C') this.col += n;
    else if (final === 'H')
      this.col = 0; // home: rows stay as scrollback
    else if (final === 'J') {
      this.rows.push('');
      this.row = this.rows.length - 1;
    }
  }
}

// ---------------------------------------------------------------------------
// A ConsoleHost with canned data that records what the console asked it to do

export function fakeNode(name: string, mac: string, extra: Partial<NodeView> = {}): NodeView {
  return {
    mac,
    name,
    tags: [],
    notes: '',
    origin: 'config',
    approved: true,
    createdAt: 0,
    updatedAt: 0,
    stage: 'off',
    loader: 'ipxe',
    stageSince: Date.UTC(2026, 10, 23, 22, 0, 0),
    boots: 0,
    booted: 0,
    dhcpAcks: 0,
    evidence: [],
    power: 'off',
    recovery: { on: false, attempts: 0 },
    ...extra,
  };
}

export interface HostCall {
  method: string;
  args: unknown[];
}

export class FakeConsoleHost implements ConsoleHost {
  readonly calls: HostCall[] = [];
  password = 'correct horse';
  setupDone = true;
  token = 'ABCD-EFGH-IJKL';
  net: NetworkSettings = { interface: 'eth1', address: '10.0.0.2', prefix: 24, gateway: '10.0.0.1' };
  nodeList: NodeView[] = [
    fakeNode('node-a', '52:54:00:00:00:0a', {
      stage: 'booted',
      diagnosis: 'booted',
      currentIp: '10.0.0.10',
      power: 'on',
      powerChannel: 'r1',
      recovery: { on: true, attempts: 1 },
      arch: 'x64 UEFI',
      loader: 'grub',
      boots: 2,
      booted: 2,
    }),
    fakeNode('node-b', '52:54:00:00:00:0b', {
      stage: 'nbp_tftp',
      diagnosis: 'tftp_read_timeout',
      diagnosisDetail: 'block 17 never acknowledged',
      arch: 'arm64 UEFI HTTP',
      currentIp: '10.0.0.11',
      power: 'on',
      powerChannel: 'r2',
    }),
    fakeNode('compute-with-a-very-long-name-01', '52:54:00:00:00:0c', { ip: '10.0.0.12' }),
  ];
  profileList: ProfileView[] = [
    { name: 'debian', kind: 'linux', settings: {}, isDefault: true },
    { name: 'reimage', kind: 'linux', settings: {}, isDefault: false },
    { name: 'local', kind: 'local', settings: {}, isDefault: false },
  ];
  events: RackbootEvent[] = [
    {
      id: 1,
      at: Date.UTC(2026, 10, 23, 22, 1, 0),
      type: 'stage',
      mac: '52:54:00:00:00:0a',
      node: 'node-a',
      stage: 'dhcp_discover',
      message: 'DISCOVER xid 0x1a2b (bios-pxe)',
    },
    { id: 2, at: Date.UTC(2026, 10, 23, 22, 1, 2), type: 'stage', mac: '52:54:00:00:00:0a', node: 'node-a', stage: 'booted', message: 'booted in 42 s' },
  ];
  leaseList: LeaseView[] = [{ ip: '10.0.0.10', mac: '52:54:00:00:00:0a', state: 'bound', expiresAt: Date.now() + 3_600_000, node: 'node-a' }];
  private listeners = new Set<(event: RackbootEvent) => void>();
  failNext: string | undefined;

  get subscribers(): number {
    return this.listeners.size;
  }

  emit(event: RackbootEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.failNext) {
      const message = this.failNext;
      this.failNext = undefined;
      throw new Error(message);
    }
  }

  private find(id: string): NodeView | undefined {
    return this.nodeList.find((n) => n.name === id || n.mac === id.toLowerCase());
  }

  async status(): Promise<ApplianceStatus> {
    this.record('status');
    return {
      version: '0.1.0 (test)',
      uptimeSeconds: 93784,
      hostname: 'rackboot-lab',
      interface: this.net.interface,
      address: this.net.address ?? '',
      mode: 'dhcp',
      httpPort: 80,
      tftpPort: 69,
      nodes: this.nodeList.length,
      nodesByStage: { booted: 1, nbp_tftp: 1, off: 1 },
      activeTftpTransfers: 1,
      activeHttpDownloads: 0,
      counters: { 'dhcp.discover': 120, 'dhcp.ack': 80, 'tftp.transfers': 40, 'malformed.dhcp': 3 },
    };
  }
  async nodes(): Promise<NodeView[]> {
    this.record('nodes');
    return this.nodeList.map((n) => ({ ...n }));
  }
  async node(id: string): Promise<NodeView | undefined> {
    this.record('node', id);
    return this.find(id);
  }
  async timeline(mac: string): Promise<RackbootEvent[]> {
    this.record('timeline', mac);
    return this.events.filter((e) => e.mac === mac);
  }
  async leases(): Promise<LeaseView[]> {
    this.record('leases');
    return this.leaseList;
  }
  async power(target: string, action: PowerAction, by: string): Promise<PowerResult[]> {
    this.record('power', target, action, by);
    const nodes = target === 'all' ? this.nodeList.filter((n) => n.powerChannel) : [this.find(target)!];
    return nodes.map((n) => ({ mac: n.mac, name: n.name, action, ok: true, state: action === 'off' ? 'off' : 'on' }));
  }
  async setNextBoot(id: string, profile: string, by: string): Promise<NodeView> {
    this.record('setNextBoot', id, profile, by);
    const node = this.find(id)!;
    node.nextBootProfile = profile;
    return { ...node };
  }
  async profiles(): Promise<ProfileView[]> {
    this.record('profiles');
    return this.profileList;
  }
  subscribeEvents(listener: (event: RackbootEvent) => void): () => void {
    this.calls.push({ method: 'subscribeEvents', args: [] });
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async network(): Promise<NetworkSettings> {
    this.record('network');
    return { ...this.net };
  }
  async setNetwork(change: NetworkChange, by: string): Promise<void> {
    this.record('setNetwork', change, by);
    this.net = { interface: this.net.interface, ...change };
  }
  async tls(): Promise<ManagementTls> {
    this.record('tls');
    return {
      sha256: 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89',
      pin: 'sha256//q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=',
      source: 'generated',
      certFile: '/var/lib/rackboot/management-cert.pem',
      listen: ['*:443'],
    };
  }
  async isSetupDone(): Promise<boolean> {
    this.calls.push({ method: 'isSetupDone', args: [] });
    return this.setupDone;
  }
  async setupToken(): Promise<string | undefined> {
    this.record('setupToken');
    return this.setupDone ? undefined : this.token;
  }
  async verifyPassword(password: string): Promise<boolean> {
    this.calls.push({ method: 'verifyPassword', args: [] }); // never record the password itself
    return this.setupDone && password === this.password;
  }
  /** As AuthService: `firstSetup` refuses once a password exists (set meanwhile, through the web). */
  async setPassword(password: string, by: string, firstSetup = false): Promise<void> {
    this.record('setPassword', by, firstSetup);
    if (password.length < 8) throw new Error(`expected at least 8 characters, found ${password.length}`);
    if (firstSetup && this.setupDone) throw new Error('The admin password was set meanwhile (through the web UI?); log in with it.');
    this.password = password;
  }
  async reboot(by: string): Promise<void> {
    this.record('reboot', by);
  }
  async shutdown(by: string): Promise<void> {
    this.record('shutdown', by);
  }

  /** The calls to `method`, in order. */
  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }
}
