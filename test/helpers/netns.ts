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
 * Related modules: exec.ts (commands on the host), ts-in-ns.ts (TypeScript run
 * inside a namespace), line-reader.ts (waiting for a process's output lines),
 * packet-link-driver.ts (a PacketLink inside a namespace).
 */

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { exec, ExecError, isAlive, type ExecOptions } from './exec.js';
import { REPO_ROOT, TS_BUNDLE_ROOT } from './paths.js';

/** build/lab.ts takes the repository root from here. */
export { REPO_ROOT };

const NAME_PREFIX = 'rb';
const STALE_NAME = /^rb(\d+)-\d+-/;

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
  const child = spawn(file, args, { stdio: 'pipe', ...options });
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
// A detached watcher outlives us and deletes our namespaces and our ts-in-ns.ts
// bundles once our pid is gone; after a normal destroy() it finds nothing to do.
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
  spawn(process.execPath, ['-e', REAPER_SOURCE, String(process.pid), TS_BUNDLE_ROOT], { detached: true, stdio: 'ignore' }).unref();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  process.on('exit', destroyAllSync);
  exitHookInstalled = true;
}

function destroyAllSync(): void {
  for (const lab of liveLabs) lab.destroySync();
  liveLabs.clear();
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
