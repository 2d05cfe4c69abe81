import { describe, expect, it } from 'vitest';
import { BootTokens } from '../../firmware/src/boot-policy/boot-token.js';
import { NodeResolver, type BootNode } from '../../firmware/src/boot-policy/nodes.js';
import { OneShotBoots } from '../../firmware/src/boot-tracking/one-shot.js';
import type { BootObservation } from '../../firmware/src/model/boot.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';
import { silentLogger } from '../../firmware/src/util/log.js';

const MAC = '52:54:00:00:00:01';
const ATTACKER = '52:54:00:00:00:66';
/** Who is at which address: the node, and a host forging requests for it. */
const ADDRESSES: Record<string, string> = { '10.0.0.5': MAC, '10.0.0.66': ATTACKER };

/** The inventory's next-boot field, as NodeResolver and OneShotBoots see it. */
class NextBootField {
  readonly cleared: string[] = [];
  constructor(public value: string | undefined) {}
  get(): NodeRecord | undefined {
    return { mac: MAC, name: 'n1', profile: 'debian', tags: [], origin: 'api', approved: true, createdAt: 0, updatedAt: 0 } as unknown as NodeRecord;
  }
  nextBoot(mac: string): string | undefined {
    return mac === MAC ? this.value : undefined;
  }
  isBootAllowed(): boolean {
    return true;
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
  const tokens = new BootTokens();
  let token: string | undefined;
  const resolver = new NodeResolver({
    directory: field,
    defaultProfile: () => 'debian',
    addressOf: (ip) => ADDRESSES[ip],
    tokens,
    onProfileServed: (mac, profile, oneShot, served) => oneShots.served(mac, profile, oneShot, served),
  });
  const scriptFrom = async (ip: string, profile?: string) => (await resolver.resolve({ mac: MAC, ip, ...(profile && { profile }) })) as BootNode;
  const script = async (profile?: string) => {
    const node = await scriptFrom('10.0.0.5', profile);
    token = node.token;
    return node.profile;
  };
  // What observe.ts makes of the node's own download: its URL carries the token of its script.
  const download = (final: boolean, complete: boolean, status = 200, withToken = tokens.matches(MAC, token)): BootObservation => ({
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
    withToken,
  });
  const settle = () => new Promise((r) => setImmediate(r));
  return { field, oneShots, script, scriptFrom, download, settle };
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

  it('is not consumed by a forged ?mac= script request from another host, nor by downloads without the token', async () => {
    const w = world('rescue');
    // Another host asks for the node's script: it gets its own node's, without a token, and starts nothing.
    const forged = await w.scriptFrom('10.0.0.66');
    expect(forged.mac).toBe(ATTACKER);
    expect(forged.token).toBeUndefined();
    expect(w.oneShots.pending().size).toBe(0);
    // The node's own boot is under way; whole downloads of its last file without its token end nothing.
    expect(await w.script()).toBe('rescue');
    w.oneShots.observe(w.download(true, true, 200, false));
    await w.settle();
    expect(w.field.value).toBe('rescue');
    // Its own, with the token, does.
    w.oneShots.observe(w.download(true, true));
    await w.settle();
    expect(w.field.cleared).toEqual(['rescue']);

    // A profile without files ends at its script: only at the node's own.
    const local = world('local-disk');
    await local.scriptFrom('10.0.0.66');
    await local.settle();
    expect(local.field.value).toBe('local-disk');
    expect(await local.script()).toBe('local-disk');
    await local.settle();
    expect(local.field.cleared).toEqual(['local-disk']);
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
    for (const mac of ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03']) oneShots.served(mac, 'rescue', true, 'a'.repeat(32));
    await new Promise((r) => setImmediate(r));
    expect(cleared).toEqual(['02:00:00:00:00:01']);
    expect([...oneShots.pending().keys()]).toEqual(['02:00:00:00:00:02', '02:00:00:00:00:03']);
  });
});
