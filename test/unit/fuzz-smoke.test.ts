// The fuzz targets (test/fuzz/targets) for a short budget each, so a regression that the
// seed corpus or a few thousand mutations reach fails CI. `make fuzz` runs the same
// targets for longer. Seeded and counted in inputs, so a failure here repeats; the failing input is printed
// (base64) and saved, to be added to test/fuzz/corpus/<target>/ once fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listTargets, runTargets, type FuzzResult } from '../fuzz/run.mjs';

// A fixed number of inputs per target (about 3 s each on one core), not a time budget, so
// the same inputs run on every machine; the seconds are only a backstop against a hang,
// generous enough that a slow or busy machine never trips it.
const RUNS: Record<string, number> = {
  'dhcp-decode': 10_000,
  'dhcp-server': 8_000,
  'tftp-packet': 8_000,
  'tftp-transfer': 2_500,
  'http-paths': 15_000,
  'ipxe-script': 2_500,
  'config-load': 150,
  'journal-load': 800,
};
const BACKSTOP_SECONDS = 240;
const targets = listTargets();

describe('fuzz smoke run', () => {
  let artifacts: string;
  let results: Map<string, FuzzResult>;

  beforeAll(async () => {
    artifacts = mkdtempSync(join(tmpdir(), 'rbfuzz-smoke-'));
    const list = await runTargets({ seconds: BACKSTOP_SECONDS, runs: RUNS, jobs: 2, engine: 'builtin', seed: 1, artifacts });
    results = new Map(list.map((r) => [r.target, r]));
  }, 900_000);

  afterAll(() => {
    rmSync(artifacts, { recursive: true, force: true });
  });

  it('has the targets the hardening issue asks for', () => {
    expect(targets).toEqual(
      expect.arrayContaining(['dhcp-decode', 'dhcp-server', 'tftp-packet', 'tftp-transfer', 'http-paths', 'ipxe-script', 'config-load', 'journal-load']),
    );
  });

  it.each(targets)('%s: seeds replay and mutations find nothing', (name) => {
    const result = results.get(name)!;
    const detail = result.result === 'ok' ? '' : `${result.error}\ninput (base64): ${result.input}`;
    expect(result.result, detail).toBe('ok');
    expect(result.seeds, 'seed corpus is missing').toBeGreaterThan(0);
    expect(result.execs).toBeGreaterThan(result.seeds!);
    expect(result.execs, 'the backstop cut the run short').toBe(RUNS[name] ?? result.execs);
  });
});
