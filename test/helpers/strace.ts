// Reads `strace -f -y` logs of file system calls, for the write-discipline tests
// (test/integration/crash-state-dir.test.ts, journal-syscalls.test.ts).
import { resolve } from 'node:path';

/** The calls that create, write, rename, remove or sync files: `strace -e trace=...`. */
export const STRACE_FILE_CALLS =
  'openat,open,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,mkdir,mkdirat,rmdir,truncate,ftruncate,fsync,fdatasync,chmod,fchmodat,chown,fchownat,utimensat';

/** Written to outside the state directory and allowed: terminals and the null device. */
export const ALLOWED_OUTSIDE = [/^\/dev\/(null|tty|pts\/\d+)$/];

export interface Call {
  name: string;
  args: string;
  /** Quoted path arguments, resolved. */
  paths: string[];
  /** The path of the first fd argument (strace -y), for fsync/fdatasync/ftruncate. */
  fdPath?: string;
  /** Paths this call changes (created, written, renamed, removed). */
  writes: string[];
}

const WRITE_FLAGS = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/;
const CHANGES_PATHS =
  /^(rename|renameat|renameat2|link|linkat|symlink|symlinkat|unlink|unlinkat|mkdir|mkdirat|rmdir|truncate|chmod|fchmodat|chown|fchownat|utimensat|creat)$/;

/**
 * The calls of an `strace -f -y` log in the order they started (rackboot awaits
 * each step, so a later start means the earlier call finished). Calls split by
 * another thread ("<unfinished ...>") are taken from their first half.
 */
export function parseTrace(text: string, cwd: string): Call[] {
  const calls: Call[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\d+\s+/, '');
    const match = /^([a-z0-9_]+)\((.*)$/.exec(line);
    if (!match || line.startsWith('<...')) continue;
    const [, name, args] = match as unknown as [string, string, string];
    if (/= -1 /.test(args) && !args.includes('<unfinished')) continue; // failed: changed nothing
    const paths = [...args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => resolve(cwd, m[1]));
    const fdPath = /^(?:AT_FDCWD, )?\d+<([^>]*)>/.exec(args)?.[1];
    let writes: string[] = [];
    if (name === 'openat' || name === 'open') {
      if (WRITE_FLAGS.test(args)) writes = paths.slice(0, 1);
    } else if (CHANGES_PATHS.test(name)) {
      writes = paths;
    } else if (name === 'ftruncate' && fdPath) {
      writes = [fdPath];
    }
    calls.push({ name, args, paths, ...(fdPath !== undefined && { fdPath }), writes });
  }
  return calls;
}
