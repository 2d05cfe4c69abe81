// rackboot's built-in coverage-guided fuzzing engine, for machines where
// Jazzer.js's native libFuzzer addon cannot load (its prebuilt linux-x64 binary
// needs glibc 2.38 and GCC 13's libstdc++; Debian 12 has 2.36 and GCC 12).
//
// It reuses Jazzer.js's own instrumentor (pure JavaScript, Babel): the target
// bundle is instrumented exactly as `jazzer` would instrument it, and the
// `Fuzzer.coverageTracker` / `Fuzzer.tracer` calls it inserts are served here
// instead of by libFuzzer:
// - edge counters, bucketed like libFuzzer's (1, 2, 3, 4-7, 8-15, 16-31,
//   32-127, 128+); an input that reaches a new (edge, bucket) pair joins the
//   corpus;
// - string and integer comparisons against constants feed a dictionary
//   (libFuzzer's CMP-guided "TORC"), so magic values like "blksize" or
//   option 82 are found without being listed by hand;
// - mutations are libFuzzer's usual set: erase, insert, insert repeated,
//   change byte/bit, shuffle, ASCII and binary integers, copy part, cross
//   over, dictionary words.
// Usage (run.mjs calls it in a child process per target):
//   node test/fuzz/engine.mjs --bundle B.cjs --corpus DIR [--corpus DIR2] --seconds N
//        [--seed S] [--max-len BYTES] [--rss-limit-mb MB] [--timeout-ms MS]
//        [--artifacts DIR] [--save-corpus DIR] [--runs N]
// The last line on stdout is a JSON summary; exit status 0 = no finding,
// 1 = finding (input saved under --artifacts), 2 = usage or setup error.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

// ---- arguments -----------------------------------------------------------------

function parseArgs(argv) {
  const args = { corpus: [], seconds: 10, seed: 1, maxLen: 4096, rssLimitMb: 2048, timeoutMs: 10_000, runs: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`missing value for ${name}`);
    switch (name) {
      case '--bundle':
        args.bundle = value;
        break;
      case '--corpus':
        args.corpus.push(value);
        break;
      case '--seconds':
        args.seconds = Number(value);
        break;
      case '--seed':
        args.seed = Number(value);
        break;
      case '--max-len':
        args.maxLen = Number(value);
        break;
      case '--rss-limit-mb':
        args.rssLimitMb = Number(value);
        break;
      case '--timeout-ms':
        args.timeoutMs = Number(value);
        break;
      case '--artifacts':
        args.artifacts = value;
        break;
      case '--save-corpus':
        args.saveCorpus = value;
        break;
      case '--runs':
        args.runs = Number(value);
        break;
      default:
        throw new Error(`unknown argument ${name}`);
    }
  }
  if (!args.bundle) throw new Error('--bundle is required');
  return args;
}

// ---- random numbers (seeded, so a run can be repeated) ---------------------------

function makeRandom(seed) {
  let state = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  return { next, below: (n) => (n <= 0 ? 0 : next() % n), chance: (p) => next() / 0x100000000 < p };
}

// ---- coverage --------------------------------------------------------------------

const BUCKET_OF = new Uint8Array(256);
for (let hits = 1; hits < 256; hits++) {
  BUCKET_OF[hits] = hits === 1 ? 1 : hits === 2 ? 2 : hits === 3 ? 3 : hits < 8 ? 4 : hits < 16 ? 5 : hits < 32 ? 6 : hits < 128 ? 7 : 8;
}

class Coverage {
  constructor() {
    this.counters = new Uint8Array(1 << 16);
    this.seen = new Uint8Array(1 << 16); // bit per bucket, per edge
    this.features = 0;
  }

  ensure(edges) {
    if (edges <= this.counters.length) return;
    const size = 1 << Math.ceil(Math.log2(edges));
    const counters = new Uint8Array(size);
    const seen = new Uint8Array(size);
    seen.set(this.seen);
    this.counters = counters;
    this.seen = seen;
  }

  hit(id) {
    const c = this.counters;
    if (id >= c.length) this.ensure(id + 1);
    const value = this.counters[id];
    if (value < 255) this.counters[id] = value + 1;
  }

  /** Folds this run's counters into the seen set; the number of new (edge, bucket) features. */
  collect() {
    const { counters, seen } = this;
    let fresh = 0;
    for (let i = 0; i < counters.length; i++) {
      const hits = counters[i];
      if (hits === 0) continue;
      counters[i] = 0;
      const bit = 1 << (BUCKET_OF[hits] - 1);
      if ((seen[i] & bit) === 0) {
        seen[i] |= bit;
        fresh++;
      }
    }
    this.features += fresh;
    return fresh;
  }
}

