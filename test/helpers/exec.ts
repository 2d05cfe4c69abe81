// Commands on the host: run argv without a shell and get its stdout, or an
// ExecError that carries everything needed to see why it failed.
import { execFile } from 'node:child_process';

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
      const notStarted: Error = err; // ENOENT, EACCES, ...: no exit status to report
      if (code === null && !err.signal) return reject(notStarted);
      reject(new ExecError(argv, code, err.signal ?? null, stdout, stderr));
    });
    child.stdin?.on('error', () => {}); // EPIPE when the command exits without reading; its result says why
    child.stdin?.end(options.input ?? '');
  });
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
