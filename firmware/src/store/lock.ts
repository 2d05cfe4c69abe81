// One rackboot per state directory. Two processes appending to the same
// journals would interleave records and each compact the other's files away, so
// `serve` takes this lock before it opens a store and exits if another process
// holds it.
//
// The lock is the file DIR/rackboot.lock holding "<pid> <start time> <boot id>"
// of its holder. Node has no flock(2), so the lock is a file that exists while
// its holder runs, made atomically with link(2) (fails with EEXIST, never
// overwrites). A holder killed with SIGKILL or by a power cut leaves the file
// behind: it is stale when that pid is not running, or runs a different process
// (its start time in /proc/PID/stat differs: pids get reused), or was written
// before the last reboot (the boot id differs: an appliance's boot is
// deterministic enough that rackboot often gets the same pid every time).
//
// Taking over a stale lock: rename it aside, check the renamed file is the one
// judged stale (same inode), then link ours. A process that renamed a live lock
// aside by losing that race links it back and sees the winner. (Three processes
// starting on one stale lock in the same instant could still both win; a
// service manager starts one.)

import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'rackboot.lock';

/** Who holds a lock: enough to tell a running holder from a dead one. */
export interface LockHolder {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot); '' where /proc is missing. */
  startTime: string;
  /** /proc/sys/kernel/random/boot_id; '' where /proc is missing. */
  bootId: string;
}

/** Another live process holds the directory: the message names both, for the person starting the second one. */
export class StateDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    super(`state directory ${dir} is in use by another rackboot (pid ${holder.pid}); stop it first, or give this one its own state_dir`);
    this.name = 'StateDirLockedError';
  }
}

/** Reads facts about processes; a seam so tests can make a pid look dead, alive or reused. */
export interface ProcessFacts {
  self(): Promise<LockHolder>;
  /** True when `holder` is a process running now. */
  isRunning(holder: LockHolder): Promise<boolean>;
}

export const procFacts: ProcessFacts = {
  async self() {
    return { pid: process.pid, startTime: (await procStat(process.pid))?.startTime ?? '', bootId: await bootId() };
  },
  async isRunning(holder) {
    const now = await bootId();
    if (holder.bootId && now && holder.bootId !== now) return false;
    const proc = await procStat(holder.pid);
    // A zombie (killed, not yet reaped by its parent) holds nothing any more.
    if (proc) return proc.state !== 'Z' && proc.state !== 'X' && (!holder.startTime || proc.startTime === holder.startTime);
    // No /proc entry: either no such process, or no /proc at all.
    try {
      process.kill(holder.pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

export class StateDirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly path: string,
    private readonly ino: number,
    private readonly content: string,
  ) {}

  /**
   * Takes the lock on `dir` (which must exist), or throws StateDirLockedError
   * naming the running holder. `onStale` hears about a lock left by a dead holder.
   */
  static async acquire(dir: string, opts: { facts?: ProcessFacts; onStale?: (holder: LockHolder | undefined) => void } = {}): Promise<StateDirLock> {
    const facts = opts.facts ?? procFacts;
    const path = join(dir, LOCK_FILE);
    const me = await facts.self();
    // Written in full under a private name first, so the lock file is never seen half-written.
    const mine = join(dir, `${LOCK_FILE}.${me.pid}`);
    const content = `${me.pid} ${me.startTime} ${me.bootId}\n`;
    const fh = await open(mine, 'w', 0o600);
    try {
      await fh.writeFile(content);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await link(mine, path);
          // The inode from our own name: a racer breaking a lock it judged stale may have the lock file aside for a moment.
          return new StateDirLock(dir, path, (await stat(mine)).ino, content);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
        }
        const seen = await readHolder(path);
        if (!seen) continue; // removed since link(): try again
        if (seen.holder && (await facts.isRunning(seen.holder))) throw new StateDirLockedError(dir, seen.holder);
        opts.onStale?.(seen.holder);
        await breakStale(path, seen.ino, me.pid);
      }
    } finally {
      await unlink(mine).catch(() => {});
    }
  }

  /** Removes the lock if it is still this one's. A crash instead leaves it stale, which the next start handles. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      // Inode and content: a file system may give a new file the inode of a removed one.
      if ((await stat(this.path)).ino === this.ino && (await readFile(this.path, 'utf8')) === this.content) await unlink(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** The lock's holder (undefined if the file is torn or not ours) and inode; undefined if there is no lock file. */
async function readHolder(path: string): Promise<{ holder: LockHolder | undefined; ino: number } | undefined> {
  let text: string;
  let ino: number;
  try {
    ino = (await stat(path)).ino;
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const match = /^(\d+) (\d*) ([0-9a-f-]*)\n$/.exec(text);
  const pid = Number(match?.[1]);
  return { holder: match && pid > 0 ? { pid, startTime: match[2], bootId: match[3] } : undefined, ino };
}

async function breakStale(path: string, staleIno: number, pid: number): Promise<void> {
  const aside = `${path}.stale.${pid}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else broke it first
    throw error;
  }
  try {
    if ((await stat(aside)).ino !== staleIno) {
      // Lost a race: this is the lock another process just took. Give it back.
      await link(aside, path).catch(() => {});
    }
  } finally {
    await unlink(aside).catch(() => {});
  }
}

/** State (field 3) and start time (field 22) from /proc/PID/stat; undefined without one. */
async function procStat(pid: number): Promise<{ state: string; startTime: string } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}