// ---- dictionary from comparisons -------------------------------------------------

class Dictionary {
  constructor(limit = 1024) {
    /** The target's own words (its `dictionary` export): always kept. */
    this.pinned = [];
    /** Constants seen in comparisons: a ring, so late, deep comparisons still get in. */
    this.seen = [];
    this.known = new Set();
    this.limit = limit;
    this.nextSlot = 0;
  }

  get size() {
    return this.pinned.length + this.seen.length;
  }

  pick(rnd) {
    if (this.pinned.length > 0 && (this.seen.length === 0 || rnd.chance(0.5))) return this.pinned[rnd.below(this.pinned.length)];
    return this.seen.length > 0 ? this.seen[rnd.below(this.seen.length)] : undefined;
  }

  addString(text) {
    if (typeof text !== 'string' || text.length === 0 || text.length > 64) return;
    this.add(Buffer.from(text, 'latin1'));
    // eslint-disable-next-line no-control-regex -- the range starts at NUL: any character beyond latin1
    if (/[^\x00-\xff]/.test(text)) this.add(Buffer.from(text, 'utf8'));
  }

  addInteger(value) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) return;
    if (value <= 0xff) this.add(Buffer.from([value]));
    if (value <= 0xffff) {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(value);
      this.add(b);
      this.add(Buffer.from(b).reverse());
    }
    if (value > 0xff) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(value);
      this.add(b);
    }
    this.add(Buffer.from(String(value), 'latin1'));
  }

  add(word, pinned = false) {
    const key = word.toString('latin1');
    if (this.known.has(key)) return;
    this.known.add(key);
    if (pinned) {
      this.pinned.push(word);
    } else if (this.seen.length < this.limit) {
      this.seen.push(word);
    } else {
      const slot = this.nextSlot++ % this.limit;
      this.known.delete(this.seen[slot].toString('latin1'));
      this.seen[slot] = word;
    }
  }
}

// ---- mutations (after libFuzzer's MutationDispatcher) -----------------------------

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(input, rnd, maxLen, corpus, dict) {
  let data = Buffer.from(input);
  const rounds = 1 + rnd.below(5);
  for (let r = 0; r < rounds; r++) data = mutateOnce(data, rnd, maxLen, corpus, dict);
  return data.length > maxLen ? data.subarray(0, maxLen) : data;
}

