// Turns a draft read without problems into the normalised RackbootConfig.

import { dirname, isAbsolute, resolve } from 'node:path';
import type { ConfigDraft } from './draft.js';
import type { ConfigOverrides, RackbootConfig } from './schema.js';
import { toBootConfig } from './sections/boot.js';
import { toHostConfig } from './sections/hosts.js';
import { toOptionsConfig } from './sections/options.js';
import { toPoolConfig } from './sections/pools.js';

/**
 * The configuration of a draft with no problems (every field it needs is set).
 * Paths in the file are relative to the file's directory when `source` is an
 * absolute path, so a configuration can be moved with its boot tree; else to
 * the current directory.
 */
export function normaliseDraft(draft: ConfigDraft, source: string, overrides: ConfigOverrides): RackbootConfig {
  const base = isAbsolute(source) ? dirname(source) : process.cwd();
  const config: RackbootConfig = {
    source,
    interface: overrides.interface ?? draft.interface!,
    mode: draft.mode!,
    leaseTime: draft.leaseTime!,
    stateDir: resolve(base, draft.stateDir!),
    pools: draft.pools.map(toPoolConfig),
    options: toOptionsConfig(draft.options),
    hosts: draft.hosts.map(toHostConfig),
    boot: toBootConfig(draft.boot, base, overrides),
    http: draft.http!,
    dhcp: draft.dhcp!,
    tftp: draft.tftp!,
    inventory: draft.inventory!,
    power: draft.power,
    ...(draft.console && { console: draft.console }),
    log: draft.log!,
  };
  if (draft.serverAddress !== undefined) config.serverAddress = draft.serverAddress;
  return config;
}
