// The command driver: each action runs a configured argv (ipmitool, curl to a
// Redfish BMC, a PDU's CLI), with `{channel}` replaced by the channel name. No
// shell is involved, so a channel name can never become shell syntax. A command
// that outlives its timeout is killed; a failure quotes the end of its stderr,
// which is where ipmitool and curl say what went wrong.

import { spawn } from 'node:child_process';
import type { PowerState } from '../model/power.js';
import type { CommandChannelConfig } from '../config/schema.js';
import { PowerError, realSleep, type PowerDriver, type Sleep } from './driver.js';

/** Output kept per stream; a chatty command must not grow rackboot's memory. */
const MAX_OUTPUT_BYTES = 64 * 1024;
const STDERR_TAIL_CHARS = 300;

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs argv without a shell; resolves whatever the exit, rejects only when it cannot start. */
export function runCommand(argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills what a wrapper script started too (a grandchild holding
    // stdout open would otherwise keep the action waiting past its timeout).
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // Keeps the newest bytes of each stream (an error is usually printed last).
    const collect = (into: Buffer[]) => {
      let size = 0;
      return (chunk: Buffer) => {
        into.push(chunk);
        size += chunk.length;
        while (size > MAX_OUTPUT_BYTES && into.length > 1) size -= into.shift()!.length;
      };
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
  });
}

export function substituteChannel(argv: readonly string[], channel: string): string[] {
  return argv.map((arg) => arg.replaceAll('{channel}', channel));
}

/** The last line(s) of stderr, for an error message. */
export function stderrTail(stderr: string): string {
  const text = stderr.trim();
  if (text === '') return '(no output on stderr)';
  return text.length > STDERR_TAIL_CHARS ? `…${text.slice(-STDERR_TAIL_CHARS)}` : text;
}

/** "on"/"off" as a word in stdout ("Chassis Power is on"); undefined when neither or both appear. */
export function parseStateWords(stdout: string): PowerState | undefined {
  const text = stdout.toLowerCase();
  const on = /\bon\b/.test(text);
  const off = /\boff\b/.test(text);
  if (on === off) return undefined;
  return on ? 'on' : 'off';
}

export interface CommandDriverOptions {
  channels: readonly CommandChannelConfig[];
  sleep?: Sleep;
}

export class CommandDriver implements PowerDriver {
  readonly kind = 'command';
  private readonly channels: Map<string, CommandChannelConfig>;
  private readonly sleep: Sleep;

  constructor(options: CommandDriverOptions) {
    this.channels = new Map(options.channels.map((c) => [c.name, c]));
    this.sleep = options.sleep ?? realSleep;
  }

  canReadState(channel: string): boolean {
    return this.channels.get(channel)?.state !== undefined;
  }

  async on(channel: string): Promise<void> {
    const config = this.config(channel);
    await this.run(config, 'on', config.on, true);
  }

  async off(channel: string): Promise<void> {
    const config = this.config(channel);
    await this.run(config, 'off', config.off, true);
  }

  async cycle(channel: string): Promise<void> {
    const config = this.config(channel);
    if (config.cycle) {
      await this.run(config, 'cycle', config.cycle, true);
      return;
    }
    await this.run(config, 'off', config.off, true);
    await this.sleep(config.offMs);
    await this.run(config, 'on', config.on, true);
  }

  async state(channel: string): Promise<PowerState> {
    const config = this.config(channel);
    if (!config.state) return 'unknown';
    const result = await this.run(config, 'state', config.state, config.stateFrom === 'words');
    if (config.stateFrom === 'exit_code') {
      if (result.code === 0) return 'on';
      if (result.code === 1) return 'off';
      throw new PowerError(
        channel,
        'command_failed',
        `state command ${quote(config.state, channel)} exited with ${describeExit(result)}; expected 0 (on) or 1 (off): ${stderrTail(result.stderr)}`,
      );
    }
    const state = parseStateWords(result.stdout);
    if (!state) {
      const shown = result.stdout.trim().slice(0, 120) || '(nothing)';
      throw new PowerError(
        channel,
        'bad_output',
        `state command ${quote(config.state, channel)} printed ${JSON.stringify(shown)}; expected the word "on" or "off"`,
      );
    }
    return state;
  }

  async close(): Promise<void> {
    // Nothing held open: each action is its own process.
  }

  private config(channel: string): CommandChannelConfig {
    const config = this.channels.get(channel);
    if (!config) throw new PowerError(channel, 'unknown_channel', `no command channel named ${channel}`);
    return config;
  }

  private async run(config: CommandChannelConfig, action: string, template: readonly string[], requireSuccess: boolean): Promise<CommandResult> {
    const argv = substituteChannel(template, config.name);
    let result: CommandResult;
    try {
      result = await runCommand(argv, config.timeoutMs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? `${argv[0]} not found (is it installed and on PATH?)`
          : code === 'EACCES'
            ? `${argv[0]} is not executable`
            : (error as Error).message;
      throw new PowerError(config.name, 'spawn_failed', `${action} command ${quote(template, config.name)} could not start: ${why}`);
    }
    if (result.timedOut) {
      throw new PowerError(
        config.name,
        'timeout',
        `${action} command ${quote(template, config.name)} did not finish within ${config.timeoutMs} ms and was killed: ${stderrTail(result.stderr)}`,
      );
    }
    if (requireSuccess && result.code !== 0) {
      throw new PowerError(
        config.name,
        'command_failed',
        `${action} command ${quote(template, config.name)} exited with ${describeExit(result)}: ${stderrTail(result.stderr)}`,
      );
    }
    return result;
  }
}

function describeExit(result: CommandResult): string {
  return result.code !== null ? `code ${result.code}` : `signal ${result.signal}`;
}

function quote(argv: readonly string[], channel: string): string {
  return `"${substituteChannel(argv, channel).join(' ')}"`;
}
