// Runs the real single-file bundle (build/out/rackboot.mjs) inside a network
// namespace, as the appliance runs it, and reads its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BUNDLE = join(REPO, 'build', 'out', 'rackboot.mjs');

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [key: string]: unknown;
}

export class RackbootProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { time: '', level: 'raw', msg: text };
        }
        this.lines.push(line);
        for (const waiter of [...this.waiters]) {
          if (waiter.match(line)) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /** Starts `rackboot ARGS` in namespace `ns` (with `env` added to ours) and waits for its "rackboot ready" line. */
  static async start(ns: string, args: string[], timeoutMs = 15_000, env: NodeJS.ProcessEnv = {}): Promise<RackbootProcess> {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run 'make build' first`);
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BUNDLE, ...args, '--log-format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const proc = new RackbootProcess(child);
    await Promise.race([
      proc.waitFor((l) => l.msg === 'rackboot ready', timeoutMs),
      proc.exited.then((code) => {
        throw new Error(`rackboot exited with ${code} before it was ready:\n${proc.stderr}\n${proc.lines.map((l) => JSON.stringify(l)).join('\n')}`);
      }),
    ]);
    return proc;
  }

  waitFor(match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `timed out waiting for a log line; last lines:\n${this.lines
              .slice(-10)
              .map((l) => JSON.stringify(l))
              .join('\n')}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** SIGTERM and wait for a clean exit (status 0 expected). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL: no chance to flush anything that was not already durable. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
