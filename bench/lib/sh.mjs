// Processes for the benchmark: run to completion, run inside a namespace,
// start a daemon in a namespace and wait until it is ready.
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Runs argv (no shell); resolves { code, stdout, stderr } and never rejects on a non-zero exit. */
export function run(argv, { input, timeoutMs = 600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number' && !err.signal) return reject(err);
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, signal: err?.signal ?? null, stdout, stderr });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/** Like run, but throws with stderr when the command fails. */
export async function must(argv, options) {
  const result = await run(argv, options);
  if (result.code !== 0) throw new Error(`${argv.join(' ')} failed (${result.code ?? result.signal}): ${result.stderr.trim()}`);
  return result.stdout;
}

export const inNs = (ns, argv) => ['ip', 'netns', 'exec', ns, ...argv];

/**
 * Starts a daemon in a namespace. `ready` is a line predicate on its stdout or
 * stderr (or undefined: ready after `settleMs`). Resolves to { child, lines, stop }.
 */
export async function daemon(ns, argv, { ready, settleMs = 500, timeoutMs = 20_000, env } = {}) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines = [];
  let exited = null;
  child.on('exit', (code, signal) => (exited = code ?? signal));
  const waiters = new Set();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (lines.length < 5000) lines.push(line);
      for (const w of waiters) w(line);
    });
  }
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv[0]} not ready within ${timeoutMs} ms:\n${lines.slice(-15).join('\n')}`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      waiters.clear();
      resolve();
    };
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${exited}):\n${lines.slice(-15).join('\n')}`));
    });
    if (!ready) setTimeout(done, settleMs);
    else waiters.add((line) => ready(line) && done());
  });
  child.removeAllListeners('exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  return { child, lines, stop };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
