import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeSettings } from '../../firmware/src/app/settings.js';
import { defaultConfigForInterface } from '../../firmware/src/config/defaults.js';
import type { RackbootConfig } from '../../firmware/src/config/schema.js';
import { Journal } from '../../firmware/src/store/journal.js';
import { silentLogger } from '../../firmware/src/util/log.js';

function config(defaultProfile: string): RackbootConfig {
  const base = defaultConfigForInterface('eth0', { address: '10.0.0.1', prefix: 24 }, '/srv/boot');
  const linux = { kind: 'linux' as const, kernel: 'vmlinuz', initrds: [], cmdline: '' };
  return { ...base, boot: { ...base.boot, defaultProfile, profiles: { default: linux, rescue: linux, other: linux } } };
}

describe('run-time settings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rb-settings-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const open = (defaultProfile: string) => RuntimeSettings.open(dir, config(defaultProfile), { log: silentLogger, now: () => 1234, onChange: () => {} });

  it('keeps a change across restarts, stamped with the injected clock, until the file says something new', async () => {
    const settings = await open('default');
    await settings.update({ defaultProfile: 'rescue', unknownNodes: 'hold' }, 'admin');
    await settings.close();
    const stored = await Journal.read<{ at: number; by: string }>(dir, 'settings');
    expect(stored.entries.get('defaultProfile')).toMatchObject({ value: 'rescue', fileValue: 'default', by: 'admin', at: 1234 });

    const again = await open('default');
    expect([again.defaultProfile, again.unknownNodes]).toEqual(['rescue', 'hold']);
    await again.close();
    // The operator edited the file since: the file's new value wins.
    const edited = await open('other');
    expect(edited.defaultProfile).toBe('other');
    await edited.close();
  });
});
