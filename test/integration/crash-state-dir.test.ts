// The state directory as the real bundle uses it: one rackboot per directory
// (a second one exits naming the holder; a lock left by kill -9 is taken over),
// a store that cannot be opened stops start-up cleanly, damaged records are
// counted in the log, a torn config file is refused without a stack trace, and
// under strace: snapshots go temp file -> fdatasync -> rename -> fsync of the
// directory, and nothing is written outside the state directory.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import { BUNDLE, type LogLine } from '../helpers/rackboot-process.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { NodeInventory } from '../../firmware/src/inventory/nodes.js';
import { createLogger } from '../../firmware/src/util/log.js';
import { ALLOWED_OUTSIDE, STRACE_FILE_CALLS, parseTrace, type Call } from '../helpers/strace.js';

const SERVER = '10.81.0.1';
// perfdhcp is a relay (giaddr = 10.81.0.2).
const CONFIG = `
interface: eth0
lease_time: 1h
dhcp:
  relays: [10.81.0.2]
pools:
  - subnet: 10.81.0.0/24
    range: 10.81.0.100-10.81.0.199
boot:
  root: .
`;

interface Run {
  code: number | null;
  lines: LogLine[];
  stderr: string;
}

/** A stack trace in output meant for a person. */
const STACK = /\n\s+at .+:\d+:\d+/;

