// Runs rackboot's fuzz targets (test/fuzz/targets/*.ts) for a time budget each.
//
//   node test/fuzz/run.mjs [--seconds N] [--jobs J] [--engine auto|jazzer|builtin]
//                          [--targets a,b] [--seed S] [--runs N] [--artifacts DIR] [--save-corpus]
//   node test/fuzz/run.mjs --write-seeds      regenerate test/fuzz/corpus/ from the fixtures
//
// Each target is bundled by esbuild into one CommonJS file in a temp directory
// (Jazzer.js instruments CommonJS on require; the sources are TypeScript ESM),
// then run in its own process, seeded with test/fuzz/corpus/<target>/:
// - engine jazzer: `jazzer <bundle> <work corpus> <seed corpus> -- -max_total_time=N`
//   (libFuzzer writes new inputs to the first directory, a temp copy, so the
//   committed seeds stay small);
// - engine builtin: test/fuzz/engine.mjs, the same instrumentation with a
//   JavaScript coverage-guided loop, for hosts where Jazzer's native addon does
//   not load (Debian 12: glibc 2.36 < 2.38 needed by the prebuilt addon);
// - auto (default): jazzer when its addon loads, else builtin.
// --runs caps the inputs per target (the time budget still applies): with the builtin
// engine and a fixed --seed, the same inputs run every time, which CI's smoke run uses.
// Findings are written to --artifacts (default test/fuzz/findings/<target>/).
// Prints one JSON line per target and a table; exits 1 if any target found
// something, 2 on setup errors.

import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const TARGETS_DIR = join(HERE, 'targets');
const CORPUS_DIR = join(HERE, 'corpus');

export function listTargets() {
  return readdirSync(TARGETS_DIR)
    .filter((name) => name.endsWith('.ts') && !name.startsWith('_'))
    .map((name) => basename(name, '.ts'))
    .sort();
}

function parseArgs(argv) {
  const args = { seconds: 60, jobs: 1, engine: 'auto', targets: undefined, seed: 1, artifacts: undefined, saveCorpus: false };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === '--write-seeds') {
      args.writeSeeds = true;
      continue;
    }
    if (name === '--save-corpus') {
      args.saveCorpus = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`missing value for ${name}`);
    switch (name) {
      case '--seconds':
        args.seconds = Number(value);
        break;
      case '--jobs':
        args.jobs = Math.max(1, Number(value));
        break;
      case '--engine':
        args.engine = value;
        break;
      case '--targets':
        args.targets = value.split(',').filter(Boolean);
        break;
      case '--seed':
        args.seed = Number(value);
        break;
      case '--runs':
        args.runs = Number(value);
        break;
      case '--artifacts':
        args.artifacts = resolve(value);
        break;
      default:
        throw new Error(`unknown argument ${name}`);
    }
  }
  if (!(args.seconds > 0)) throw new Error('--seconds must be positive');
  if (!['auto', 'jazzer', 'builtin'].includes(args.engine)) throw new Error('--engine is auto, jazzer or builtin');
  return args;
}

/** True when Jazzer.js's native libFuzzer addon loads on this machine. */
export function jazzerAvailable() {
  const probe = spawnSync(process.execPath, ['-e', "require('@jazzer.js/fuzzer')"], { cwd: REPO, encoding: 'utf8' });
  return probe.status === 0;
}

async function bundleTarget(name, outDir, entry = join(TARGETS_DIR, `${name}.ts`)) {
  const outfile = join(outDir, `${name}.cjs`);
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // import.meta.url appears in modules the targets do not use at run time (native addon lookup).
    define: { 'import.meta.url': '"file:///rackboot-fuzz-bundle"' },
    logLevel: 'error',
    sourcemap: 'inline',
  });
  return outfile;
}

/** A synchronous infinite loop in a target cannot be interrupted from inside: past `watchdogMs` the child is killed. */
function runProcess(command, argv, options, watchdogMs) {
  return new Promise((resolvePromise) => {
    const child = spawn(command, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const watchdog = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, watchdogMs);
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      resolvePromise({ code, signal, stdout, stderr, hung });
    });
  });
}

/** Time for start-up, instrumentation and the seed corpus, on top of the fuzzing budget. */
const WATCHDOG_SLACK_MS = 120_000;

