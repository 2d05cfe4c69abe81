// The state directory lock: one rackboot per directory, a lock left by kill -9
// (or a reboot, or a reused pid) taken over, a torn lock file treated as stale,
// and of two processes racing for a stale lock exactly one wins.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, StateDirLock, StateDirLockedError, procFacts, type LockHolder, type ProcessFacts } from '../../firmware/src/store/lock.js';

describe('StateDirLock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const holderLine = (h: LockHolder) => `${h.pid} ${h.startTime} ${h.bootId}\n`;

  it('is held by one process at a time and names the holder', async () => {
    const lock = await StateDirLock.acquire(dir);
    const me = await procFacts.self();
    expect(me.startTime).toMatch(/^\d+$/);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(holderLine(me));
    const second = await StateDirLock.acquire(dir).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(StateDirLockedError);
    expect((second as Error).message).toBe(
      `state directory ${dir} is in use by another rackboot (pid ${process.pid}); stop it first, or give this one its own state_dir`,
    );
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    const again = await StateDirLock.acquire(dir);
    await again.release();
  });

  it('refuses while the holder runs and takes over once it was killed with SIGKILL', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const facts = await procFacts.self();
    // The child's own identity, as it would have written it.
    const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
    const holder = { pid: child.pid!, startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19], bootId: facts.bootId };
    await writeFile(join(dir, LOCK_FILE), holderLine(holder));
    const refused = await StateDirLock.acquire(dir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StateDirLockedError);
    expect((refused as StateDirLockedError).holder).toEqual(holder);

    child.kill('SIGKILL');
    await once(child, 'exit');
    const stale: (LockHolder | undefined)[] = [];
    const lock = await StateDirLock.acquire(dir, { onStale: (h) => stale.push(h) });
    expect(stale).toEqual([holder]);
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe(holderLine(facts));
    await lock.release();
  });

  it('treats a reused pid, an earlier boot and a torn lock file as stale', async () => {
    const me = await procFacts.self();
    const cases = [
      holderLine({ ...me, startTime: String(Number(me.startTime) + 1) }), // our pid, but another process's start time
      holderLine({ ...me, bootId: '00000000-0000-0000-0000-000000000000' }), // written before a reboot
      '', // power cut before the content was written
      `${process.pid} 12`, // torn mid-line
      'garbage\u0000\n',
    ];
    for (const content of cases) {
      await writeFile(join(dir, LOCK_FILE), content);
      let staleSeen = 0;
      const lock = await StateDirLock.acquire(dir, { onStale: () => staleSeen++ });
      expect(staleSeen, JSON.stringify(content)).toBe(1);
      await lock.release();
      expect(await readdir(dir), JSON.stringify(content)).toEqual([]);
    }
  });

  it('lets exactly one of two processes racing for a stale lock win', async () => {
    for (let round = 0; round < 200; round++) {
      await writeFile(join(dir, LOCK_FILE), '4000000 1 dead\n');
      // Both racers are running processes; the pid in the stale lock is not.
      const alive = new Set([1001, 1002]);
      const factsFor = (pid: number): ProcessFacts => ({
        self: () => Promise.resolve({ pid, startTime: '1', bootId: 'b' }),
        isRunning: (holder) => Promise.resolve(alive.has(holder.pid)),
      });
      const attempt = (pid: number) => StateDirLock.acquire(dir, { facts: factsFor(pid) }).catch((error: unknown) => error as Error);
      const results = await Promise.all([attempt(1001), attempt(1002)]);
      const winners = results.filter((r): r is StateDirLock => r instanceof StateDirLock);
      expect(winners, `round ${round}: ${results.map(String).join(', ')}`).toHaveLength(1);
      const loser = results.find((r) => !(r instanceof StateDirLock));
      expect(loser).toBeInstanceOf(StateDirLockedError);
      await winners[0].release();
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('does not remove a lock that is no longer its own', async () => {
    const lock = await StateDirLock.acquire(dir);
    await rm(join(dir, LOCK_FILE));
    await writeFile(join(dir, LOCK_FILE), '1 2 3\n');
    await lock.release();
    expect(await readFile(join(dir, LOCK_FILE), 'utf8')).toBe('1 2 3\n');
  });
});