describe('the state directory', () => {
  let lab: DhcpLab;
  let config: string;
  let stateDir: string;

  beforeEach(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    config = await lab.writeConfig(CONFIG);
    stateDir = join(lab.dir, 'state');
  });
  afterEach(async () => {
    await lab.destroy();
  });

  /** Runs `rackboot serve` (optionally under `wrapper`) until it exits, or until `until` matches a line (then `then` runs, and SIGTERM). */
  async function serve(
    opts: { wrapper?: string[]; configFile?: string; until?: (l: LogLine) => boolean; then?: (lines: LogLine[]) => Promise<void> } = {},
  ): Promise<Run> {
    const argv = [
      ...(opts.wrapper ?? []),
      process.execPath,
      BUNDLE,
      'serve',
      '--config',
      opts.configFile ?? config,
      '--state-dir',
      stateDir,
      '--log-format',
      'json',
    ];
    const child = lab.server.spawn(argv, { cwd: lab.dir });
    const run: Run = { code: null, lines: [], stderr: '' };
    let buffered = '';
    let reached: () => void = () => {};
    const reachedLine = new Promise<void>((r) => (reached = r));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { time: '', level: 'raw', msg: text };
        }
        run.lines.push(line);
        if (opts.until?.(line)) reached();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
    const exited = once(child, 'exit');
    if (opts.until) {
      await Promise.race([reachedLine, exited]);
      if (child.exitCode === null && child.signalCode === null) {
        await opts.then?.(run.lines);
        // Under a wrapper (strace), the signal is for rackboot, the wrapper's child.
        const target = opts.wrapper ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]) : child.pid!;
        process.kill(target, 'SIGTERM');
      }
    }
    const [code] = (await exited) as [number | null];
    run.code = code;
    return run;
  }

  it('admits one rackboot: a second exits naming the directory and the holder; a lock left by kill -9 is taken over', async () => {
    const first = await lab.startServer(['--config', config]);
    const holder = first.child.pid!;
    expect(await readFile(join(stateDir, 'rackboot.lock'), 'utf8')).toMatch(new RegExp(`^${holder} \\d+ [0-9a-f-]+\\n$`));

    const second = await serve();
    expect(second.code).toBe(1);
    const error = second.lines.find((l) => l.level === 'error');
    expect(error?.msg).toBe(`state directory ${stateDir} is in use by another rackboot (pid ${holder}); stop it first, or give this one its own state_dir`);
    expect(second.stderr).not.toMatch(STACK);
    expect(second.lines.some((l) => l.msg === 'rackboot ready')).toBe(false);

    await first.kill();
    expect(existsSync(join(stateDir, 'rackboot.lock'))).toBe(true); // nobody removed it: the holder died
    const third = await lab.startServer(['--config', config]);
    expect(third.lines.find((l) => l.msg.startsWith('state directory lock left by a stopped rackboot'))).toMatchObject({ pid: holder });
    expect(await third.stop()).toBe(0);
    expect(existsSync(join(stateDir, 'rackboot.lock'))).toBe(false);
  }, 60_000);

  it('stops start-up with the store and the directory named when a store cannot be opened, closing the ones already open', async () => {
    await mkdir(join(stateDir, 'nodes.journal'), { recursive: true }); // a directory where the inventory journal should be
    const run = await serve();
    expect(run.code).toBe(1);
    const error = run.lines.find((l) => l.level === 'error');
    expect(error?.msg).toMatch(new RegExp(`^cannot open the inventory store in ${stateDir}: .*EISDIR`));
    expect(run.stderr).not.toMatch(STACK);
    // The lease and event stores were opened first, then closed; the lock is released.
    expect(existsSync(join(stateDir, 'leases.journal'))).toBe(true);
    expect(existsSync(join(stateDir, 'events.journal'))).toBe(true);
    expect(existsSync(join(stateDir, 'rackboot.lock'))).toBe(false);
  }, 60_000);

  it('stops start-up cleanly when node power cannot start after the stores opened: stores closed, lock released', async () => {
    // The qemu driver keeps its pid files in STATE/power: a file there makes it fail to open.
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'power'), 'not a directory');
    const withPower = await lab.writeConfig(`${CONFIG}power:\n  channels:\n    vm1: { driver: qemu, argv: [/bin/true] }\n`, 'power.yaml');
    const run = await serve({ configFile: withPower });
    expect(run.code).toBe(1);
    expect(run.lines.find((l) => l.level === 'error')?.msg).toMatch(/^cannot start node power: .*(EEXIST|ENOTDIR)/);
    expect(run.stderr).not.toMatch(STACK);
    expect(existsSync(join(stateDir, 'leases.journal'))).toBe(true);
    expect(existsSync(join(stateDir, 'rackboot.lock'))).toBe(false);
  }, 60_000);

  it('says which state directory it cannot use, without a stack trace', async () => {
    await writeFile(join(lab.dir, 'not-a-dir'), '');
    stateDir = join(lab.dir, 'not-a-dir', 'state');
    const run = await serve();
    expect(run.code).toBe(1);
    expect(run.lines.find((l) => l.level === 'error')?.msg).toMatch(new RegExp(`^cannot use state directory ${stateDir}: .*ENOTDIR`));
    expect(run.stderr).not.toMatch(STACK);
  }, 60_000);

  it('counts and reports damaged records and keeps the rest', async () => {
    const table = await LeaseTable.open(stateDir, { now: () => Date.now() });
    for (let i = 0; i < 3; i++) await table.bind(`10.81.0.${110 + i}`, { key: `52:54:00:00:01:0${i}`, mac: `52:54:00:00:01:0${i}` }, 3600);
    await table.close();
    const path = join(stateDir, 'leases.journal');
    const file = await readFile(path);
    const secondLine = file.indexOf(0x0a) + 1;
    file[secondLine + 20] ^= 0x01; // a bit flipped in the second record
    await writeFile(path, Buffer.concat([file, Buffer.from('0badc0de {"k":"10.81.0.1')])); // and a torn tail

    const run = await serve({ until: (l) => l.msg === 'rackboot ready' });
    expect(run.code, JSON.stringify(run)).toBe(0);
    const damaged = run.lines.find((l) => l.msg === 'journal: store loaded, damaged records skipped');
    expect(damaged).toMatchObject({ level: 'warn', store: 'leases', records: 2, skippedCorrupt: 1, truncatedTail: 24 });
    expect(run.lines.find((l) => l.msg === 'journal: skipped a damaged record')).toMatchObject({
      store: 'leases',
      offset: secondLine,
      reason: 'checksum mismatch',
    });
    expect(run.lines.find((l) => l.msg === 'rackboot ready')).toMatchObject({ leases: 2 });
  }, 60_000);

  it('refuses a torn config file with the file and the problem, no stack trace', async () => {
    const torn = await lab.writeConfig(CONFIG.slice(0, CONFIG.indexOf('range:') + 12), 'torn.yaml');
    const run = await serve({ configFile: torn });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${torn}:`);
    expect(run.stderr).toMatch(/pools\[0\]\.range: found .*, expected /);
    expect(run.stderr).not.toMatch(STACK);
    expect(existsSync(stateDir)).toBe(false); // refused before anything was written
  }, 60_000);

  it('writes snapshots as temp file, fdatasync, rename, fsync of the directory, and nothing outside the state directory', async () => {
    // An interrupted compaction for the inventory: start-up finishes it by writing a snapshot.
    const seed = await NodeInventory.open(stateDir, { clock: { now: () => Date.now() }, unknownNodes: 'boot', log: createLogger({ level: 'error' }) });
    await seed.create({ mac: '52:54:00:00:02:01', name: 'n1' }, 'test');
    await seed.create({ mac: '52:54:00:00:02:02', name: 'n2' }, 'test');
    await seed.close();
    await rename(join(stateDir, 'nodes.journal'), join(stateDir, 'nodes.journal.old'));

    const trace = join(lab.dir, 'strace.out');
    const client = await lab.client(undefined, '10.81.0.2/24');
    const run = await serve({
      wrapper: ['strace', '-f', '-qq', '-y', '-s', '512', '-o', trace, '-e', `trace=${STRACE_FILE_CALLS}`],
      until: (l) => l.msg === 'rackboot ready',
      then: async (lines) => {
        // Writes to the lease, auth, event and inventory stores while traced.
        // perfdhcp exits 3 when an exchange was dropped (slow under strace); some bound leases are all this needs.
        await client.exec(['perfdhcp', '-4', '-l', 'eth0', '-r', '10', '-R', '5', '-n', '5', '-p', '4', SERVER], { timeoutMs: 30_000 }).catch(() => '');
        const tokenLine = lines.find((l) => l.msg.startsWith('setup token: '));
        const tlsLine = lines.find((l) => l.msg.startsWith('management https certificate SHA-256 '));
        const setup = await client.exec([
          'curl',
          '-sS',
          '--cacert',
          tlsLine!.certFile as string,
          '--max-time',
          '20',
          '-X',
          'POST',
          '-H',
          'Content-Type: application/json',
          '--data',
          JSON.stringify({ token: tokenLine!.msg.slice(13), password: 'correct horse battery staple' }),
          `https://${SERVER}/api/v1/auth/setup`,
        ]);
        expect(JSON.parse(setup)).toHaveProperty('csrfToken');
      },
    });
    expect(run.code).toBe(0);
    expect(run.lines.some((l) => l.msg === 'rackboot ready')).toBe(true);

    const calls = parseTrace(await readFile(trace, 'utf8'), lab.dir);
    const state = resolve(stateDir);
    const inState = (p: string) => p === state || p.startsWith(`${state}/`);
    // Paths something was written to, created, renamed, linked, removed or changed.
    const written = calls.flatMap((c) => c.writes);
    const outside = [...new Set(written.filter((p) => !inState(p) && !ALLOWED_OUTSIDE.some((re) => re.test(p))))];
    expect(outside, 'files written outside the state directory').toEqual([]);
    expect(written.filter(inState).length).toBeGreaterThan(10);

    const at = (pred: (c: Call) => boolean, after = -1) => calls.findIndex((c, i) => i > after && pred(c));
    const tmp = `${state}/nodes.snapshot.tmp`;
    const opened = at((c) => c.name === 'openat' && c.paths[0] === tmp && c.writes.length > 0);
    const synced = at((c) => c.name === 'fdatasync' && c.fdPath === tmp, opened);
    const renamed = at((c) => c.name.startsWith('rename') && c.paths[0] === tmp && c.paths[1] === `${state}/nodes.snapshot`, synced);
    const dirSynced = at((c) => c.name === 'fsync' && c.fdPath === state, renamed);
    const oldRemoved = at((c) => c.name.startsWith('unlink') && c.paths[0] === `${state}/nodes.journal.old`, renamed);
    // The stores open one after another, so nothing else runs between these steps: the directory fsync is this rename's.
    const order = { opened, synced, renamed, dirSynced, oldRemoved };
    expect(opened >= 0 && opened < synced && synced < renamed && renamed < dirSynced && dirSynced < oldRemoved, JSON.stringify(order)).toBe(true);
    // The snapshot itself is never opened for writing: it only ever appears by rename.
    expect(calls.filter((c) => c.paths[0] === `${state}/nodes.snapshot` && c.writes.length > 0 && !c.name.startsWith('rename'))).toEqual([]);

    // Every journal created is made durable by a directory fsync after its creation.
    for (const store of ['leases', 'events', 'nodes', 'auth', 'settings']) {
      const created = at((c) => c.name === 'openat' && c.paths[0] === `${state}/${store}.journal` && /O_CREAT/.test(c.args));
      expect(created, `${store}.journal opened`).toBeGreaterThanOrEqual(0);
      expect(
        at((c) => c.name === 'fsync' && c.fdPath === state, created),
        `${store}.journal: directory fsync after creation`,
      ).toBeGreaterThan(created);
    }
    // ACKed leases and the admin password went through fdatasync on their journals.
    expect(calls.some((c) => c.name === 'fdatasync' && c.fdPath === `${state}/leases.journal`)).toBe(true);
    expect(calls.some((c) => c.name === 'fdatasync' && c.fdPath === `${state}/auth.journal`)).toBe(true);
    // The lock: written in full under a private name, then linked into place; removed on a clean stop.
    const lockOpened = at((c) => c.name === 'openat' && /rackboot\.lock\.\d+$/.test(c.paths[0] ?? '') && c.writes.length > 0);
    const lockLinked = at((c) => c.name.startsWith('link') && c.paths[1] === `${state}/rackboot.lock`, lockOpened);
    expect(lockLinked).toBeGreaterThan(lockOpened);
    expect(existsSync(join(stateDir, 'rackboot.lock'))).toBe(false);
  }, 120_000);
});
