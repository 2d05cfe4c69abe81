// The embedded store: durability promises, group commit, compaction, and loading
// whatever a crash or a bad disk leaves behind without ever throwing.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appendFile, mkdir, mkdtemp, open as openFile, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { Journal } from '../../firmware/src/store/journal.js';
import { crc32 } from '../../firmware/src/store/crc32.js';

interface Item {
  n: number;
  tag?: string;
}

/** A journal line as the store writes it, for building files by hand. */
function line(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(crc32(body).toString(16).padStart(8, '0') + ' '), body, Buffer.from('\n')]);
}

/** Deterministic bytes, so a failing garbage case can be reproduced from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

function collectingLogger() {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { warnings, logger: { warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, fields }) } };
}

describe('crc32', () => {
  it('matches the IEEE check value and zlib', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
    expect(crc32(data.subarray(1234), crc32(data.subarray(0, 1234)))).toBe(crc32(data));
    const zlibCrc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
    if (zlibCrc) expect(crc32(data)).toBe(zlibCrc(data));
  });
});

describe('Journal', () => {
  let dir: string;
  const open = <V = Item>(opts: Parameters<typeof Journal.open<V>>[2] = {}) => Journal.open<V>(dir, 'items', opts);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('puts, gets, deletes and reloads', async () => {
    const j = await open();
    expect(j.size).toBe(0);
    await j.put('a', { n: 1 });
    await j.put('b', { n: 2, tag: 'ünïcødé \u2028 "quoted"\n' });
    await j.put('a', { n: 3 });
    await j.delete('b');
    await j.put('c', { n: 4 });
    expect(j.get('a')).toEqual({ n: 3 });
    expect(j.has('b')).toBe(false);
    await j.close();

    const again = await open();
    expect([...again.entries()]).toEqual([
      ['a', { n: 3 }],
      ['c', { n: 4 }],
    ]);
    expect(again.loadReport).toEqual({ records: 5, skippedCorrupt: 0, truncatedTail: 0 });
    await again.close();
  });

  it('shows a change to readers at once and resolves only after it is synced', async () => {
    const j = await open();
    const done = j.put('k', { n: 1 });
    expect(j.get('k')).toEqual({ n: 1 });
    expect(j.syncCount).toBe(0);
    await done;
    expect(j.syncCount).toBe(1);
    await j.close();
  });

  it('group-commits 1,000 concurrent puts into a few fdatasyncs', async () => {
    const j = await open();
    const started = performance.now();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => j.put(`key-${i}`, { n: i })));
    const burstMs = performance.now() - started;
    const burstSyncs = j.syncCount;
    expect(burstSyncs).toBeLessThanOrEqual(2);

    // Clients arriving over time (as a boot storm does): puts made during a sync share the next one.
    const before = j.syncCount;
    const spreadStarted = performance.now();
    await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) => new Promise<void>((resolve, reject) => setTimeout(() => void j.put(`spread-${i}`, { n: i }).then(resolve, reject), i % 50)),
      ),
    );
    const spreadMs = performance.now() - spreadStarted;
    const spreadSyncs = j.syncCount - before;
    expect(spreadSyncs).toBeLessThan(200);
    console.info(
      `group commit: 1000 puts at once -> ${burstSyncs} fdatasync in ${burstMs.toFixed(1)} ms; ` +
        `1000 puts over 50 ms -> ${spreadSyncs} fdatasyncs in ${spreadMs.toFixed(1)} ms`,
    );
    await j.close();

    const again = await open();
    expect(again.size).toBe(2000);
    expect(again.get('key-999')).toEqual({ n: 999 });
    expect(again.get('spread-999')).toEqual({ n: 999 });
    await again.close();
  });

  it('flushes pending writes on close', async () => {
    const j = await open();
    for (let i = 0; i < 10; i++) void j.put(`k${i}`, { n: i });
    void j.delete('k3');
    await j.close();
    await expect(j.put('late', { n: 0 })).rejects.toThrow(/closed/);
    const again = await open();
    expect(again.size).toBe(9);
    expect(again.has('k3')).toBe(false);
    await again.close();
  });

  it('refuses values without a JSON form and bad store names, changing nothing', async () => {
    const j = await open<unknown>();
    await expect(j.put('u', undefined)).rejects.toThrow(TypeError);
    await expect(j.put('b', 10n)).rejects.toThrow();
    expect(j.size).toBe(0);
    await j.close();
    await expect(Journal.open(dir, '../escape')).rejects.toThrow(RangeError);
    await expect(Journal.open(dir, 'a.b')).rejects.toThrow(RangeError);
  });

  describe('compaction', () => {
    it('folds the journal into a snapshot and keeps the content', async () => {
      const j = await open({ compactAfterBytes: 1 << 30 });
      for (let i = 0; i < 300; i++) void j.put(`k${i % 100}`, { n: i });
      void j.delete('k5');
      await j.put('last', { n: -1 });
      const journalBefore = (await stat(join(dir, 'items.journal'))).size;
      await j.compact();
      expect(j.compactionCount).toBe(1);
      expect((await stat(join(dir, 'items.journal'))).size).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(['items.journal', 'items.snapshot']);
      expect((await stat(join(dir, 'items.snapshot'))).size).toBeLessThan(journalBefore);
      const expected = [...j.entries()];
      await j.close();

      const again = await open();
      expect([...again.entries()].sort()).toEqual(expected.sort());
      expect(again.get('k99')).toEqual({ n: 299 });
      expect(again.has('k5')).toBe(false);
      await again.close();
    });

    it('runs in the background once the journal passes compactAfterBytes', async () => {
      const j = await open({ compactAfterBytes: 4096 });
      for (let i = 0; i < 200; i++) await j.put(`k${i % 20}`, { n: i, tag: 'x'.repeat(40) });
      await j.close();
      expect(j.compactionCount).toBeGreaterThan(0);
      expect((await stat(join(dir, 'items.journal'))).size).toBeLessThan(4096 + 200);
      const again = await open();
      expect(again.size).toBe(20);
      for (let k = 0; k < 20; k++) expect(again.get(`k${k}`)).toEqual({ n: 180 + k, tag: 'x'.repeat(40) });
      await again.close();
    });

    it('loses and reorders nothing written while it runs', async () => {
      const j = await open({ compactAfterBytes: 1 << 30 });
      for (let i = 0; i < 2000; i++) void j.put(`base-${i}`, { n: i, tag: 'y'.repeat(100) });
      await j.put('seq', { n: 0 });
      const compaction = j.compact();
      // Keep writing (and overwriting, and deleting) until the compaction is done.
      let finished = false;
      void compaction.then(() => (finished = true));
      const writes: Promise<void>[] = [];
      let n = 0;
      while (!finished || n < 50) {
        n++;
        writes.push(j.put('seq', { n }));
        writes.push(j.put(`during-${n}`, { n }));
        writes.push(j.delete(`base-${n}`));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await compaction;
      await Promise.all(writes);
      const expected = new Map(j.entries());
      await j.close();

      const again = await open();
      expect(again.get('seq')).toEqual({ n });
      expect(new Map(again.entries())).toEqual(expected);
      await again.close();
    });

    it('recovers from a crash at every step of a compaction', async () => {
      // Build the files a compaction leaves at each step, then open them.
      const snapshotOld = [line('{"k":"a","v":{"n":1}}'), line('{"k":"b","v":{"n":1}}')];
      const journalOld = [line('{"k":"a","v":{"n":2}}'), line('{"k":"b","d":1}'), line('{"k":"c","v":{"n":2}}')];
      const journalNew = [line('{"k":"c","v":{"n":3}}'), line('{"k":"d","v":{"n":3}}')];
      const snapshotNew = [line('{"k":"a","v":{"n":2}}'), line('{"k":"c","v":{"n":3}}'), line('{"k":"d","v":{"n":3}}')];
      const want = [
        ['a', { n: 2 }],
        ['c', { n: 3 }],
        ['d', { n: 3 }],
      ];
      const steps: Record<string, Buffer[]>[] = [
        { 'items.snapshot': snapshotOld, 'items.journal.old': [...journalOld, ...journalNew] }, // renamed, no new journal yet
        { 'items.snapshot': snapshotOld, 'items.journal.old': journalOld, 'items.journal': journalNew },
        { 'items.snapshot': snapshotOld, 'items.journal.old': journalOld, 'items.journal': journalNew, 'items.snapshot.tmp': snapshotNew.slice(0, 1) },
        { 'items.snapshot': snapshotNew, 'items.journal.old': journalOld, 'items.journal': journalNew }, // renamed, old journal not yet removed
        { 'items.snapshot': snapshotNew, 'items.journal': journalNew },
      ];
      for (const files of steps) {
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir);
        for (const [name, lines] of Object.entries(files)) await writeFile(join(dir, name), Buffer.concat(lines));
        const j = await open();
        expect(Object.fromEntries(j.entries())).toEqual(Object.fromEntries(want));
        // The interrupted compaction is finished at open: no journal.old or tmp file remains.
        expect((await readdir(dir)).sort()).toEqual(['items.journal', 'items.snapshot']);
        await j.put('e', { n: 4 });
        await j.compact();
        await j.close();
        const again = await open();
        expect(Object.fromEntries(again.entries())).toEqual({ ...Object.fromEntries(want), e: { n: 4 } });
        await again.close();
      }
    });
  });

  describe('disk errors', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    type FileHandleMethods = { write: (...args: unknown[]) => Promise<unknown>; datasync: () => Promise<void> };
    async function fileHandlePrototype(): Promise<FileHandleMethods> {
      const fh = await openFile(join(dir, 'probe'), 'w');
      await fh.close();
      return Object.getPrototypeOf(fh) as FileHandleMethods;
    }

    it('rejects the batch of a failed write, cuts off what it half wrote, and goes on', async () => {
      const j = await open();
      await j.put('a', { n: 1 });
      const proto = await fileHandlePrototype();
      const realWrite = proto.write;
      vi.spyOn(proto, 'write').mockImplementationOnce(async function (this: unknown, data: unknown, offset: unknown, length: unknown, position: unknown) {
        // A short write, then the disk fills up.
        await realWrite.call(this, data, offset, Math.floor((length as number) / 2), position);
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      });
      await expect(j.put('b', { n: 2 })).rejects.toThrow(/no space/);
      await j.put('c', { n: 3 });
      await j.close();
      const again = await open();
      expect(again.loadReport).toEqual({ records: 2, skippedCorrupt: 0, truncatedTail: 0 });
      expect(Object.fromEntries(again.entries())).toEqual({ a: { n: 1 }, c: { n: 3 } });
      await again.close();
    });

    it('refuses all writes after a failed fdatasync', async () => {
      const { warnings, logger } = collectingLogger();
      const j = await open({ logger });
      await j.put('a', { n: 1 });
      const proto = await fileHandlePrototype();
      vi.spyOn(proto, 'datasync').mockRejectedValueOnce(Object.assign(new Error('i/o error'), { code: 'EIO' }));
      await expect(j.put('b', { n: 2 })).rejects.toThrow(/i\/o error/);
      await expect(j.put('c', { n: 3 })).rejects.toThrow(/i\/o error/);
      expect(j.has('c')).toBe(false);
      expect(warnings.map((w) => w.msg)).toEqual([expect.stringMatching(/refusing writes/)]);
      await j.close();
      const again = await open();
      expect(again.get('a')).toEqual({ n: 1 });
      await again.close();
    });

    it('keeps writing when a compaction fails, and finishes it later without renaming over journal.old', async () => {
      const j = await open({ compactAfterBytes: 1 << 30 });
      await j.put('a', { n: 1 });
      // A directory where the snapshot's temporary file should go makes the snapshot write fail.
      await mkdir(join(dir, 'items.snapshot.tmp'));
      await expect(j.compact()).rejects.toThrow();
      expect((await readdir(dir)).sort()).toEqual(['items.journal', 'items.journal.old', 'items.snapshot.tmp']);
      await j.put('b', { n: 2 });
      await j.put('a', { n: 3 });
      await rm(join(dir, 'items.snapshot.tmp'), { recursive: true });
      await j.compact();
      expect((await readdir(dir)).sort()).toEqual(['items.journal', 'items.snapshot']);
      await j.put('c', { n: 4 });
      await j.close();
      const again = await open();
      expect(Object.fromEntries(again.entries())).toEqual({ a: { n: 3 }, b: { n: 2 }, c: { n: 4 } });
      await again.close();
    });
  });

  describe('loading damaged files', () => {
    it('skips, counts and reports a damaged record in the middle', async () => {
      const good1 = line('{"k":"a","v":{"n":1}}');
      const damaged = line('{"k":"b","v":{"n":2}}');
      damaged[15] ^= 0x01;
      const good2 = line('{"k":"c","v":{"n":3}}');
      await writeFile(join(dir, 'items.journal'), Buffer.concat([good1, damaged, good2]));
      const { warnings, logger } = collectingLogger();
      const j = await open({ logger });
      expect(Object.fromEntries(j.entries())).toEqual({ a: { n: 1 }, c: { n: 3 } });
      expect(j.loadReport).toEqual({ records: 2, skippedCorrupt: 1, truncatedTail: 0 });
      expect(warnings).toHaveLength(2);
      expect(warnings[0].fields).toMatchObject({ file: 'items.journal', offset: good1.length, reason: 'checksum mismatch' });
      // Then one line with the store's totals.
      expect(warnings[1]).toEqual({
        msg: 'journal: store loaded, damaged records skipped',
        fields: { store: 'items', dir, records: 2, skippedCorrupt: 1, truncatedTail: 0 },
      });
      await j.close();
    });

    it('drops a torn tail and truncates the file before appending', async () => {
      const good = Buffer.concat([line('{"k":"a","v":{"n":1}}'), line('{"k":"b","v":{"n":2}}')]);
      const torn = line('{"k":"c","v":{"n":3}}').subarray(0, 17);
      await writeFile(join(dir, 'items.journal'), Buffer.concat([good, torn]));
      const { warnings, logger } = collectingLogger();
      const j = await open({ logger });
      expect(j.loadReport).toEqual({ records: 2, skippedCorrupt: 0, truncatedTail: torn.length });
      expect(warnings).toHaveLength(0);
      expect((await stat(join(dir, 'items.journal'))).size).toBe(good.length);
      await j.put('d', { n: 4 });
      await j.close();

      const again = await open();
      expect(Object.fromEntries(again.entries())).toEqual({ a: { n: 1 }, b: { n: 2 }, d: { n: 4 } });
      expect(again.loadReport).toEqual({ records: 3, skippedCorrupt: 0, truncatedTail: 0 });
      await again.close();
    });

    it('treats complete lines with bad checksums at the end as a torn tail', async () => {
      const good = line('{"k":"a","v":{"n":1}}');
      const bad = Buffer.concat([line('{"k":"b","v":{"n":2}}'), Buffer.alloc(300), Buffer.from('\n')]);
      bad[12] = 0x7a;
      await writeFile(join(dir, 'items.journal'), Buffer.concat([good, bad]));
      const j = await open();
      expect(j.loadReport).toEqual({ records: 1, skippedCorrupt: 0, truncatedTail: bad.length });
      expect((await stat(join(dir, 'items.journal'))).size).toBe(good.length);
      await j.close();
    });

    it('skips checksummed records that are not records (wrong JSON, bad UTF-8, rejected values)', async () => {
      const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]);
      const lines = [
        line('null'),
        line('[1,2]'),
        line('"text"'),
        line('{"k":1,"v":2}'),
        line('{"k":"nov"}'),
        line('{not json'),
        Buffer.concat([Buffer.from(crc32(invalidUtf8).toString(16).padStart(8, '0') + ' '), invalidUtf8, Buffer.from('\n')]),
        line('{"k":"bad","v":{"n":"not a number"}}'),
        line('{"k":"ok","v":{"n":1}}'),
      ];
      await writeFile(join(dir, 'items.journal'), Buffer.concat(lines));
      const isItem = (v: unknown): v is Item => typeof v === 'object' && v !== null && typeof (v as Item).n === 'number';
      const j = await open({ validate: isItem });
      expect(Object.fromEntries(j.entries())).toEqual({ ok: { n: 1 } });
      expect(j.loadReport).toEqual({ records: 1, skippedCorrupt: 8, truncatedTail: 0 });
      await j.close();
    });

    it('handles a huge damaged line and a huge record', async () => {
      const big = 'z'.repeat(8 << 20);
      const hugeGarbage = Buffer.concat([Buffer.from('0badf00d '), Buffer.from(big), Buffer.from('\n')]);
      await writeFile(join(dir, 'items.journal'), Buffer.concat([line('{"k":"a","v":{"n":1}}'), hugeGarbage, line('{"k":"b","v":{"n":2}}')]));
      const j = await open();
      expect(j.loadReport).toEqual({ records: 2, skippedCorrupt: 1, truncatedTail: 0 });
      await j.put('big', { n: 3, tag: big });
      await j.close();
      const again = await open();
      expect(again.get('big')?.tag?.length).toBe(big.length);
      await again.close();
    });

    it('never throws on random bytes, in any of its files', async () => {
      const names = ['items.journal', 'items.snapshot', 'items.journal.old'];
      for (let seed = 1; seed <= 300; seed++) {
        const rand = prng(seed);
        await mkdir(dir, { recursive: true });
        const files = names.filter((_, i) => i === 0 || rand() < 0.3);
        for (const name of files) {
          const bytes = Buffer.alloc(Math.floor(rand() * 3000));
          for (let i = 0; i < bytes.length; i++) bytes[i] = rand() < 0.02 ? 0x0a : Math.floor(rand() * 256);
          // Some files start with a valid record, so damage lands in the middle as well as at the tail.
          const prefix = rand() < 0.5 ? line('{"k":"seed","v":{"n":1}}') : Buffer.alloc(0);
          await writeFile(join(dir, name), Buffer.concat([prefix, bytes]));
        }
        let j: Journal<Item>;
        try {
          j = await open();
        } catch (error) {
          throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
        }
        const report = j.loadReport;
        expect(report.records + report.skippedCorrupt).toBeGreaterThanOrEqual(0);
        await j.put('after', { n: seed });
        const before = new Map(j.entries());
        await j.close();
        // What a damaged store loaded, plus the new record, is what it reloads.
        const again = await open();
        expect(new Map(again.entries()), `seed ${seed}`).toEqual(before);
        await again.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  it('leaves the files in the documented format', async () => {
    const j = await open();
    await j.put('a', { n: 1 });
    await j.delete('a');
    await j.close();
    const text = await readFile(join(dir, 'items.journal'), 'utf8');
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^[0-9a-f]{8} \{"k":"a","v":\{"n":1\}\}$/);
    expect(lines[1]).toMatch(/^[0-9a-f]{8} \{"k":"a","d":1\}$/);
    expect(parseInt(lines[1].slice(0, 8), 16)).toBe(crc32(Buffer.from(lines[1].slice(9))));
  });

  it('never glues a new record onto garbage after reopening', async () => {
    const j = await open();
    await j.put('a', { n: 1 });
    await j.close();
    await appendFile(join(dir, 'items.journal'), 'deadbeef {"k":"tor');
    const k = await open();
    await k.put('b', { n: 2 });
    await k.close();
    const text = await readFile(join(dir, 'items.journal'), 'utf8');
    expect(text).not.toContain('tor');
    const again = await open();
    expect(again.loadReport.skippedCorrupt + again.loadReport.truncatedTail).toBe(0);
    await again.close();
  });
});
