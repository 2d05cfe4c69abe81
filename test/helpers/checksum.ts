// SHA-256 of what a test serves and of what a client wrote, so the two can be
// compared without holding a large download in memory.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Streamed: the files compared run to tens of megabytes. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes a file of random bytes per `sizes` entry into `dir`; returns each file's SHA-256 by name. */
export async function writeRandomFiles(dir: string, sizes: Record<string, number>): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const [name, size] of Object.entries(sizes)) {
    const data = randomBytes(size);
    await writeFile(join(dir, name), data);
    sums.set(name, sha256(data));
  }
  return sums;
}