function mutateOnce(data, rnd, maxLen, corpus, dict) {
  const len = data.length;
  switch (rnd.below(12)) {
    case 0: {
      // erase bytes
      if (len < 2) return data;
      const n = 1 + rnd.below(Math.min(len - 1, 16));
      const at = rnd.below(len - n + 1);
      return Buffer.concat([data.subarray(0, at), data.subarray(at + n)]);
    }
    case 1: {
      // insert a byte
      if (len >= maxLen) return data;
      const at = rnd.below(len + 1);
      return Buffer.concat([data.subarray(0, at), Buffer.from([rnd.below(256)]), data.subarray(at)]);
    }
    case 2: {
      // insert repeated bytes
      if (len >= maxLen) return data;
      const n = 1 + rnd.below(Math.min(maxLen - len, 128));
      const at = rnd.below(len + 1);
      return Buffer.concat([data.subarray(0, at), Buffer.alloc(n, rnd.chance(0.5) ? 0 : rnd.below(256)), data.subarray(at)]);
    }
    case 3: {
      // change a byte
      if (len === 0) return Buffer.from([rnd.below(256)]);
      data[rnd.below(len)] = rnd.below(256);
      return data;
    }
    case 4: {
      // flip a bit
      if (len === 0) return data;
      data[rnd.below(len)] ^= 1 << rnd.below(8);
      return data;
    }
    case 5: {
      // shuffle a few bytes
      if (len < 2) return data;
      const n = Math.min(len, 2 + rnd.below(8));
      const at = rnd.below(len - n + 1);
      for (let i = n - 1; i > 0; i--) {
        const j = rnd.below(i + 1);
        const t = data[at + i];
        data[at + i] = data[at + j];
        data[at + j] = t;
      }
      return data;
    }
    case 6: {
      // change an ASCII integer
      const text = data.toString('latin1');
      const digits = [...text.matchAll(/\d+/g)];
      if (digits.length === 0) return data;
      const m = digits[rnd.below(digits.length)];
      const value = Number(m[0]);
      const choices = [value + 1, value - 1, value * 2, Math.floor(value / 2), 0, rnd.next(), INTERESTING[rnd.below(INTERESTING.length)]];
      const replaced = String(Math.max(0, choices[rnd.below(choices.length)]));
      return Buffer.from(text.slice(0, m.index) + replaced + text.slice(m.index + m[0].length), 'latin1');
    }
    case 7: {
      // change a binary integer
      const width = [1, 2, 4][rnd.below(3)];
      if (len < width) return data;
      const at = rnd.below(len - width + 1);
      const value = rnd.chance(0.5) ? INTERESTING[rnd.below(INTERESTING.length)] : rnd.next();
      for (let i = 0; i < width; i++) data[at + (rnd.chance(0.5) ? i : width - 1 - i)] = (value >>> (8 * i)) & 0xff;
      return data;
    }
    case 8: {
      // copy a part of itself elsewhere
      if (len < 2) return data;
      const n = 1 + rnd.below(Math.min(len, 64));
      const from = rnd.below(len - n + 1);
      const part = Buffer.from(data.subarray(from, from + n));
      if (rnd.chance(0.5)) {
        part.copy(data, rnd.below(len - n + 1));
        return data;
      }
      const at = rnd.below(len + 1);
      return Buffer.concat([data.subarray(0, at), part, data.subarray(at)]);
    }
    case 9: {
      // cross over with another corpus entry
      if (corpus.length < 2) return data;
      const other = corpus[rnd.below(corpus.length)].data;
      if (other.length === 0) return data;
      const cut = rnd.below(len + 1);
      const from = rnd.below(other.length);
      return Buffer.concat([data.subarray(0, cut), other.subarray(from, from + 1 + rnd.below(other.length - from))]);
    }
    default: {
      // dictionary word, inserted or overwriting
      const word = dict.pick(rnd);
      if (word === undefined) return data;
      const at = rnd.below(len + 1);
      if (rnd.chance(0.5) && at + word.length <= len) {
        word.copy(data, at);
        return data;
      }
      return Buffer.concat([data.subarray(0, at), word, data.subarray(at)]);
    }
  }
}

// ---- loading the instrumented target ---------------------------------------------

/**
 * The instrumentor's edge-id bookkeeping tells the native addon to grow its
 * counter buffer (edgeIdStrategy.js). That addon is what does not load here, so
 * the module is replaced, before the instrumentor requires it, by one that
 * grows our counters instead.
 */
function stubNativeFuzzer(coverage) {
  const path = require.resolve('@jazzer.js/fuzzer');
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  stub.exports = { fuzzer: { coverageTracker: { enlargeCountersBufferIfNeeded: (edges) => coverage.ensure(edges) } } };
  require.cache[path] = stub;
}

function loadInstrumented(bundlePath, coverage, dict) {
  stubNativeFuzzer(coverage);
  const { Instrumentor } = require('@jazzer.js/instrumentor');
  const instrumentor = new Instrumentor(['*'], ['node_modules']);
  instrumentor.init();
  const code = readFileSync(bundlePath, 'utf8');
  const result = instrumentor.instrument(code, bundlePath);
  if (!result?.code) throw new Error(`instrumentation of ${bundlePath} failed (set JAZZER_DEBUG=1 for details)`);
  coverage.ensure(instrumentor.idStrategy._nextEdgeId ?? 1 << 16);

  const compare = (a, b, operator) => {
    switch (operator) {
      case '==':
        return a == b;
      case '===':
        return a === b;
      case '!=':
        return a != b;
      case '!==':
        return a !== b;
      case '<':
        return a < b;
      case '<=':
        return a <= b;
      case '>':
        return a > b;
      case '>=':
        return a >= b;
      default:
        throw new Error(`unexpected operator ${operator}`);
    }
  };
  globalThis.Fuzzer = {
    coverageTracker: { incrementCounter: (id) => coverage.hit(id) },
    tracer: {
      traceStrCmp(a, b, operator) {
        const result = compare(a, b, operator);
        if (a !== b) {
          dict.addString(a);
          dict.addString(b);
        }
        return result;
      },
      traceNumberCmp(a, b, operator) {
        if (Number.isInteger(a) && Number.isInteger(b) && a !== b) {
          dict.addInteger(a);
          dict.addInteger(b);
        }
        return compare(a, b, operator);
      },
      traceAndReturn(current, target) {
        if (typeof target === 'string') dict.addString(target);
        else if (typeof target === 'number') dict.addInteger(target);
        return target;
      },
    },
  };
  const mod = new Module(bundlePath);
  mod.filename = bundlePath;
  mod.paths = Module._nodeModulePaths(dirname(bundlePath));
  mod._compile(result.code, bundlePath);
  const target = mod.exports;
  if (typeof target.fuzz !== 'function') throw new Error(`${bundlePath} exports no fuzz(data) function`);
  return target;
}

