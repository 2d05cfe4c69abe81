// Power cut mid-write, for every store rackboot keeps (leases, nodes, events,
// auth, settings): the journal and the snapshot each written by the real store,
// then cut at every byte offset, or with garbage in the middle, or replaced by
// garbage. Each time the real store class opens (its validator and its own
// start-up logic included), keeps exactly the complete records, and counts and
// reports the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../firmware/src/store/journal.js';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { NodeInventory } from '../../firmware/src/inventory/nodes.js';
import { EventLog } from '../../firmware/src/inventory/events.js';
import { AuthService } from '../../firmware/src/auth/index.js';
import { RuntimeSettings } from '../../firmware/src/app/settings.js';
import { parseConfigText } from '../../firmware/src/config/load.js';
import type { Logger, LogFields } from '../../firmware/src/util/log.js';

interface LogLine {
  level: string;
  msg: string;
  fields: LogFields;
}

function collectingLog(lines: LogLine[], bound: LogFields = {}): Logger {
  const emit = (level: string) => (msg: string, fields?: LogFields) => lines.push({ level, msg, fields: { ...bound, ...fields } });
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => collectingLog(lines, { ...bound, ...fields }),
  };
}

const clock = { now: () => 1_800_000_000_000 };
const CONFIG = parseConfigText(
  'interface: eth0\npools:\n  - subnet: 10.1.0.0/24\n    range: 10.1.0.100-10.1.0.150\nboot:\n  root: /\n',
  '/etc/rackboot/test.yaml',
);

interface StoreKind {
  /** The journal's name in the state directory. */
  name: string;
  /** Writes a few records (puts, overwrites, deletes) with the real store. */
  fill(dir: string, log: Logger): Promise<void>;
  /** Opens the real store and closes it again; resolves to how many entries it shows (one per record key), where it says. */
  openAndCount(dir: string, log: Logger): Promise<number | undefined>;
}

const KINDS: StoreKind[] = [
  {
    name: 'leases',
    async fill(dir, log) {
      const t = await LeaseTable.open(dir, clock, { logger: log });
      await t.bind('10.1.0.100', { key: '52:54:00:00:00:01', mac: '52:54:00:00:00:01' }, 3600, 'n1');
      await t.bind('10.1.0.101', { key: '52:54:00:00:00:02', mac: '52:54:00:00:00:02' }, 3600, 'a "quoted"\nname');
      await t.release('10.1.0.100');
      await t.bind('10.1.0.102', { key: 'id:ff00', mac: '52:54:00:00:00:03' }, 600);
      await t.close();
    },
    async openAndCount(dir, log) {
      const t = await LeaseTable.open(dir, clock, { logger: log });
      const n = t.all().length;
      await t.close();
      return n;
    },
  },
  {
    name: 'nodes',
    async fill(dir, log) {
      const inv = await NodeInventory.open(dir, { clock, unknownNodes: 'boot', log });
      await inv.create({ mac: '52:54:00:00:00:01', name: 'n1', tags: ['rack1'] }, 'test');
      await inv.create({ mac: '52:54:00:00:00:02', name: 'n2', notes: 'ünïcode ✓' }, 'test');
      await inv.update('n1', { notes: 'edited' }, 'test');
      await inv.remove('n2', 'test');
      await inv.create({ mac: '52:54:00:00:00:03', name: 'n3' }, 'test');
      await inv.close();
    },
    async openAndCount(dir, log) {
      const inv = await NodeInventory.open(dir, { clock, unknownNodes: 'boot', log });
      const n = inv.size;
      await inv.close();
      return n;
    },
  },
  {
    name: 'events',
    async fill(dir, log) {
      const events = await EventLog.open(dir, { clock, log });
      events.append({ type: 'system', message: 'started' });
      events.append({ type: 'config', message: 'settings changed', by: 'admin', detail: { unknownNodes: 'hold' } });
      events.append({ type: 'system', message: 'stopping' });
      await events.close();
    },
    async openAndCount(dir, log) {
      const events = await EventLog.open(dir, { clock, log });
      const n = events.size;
      await events.close();
      return n;
    },
  },
  {
    name: 'auth',
    async fill(dir, log) {
      const auth = await AuthService.open(dir, { log, clock });
      await auth.completeSetup(auth.setupToken()!, 'correct horse battery staple', '127.0.0.1');
      await auth.createToken('ci', 'admin');
      await auth.createToken('backup', 'admin');
      await auth.revokeToken('ci', 'admin');
      await auth.close();
    },
    async openAndCount(dir, log) {
      const auth = await AuthService.open(dir, { log, clock });
      const n = auth.listTokens().length + (auth.state().setupDone ? 1 : 0);
      await auth.close();
      return n;
    },
  },
  {
    name: 'settings',
    async fill(dir, log) {
      const s = await RuntimeSettings.open(dir, CONFIG, { log, now: clock.now, onChange: () => {} });
      await s.update({ unknownNodes: 'hold' }, 'admin');
      await s.update({ defaultProfile: CONFIG.boot.defaultProfile }, 'admin');
      await s.update({ unknownNodes: 'boot' }, 'admin');
      await s.close();
    },
    async openAndCount(dir, log) {
      const s = await RuntimeSettings.open(dir, CONFIG, { log, now: clock.now, onChange: () => {} });
      await s.close();
      return undefined; // settings show values, not entries
    },
  },
];

