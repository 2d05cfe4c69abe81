// A configuration file torn by a power cut mid-write (an editor or a config
// management tool saving it in place), truncated, or garbage: loading it
// either succeeds or fails with a ConfigError that names the file and says what
// is wrong, at every byte offset. Never another exception.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../../firmware/src/config/load.js';
import { ConfigError } from '../../firmware/src/config/errors.js';

const REPO = resolve(import.meta.dirname, '..', '..');
/** The files the appliance ships (every key of the schema is in one of them). */
const FILES = ['rootfs-overlay/etc/rackboot/rackboot.yaml', 'rootfs-overlay/etc/rackboot/lab.yaml'];

/** What loading `path` does: the config, or the ConfigError; anything else fails the test with its input. */
async function load(path: string, what: string): Promise<{ ok: true } | { ok: false; text: string }> {
  try {
    await loadConfigFile(path);
    return { ok: true };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new Error(`${what}: ${String((error as Error)?.stack ?? error)}`, { cause: error });
    expect(error.problems.length, what).toBeGreaterThan(0);
    const text = error.format();
    for (const line of text.split('\n')) {
      // file[:line[:col]]: key path: found ..., expected ...
      expect(line.startsWith(`${path}`), `${what}: ${line}`).toBe(true);
      expect(line, what).toMatch(/: found .*, expected /s);
    }
    return { ok: false, text };
  }
}

describe('configuration files torn or damaged', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rackboot-torn-config-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.each(FILES)(
    '%s cut at every byte offset loads or is refused with the file and the problem',
    async (file) => {
      const whole = await readFile(join(REPO, file));
      const path = join(work, 'rackboot.yaml');
      let refused = 0;
      for (let cut = 0; cut <= whole.length; cut++) {
        await writeFile(path, whole.subarray(0, cut));
        const result = await load(path, `${file} cut at ${cut}`);
        if (!result.ok) refused++;
      }
      // The whole file loads; the empty file and most cuts do not (they lose the interface, a pool or a profile).
      expect((await load(path, 'whole')).ok).toBe(true);
      expect(refused).toBeGreaterThan(0);
    },
    60_000,
  );

  it('refuses garbage, binary, NULs, invalid UTF-8 and a directory with the file named', async () => {
    const whole = await readFile(join(REPO, FILES[0]));
    let seed = 11;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const refused = true;
    const either = false; // may load (damage inside a comment is harmless) or be refused, but clearly
    const cases: [string, Buffer, boolean][] = [
      ['random bytes', Buffer.from(Array.from({ length: 4096 }, random)), refused],
      ['zeros (a block that never got its data)', Buffer.alloc(4096), refused],
      ['the file then zeros', Buffer.concat([whole.subarray(0, 1000), Buffer.alloc(3000)]), refused],
      ['the file twice (duplicate keys)', Buffer.concat([whole, whole]), refused],
      ['invalid UTF-8 in a value', Buffer.from(whole.toString('latin1').replace(/^lease_time: \S+/m, 'lease_time: 1\xc3\x28\xffh'), 'latin1'), refused],
      ['invalid UTF-8 anywhere', Buffer.concat([whole.subarray(0, 200), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), whole.subarray(200)]), either],
      ['a byte flipped in every 97th position', Buffer.from(whole.map((b, i) => (i % 97 === 50 ? b ^ 0x5a : b))), either],
    ];
    const path = join(work, 'garbage.yaml');
    for (const [what, data, mustRefuse] of cases) {
      await writeFile(path, data);
      const result = await load(path, what);
      if (mustRefuse) expect(result.ok, what).toBe(false);
    }
    const dir = join(work, 'a-directory.yaml');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    const result = await load(dir, 'a directory');
    expect(result.ok).toBe(false);
  });
});
