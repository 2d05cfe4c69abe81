/**
 * Network-namespace labs for integration tests (needs root: CAP_SYS_ADMIN + CAP_NET_ADMIN).
 *
 *   const lab = await Lab.create();            // also removes namespaces left by dead runs
 *   try {
 *     const srv = await lab.namespace('srv');  // named rb<pid>-<n>-srv, loopback up
 *     const cli = await lab.namespace('cli');
 *     await lab.link(srv, 'eth0', '10.50.0.1/24', cli, 'eth0', null);  // veth pair; null = no address
 *     await lab.bridge([                       // several namespaces on one L2 segment
 *       { ns: a, ifname: 'eth1', address: '10.60.0.1/24' },
 *       { ns: b, ifname: 'eth1' },
 *     ]);
 *     await srv.exec(['ip', '-br', 'addr']);   // resolves to stdout; throws ExecError on failure
 *     const dhcp = cli.spawn(['udhcpc', '-f', '-i', 'eth0']);   // killed by destroy()
 *     const server = await spawnTsInNs(srv, 'firmware/src/main.ts', ['serve']);  // TS, bundled by esbuild
 *     const { stdout } = await runTsInNs(srv, { source: 'console.log(1)' });
 *   } finally {
 *     await lab.destroy();                     // kills every process in the namespaces, deletes them
 *   }
 *
 * Everything a lab creates lives inside its namespaces: veth pairs are created
 * directly in their target namespaces and bridges get a namespace of their own,
 * so no test traffic or interface ever touches the host's network. If a test
 * forgets destroy() or its process dies, cleanup still happens: a process 'exit'
 * hook (plain node), a detached reaper that acts once our pid is gone (vitest
 * kills workers without 'exit' handlers), and, should even the reaper have been
 * killed, the next Lab.create() removes namespaces of processes that no longer exist.
 *
 * TypeScript runs inside a namespace by bundling it with esbuild into
 * node_modules/.cache/rackboot-test/ (so bare imports resolve from the repo's
 * node_modules) with the packet addon copied beside the bundle, exactly as in
 * build/out/. PacketLinkDriver is a ready remote PacketLink built on that.
 */

import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { webAssetsPlugin } from '../../build/web.mjs';
import type { InterfaceInfo } from '../../firmware/src/net/link.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADDON_BUILD = join(REPO_ROOT, 'firmware/native/build/Release/rackboot_packet.node');
const BUNDLE_ROOT = join(REPO_ROOT, 'node_modules/.cache/rackboot-test');
const NAME_PREFIX = 'rb';
const STALE_NAME = /^rb(\d+)-\d+-/;

// ---------------------------------------------------------------------------
// Commands

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
}

