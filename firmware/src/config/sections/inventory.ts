// The `inventory:` section: what happens to unknown nodes, and the boot tracker's timeouts.

import { DEFAULTS } from '../defaults.js';
import type { InventoryConfig, UnknownNodePolicy } from '../schema.js';
import { durationSpec, enumSpec } from '../value-specs.js';
import { allRead, type DocumentReader, type MapView } from '../yaml-reader.js';

export const INVENTORY_KEYS = ['unknown_nodes', 'boot_timeout', 'open_timeout', 'stall_timeout'] as const;
export const UNKNOWN_NODE_POLICIES = ['boot', 'hold'] as const satisfies readonly UnknownNodePolicy[];

/** Undefined when a value was wrong (reported). Timeouts are written in seconds and kept in milliseconds. */
export function readInventorySection(r: DocumentReader, top: MapView): InventoryConfig | undefined {
  const inventory = r.section(top, 'inventory', INVENTORY_KEYS);
  const read = allRead({
    unknownNodes: inventory.getOr('unknown_nodes', enumSpec(UNKNOWN_NODE_POLICIES), DEFAULTS.unknownNodes),
    bootTimeout: inventory.getOr('boot_timeout', durationSpec(24 * 3600), DEFAULTS.bootTimeoutSeconds),
    openTimeout: inventory.getOr('open_timeout', durationSpec(3600), DEFAULTS.openTimeoutSeconds),
    stallTimeout: inventory.getOr('stall_timeout', durationSpec(3600), DEFAULTS.stallTimeoutSeconds),
  });
  return (
    read && {
      unknownNodes: read.unknownNodes,
      bootTimeoutMs: read.bootTimeout * 1000,
      openTimeoutMs: read.openTimeout * 1000,
      stallTimeoutMs: read.stallTimeout * 1000,
    }
  );
}
