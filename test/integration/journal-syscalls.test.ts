// The compaction order of firmware/src/store/journal.ts as the kernel sees it:
// a lease writer binding flat out with an 8 KiB compaction threshold runs under
// strace, and every compaction in the trace must be
//   rename(journal -> journal.old), openat(journal, O_CREAT|O_EXCL), fsync(dir),
//   openat(snapshot.tmp), fdatasync(snapshot.tmp), rename(snapshot.tmp -> snapshot),
//   fsync(dir), unlink(journal.old)
// (that an ACK waits for its fdatasync is what the kill tests check).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { STRACE_FILE_CALLS, parseTrace, type Call } from '../helpers/strace.js';

const REPO = resolve(import.meta.dirname, '..', '..');

describe('journal compaction under strace', () => {
  let work: string;
  let script: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'rackboot-syscalls-'));
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

  it('rotates, snapshots and removes the old journal in the crash-safe order, every time', async () => {
    const dir = join(work, 'state');
    const trace = join(work, 'trace');
    const child = spawn(
      'strace',
      ['-f', '-qq', '-y', '-s', '512', '-o', trace, '-e', `trace=${STRACE_FILE_CALLS}`, process.execPath, script, dir, '8192', '4'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let acks = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (acks += chunk.split('\n').length - 1));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Until a few compactions happened: about 30 leases per 8 KiB.
    const deadline = Date.now() + 60_000;
    while (acks < 400 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    // Kill the writer (strace's child), so strace writes its log and exits.
    const writer = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(writer, 'SIGKILL');
    await once(child, 'exit');
    expect(stderr).toBe('');

    const calls = parseTrace(await readFile(trace, 'utf8'), work);
    const [journal, old, tmp, snapshot] = ['leases.journal', 'leases.journal.old', 'leases.snapshot.tmp', 'leases.snapshot'].map((f) => join(dir, f));
    const isDirSync = (c: Call) => c.name === 'fsync' && c.fdPath === dir;
    const steps: [string, (c: Call) => boolean][] = [
      ['rename journal -> journal.old', (c) => c.name.startsWith('rename') && c.paths[0] === journal && c.paths[1] === old],
      ['create the new journal', (c) => c.name === 'openat' && c.paths[0] === journal && /O_CREAT/.test(c.args) && /O_EXCL/.test(c.args)],
      ['fsync the directory', isDirSync],
      ['open snapshot.tmp', (c) => c.name === 'openat' && c.paths[0] === tmp && /O_CREAT/.test(c.args)],
      ['fdatasync snapshot.tmp', (c) => c.name === 'fdatasync' && c.fdPath === tmp],
      ['rename snapshot.tmp -> snapshot', (c) => c.name.startsWith('rename') && c.paths[0] === tmp && c.paths[1] === snapshot],
      ['fsync the directory', isDirSync],
      ['unlink journal.old', (c) => c.name.startsWith('unlink') && c.paths[0] === old],
    ];
    // The calls that belong to compaction, in order (journal appends and fdatasyncs of the journal run beside it).
    const relevant = calls.filter((c) => steps.some(([, match]) => match(c)));
    const complete: number[] = [];
    for (let i = 0; i < relevant.length; i++) {
      if (!steps[0][1](relevant[i])) continue;
      const seq = relevant.slice(i, i + steps.length);
      if (seq.length < steps.length) break; // the kill interrupted this one
      const names = seq.map((c, k) => (steps[k][1](c) ? steps[k][0] : `(${c.name} ${c.paths.join(' ')} ${c.fdPath ?? ''}) instead of ${steps[k][0]}`));
      expect(names, `compaction at call ${i}`).toEqual(steps.map(([name]) => name));
      complete.push(i);
    }
    expect(complete.length, `${acks} leases written`).toBeGreaterThanOrEqual(3);
    // The snapshot is never written in place, and nothing outside the state directory is touched.
    expect(calls.filter((c) => c.writes.includes(snapshot) && !c.name.startsWith('rename'))).toEqual([]);
    expect([
      ...new Set(calls.flatMap((c) => c.writes).filter((p) => !p.startsWith(`${dir}/`) && p !== dir && !/^\/dev\/(null|tty|pts\/\d+)$/.test(p))),
    ]).toEqual([]);
    console.info(`journal syscalls: ${complete.length} compactions traced, each in the crash-safe order; ${acks} leases ACKed`);
  }, 90_000);
});
