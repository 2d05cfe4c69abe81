// The state directory: its lock, then the stores under it, one after another.
// Each goes on the app's stack as soon as it is open, so if a later one fails
// the ones already open are closed (their files stay consistent) and the lock
// is released.

import { mkdir } from 'node:fs/promises';
import type { RackbootConfig } from '../config/schema.js';
import { LeaseTable } from '../dhcp/leases.js';
import { EventLog } from '../inventory/events.js';
import { NodeInventory, inventoryChangeEvent } from '../inventory/nodes.js';
import { AuthService } from '../auth/index.js';
import type { Mac } from '../net/addr.js';
import { STATE_DIR_MODE } from '../store/journal.js';
import { StateDirLock, StateDirLockedError } from '../store/lock.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { ResourceStack } from './resource-stack.js';
import { RuntimeSettings } from './settings.js';
import { StartupError } from './startup-error.js';

export interface Stores {
  leases: LeaseTable;
  events: EventLog;
  inventory: NodeInventory;
  settings: RuntimeSettings;
  auth: AuthService;
}

export interface OpenStateOptions {
  clock: Clock;
  log: Logger;
  /** A node was deleted from the inventory (the boot tracker, created later, forgets it). */
  onNodeDeleted(mac: Mac): void;
}

export async function openState(config: RackbootConfig, stack: ResourceStack, opts: OpenStateOptions): Promise<Stores> {
  const { stateDir } = config;
  const { clock, log } = opts;
  let lock: StateDirLock;
  try {
    await mkdir(stateDir, { recursive: true, mode: STATE_DIR_MODE });
    lock = await StateDirLock.acquire(stateDir, {
      onStale: (holder) => log.info('state directory lock left by a stopped rackboot; taking it over', { stateDir, pid: holder?.pid }),
    });
  } catch (error) {
    throw new StartupError(error instanceof StateDirLockedError ? error.message : `cannot use state directory ${stateDir}: ${(error as Error).message}`, {
      stateDir,
    });
  }
  stack.push('state directory lock', () => lock.release());

  const open = async <T extends { close(): Promise<void> }>(name: string, opening: () => Promise<T>): Promise<T> => {
    let store: T;
    try {
      store = await opening();
    } catch (error) {
      throw new StartupError(`cannot open the ${name} store in ${stateDir}: ${(error as Error).message}`, { stateDir });
    }
    stack.push(`${name} store`, () => store.close());
    return store;
  };

  const leases = await open('lease', () => LeaseTable.open(stateDir, clock, { logger: log.child({ component: 'leases' }) }));
  const events = await open('event', () => EventLog.open(stateDir, { clock, log: log.child({ component: 'events' }) }));
  const inventory = await open('inventory', () =>
    NodeInventory.open(stateDir, {
      clock,
      seed: config.hosts,
      unknownNodes: config.inventory.unknownNodes,
      log: log.child({ component: 'inventory' }),
      knownProfiles: () => Object.keys(config.boot.profiles),
      knownPowerChannels: () => Object.keys(config.power.channels),
      onChange: (change) => {
        events.append(inventoryChangeEvent(change));
        if (change.type === 'node.deleted') opts.onNodeDeleted(change.node.mac);
      },
    }),
  );
  const settings = await open('settings', () =>
    RuntimeSettings.open(stateDir, config, {
      log,
      now: () => clock.now(),
      onChange: (change, by) => {
        if (change.unknownNodes !== undefined) inventory.setUnknownNodes(change.unknownNodes);
        const words = Object.entries(change)
          .map(([key, value]) => `${key} = ${String(value)}`)
          .join(', ');
        events.append({ type: 'config', message: `settings changed: ${words}`, by, detail: { ...change } });
      },
    }),
  );
  const auth = await open('auth', () =>
    AuthService.open(stateDir, {
      log,
      clock,
      onEvent: (event) =>
        events.append({ type: 'auth', message: event.message, ...(event.by !== undefined && { by: event.by }), ...(event.detail && { detail: event.detail }) }),
    }),
  );
  // The inventory opened with the file's policy; one changed at run time overrides it.
  inventory.setUnknownNodes(settings.unknownNodes);
  return { leases, events, inventory, settings, auth };
}
