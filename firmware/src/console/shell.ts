// One console session as a state machine over a byte stream: before setup only
// `setup-token` and `help` work; after setup a password logs in, with a lockout
// that grows after repeated failures; a logged-in session runs commands until
// `logout`, Ctrl-D, a stretch without input, or the cable going away. The shell
// never touches the serial port: bytes come in through `input`, text goes out
// through `write`.

import { systemClock, type Clock } from '../util/clock.js';
import { monotonicTimers, type TimerHandle, type Timers } from '../util/timers.js';
import { silentLogger, type Logger } from '../util/log.js';
import { COMMANDS, SETUP_COMMANDS, UsageError, type Command, type CommandContext } from './commands.js';
import { fit, formatUptime, wrap } from './format.js';
import type { ConsoleHost } from './host.js';
import { LineEditor } from './line-editor.js';

/** The console's timers (lockout, idle logout, serial reopen): Timers under the name console/serial.ts and console/index.ts use. */
export type ConsoleTimers = Timers;

/** Monotonic, so a wall-clock step neither ends a lockout early nor logs a session out. */
export const realConsoleTimers: Timers = monotonicTimers;

export interface LockoutPolicy {
  /** Consecutive wrong passwords that start a lockout. */
  failures: number;
  /** The first lockout; each further one lasts twice as long, up to maxLockMs. */
  lockMs: number;
  maxLockMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { failures: 3, lockMs: 30_000, maxLockMs: 60 * 60_000 };
export const DEFAULT_IDLE_MS = 15 * 60_000;
const SETUP_HINT = 'Type setup-token for the token the web UI asks for, or passwd to set the admin password here.';
/** Bytes typed ahead while a command runs; more is dropped. */
const MAX_TYPE_AHEAD = 4096;

export interface ShellOptions {
  host: ConsoleHost;
  /** Where the terminal's bytes go. */
  write: (text: string) => void;
  /** Lockout and idle logout; only intervals are measured. Default: monotonic. */
  timers?: Timers;
  /** Wall-clock time for "5 s ago". */
  clock?: Clock;
  columns?: number;
  idleMs?: number;
  lockout?: Partial<LockoutPolicy>;
  /** Shown in the banner. */
  version?: string;
  logger?: Logger;
}

export interface ShellCounters {
  loginFailures: number;
  lockouts: number;
  logins: number;
  commandErrors: number;
  /** Bytes dropped while locked out, or beyond the type-ahead limit. */
  droppedInput: number;
}

type ReadResult = { kind: 'line'; text: string } | { kind: 'interrupt' } | { kind: 'eof' } | { kind: 'abort' };

export class Shell {
  readonly counters: ShellCounters = { loginFailures: 0, lockouts: 0, logins: 0, commandErrors: 0, droppedInput: 0 };
  readonly editor: LineEditor;

  private readonly host: ConsoleHost;
  private readonly out: (text: string) => void;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly columns: number;
  private readonly idleMs: number;
  private readonly lockout: LockoutPolicy;
  private readonly version: string;
  private readonly log: Logger;

  private started = false;
  private closed = false;
  private loggedIn = false;
  private setupDone = false;
  private failures = 0;
  private lockoutCount = 0;
  private lockedUntil = 0;
  private locked = false;
  /** Ends the lockout wait early when the shell closes. */
  private endLockWait: (() => void) | undefined;
  private lockTimer: TimerHandle;
  /** The before-setup hint is shown once per line (at start and after each re-plug). */
  private setupHintShown = false;
  private idleTimer: TimerHandle;
  private pendingRead: ((result: ReadResult) => void) | undefined;
  private stopFollowing: (() => void) | undefined;
  private typeAhead: Buffer[] = [];
  private typeAheadBytes = 0;
  private nodeNameCache: string[] = [];
  private profileNameCache: string[] = [];

  constructor(options: ShellOptions) {
    this.host = options.host;
    this.out = options.write;
    this.timers = options.timers ?? realConsoleTimers;
    this.clock = options.clock ?? systemClock;
    this.columns = options.columns ?? 80;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.lockout = { ...DEFAULT_LOCKOUT, ...options.lockout };
    this.version = options.version ?? '';
    this.log = options.logger ?? silentLogger;
    this.editor = new LineEditor({ columns: this.columns, completer: (before) => this.complete(before) });
  }

  get isLoggedIn(): boolean {
    return this.loggedIn;
  }

  /** Waiting at a prompt with nothing typed ahead (every byte received so far has been handled). */
  get isIdle(): boolean {
    return this.editor.reading && this.typeAheadBytes === 0 && !this.locked && !this.stopFollowing;
  }

  /** Starts the session loop (once). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.write(this.banner());
    this.loop().catch((err: unknown) => this.log.error('console session loop failed', { err }));
  }

  /** Stops the session for good (rackboot is shutting down). */
  close(): void {
    this.closed = true;
    if (this.lockTimer !== undefined) this.timers.clearTimer(this.lockTimer);
    this.lockTimer = undefined;
    this.endLockWait?.();
    this.endSession();
  }

