// TypeScript run inside a network namespace: bundled with esbuild into
// node_modules/.cache/rackboot-test/ (so bare imports resolve from the repo's
// node_modules) with the packet addon copied beside the bundle, exactly as in
// build/out/.
//
//   const server = await spawnTsInNs(srv, 'firmware/src/main.ts', ['serve']);  // killed by lab.destroy()
//   const { stdout } = await runTsInNs(srv, { source: 'console.log(1)' });
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { webAssetsPlugin } from '../../build/web.mjs';
import { ExecError, isAlive, type ExecOptions } from './exec.js';
import { spawnInNs, type NsRef } from './netns.js';
import { REPO_ROOT, TS_BUNDLE_ROOT } from './paths.js';

const ADDON_BUILD = join(REPO_ROOT, 'firmware/native/build/Release/rackboot_packet.node');

/** A .ts file (absolute, or relative to the repo root), or inline TS resolved from the repo root. */
export type TsEntry = string | { source: string; name?: string };

const bundleDirs = new Set<string>();
let bundleCounter = 0;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  process.on('exit', () => {
    for (const dir of bundleDirs) removeBundle(dir);
  });
  exitHookInstalled = true;
}

/**
 * Bundles a TypeScript entry to a runnable .mjs (packages stay external and load
 * from the repo's node_modules) and copies the packet addon beside it, as the
 * release bundle has it. Returns the .mjs path. spawnTsInNs removes the bundle
 * when its process exits; anything else goes at process exit, or is swept by the
 * next run once this process is gone.
 */
export async function bundleTs(entry: TsEntry): Promise<string> {
  if (bundleCounter === 0) sweepStaleBundles();
  const dir = join(TS_BUNDLE_ROOT, `${process.pid}-${++bundleCounter}`);
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
  if (!existsSync(TS_BUNDLE_ROOT)) return;
  for (const name of readdirSync(TS_BUNDLE_ROOT)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) rmSync(join(TS_BUNDLE_ROOT, name), { recursive: true, force: true });
  }
}
