// The boot-file cache on real temporary files: memory hits, revalidation at
// most once per interval, reload on size/mtime/inode change, LRU budget,
// file-backed sources for large files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rename, rm, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCache } from '../../firmware/src/tftp/file-cache.js';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rackboot-cache-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: string | Buffer): Promise<string> {
  const path = join(dir, `f${n++}`);
  await writeFile(path, content);
  return path;
}

function fakeNow() {
  const clock = { t: 0, now: () => clock.t };
  return clock;
}

const whole = (f: { size: number; read(o: number, l: number): Buffer }) => Buffer.from(f.read(0, f.size));

describe('FileCache', () => {
  it('serves a small file from memory and counts hits', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now });
    const path = await file('pxelinux loader');
    const first = await cache.get(path);
    expect(first).toMatchObject({ size: 15, inMemory: true });
    expect(first.etag).toMatch(/^"[0-9a-f-]+"$/);
    expect(first.read(0, 9).toString()).toBe('pxelinux ');
    expect(first.read(9, 512).toString()).toBe('loader');
    expect(first.read(15, 512)).toHaveLength(0);
    const second = await cache.get(path);
    expect(whole(second).toString()).toBe('pxelinux loader');
    expect(cache.stats()).toEqual({ files: 1, bytes: 15, hits: 1, misses: 1, reloads: 0, fileBacked: 0 });
    first.close();
  });

  it('re-stats at most once per interval and reloads when the size changed', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now, revalidateMs: 1000 });
    const path = await file('version 1');
    const old = await cache.get(path);
    await writeFile(path, 'version two');
    clock.t = 999;
    expect(whole(await cache.get(path)).toString()).toBe('version 1'); // not checked yet
    clock.t = 1000;
    const fresh = await cache.get(path);
    expect(whole(fresh).toString()).toBe('version two');
    expect(fresh.etag).not.toBe(old.etag);
    expect(whole(old).toString()).toBe('version 1'); // a source handed out is a snapshot
    expect(cache.stats()).toMatchObject({ reloads: 1, misses: 2, files: 1, bytes: 11 });
  });

  it('an unchanged file is only re-stat()ed, not reloaded', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now });
    const path = await file('same');
    const a = await cache.get(path);
    clock.t = 5000;
    const b = await cache.get(path);
    expect(b.etag).toBe(a.etag);
    expect(cache.stats()).toMatchObject({ misses: 1, hits: 1, reloads: 0 });
  });

  it('reloads a same-size rewrite even when the old mtime is put back (ctime)', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now });
    const path = await file('AAAA');
    await utimes(path, 1_700_000_000, 1_700_000_000); // whole seconds: restorable to the nanosecond
    const before = await stat(path, { bigint: true });
    expect(whole(await cache.get(path)).toString()).toBe('AAAA');
    await new Promise((resolve) => setTimeout(resolve, 20)); // let ctime move on
    await writeFile(path, 'BBBB');
    await utimes(path, 1_700_000_000, 1_700_000_000); // like rsync -t / cp -p
    const after = await stat(path, { bigint: true });
    expect([after.size, after.ino, after.mtimeNs]).toEqual([before.size, before.ino, before.mtimeNs]);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);
    clock.t = 2000;
    expect(whole(await cache.get(path)).toString()).toBe('BBBB');
  });

  it('reloads a file replaced by rename (new inode)', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now });
    const path = await file('old!');
    const first = await cache.get(path);
    const replacement = join(dir, `replacement${n++}`);
    await writeFile(replacement, 'new!');
    await rename(replacement, path);
    clock.t = 1500;
    const second = await cache.get(path);
    expect(whole(second).toString()).toBe('new!');
    expect(second.etag).not.toBe(first.etag);
  });

  it('forgets a file that was deleted and rejects with the fs error', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now });
    const path = await file('gone soon');
    await cache.get(path);
    await unlink(path);
    clock.t = 1000;
    await expect(cache.get(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.stats()).toMatchObject({ files: 0, bytes: 0 });
  });

  it('evicts the least recently used file beyond the budget', async () => {
    const clock = fakeNow();
    const cache = new FileCache({ now: clock.now, maxTotalBytes: 3000 });
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((ch) => file(ch.repeat(1000))));
    await cache.get(a);
    await cache.get(b);
    await cache.get(c);
    await cache.get(a); // a is now the most recent; b the least
    await cache.get(d);
    expect(cache.stats()).toMatchObject({ files: 3, bytes: 3000, misses: 4 });
    await cache.get(a);
    await cache.get(c);
    await cache.get(d);
    expect(cache.stats().misses).toBe(4);
    await cache.get(b);
    expect(cache.stats().misses).toBe(5);
    expect(cache.stats().bytes).toBe(3000);
  });

  it('shares one read among concurrent requests for a file', async () => {
    const cache = new FileCache();
    const path = await file(Buffer.alloc(100_000, 7));
    const sources = await Promise.all(Array.from({ length: 20 }, () => cache.get(path)));
    expect(sources.every((s) => s.size === 100_000 && s.inMemory)).toBe(true);
    expect(cache.stats()).toMatchObject({ misses: 1, files: 1 });
  });

  it('serves a file over maxFileBytes from its fd with read-ahead, until close()', async () => {
    const cache = new FileCache({ maxFileBytes: 1000, readAheadBytes: 1024 });
    const data = Buffer.alloc(10_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const path = await file(data);
    const source = await cache.get(path);
    expect(source).toMatchObject({ size: 10_000, inMemory: false });
    const pieces: Buffer[] = [];
    for (let offset = 0; offset <= 10_000; offset += 512) pieces.push(Buffer.from(source.read(offset, 512)));
    expect(Buffer.concat(pieces)).toEqual(data);
    expect(source.read(100, 5000)).toEqual(data.subarray(100, 5100)); // larger than the read-ahead
    expect(source.read(9000, 1024)).toEqual(data.subarray(9000)); // window at the end, then back
    expect(source.read(512, 512)).toEqual(data.subarray(512, 1024));
    expect(source.read(10_000, 512)).toHaveLength(0);
    expect(cache.stats()).toMatchObject({ files: 0, fileBacked: 1 });
    source.close();
    source.close();
    expect(() => source.read(0, 1)).toThrow(/closed/);
  });

  it('a file-backed source of a file truncated underneath returns a short read', async () => {
    const cache = new FileCache({ maxFileBytes: 10 });
    const path = await file(Buffer.alloc(5000, 1));
    const source = await cache.get(path);
    await truncate(path, 1000);
    expect(source.size).toBe(5000);
    expect(source.read(512, 512)).toHaveLength(488);
    source.close();
  });

  it('serves but does not keep a file larger than the whole budget', async () => {
    const cache = new FileCache({ maxFileBytes: 10_000, maxTotalBytes: 1000 });
    const path = await file(Buffer.alloc(5000, 2));
    const source = await cache.get(path);
    expect(source).toMatchObject({ size: 5000, inMemory: true });
    expect(cache.stats()).toMatchObject({ files: 0, bytes: 0 });
  });

  it('refuses what is not a regular file', async () => {
    const cache = new FileCache();
    const sub = join(dir, `dir${n++}`);
    await mkdir(sub);
    await expect(cache.get(sub)).rejects.toThrow(/not a regular file/);
    await expect(cache.get(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.stats().files).toBe(0);
  });

  it('clear() and invalidate() forget files', async () => {
    const cache = new FileCache();
    const path = await file('x');
    await cache.get(path);
    cache.invalidate(path);
    await cache.get(path);
    cache.clear();
    await cache.get(path);
    expect(cache.stats()).toMatchObject({ misses: 3, files: 1, bytes: 1 });
  });
});