async function runBuiltin(name, bundle, args, artifacts) {
  const argv = [
    join(HERE, 'engine.mjs'),
    '--bundle',
    bundle,
    '--corpus',
    join(CORPUS_DIR, name),
    '--seconds',
    String(args.seconds),
    '--seed',
    String(args.seed),
    '--artifacts',
    artifacts,
  ];
  if (args.saveCorpus) argv.push('--save-corpus', join(CORPUS_DIR, name));
  const runs = typeof args.runs === 'object' ? args.runs[name] : args.runs;
  if (runs !== undefined) argv.push('--runs', String(runs));
  const result = await runProcess(process.execPath, ['--max-old-space-size=2048', ...argv], { cwd: REPO }, args.seconds * 1000 + WATCHDOG_SLACK_MS);
  if (result.hung)
    return {
      target: name,
      engine: 'builtin',
      result: 'crash',
      error: `no answer ${args.seconds} s + ${WATCHDOG_SLACK_MS / 1000} s after start: an input hangs synchronously (infinite loop?)`,
    };
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return { target: name, ...JSON.parse(lastLine), ...(result.code === 2 ? { result: 'error', error: result.stderr } : {}) };
  } catch {
    return { target: name, engine: 'builtin', result: 'error', error: `exit ${result.code ?? result.signal}: ${result.stderr.slice(-4000)}` };
  }
}

async function runJazzer(name, bundle, args, artifacts, workDir) {
  const work = join(workDir, `${name}-corpus`);
  mkdirSync(work, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const cli = join(REPO, 'node_modules', '@jazzer.js', 'core', 'dist', 'cli.js');
  const argv = [
    cli,
    bundle,
    work,
    join(CORPUS_DIR, name),
    '--',
    `-max_total_time=${args.seconds}`,
    `-seed=${args.seed}`,
    `-artifact_prefix=${artifacts}/`,
    '-print_final_stats=1',
  ];
  const runs = typeof args.runs === 'object' ? args.runs[name] : args.runs;
  if (runs !== undefined) argv.push(`-runs=${runs}`);
  const started = Date.now();
  const result = await runProcess(process.execPath, argv, { cwd: REPO }, args.seconds * 1000 + WATCHDOG_SLACK_MS);
  if (args.saveCorpus) cpSync(work, join(CORPUS_DIR, name), { recursive: true });
  const execs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(result.stderr)?.[1] ?? NaN);
  return {
    target: name,
    engine: 'jazzer',
    execs,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    result: result.code === 0 ? 'ok' : 'crash',
    ...(result.code === 0 ? {} : { error: result.hung ? 'killed by the watchdog (hang)' : result.stderr.slice(-4000) }),
  };
}

/** Regenerates test/fuzz/corpus/ from the fixtures (test/fuzz/seed-corpus.ts). */
export async function writeSeeds() {
  const workDir = mkdtempSync(join(tmpdir(), 'rbfuzz-seed-'));
  try {
    const bundle = await bundleTarget('seed-corpus', workDir, join(HERE, 'seed-corpus.ts'));
    const require = createRequire(import.meta.url);
    await require(bundle).writeSeeds(REPO);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

export async function runTargets(options) {
  const args = { seconds: 60, jobs: 1, engine: 'auto', seed: 1, saveCorpus: false, ...options };
  const names = args.targets ?? listTargets();
  const unknown = names.filter((name) => !listTargets().includes(name));
  if (unknown.length > 0) throw new Error(`unknown fuzz targets: ${unknown.join(', ')}`);
  const engine = args.engine === 'auto' ? (jazzerAvailable() ? 'jazzer' : 'builtin') : args.engine;
  const workDir = mkdtempSync(join(tmpdir(), 'rbfuzz-run-'));
  try {
    const bundles = new Map();
    for (const name of names) bundles.set(name, await bundleTarget(name, workDir));
    const results = [];
    const queue = [...names];
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const artifacts = join(args.artifacts ?? join(HERE, 'findings'), name);
        const result =
          engine === 'jazzer' ? await runJazzer(name, bundles.get(name), args, artifacts, workDir) : await runBuiltin(name, bundles.get(name), args, artifacts);
        args.onResult?.(result);
        results.push(result);
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.jobs, names.length) }, worker));
    return results.sort((a, b) => a.target.localeCompare(b.target));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
  if (args.writeSeeds) {
    await writeSeeds();
    for (const name of listTargets()) console.log(`${name}: ${readdirSync(join(CORPUS_DIR, name)).length} seeds`);
    process.exit(0);
  }
  const results = await runTargets({ ...args, onResult: (result) => console.log(JSON.stringify(result)) });
  console.log('\ntarget            engine   execs      seconds  result');
  for (const r of results) {
    console.log(
      `${r.target.padEnd(18)}${String(r.engine).padEnd(9)}${String(r.execs ?? '-').padEnd(11)}${String(r.seconds ?? '-').padEnd(9)}${r.result}${r.artifact ? `  ${r.artifact}` : ''}`,
    );
  }
  const failed = results.filter((r) => r.result !== 'ok');
  for (const r of failed) console.error(`\n${r.target}: ${r.result}\n${r.error ?? ''}`);
  process.exit(failed.some((r) => r.result === 'error') ? 2 : failed.length > 0 ? 1 : 0);
}