/** Replays the complete lines of a store file the way the format says (last writer wins), independently of Journal. */
function referenceReplay(file: Buffer): Map<string, unknown> {
  const map = new Map<string, unknown>();
  const text = file.toString('utf8');
  for (const line of text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .slice(0, -1)) {
    const record = JSON.parse(line.slice(9)) as { k: string; v?: unknown; d?: 1 };
    if (record.d === 1) map.delete(record.k);
    else map.set(record.k, record.v);
  }
  return map;
}

const damageLines = (lines: LogLine[]) => lines.filter((l) => l.msg.startsWith('journal: skipped') || l.msg.startsWith('journal: store loaded'));

describe.each(KINDS)('the $name store, torn and damaged', (kind) => {
  let work: string;
  let journal: Buffer;
  let snapshot: Buffer;
  let n = 0;
  const freshDir = async (files: Record<string, Buffer>) => {
    const dir = join(work, `d${++n}`);
    await mkdir(dir);
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
    return dir;
  };

  beforeAll(async () => {
    // tmpfs where there is one: thousands of small opens with fsyncs.
    work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `rackboot-torn-${kind.name}-`));
    const source = join(work, 'source');
    await kind.fill(source, collectingLog([]));
    journal = await readFile(join(source, `${kind.name}.journal`));
    // The same state as a snapshot, as a compaction writes it.
    const j = await Journal.open(source, kind.name);
    await j.compact();
    await j.close();
    snapshot = await readFile(join(source, `${kind.name}.snapshot`));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const file of ['journal', 'snapshot'] as const) {
    it(`opens with the ${file} cut at every byte offset, keeping every complete record`, async () => {
      const whole = file === 'journal' ? journal : snapshot;
      expect(whole.length).toBeGreaterThan(200);
      expect(referenceReplay(whole).size).toBeGreaterThan(1);
      for (let cut = 0; cut <= whole.length; cut++) {
        const torn = whole.subarray(0, cut);
        const dir = await freshDir({ [`${kind.name}.${file}`]: torn });
        const lines: LogLine[] = [];
        const want = referenceReplay(torn);
        const completeLines =
          torn
            .subarray(0, torn.lastIndexOf(0x0a) + 1)
            .toString()
            .split('\n').length - 1;
        const shown = await kind.openAndCount(dir, collectingLog(lines));
        const at = `${kind.name}.${file} cut at ${cut} of ${whole.length}`;
        expect(damageLines(lines), at).toEqual([]);
        // What the store holds on disk afterwards: the complete records, nothing else.
        const { entries, loadReport } = await Journal.read(dir, kind.name);
        const tail = cut - (torn.lastIndexOf(0x0a) + 1);
        // Opening cuts a journal's torn tail off (appends follow); a snapshot is only ever replaced whole.
        expect(loadReport, at).toEqual({ records: completeLines, skippedCorrupt: 0, truncatedTail: file === 'journal' ? 0 : tail });
        expect(Object.fromEntries(entries), at).toEqual(Object.fromEntries(want));
        if (shown !== undefined) expect(shown, at).toBe(want.size);
        if (tail > 0) {
          // The torn record is reported: dropped (journal, expected after a crash) or damage (snapshot, never written in place).
          const report = lines.find(
            (l) => l.msg === (file === 'journal' ? 'journal: dropped a record torn by a crash' : 'journal: snapshot ends in a damaged record'),
          );
          expect(report?.fields, at).toMatchObject({ store: kind.name, file: `${kind.name}.${file}`, bytes: tail });
        }
        await rm(dir, { recursive: true });
      }
    }, 60_000);
  }

  it('skips, counts and reports garbage in the middle and keeps the records around it', async () => {
    const lines = journal.toString('latin1').split('\n').slice(0, -1);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const garbage = Buffer.from('\u0000\u00ff{"k":"x","v":1}\n00000000 {"k":"y","v":2}\nnot a record at all\n', 'latin1');
    // Garbage after the first record, and a flipped byte inside the last one but one.
    const flipped = Buffer.from(lines[lines.length - 2] + '\n', 'latin1');
    flipped[12] ^= 0x20;
    const damaged = Buffer.concat([
      Buffer.from(lines[0] + '\n', 'latin1'),
      garbage,
      Buffer.from(
        lines
          .slice(1, -2)
          .map((l) => l + '\n')
          .join(''),
        'latin1',
      ),
      flipped,
      Buffer.from(lines.at(-1)! + '\n', 'latin1'),
    ]);
    const dir = await freshDir({ [`${kind.name}.journal`]: damaged });
    const log: LogLine[] = [];
    await kind.openAndCount(dir, collectingLog(log));
    const summary = log.find((l) => l.msg === 'journal: store loaded, damaged records skipped');
    expect(summary?.level).toBe('warn');
    expect(summary?.fields).toMatchObject({ store: kind.name, skippedCorrupt: 4, records: lines.length - 1 });
    expect(log.filter((l) => l.msg === 'journal: skipped a damaged record')).toHaveLength(4);
    const { entries } = await Journal.read(dir, kind.name);
    const survivors = Buffer.from(
      lines
        .filter((_, i) => i !== lines.length - 2)
        .map((l) => l + '\n')
        .join(''),
      'latin1',
    );
    expect(Object.fromEntries(entries)).toEqual(Object.fromEntries(referenceReplay(survivors)));
  });

  it('opens a journal and a snapshot that are nothing but garbage, reporting them, and writes again', async () => {
    let seed = 7;
    const bytes = Buffer.from(Array.from({ length: 8192 }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24));
    const dir = await freshDir({ [`${kind.name}.journal`]: bytes, [`${kind.name}.snapshot`]: Buffer.from(bytes).reverse() });
    const log: LogLine[] = [];
    await kind.openAndCount(dir, collectingLog(log));
    const { entries, loadReport } = await Journal.read(dir, kind.name);
    expect(entries.size).toBe(0);
    expect(loadReport.records).toBe(0);
    // Every line the store cannot use is accounted for: counted as damaged, or dropped as a tail.
    const reported = log.filter((l) => l.msg.startsWith('journal: '));
    expect(reported.length).toBeGreaterThan(0);
    expect(reported.every((l) => l.fields.store === kind.name)).toBe(true);
    // And the store takes new records after it.
    await kind.fill(dir, collectingLog([]));
    expect((await readdir(dir)).sort()).toContain(`${kind.name}.journal`);
    expect((await Journal.read(dir, kind.name)).entries.size).toBeGreaterThan(0);
  });
});
