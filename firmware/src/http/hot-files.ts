// Hot boot files in memory for HTTP.
//
// A rack booting at once asks for the same kernel and initrd from every node.
// Streaming each download from the file costs a thread-pool read and a fresh
// buffer per chunk on the one JavaScript thread that also writes every socket;
// serving slices of one shared buffer costs only the socket writes.
//
// Exactness: the caller opens and fstat()s the file for every request and asks
// for the bytes of exactly that identity (the entity tag: inode, size, mtime in
// ns). A rewritten or replaced file has a new tag, so the old bytes are never
// served for it; there is no revalidation interval. A load reads the already
// opened handle, so the bytes are those of the file the tag describes (a file
// rewritten in place while it is being read is the same race the streaming
// path has; its size is checked).
//
// Budget: files up to maxFileBytes are kept, least recently used out first when
// the total passes maxTotalBytes. Concurrent first requests for one identity
// share one read. A buffer handed out stays valid after eviction (the
// responses using it hold it); memory past the budget is therefore bounded by
// the downloads in flight, not by the number of files asked for.

import type { FileHandle } from 'node:fs/promises';

export interface HotFilesOptions {
  /** Largest file kept in memory. */
  maxFileBytes: number;
  /** Memory budget for all kept files; 0 disables the cache. */
  maxTotalBytes: number;
}

export interface HotFilesStats {
  files: number;
  bytes: number;
  hits: number;
  loads: number;
}

export class HotFiles {
  /** Insertion order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, { etag: string; data: Buffer }>();
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();
  private totalBytes = 0;
  private hits = 0;
  private loads = 0;

  constructor(private readonly opts: HotFilesOptions) {}

  /** Whether a file of this size is served from memory at all. */
  accepts(size: number): boolean {
    return size > 0 && size <= this.opts.maxFileBytes && size <= this.opts.maxTotalBytes;
  }

  /**
   * The bytes of `path` as of `etag`, read from `file` (open, `size` bytes) when
   * not kept yet. Undefined when the file does not qualify or did not read back
   * at `size` bytes (changed underneath): the caller streams it instead.
   */
  async get(path: string, etag: string, size: number, file: FileHandle): Promise<Buffer | undefined> {
    if (!this.accepts(size)) return undefined;
    const kept = this.entries.get(path);
    if (kept && kept.etag === etag) {
      this.hits++;
      this.entries.delete(path);
      this.entries.set(path, kept);
      return kept.data;
    }
    const key = `${path}\u0000${etag}`;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const load = (async () => {
      this.loads++;
      const data = Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        const { bytesRead } = await file.read(data, filled, size - filled, filled);
        if (bytesRead === 0) return undefined;
        filled += bytesRead;
      }
      this.insert(path, etag, data);
      return data;
    })();
    this.loading.set(key, load);
    try {
      return await load;
    } finally {
      this.loading.delete(key);
    }
  }

  stats(): HotFilesStats {
    return { files: this.entries.size, bytes: this.totalBytes, hits: this.hits, loads: this.loads };
  }

  private insert(path: string, etag: string, data: Buffer): void {
    this.evict(path);
    while (this.totalBytes + data.length > this.opts.maxTotalBytes && this.entries.size > 0) {
      this.evict(this.entries.keys().next().value as string);
    }
    this.entries.set(path, { etag, data });
    this.totalBytes += data.length;
  }

  private evict(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    this.totalBytes -= entry.data.length;
  }
}
