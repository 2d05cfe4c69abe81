// The qemu driver: a channel is a virtual node of the lab. On starts its QEMU
// argv (detached from rackboot's terminal, in its own process group, output
// appended to a log file), off stops it (SIGTERM to the group, SIGKILL after
// stop_timeout), cycle is off then on, and the state is whether the process is
// alive. A pid file per channel lets a restarted rackboot adopt the VMs it left
// running rather than start second copies; the exit safe state decides whether
// close() stops them (`off`) or leaves them running for the next start (`keep`).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PowerState } from '../model/power.js';
import type { QemuChannelConfig, SafeState } from '../config/schema.js';
import { PowerError, realSleep, type PowerDriver, type Sleep } from './driver.js';
import { substituteChannel } from './command.js';

export interface QemuDriverOptions {
  channels: readonly QemuChannelConfig[];
  /** Where pid files (and log files of channels without `log`) go, e.g. <state_dir>/power. */
  runDir: string;
  safeState: { start: SafeState; exit: SafeState };
  sleep?: Sleep;
  /** How often off() checks whether the process has gone. */
  pollMs?: number;
}

interface Running {
  pid: number;
  /** Our own child (exit seen through its events); undefined for a process adopted from a pid file. */
  child?: ChildProcess;
  exited: boolean;
}

export class QemuDriver implements PowerDriver {
  readonly kind = 'qemu';
  private readonly channels: Map<string, QemuChannelConfig>;
  private readonly running = new Map<string, Running>();
  private readonly sleep: Sleep;
  private readonly pollMs: number;
  private closed = false;

  private constructor(private readonly options: QemuDriverOptions) {
    this.channels = new Map(options.channels.map((c) => [c.name, c]));
    this.sleep = options.sleep ?? realSleep;
    this.pollMs = options.pollMs ?? 50;
  }

  /** Adopts VMs a previous run left (or stops them, with safe_state start: off). */
  static async open(options: QemuDriverOptions): Promise<QemuDriver> {
    mkdirSync(options.runDir, { recursive: true });
    const driver = new QemuDriver(options);
    for (const config of options.channels) {
      const pid = driver.readPidFile(config);
      if (pid === undefined) continue;
      driver.running.set(config.name, { pid, exited: false });
      if (options.safeState.start === 'off') await driver.off(config.name);
    }
    return driver;
  }

  canReadState(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** The pid of a channel's running VM, if any. */
  pidOf(channel: string): number | undefined {
    const run = this.running.get(channel);
    return run && this.alive(run) ? run.pid : undefined;
  }

  async on(channel: string): Promise<void> {
    const config = this.config(channel);
    const current = this.running.get(channel);
    if (current && this.alive(current)) return;
    const argv = substituteChannel(config.argv, channel);
    const logFile = config.logFile ?? join(this.options.runDir, `${channel}.log`);
    let logFd: number;
    try {
      logFd = openSync(logFile, 'a');
    } catch (error) {
      throw new PowerError(channel, 'spawn_failed', `cannot open the VM log ${logFile}: ${(error as Error).message}`);
    }
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    const run: Running = { pid: child.pid ?? -1, child, exited: false };
    child.once('exit', () => {
      run.exited = true;
      if (this.running.get(channel) === run) rmSync(this.pidFile(channel), { force: true });
    });
    const started = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (error) => resolve(error));
    });
    if (started) {
      const why = (started as NodeJS.ErrnoException).code === 'ENOENT' ? `${argv[0]} not found (is QEMU installed?)` : started.message;
      throw new PowerError(channel, 'spawn_failed', `cannot start the VM: ${why}`);
    }
    // Not tied to rackboot's event loop: the VM outlives a rackboot that exits with safe_state keep.
    child.unref();
    this.running.set(channel, run);
    // The start time beside the pid tells a later rackboot whether the pid still names this VM (pids get reused).
    writeFileSync(this.pidFile(channel), `${run.pid} ${startTimeOf(run.pid) ?? ''}\n`);
  }

  async off(channel: string): Promise<void> {
    const config = this.config(channel);
    const run = this.running.get(channel);
    if (!run || !this.alive(run)) return this.forget(channel, run);
    signalGroup(run.pid, 'SIGTERM');
    for (let waited = 0; waited < config.stopTimeoutMs && this.alive(run); waited += this.pollMs) await this.sleep(this.pollMs);
    if (this.alive(run)) {
      signalGroup(run.pid, 'SIGKILL');
      for (let waited = 0; waited < 5000 && this.alive(run); waited += this.pollMs) await this.sleep(this.pollMs);
      if (this.alive(run)) throw new PowerError(channel, 'timeout', `VM process ${run.pid} survived SIGKILL (stuck in the kernel?)`);
    }
    this.forget(channel, run);
  }

  async cycle(channel: string): Promise<void> {
    const config = this.config(channel);
    await this.off(channel);
    await this.sleep(config.offMs);
    await this.on(channel);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so an unknown channel (config() throws) arrives as a rejection
  async state(channel: string): Promise<PowerState> {
    this.config(channel);
    const run = this.running.get(channel);
    return run && this.alive(run) ? 'on' : 'off';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.options.safeState.exit === 'off') {
      for (const channel of [...this.running.keys()]) await this.off(channel).catch(() => {});
    }
    this.closed = true;
  }

  private config(channel: string): QemuChannelConfig {
    const config = this.channels.get(channel);
    if (!config) throw new PowerError(channel, 'unknown_channel', `no qemu channel named ${channel}`);
    if (this.closed) throw new PowerError(channel, 'closed', 'the qemu driver is closed (rackboot is stopping)');
    return config;
  }

  private forget(channel: string, run: Running | undefined): void {
    if (run && this.running.get(channel) === run) {
      this.running.delete(channel);
      rmSync(this.pidFile(channel), { force: true });
    }
  }

  private alive(run: Running): boolean {
    if (run.child) return !run.exited && run.child.exitCode === null && run.child.signalCode === null;
    return processExists(run.pid);
  }

  private pidFile(channel: string): string {
    return join(this.options.runDir, `${channel}.pid`);
  }

  /** A pid from the pid file, if that very process (same pid and start time) is still alive. */
  private readPidFile(config: QemuChannelConfig): number | undefined {
    let pid: number;
    let startTime: string | undefined;
    try {
      [pid, startTime] = ((text) => [Number(text[0]), text[1]] as const)(readFileSync(this.pidFile(config.name), 'utf8').trim().split(/\s+/));
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !processExists(pid) || startTime === undefined || startTimeOf(pid) !== startTime) {
      rmSync(this.pidFile(config.name), { force: true });
      return undefined;
    }
    return pid;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers signal 0; it is gone for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Signals the VM's process group (QEMU and anything it started); falls back to the pid alone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}
