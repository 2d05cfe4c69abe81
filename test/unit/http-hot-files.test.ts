// The HTTP hot-file cache (firmware/src/http/hot-files.ts) against real files:
// bytes of exactly the identity asked for, one read for concurrent first
// requests, the budget, and files that do not qualify or change underneath.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HotFiles } from '../../firmware/src/http/hot-files.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rackboot-hot-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withFile<T>(name: string, data: Buffer, body: (path: string, handle: Awaited<ReturnType<typeof open>>) => Promise<T>): Promise<T> {
  const path = join(dir, name);
  await writeFile(path, data);
  const handle = await open(path, 'r');
  try {
    return await body(path, handle);
  } finally {
    await handle.close();
  }
}

describe('HotFiles', () => {
  it('reads a file once and serves the kept bytes for the same identity', async () => {
    const data = randomBytes(300_000);
    const hot = new HotFiles({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    await withFile('a.bin', data, async (path, handle) => {
      const first = await hot.get(path, '"t1"', data.length, handle);
      expect(first?.equals(data)).toBe(true);
      const second = await hot.get(path, '"t1"', data.length, handle);
      expect(second).toBe(first);
      expect(hot.stats()).toMatchObject({ files: 1, bytes: data.length, hits: 1, loads: 1 });
    });
  });

  it('concurrent first requests share one read', async () => {
    const data = randomBytes(200_000);
    const hot = new HotFiles({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    await withFile('b.bin', data, async (path, handle) => {
      const all = await Promise.all(Array.from({ length: 20 }, () => hot.get(path, '"t"', data.length, handle)));
      expect(new Set(all).size).toBe(1);
      expect(all[0]?.equals(data)).toBe(true);
      expect(hot.stats().loads).toBe(1);
    });
  });

  it('a new identity (the file was rewritten) is read again, never answered with the old bytes', async () => {
    const hot = new HotFiles({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    const path = join(dir, 'c.bin');
    const v1 = randomBytes(1000);
    const v2 = randomBytes(1000);
    await withFile('c.bin', v1, async (_, handle) => expect((await hot.get(path, '"v1"', 1000, handle))?.equals(v1)).toBe(true));
    await withFile('c.bin', v2, async (_, handle) => expect((await hot.get(path, '"v2"', 1000, handle))?.equals(v2)).toBe(true));
    expect(hot.stats()).toMatchObject({ files: 1, bytes: 1000, loads: 2, hits: 0 });
  });

  it('keeps the total under the budget, evicting the least recently used', async () => {
    const hot = new HotFiles({ maxFileBytes: 1000, maxTotalBytes: 2500 });
    const files = [randomBytes(1000), randomBytes(1000), randomBytes(1000)];
    for (const [i, data] of files.entries()) {
      await withFile(`d${i}.bin`, data, async (path, handle) => expect((await hot.get(path, '"x"', 1000, handle))?.equals(data)).toBe(true));
    }
    expect(hot.stats()).toMatchObject({ files: 2, bytes: 2000 });
    // d0 was evicted: asking again reads it again.
    await withFile('d0.bin', files[0], async (path, handle) => expect((await hot.get(path, '"x"', 1000, handle))?.equals(files[0])).toBe(true));
    expect(hot.stats().loads).toBe(4);
  });

  it('files too large, empty files and a disabled cache are left to streaming', async () => {
    const hot = new HotFiles({ maxFileBytes: 1000, maxTotalBytes: 10_000 });
    await withFile('e.bin', randomBytes(1001), async (path, handle) => expect(await hot.get(path, '"x"', 1001, handle)).toBeUndefined());
    expect(hot.accepts(0)).toBe(false);
    expect(new HotFiles({ maxFileBytes: 1000, maxTotalBytes: 0 }).accepts(10)).toBe(false);
    expect(hot.stats()).toMatchObject({ files: 0, loads: 0 });
  });

  it('a file that shrank after its stat is not kept (the caller streams it)', async () => {
    const hot = new HotFiles({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    await withFile('f.bin', randomBytes(5000), async (path, handle) => {
      await truncate(path, 100);
      expect(await hot.get(path, '"x"', 5000, handle)).toBeUndefined();
      expect(hot.stats().files).toBe(0);
    });
  });
});
