// What the servers saw, turned into each node's boot stage: the tracker, the
// one-shot next-boot profiles, which MAC is behind an address, and which profile
// a node was last served (so its kernel and initrd downloads can be named).
// Nothing here opens anything; the servers feed `observations` and ask `nodes`.

import type { RackbootConfig } from '../config/schema.js';
import { AddressBook } from '../boot-tracking/address-book.js';
import { NodeResolver, procNetArpLookup } from '../boot-policy/nodes.js';
import { BootObservations, type ProfileFiles } from '../boot-tracking/observe.js';
import { OneShotBoots } from '../boot-tracking/one-shot.js';
import { BootTracker } from '../boot-tracking/tracker.js';
import type { Mac } from '../net/addr.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { Stores } from './state.js';

/** Profiles remembered per MAC for naming downloads (kernel, initrd); the oldest are forgotten first. */
const SERVED_PROFILES_KEPT = 8192;

export interface BootTracking {
  tracker: BootTracker;
  addresses: AddressBook;
  observations: BootObservations;
  /** Which node (and profile) an iPXE script request is for. */
  nodes: NodeResolver;
}

export function trackBoots(config: RackbootConfig, stores: Stores, deps: { clock: Clock; log: Logger; counters: Counters }): BootTracking {
  const { leases, events, inventory, settings } = stores;
  const { clock, log, counters } = deps;
  const tracker = new BootTracker({
    inventory,
    events,
    clock,
    log: log.child({ component: 'boot' }),
    counters,
    limits: { bootTimeoutMs: config.inventory.bootTimeoutMs, openTimeoutMs: config.inventory.openTimeoutMs, stallTimeoutMs: config.inventory.stallTimeoutMs },
    scriptEndsBoot: (profile) => ['local', 'chain'].includes(config.boot.profiles[profile]?.kind ?? ''),
  });
  const servedProfiles = new Map<Mac, string>();
  const profileOf = (mac: Mac): string => servedProfiles.get(mac) ?? inventory.get(mac)?.profile ?? settings.defaultProfile;
  const addresses = new AddressBook({ fallback: (ip) => leases.byIp(ip)?.mac, slowFallback: procNetArpLookup });
  const oneShots = new OneShotBoots({
    store: inventory,
    hasBootFiles: (profile) => config.boot.profiles[profile]?.kind === 'linux',
    log: log.child({ component: 'boot' }),
  });
  const observations = new BootObservations({
    observe: (obs) => {
      tracker.observe(obs);
      oneShots.observe(obs);
    },
    addresses,
    clock,
    counters,
    log,
    profileFilesOf: (mac): ProfileFiles | undefined => {
      const profile = config.boot.profiles[profileOf(mac)];
      return profile?.kind === 'linux' ? { kernel: profile.kernel, initrds: profile.initrds } : undefined;
    },
  });
  const nodes = new NodeResolver({
    directory: inventory,
    defaultProfile: () => settings.defaultProfile,
    leases,
    addressOf: (ip) => addresses.lookup(ip),
    onProfileServed: (mac, profile, oneShot) => {
      oneShots.served(mac, profile, oneShot);
      servedProfiles.delete(mac);
      servedProfiles.set(mac, profile);
      if (servedProfiles.size > SERVED_PROFILES_KEPT) servedProfiles.delete(servedProfiles.keys().next().value as Mac);
    },
  });
  return { tracker, addresses, observations, nodes };
}
