import { describe, expect, it } from 'vitest';
import { NodeResolver } from '../../firmware/src/boot-policy/nodes.js';
import { OneShotBoots } from '../../firmware/src/boot-tracking/one-shot.js';
import type { BootObservation } from '../../firmware/src/model/boot.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';
import { silentLogger } from '../../firmware/src/util/log.js';

const MAC = '52:54:00:00:00:01';

/** The inventory's next-boot field, as NodeResolver and OneShotBoots see it. */
class NextBootField {
  readonly cleared: string[] = [];
  constructor(public value: string | undefined) {}
  get(): NodeRecord | undefined {
    return { mac: MAC, name: 'n1', profile: 'debian', tags: [], origin: 'api', approved: true, createdAt: 0, updatedAt: 0 } as unknown as NodeRecord;
  }
  nextBoot(): string | undefined {
    return this.value;
  }
  clearNextBoot(_mac: string, profile: string): Promise<void> {
    if (this.value === profile) {
      this.value = undefined;
      this.cleared.push(profile);
    }
    return Promise.resolve();
  }
}

function world(initial: string | undefined) {
  const field = new NextBootField(initial);
  const oneShots = new OneShotBoots({ store: field, hasBootFiles: (p) => p !== 'local-disk', log: silentLogger });
  const resolver = new NodeResolver({
    directory: field,
    defaultProfile: () => 'debian',
    onProfileServed: (mac, profile, oneShot) => oneShots.served(mac, profile, oneShot),
  });
  const script = async (profile?: string) => (await resolver.resolve({ mac: MAC, ip: '10.0.0.5', ...(profile && { profile }) }))!.profile;
  const download = (final: boolean, complete: boolean, status = 200): BootObservation => ({
    kind: 'http_download',
    mac: MAC,
    at: 0,
    path: final ? '/initrd.img' : '/vmlinuz',
    role: final ? 'initrd' : 'kernel',
    final,
    status,
    bytes: 1,
    complete,
    ms: 1,
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return { field, oneShots, script, download, settle };
}

describe('one-shot next-boot profile', () => {
  it('survives a cut download and iPXE retrying the script, and is cleared once the last file arrives whole', async () => {
    const w = world('rescue');
    expect(await w.script()).toBe('rescue');
    w.oneShots.observe(w.download(false, true)); // the kernel: not the last file
    w.oneShots.observe(w.download(true, false)); // the initrd, cut half-way
    await w.settle();
    expect(w.field.value).toBe('rescue');
    expect(await w.script()).toBe('rescue'); // the retry boots the rescue profile again
    w.oneShots.observe(w.download(true, true, 404));
    w.oneShots.observe(w.download(true, true, 206)); // a range of the file is not the file
    await w.settle();
    expect(w.field.value).toBe('rescue');
    w.oneShots.observe(w.download(true, true));
    await w.settle();
    expect(w.field.cleared).toEqual(['rescue']);
    expect(await w.script()).toBe('debian');
    expect(w.oneShots.pending().size).toBe(0);
  });

  it('is cleared by the OS calling back', async () => {
    const w = world('rescue');
    await w.script();
    w.oneShots.observe({ kind: 'os_booted', mac: MAC, at: 0, source: 'callback' });
    await w.settle();
    expect(w.field.value).toBeUndefined();
  });

  it('is cleared at the script for a profile that has no files to fetch', async () => {
    const w = world('local-disk');
    expect(await w.script()).toBe('local-disk');
    await w.settle();
    expect(w.field.cleared).toEqual(['local-disk']);
  });

  it('stays when the script came from a menu choice, and when the operator picked another meanwhile', async () => {
    const w = world('rescue');
    expect(await w.script('memtest')).toBe('memtest');
    w.oneShots.observe(w.download(true, true));
    await w.settle();
    expect(w.field.value).toBe('rescue');
    await w.script();
    w.field.value = 'reimage';
    w.oneShots.observe(w.download(true, true));
    await w.settle();
    expect(w.field.value).toBe('reimage');
  });

  it('keeps a bounded number of boots in flight, clearing the oldest', async () => {
    const cleared: string[] = [];
    const oneShots = new OneShotBoots({
      store: { clearNextBoot: (mac) => Promise.resolve(void cleared.push(mac)) },
      hasBootFiles: () => true,
      log: silentLogger,
      maxInFlight: 2,
    });
    for (const mac of ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03']) oneShots.served(mac, 'rescue', true);
    await new Promise((r) => setImmediate(r));
    expect(cleared).toEqual(['02:00:00:00:00:01']);
    expect([...oneShots.pending().keys()]).toEqual(['02:00:00:00:00:02', '02:00:00:00:00:03']);
  });
});
