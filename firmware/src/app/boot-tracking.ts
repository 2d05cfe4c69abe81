// What the servers saw, turned into each node's boot stage: the tracker, the
// one-shot next-boot profiles, which MAC is behind an address, and which profile
// a node was last served (so its kernel and initrd downloads can be named), and
// each node's per-boot token (only its holder can confirm the boot or consume a
// one-shot profile). Nothing here opens anything; the servers feed
// `observations` and ask `nodes`, the API calls `confirmBoot`.

import type { RackbootConfig } from '../config/schema.js';
import { AddressBook } from '../boot-tracking/address-book.js';
import { BootTokens } from '../boot-policy/boot-token.js';
import { NodeResolver, procNetArpLookup, type MacMismatch } from '../boot-policy/nodes.js';
import { BootObservations, type ProfileFiles } from '../boot-tracking/observe.js';
import { OneShotBoots } from '../boot-tracking/one-shot.js';
import { BootTracker } from '../boot-tracking/tracker.js';
import type { EventInput } from '../inventory/events.js';
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
  /** The booted callback: confirms the node's current boot if `token` is its boot token; false changes nothing. */
  confirmBoot(mac: Mac, token: string | undefined): boolean;
  /** A node was deleted: its boot state and boot token go. */
  forget(mac: Mac): void;
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
  const tokens = new BootTokens();
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
    tokenMatches: (mac, token) => tokens.matches(mac, token),
  });
  const nodes = new NodeResolver({
    directory: inventory,
    defaultProfile: () => settings.defaultProfile,
    holdUnknown: () => settings.unknownNodes === 'hold',
    leases,
    addressOf: (ip) => addresses.lookup(ip),
    tokens,
    counters,
    clock,
    onMacMismatch: (mismatch) => void events.append(mismatchEvent(mismatch, inventory.get(mismatch.actual)?.name)),
    onProfileServed: (mac, profile, oneShot, token) => {
      oneShots.served(mac, profile, oneShot, token);
      servedProfiles.delete(mac);
      servedProfiles.set(mac, profile);
      if (servedProfiles.size > SERVED_PROFILES_KEPT) servedProfiles.delete(servedProfiles.keys().next().value as Mac);
    },
  });
  const confirmBoot = (mac: Mac, token: string | undefined): boolean => {
    if (!tokens.matches(mac, token)) return false;
    const obs = { kind: 'os_booted', mac, at: clock.now(), source: 'callback' } as const;
    tracker.observe(obs);
    oneShots.observe(obs);
    return true;
  };
  const forget = (mac: Mac): void => {
    tracker.forget(mac);
    tokens.forget(mac);
  };
  return { tracker, addresses, observations, nodes, confirmBoot, forget };
}

/** On the requester's node (never the MAC it claimed, which the request cannot prove). */
function mismatchEvent(m: MacMismatch, name: string | undefined): EventInput {
  const times = m.count > 1 ? ` (${m.count} times since the last report)` : '';
  return {
    type: 'system',
    mac: m.actual,
    ...(name !== undefined && { node: name }),
    message: `boot script request from ${m.remote} named MAC ${m.claimed}, but that address is ${m.actual}: served ${name ?? m.actual}'s own script without a boot token${times}`,
    detail: { reason: 'mac_mismatch', remote: m.remote, claimed: m.claimed, actual: m.actual, count: m.count },
  };
}