// ---- the loop --------------------------------------------------------------------

function readCorpus(dirs) {
  const inputs = [];
  for (const dir of dirs) {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (statSync(path).isFile()) inputs.push(readFileSync(path));
    }
  }
  return inputs;
}

function sha1(data) {
  return createHash('sha1').update(data).digest('hex');
}

async function runOne(target, data, timeoutMs) {
  const started = performance.now();
  const result = target.fuzz(Buffer.from(data));
  if (result && typeof result.then === 'function') {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`input did not finish within ${timeoutMs} ms (hang)`)), timeoutMs);
    });
    try {
      await Promise.race([result, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  const ms = performance.now() - started;
  if (ms > timeoutMs) throw new Error(`input took ${Math.round(ms)} ms, over the ${timeoutMs} ms limit (slow input)`);
}

export async function fuzz(args) {
  const coverage = new Coverage();
  const dict = new Dictionary();
  const target = loadInstrumented(args.bundle, coverage, dict);
  for (const word of target.dictionary ?? []) dict.add(Buffer.isBuffer(word) ? word : Buffer.from(String(word), 'latin1'), true);
  const maxLen = target.maxLen ?? args.maxLen;
  const rnd = makeRandom(args.seed);
  const corpus = [];
  const summary = { engine: 'builtin', execs: 0, seeds: 0, corpus: 0, features: 0, seconds: 0, result: 'ok' };
  const started = Date.now();
  const deadline = started + args.seconds * 1000;

  const finding = (data, error, kind) => {
    summary.result = kind;
    summary.error = String(error?.stack ?? error);
    summary.input = data.toString('base64');
    if (args.artifacts) {
      mkdirSync(args.artifacts, { recursive: true });
      summary.artifact = join(args.artifacts, `${kind}-${sha1(data)}`);
      writeFileSync(summary.artifact, data);
    }
  };

  const execute = async (data) => {
    summary.execs++;
    try {
      await runOne(target, data, args.timeoutMs);
    } catch (error) {
      coverage.collect();
      finding(data, error, 'crash');
      return undefined;
    }
    if ((summary.execs & 255) === 0 && process.memoryUsage().rss > args.rssLimitMb * 1024 * 1024) {
      finding(data, new Error(`rss ${Math.round(process.memoryUsage().rss / 1048576)} MB over the ${args.rssLimitMb} MB limit`), 'oom');
      return undefined;
    }
    return coverage.collect();
  };

  // Every seed runs first, whatever the budget: the corpus doubles as a regression suite.
  const seeds = readCorpus(args.corpus);
  summary.seeds = seeds.length;
  if (seeds.length === 0) seeds.push(Buffer.alloc(0));
  for (const seed of seeds) {
    const fresh = await execute(seed.length > maxLen ? seed.subarray(0, maxLen) : seed);
    if (fresh === undefined) return finish();
    corpus.push({ data: seed, fresh });
  }

  while (Date.now() < deadline && summary.execs < args.runs) {
    // Favour recent and productive entries a little, as libFuzzer's weighted choice does.
    const pick = rnd.chance(0.3) ? corpus[corpus.length - 1 - rnd.below(Math.min(corpus.length, 8))] : corpus[rnd.below(corpus.length)];
    const data = mutate(pick.data, rnd, maxLen, corpus, dict);
    const fresh = await execute(data);
    if (fresh === undefined) return finish();
    if (fresh > 0) {
      corpus.push({ data, fresh });
      if (args.saveCorpus) {
        mkdirSync(args.saveCorpus, { recursive: true });
        writeFileSync(join(args.saveCorpus, sha1(data)), data);
      }
    }
  }
  return finish();

  function finish() {
    summary.corpus = corpus.length;
    summary.features = coverage.features;
    summary.dictionary = dict.size;
    summary.seconds = Math.round((Date.now() - started) / 100) / 10;
    return summary;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(String(error.message));
    process.exit(2);
  }
  fuzz(args).then(
    (summary) => {
      console.log(JSON.stringify(summary));
      // Targets may leave timers or handles behind; the run is over.
      process.exit(summary.result === 'ok' ? 0 : 1);
    },
    (error) => {
      console.error(error?.stack ?? String(error));
      process.exit(2);
    },
  );
}
