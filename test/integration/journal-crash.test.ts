// "An ACKed lease survives kill -9 at any moment": a child process binds leases
// flat out and prints each one after bind() resolved (its ACK); we SIGKILL it at
// random moments — during startup recovery, group commits and compactions (a tiny
// compactAfterBytes keeps one running most of the time) — and check that every
// printed lease is in the store, bound to its client. The child always reopens
// the store exactly as the previous kill left it; we check a copy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { access, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const ROUNDS = 20;
const COMPACT_AFTER_BYTES = 8 * 1024;

interface Round {
  acked: [string, string][];
  filesAtKill: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/** Runs the writer until `killAfterMs` past its start (or past "ready", if `afterReady`), then SIGKILLs it. */
function runAndKill(script: string, dir: string, killAfterMs: number, afterReady: boolean): Promise<Round> {
  return new Promise((resolveRound, reject) => {
    const child = spawn(process.execPath, [script, dir, String(COMPACT_AFTER_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: [string, string][] = [];
    let buffered = '';
    let stderr = '';
    let filesAtKill: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    const kill = async () => {
      // The kill comes first; the listing after it shows what the kill interrupted.
      child.kill('SIGKILL');
      filesAtKill = await readdir(dir).catch(() => []);
    };
    if (!afterReady) timer = setTimeout(() => void kill(), killAfterMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (text === 'ready') {
          if (afterReady) timer = setTimeout(() => void kill(), killAfterMs);
          continue;
        }
        const [ip, mac] = text.split(' ');
        acked.push([ip, mac]);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    // 'close' waits for stdout to be drained, so every line the child wrote has been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => resolveRound({ acked, filesAtKill, signal, code, stderr }));
    });
  });
}

describe('lease store under kill -9', () => {
  let work: string;
  let script: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rackboot-crash-'));
    script = join(work, 'journal-writer.mjs');
    await build({
      entryPoints: [join(REPO, 'test/helpers/journal-writer.ts')],
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('keeps every acknowledged lease', async () => {
    const dir = join(work, 'state');
    const check = join(work, 'check');
    /** ip -> mac of every lease ever ACKed; a client always binds the same address. */
    const acked = new Map<string, string>();
    let totalAcks = 0;
    let killedMidCompaction = 0;
    let tornTails = 0;
    let random = 0x2545f491;
    const nextRandom = () => {
      random = (Math.imul(random, 1103515245) + 12345) >>> 0;
      return random / 0x1_0000_0000;
    };

    for (let round = 0; round < ROUNDS; round++) {
      // Every fourth kill lands while the child is still starting (often mid-recovery); the rest while it writes.
      const early = round % 4 === 3;
      const delay = early ? 40 + nextRandom() * 80 : 5 + nextRandom() * 250;
      const result = await runAndKill(script, dir, delay, !early);
      expect(result.stderr, `round ${round} stderr`).toBe('');
      expect(result.signal, `round ${round}: the writer stopped by itself (code ${result.code})`).toBe('SIGKILL');
      for (const [ip, mac] of result.acked) acked.set(ip, mac);
      totalAcks += result.acked.length;
      if (result.filesAtKill.some((f) => f.endsWith('.journal.old') || f.endsWith('.snapshot.tmp'))) killedMidCompaction++;

      // Check a copy, so the next writer recovers from exactly what this kill left behind.
      if (!(await exists(dir))) continue; // killed before it created the store; nothing was ACKed
      await rm(check, { recursive: true, force: true });
      await cp(dir, check, { recursive: true });
      const table = await LeaseTable.open(check, { now: () => Date.now() });
      if (table.loadReport.truncatedTail > 0) tornTails++;
      expect(table.loadReport.skippedCorrupt, `round ${round}: damaged records`).toBe(0);
      const missing: string[] = [];
      for (const [ip, mac] of acked) {
        const lease = table.byIp(ip);
        if (!lease || lease.state !== 'bound' || lease.mac !== mac) missing.push(`${ip} ${JSON.stringify(lease)}`);
      }
      await table.close();
      expect(missing, `round ${round}: ACKed leases lost`).toEqual([]);
    }

    console.info(
      `crash test: ${ROUNDS} kills, ${totalAcks} ACKs (${acked.size} distinct leases), ` +
        `${killedMidCompaction} kills mid-compaction, ${tornTails} torn tails recovered`,
    );
    expect(acked.size).toBeGreaterThan(100);
    expect(killedMidCompaction).toBeGreaterThan(0);
  }, 60_000);
});

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