  /** A terminal is (again) on the line: show who we are and where we are. */
  connected(): void {
    this.editor.reset();
    this.setupHintShown = false;
    this.write('\r\n' + this.banner() + this.editor.redraw());
  }

  /** The line went away (USB adapter unplugged): whoever plugs in next must log in again. */
  disconnected(): void {
    this.editor.reset();
    this.typeAhead = [];
    this.typeAheadBytes = 0;
    if (this.loggedIn) {
      this.log.info('console session ended: serial line gone');
      this.endSession();
    }
  }

  input(data: Buffer): void {
    if (this.closed || data.length === 0) return;
    this.touchIdle();
    if (this.stopFollowing) {
      this.stopFollowing(); // any key stops `log`; the key itself is not a command
      return;
    }
    if (this.locked) {
      this.counters.droppedInput += data.length;
      return;
    }
    if (!this.editor.reading) {
      this.queue(data);
      return;
    }
    this.feed(data);
  }

  // -------------------------------------------------------------------------
  // Session loop

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (this.loggedIn) await this.commandStep();
      else await this.loginStep();
    }
  }

  private async loginStep(): Promise<void> {
    const wait = this.lockedUntil - this.timers.now();
    if (wait > 0) {
      this.write(`Locked after failed logins; try again in ${Math.ceil(wait / 1000)} s.\r\n`);
      this.locked = true;
      await new Promise<void>((resolve) => {
        this.endLockWait = resolve;
        this.lockTimer = this.timers.setTimer(wait, resolve);
      });
      this.lockTimer = undefined;
      this.endLockWait = undefined;
      this.locked = false;
      this.typeAhead = [];
      this.typeAheadBytes = 0;
      return;
    }
    this.setupDone = await this.host.isSetupDone().catch((err: unknown) => {
      this.log.warn('console: cannot read the setup state', { err });
      return true; // fail closed: ask for a password rather than open anything
    });
    if (!this.setupDone) {
      // No password exists yet, so there is nothing to ask for. Whoever holds the cable may
      // read the setup token or set the password here, which is what a box without a
      // network needs. The token is shown unasked: on the appliance this line is where
      // the first-boot instructions say to look for it.
      if (!this.setupHintShown) {
        this.setupHintShown = true;
        const token = await this.host.setupToken().catch(() => undefined);
        if (token) this.print(`setup token: ${token}`);
        this.print(SETUP_HINT);
      }
      const read = await this.readLine('setup> ', { echo: true });
      if (read.kind !== 'line') return;
      const words = splitWords(read.text);
      if (words.length === 0) {
        // Enter is what someone who just plugged in presses to see where they are.
        this.setupHintShown = false;
        return;
      }
      if (SETUP_COMMANDS.includes(words[0])) await this.runCommand(words, SETUP_COMMANDS);
      else this.print(`Setup is not done: only ${SETUP_COMMANDS.join(', ')} work until the admin password is set.`, SETUP_HINT);
      return;
    }
    const read = await this.readLine('Password: ', { echo: false });
    if (read.kind !== 'line' || read.text === '') return;
    const ok = await this.host.verifyPassword(read.text).catch((err: unknown) => {
      this.log.warn('console: password check failed', { err });
      return false;
    });
    if (ok) {
      this.failures = 0;
      this.lockoutCount = 0;
      this.loggedIn = true;
      this.counters.logins++;
      this.log.info('console login');
      this.print('Logged in. Type help for the commands.');
      this.touchIdle();
      await this.refreshNames();
      return;
    }
    this.counters.loginFailures++;
    this.failures++;
    this.log.warn('console login failed', { failures: this.failures });
    this.print('Login incorrect.');
    if (this.failures >= this.lockout.failures) {
      const lockMs = Math.min(this.lockout.maxLockMs, this.lockout.lockMs * 2 ** this.lockoutCount);
      this.lockoutCount++;
      this.failures = 0;
      this.counters.lockouts++;
      this.lockedUntil = this.timers.now() + lockMs;
      this.log.warn('console locked after failed logins', { lockMs });
    }
  }

  private async commandStep(): Promise<void> {
    const read = await this.readLine('rackboot> ', { echo: true });
    if (read.kind === 'eof') {
      this.logout('Logged out.');
      return;
    }
    if (read.kind !== 'line') return;
    const words = splitWords(read.text);
    if (words.length === 0) return;
    await this.runCommand(
      words,
      COMMANDS.map((c) => c.name),
    );
    if (this.loggedIn) await this.refreshNames();
  }

  private async runCommand(words: readonly string[], allowed: readonly string[]): Promise<void> {
    const [name, ...args] = words as [string, ...string[]];
    const command = allowed.includes(name) ? COMMANDS.find((c) => c.name === name) : undefined;
    if (!command) {
      this.counters.commandErrors++;
      this.print(`Unknown command '${name}'. Expected one of: ${allowed.join(', ')}.`, 'Type help for what each does.');
      return;
    }
    try {
      await command.run(args, this.context());
    } catch (err) {
      this.counters.commandErrors++;
      if (err instanceof UsageError) {
        this.print(`${command.name}: ${err.message}`, `usage: ${command.usage}`);
      } else {
        this.log.warn('console command failed', { command: command.name, err });
        this.print(`${command.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private context(): CommandContext {
    return {
      host: this.host,
      columns: this.columns,
      now: () => this.clock.now(),
      print: (...lines) => this.print(...lines),
      confirm: async (question) => {
        const read = await this.readLine(`${question} [y/N] `, { echo: true, remember: false });
        return read.kind === 'line' && /^\s*y(es)?\s*$/i.test(read.text);
      },
      ask: async (prompt, echo) => {
        const read = await this.readLine(prompt, { echo, remember: false });
        return read.kind === 'line' ? read.text : undefined;
      },
      follow: (subscribe) => this.follow(subscribe),
      logout: () => this.logout('Logged out.'),
      nodeNames: () => this.nodeNameCache,
      profileNames: () => this.profileNameCache,
    };
  }

  private follow(subscribe: (print: (line: string) => void) => () => void): Promise<void> {
    return new Promise((resolve) => {
      let unsubscribe: () => void = () => {};
      this.stopFollowing = () => {
        this.stopFollowing = undefined;
        unsubscribe();
        resolve();
      };
      unsubscribe = subscribe((line) => this.write(fit(line, this.columns - 1) + '\r\n'));
    });
  }

  // -------------------------------------------------------------------------
  // Reading lines

  private readLine(prompt: string, options: { echo: boolean; remember?: boolean }): Promise<ReadResult> {
    if (this.closed) return Promise.resolve({ kind: 'abort' });
    return new Promise((resolve) => {
      this.pendingRead = resolve;
      this.write(this.editor.begin(prompt, options));
      this.drainTypeAhead();
    });
  }

  private feed(data: Buffer): void {
    const result = this.editor.feed(data);
    if (result.output) this.write(result.output);
    if (result.event) {
      const resolve = this.pendingRead;
      this.pendingRead = undefined;
      if (result.consumed < data.length) this.queue(data.subarray(result.consumed));
      resolve?.(result.event);
    }
  }

  private queue(data: Buffer): void {
    const room = MAX_TYPE_AHEAD - this.typeAheadBytes;
    if (data.length > room) this.counters.droppedInput += data.length - Math.max(0, room);
    if (room <= 0) return;
    const kept = Buffer.from(data.subarray(0, room));
    this.typeAhead.push(kept);
    this.typeAheadBytes += kept.length;
  }

  private drainTypeAhead(): void {
    while (this.typeAhead.length > 0 && this.editor.reading) {
      const chunk = this.typeAhead.shift()!;
      this.typeAheadBytes -= chunk.length;
      this.feed(chunk);
    }
  }

  // -------------------------------------------------------------------------
  // Session end, idle logout, completion

  private logout(message: string): void {
    if (!this.loggedIn) return;
    this.print(message);
    this.endSession();
  }

  private endSession(): void {
    this.loggedIn = false;
    if (this.idleTimer !== undefined) this.timers.clearTimer(this.idleTimer);
    this.idleTimer = undefined;
    this.stopFollowing?.();
    const pending = this.pendingRead;
    this.pendingRead = undefined;
    if (pending) {
      this.editor.end();
      this.write('\r\n');
      pending({ kind: 'abort' });
    }
  }

  private touchIdle(): void {
    if (!this.loggedIn) return;
    if (this.idleTimer !== undefined) this.timers.clearTimer(this.idleTimer);
    this.idleTimer = this.timers.setTimer(this.idleMs, () => {
      this.idleTimer = undefined;
      this.log.info('console session ended: idle');
      if (this.pendingRead || this.stopFollowing) this.write('\r\n');
      this.logout(`Logged out after ${formatUptime(this.idleMs / 1000)} without input.`);
    });
  }

  private complete(before: string): string[] {
    const words = before.split(' ');
    const allowed = this.loggedIn ? COMMANDS.map((c) => c.name) : this.setupDone ? [] : [...SETUP_COMMANDS];
    if (words.length === 1) return allowed;
    const command: Command | undefined = allowed.includes(words[0]) ? COMMANDS.find((c) => c.name === words[0]) : undefined;
    const args = words.slice(1).filter((w, i, all) => w !== '' || i === all.length - 1);
    return [...(command?.complete?.(args.length - 1, args, this.context()) ?? [])];
  }

  private async refreshNames(): Promise<void> {
    try {
      const [nodes, profiles] = await Promise.all([this.host.nodes(), this.host.profiles()]);
      this.nodeNameCache = nodes.map((n) => n.name);
      this.profileNameCache = profiles.map((p) => p.name);
    } catch (err) {
      this.log.debug('console: cannot refresh names for completion', { err });
    }
  }

  private banner(): string {
    return `rackboot${this.version ? ' ' + this.version : ''} serial console\r\n`;
  }

  private print(...lines: string[]): void {
    this.write(
      lines
        .flatMap((line) => wrap(line, this.columns - 1))
        .map((line) => line + '\r\n')
        .join(''),
    );
  }

  private write(text: string): void {
    if (text) this.out(text);
  }
}

function splitWords(line: string): string[] {
  return line
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
}