/** A failed command, with everything needed to see why. */
export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    const how = exitCode !== null ? `exit code ${exitCode}` : `signal ${signal}`;
    super(`${argv.join(' ')} failed (${how})${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Runs argv (no shell) and resolves to stdout; rejects with ExecError. */
export function exec(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  const [file, ...args] = argv;
  if (!file) throw new TypeError('exec needs a command');
  return new Promise((resolvePromise, reject) => {
    const child = execFile(file, args, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolvePromise(stdout);
      const code = typeof err.code === 'number' ? err.code : null;
      if (code === null && !err.signal) return reject(err); // could not start (ENOENT, ...)
      reject(new ExecError(argv, code, err.signal ?? null, stdout, stderr));
    });
    child.stdin?.on('error', () => {}); // EPIPE when the command exits without reading; its result says why
    child.stdin?.end(options.input ?? '');
  });
}

/** A namespace, or its name. */
export type NsRef = Netns | string;

const nsName = (ns: NsRef): string => (typeof ns === 'string' ? ns : ns.name);

function nsArgv(ns: NsRef, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', nsName(ns), ...argv];
}

/** Runs argv inside the namespace and resolves to its stdout. */
export function execInNs(ns: NsRef, argv: readonly string[], options?: ExecOptions): Promise<string> {
  return exec(nsArgv(ns, argv), options);
}

/**
 * Starts argv inside the namespace. When `ns` is a lab's Netns the process is
 * killed by lab.destroy(). (`ip netns exec` execs argv, so child.pid is argv's pid.)
 */
export function spawnInNs(ns: NsRef, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const [file, ...args] = nsArgv(ns, argv);
  const child = spawn(file!, args, { stdio: 'pipe', ...options });
  if (typeof ns !== 'string') ns.lab.track(child);
  return child;
}

// ---------------------------------------------------------------------------
// Namespaces, links, bridges

export class Netns {
  constructor(
    readonly name: string,
    readonly lab: Lab,
  ) {}

  exec(argv: readonly string[], options?: ExecOptions): Promise<string> {
    return execInNs(this, argv, options);
  }

  spawn(argv: readonly string[], options?: SpawnOptions): ChildProcess {
    return spawnInNs(this, argv, options);
  }

  /** Adds an address ("10.50.0.1/24") to an interface in this namespace. */
  async addAddress(ifname: string, cidr: string): Promise<void> {
    await this.exec(['ip', 'addr', 'add', cidr, 'dev', ifname]);
  }

  toString(): string {
    return this.name;
  }
}

export interface BridgeMember {
  ns: Netns;
  /** Interface name inside `ns` (max 15 characters). */
  ifname: string;
  /** "10.60.0.1/24", or omitted for an interface without an address (DHCP clients). */
  address?: string | null;
  /** A fixed MAC ("52:54:00:00:00:01") instead of a random one. */
  mac?: string;
}

export interface LinkOptions {
  aMac?: string;
  bMac?: string;
}

/** One L2 segment: a bridge in a namespace of its own, one veth per member. */
export class Segment {
  private ports = 0;

  constructor(
    /** Holds the bridge; run tcpdump on `bridge` here to watch the whole segment. */
    readonly ns: Netns,
    readonly bridge: string,
  ) {}

  async attach(member: BridgeMember): Promise<void> {
    const port = `p${this.ports++}`;
    await this.ns.lab.link(this.ns, port, null, member.ns, member.ifname, member.address ?? null, { bMac: member.mac });
    await this.ns.exec(['ip', 'link', 'set', port, 'master', this.bridge, 'up']);
  }
}

const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

export class Lab {
  private readonly namespaces: Netns[] = [];
  private readonly children = new Set<ChildProcess>();
  private counter = 0;
  private destroyed = false;

  private constructor() {}

  /** A new, empty lab. Fails clearly when not root. */
  static async create(): Promise<Lab> {
    if (process.getuid?.() !== 0) {
      throw new Error('network namespace tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN); run them as root');
    }
    await sweepStaleNamespaces();
    installExitHook();
    startReaper();
    const lab = new Lab();
    liveLabs.add(lab);
    return lab;
  }

  /** A new namespace named rb<pid>-<n>-<label>, with loopback up. */
  async namespace(label: string): Promise<Netns> {
    if (!/^[A-Za-z0-9_]{1,16}$/.test(label)) throw new RangeError(`namespace label must be 1-16 of [A-Za-z0-9_]: ${label}`);
    this.assertAlive();
    for (;;) {
      const name = `${NAME_PREFIX}${process.pid}-${++this.counter}-${label}`;
      try {
        await exec(['ip', 'netns', 'add', name]);
      } catch (err) {
        // Another Lab in this process (a second worker thread) took the name.
        if (err instanceof ExecError && /exists/i.test(err.stderr)) continue;
        throw err;
      }
      const ns = new Netns(name, this);
      this.namespaces.push(ns);
      await ns.exec(['ip', 'link', 'set', 'lo', 'up']);
      return ns;
    }
  }

  /**
   * Joins two namespaces with a veth pair and brings both ends up. An address of
   * null leaves that end without one.
   */
  async link(a: Netns, aIfname: string, aAddress: string | null, b: Netns, bIfname: string, bAddress: string | null, options: LinkOptions = {}): Promise<void> {
    for (const ifname of [aIfname, bIfname]) {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new RangeError(`interface name must be 1-15 characters: ${ifname}`);
    }
    this.assertAlive();
    const mac = (value: string | undefined) => (value ? ['address', value] : []);
    // Created directly inside both namespaces: no name ever exists on the host.
    await a.exec(['ip', 'link', 'add', aIfname, ...mac(options.aMac), 'type', 'veth', 'peer', 'name', bIfname, ...mac(options.bMac), 'netns', b.name]);
    for (const [ns, ifname, address] of [
      [a, aIfname, aAddress],
      [b, bIfname, bAddress],
    ] as const) {
      if (address) await ns.addAddress(ifname, address);
      await ns.exec(['ip', 'link', 'set', ifname, 'up']);
    }
  }

  /** Puts every member on one L2 segment (a bridge in its own namespace). */
  async bridge(members: readonly BridgeMember[] = []): Promise<Segment> {
    const ns = await this.namespace('sw');
    // No STP: ports forward at once, so the first DHCPDISCOVER is not lost.
    await ns.exec(['ip', 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0']);
    await ns.exec(['ip', 'link', 'set', 'br0', 'up']);
    const segment = new Segment(ns, 'br0');
    for (const member of members) await segment.attach(member);
    return segment;
  }

  /** @internal Registers a process to kill on destroy(). */
  track(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  /**
   * Stops every process started in the lab's namespaces (SIGTERM, then SIGKILL
   * after 2 s; daemons that forked away are found with `ip netns pids`) and
   * deletes the namespaces, which removes their interfaces. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const exits = [...this.children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    });
    await Promise.all(exits);
    const failures: unknown[] = [];
    for (const ns of [...this.namespaces].reverse()) {
      try {
        await killAllIn(ns.name);
        await exec(['ip', 'netns', 'del', ns.name]);
      } catch (err) {
        failures.push(err);
      }
    }
    this.namespaces.length = 0;
    liveLabs.delete(this);
    if (failures.length) throw new AggregateError(failures, 'lab cleanup failed');
  }

  private assertAlive(): void {
    if (this.destroyed) throw new Error('this lab has been destroyed');
  }

  /** @internal For the exit hook: no awaiting allowed there. */
  destroySync(): void {
    for (const child of this.children) child.kill('SIGKILL');
    for (const ns of this.namespaces) {
      try {
        for (const pid of pidsInSync(ns.name)) killQuietly(pid);
        execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
      } catch {
        // best effort at exit; the next Lab.create() sweeps what is left
      }
    }
    this.namespaces.length = 0;
    this.destroyed = true;
  }
}

// Test runners may kill a worker without running 'exit' handlers (vitest 4 does).
// A detached watcher outlives us and deletes our namespaces and bundles once our
// pid is gone; after a normal destroy() it finds nothing to do.
const REAPER_SOURCE = `
const { execFileSync } = require('node:child_process');
const { readdirSync, rmSync } = require('node:fs');
const [pid, bundleRoot] = process.argv.slice(1);
const run = (argv) => { try { return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }); } catch { return ''; } };
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const timer = setInterval(() => {
  if (alive()) return;
  clearInterval(timer);
  for (const line of run(['ip', 'netns', 'list']).split('\\n')) {
    const name = line.split(' ')[0];
    if (!name || !name.startsWith('${NAME_PREFIX}' + pid + '-')) continue;
    for (const p of run(['ip', 'netns', 'pids', name]).split(/\\s+/).filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch {} }
    run(['ip', 'netns', 'del', name]);
  }
  try { for (const d of readdirSync(bundleRoot)) if (d.startsWith(pid + '-')) rmSync(bundleRoot + '/' + d, { recursive: true, force: true }); } catch {}
}, 500);
`;
let reaperStarted = false;

function startReaper(): void {
  if (reaperStarted) return;
  reaperStarted = true;
  spawn(process.execPath, ['-e', REAPER_SOURCE, String(process.pid), BUNDLE_ROOT], { detached: true, stdio: 'ignore' }).unref();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  process.on('exit', destroyAllSync);
  exitHookInstalled = true;
}

function destroyAllSync(): void {
  for (const lab of liveLabs) lab.destroySync();
  liveLabs.clear();
  for (const dir of bundleDirs) removeBundle(dir);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

function pidsInSync(name: string): number[] {
  return parsePids(execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }));
}

async function killAllIn(name: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pids = parsePids(await exec(['ip', 'netns', 'pids', name]));
    if (pids.length === 0) return;
    for (const pid of pids) killQuietly(pid);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Deletes rb<pid>-... namespaces whose creating process has exited. */
export async function sweepStaleNamespaces(): Promise<void> {
  const listing = await exec(['ip', 'netns', 'list']);
  for (const line of listing.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = STALE_NAME.exec(name);
    if (!match || isAlive(Number(match[1]))) continue;
    try {
      await killAllIn(name);
      await exec(['ip', 'netns', 'del', name]);
    } catch {
      // another process is sweeping the same namespace
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------
// Running TypeScript inside a namespace

/** A .ts file (absolute, or relative to the repo root), or inline TS resolved from the repo root. */
export type TsEntry = string | { source: string; name?: string };

const bundleDirs = new Set<string>();
let bundleCounter = 0;

/**
 * Bundles a TypeScript entry to a runnable .mjs (packages stay external and load
 * from the repo's node_modules) and copies the packet addon beside it, as the
 * release bundle has it. Returns the .mjs path. spawnTsInNs removes the bundle
 * when its process exits; anything else goes at process exit, or is swept by the
 * next run once this process is gone.
 */
export async function bundleTs(entry: TsEntry): Promise<string> {
  if (bundleCounter === 0) sweepStaleBundles();
  const dir = join(BUNDLE_ROOT, `${process.pid}-${++bundleCounter}`);
  mkdirSync(dir, { recursive: true });
  bundleDirs.add(dir);
  installExitHook();
  const outfile = join(dir, 'entry.mjs');
  await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [isAbsolute(entry) ? entry : resolve(REPO_ROOT, entry)] }
      : { stdin: { contents: entry.source, resolveDir: REPO_ROOT, sourcefile: entry.name ?? 'inline.ts', loader: 'ts' } }),
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'silent',
    // The web UI is a virtual module of the bundle (build/web.mjs): a bundled main.ts needs it.
    plugins: [webAssetsPlugin({ quiet: true })],
  });
  if (existsSync(ADDON_BUILD)) copyFileSync(ADDON_BUILD, join(dir, 'rackboot_packet.node'));
  return outfile;
}

export interface TsRunOptions extends ExecOptions {
  /** Placed between `ip netns exec NS` and `node`, e.g. ['setpriv', '--bounding-set=-net_raw', '--']. */
  wrapper?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

export interface TsRunResult {
  stdout: string;
  stderr: string;
}

/** Bundles `entry`, runs it to completion inside `ns`, and rejects with ExecError on failure. */
export async function runTsInNs(ns: NsRef, entry: TsEntry, args: readonly string[] = [], options: TsRunOptions = {}): Promise<TsRunResult> {
  const child = await spawnTsInNs(ns, entry, args, options);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin?.on('error', () => {}); // EPIPE if it exits without reading; the exit status tells
  child.stdin?.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const result = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
  if (code !== 0) {
    const argv = ['node', typeof entry === 'string' ? entry : (entry.name ?? 'inline.ts'), ...args];
    const reason = signal === 'SIGKILL' ? `${result.stderr}\n(killed after ${timeoutMs} ms)` : result.stderr;
    throw new ExecError(argv, code, signal, result.stdout, reason);
  }
  return result;
}

/** Bundles `entry` and starts it inside `ns` (stdio piped); killed by lab.destroy(). */
export async function spawnTsInNs(ns: NsRef, entry: TsEntry, args: readonly string[] = [], options: TsRunOptions = {}): Promise<ChildProcess> {
  const bundle = await bundleTs(entry);
  const child = spawnInNs(ns, [...(options.wrapper ?? []), process.execPath, '--enable-source-maps', bundle, ...args], {
    env: options.env ?? process.env,
  });
  child.once('exit', () => removeBundle(dirname(bundle)));
  return child;
}

function removeBundle(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  bundleDirs.delete(dir);
}

/** Bundle directories are named <pid>-<n>; remove those of processes that are gone. */
function sweepStaleBundles(): void {
  if (!existsSync(BUNDLE_ROOT)) return;
  for (const name of readdirSync(BUNDLE_ROOT)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) rmSync(join(BUNDLE_ROOT, name), { recursive: true, force: true });
  }
}

/** Splits a stream into lines and waits for ones that match. */
export class LineReader {
  /** Every line seen so far. */
  readonly lines: string[] = [];
  private cursor = 0;
  private ended = false;
  private wake: () => void = () => {};

  constructor(stream: Readable) {
    const reader = createInterface({ input: stream, crlfDelay: Infinity });
    reader.on('line', (line) => {
      this.lines.push(line);
      this.wake();
    });
    reader.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** The next unread line matching `predicate`; earlier unread lines are skipped. */
  async next(predicate: (line: string) => boolean = () => true, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.lines.length) {
        const line = this.lines[this.cursor++]!;
        if (predicate(line)) return line;
      }
      if (this.ended) throw new Error(`stream ended without a matching line; last lines:\n${this.lines.slice(-10).join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching line within ${timeoutMs} ms; last lines:\n${this.lines.slice(-10).join('\n')}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.wake = () => {
          clearTimeout(timer);
          wake();
        };
      });
    }
  }
}

// ---------------------------------------------------------------------------
// A PacketLink inside a namespace, driven from the test over JSON lines

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
        if (predicate(this.frames[checked]!)) return this.frames[checked]!;
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
      message = JSON.parse(line);
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
