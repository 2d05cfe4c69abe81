// Checks that relate sections to each other: the mode against the pools, pools
// against each other, routers and host addresses against the pools, hosts
// against each other, and references to profiles and power channels.

import { ipToInt, type Ipv4, type Mac } from '../net/addr.js';
import type { ConfigDraft } from './draft.js';
import { didYouMean } from './errors.js';
import type { PowerConfig } from './schema.js';
import type { HostDraft } from './sections/hosts.js';
import { checkRouter, type PoolDraft } from './sections/pools.js';
import { fixedAddressExpectation, fixedElsewhereExpectation, type FixedAddressRules } from './fixed-address.js';
import { bounds, subnetsConflict } from './subnets.js';
import type { DocumentReader } from './yaml-reader.js';

/** Reports every problem between the sections of `draft`. */
export function checkAcross(r: DocumentReader, draft: ConfigDraft): void {
  checkMode(r, draft);
  checkPoolOverlaps(r, draft.pools);
  checkOptionsRouter(r, draft);
  checkHosts(r, draft);
  checkProfileReferences(r, draft);
}

/** Each host's power_channel names a channel in power.channels. */
export function checkHostPowerChannels(r: DocumentReader, hosts: HostDraft[], power: PowerConfig): void {
  const names = Object.keys(power.channels);
  for (const host of hosts) {
    if (host.powerChannel === undefined || Object.hasOwn(power.channels, host.powerChannel)) continue;
    r.report(
      `${host.keyPath}.power_channel`,
      undefined,
      JSON.stringify(host.powerChannel),
      names.length > 0 ? `one of the channels in power.channels: ${names.join(', ')}` : 'a channel defined in power.channels (there are none)',
      didYouMean(host.powerChannel, names),
    );
  }
}

function checkMode(r: DocumentReader, draft: ConfigDraft): void {
  const count = draft.pools.length;
  if (draft.mode === 'proxy' && count > 0) {
    r.report('pools', undefined, `${count} pool(s)`, 'no pools: proxy mode does not hand out addresses; remove pools or set mode: dhcp');
  }
  if (draft.mode === 'dhcp' && (draft.poolsWritten === 'absent' || draft.poolsWritten === 'empty')) {
    r.report(
      'pools',
      undefined,
      draft.poolsWritten === 'absent' ? 'missing' : 'no pools',
      'at least one pool like {subnet: 10.0.0.0/24, range: 10.0.0.100-10.0.0.199}, because mode dhcp hands out addresses (or mode: proxy beside an existing DHCP server)',
    );
  }
}

function checkPoolOverlaps(r: DocumentReader, pools: PoolDraft[]): void {
  // One problem per pool, against the first earlier pool it clashes with: enough to act on, without a cascade.
  for (let j = 0; j < pools.length; j++) {
    const later = pools[j];
    const earlier = pools.slice(0, j);
    // Two pools may share one subnet (several ranges on a link), but a subnet nested in another
    // would make "which subnet is this client on" ambiguous.
    const nested = earlier.find((pool) => pool.subnet && later.subnet && subnetsConflict(pool.subnet, later.subnet));
    if (nested) {
      const text = bounds(later.subnet!).text;
      r.report(
        `${later.keyPath}.subnet`,
        undefined,
        JSON.stringify(text),
        `a subnet equal to or apart from ${nested.keyPath}.subnet ${bounds(nested.subnet!).text}`,
      );
      continue;
    }
    const range = later.range;
    if (!range) continue;
    const overlapping = earlier.find(
      (pool) => pool.range && ipToInt(pool.range.start) <= ipToInt(range.end) && ipToInt(range.start) <= ipToInt(pool.range.end),
    );
    if (overlapping) {
      r.report(
        `${later.keyPath}.range`,
        undefined,
        JSON.stringify(`${range.start}-${range.end}`),
        `a range that does not overlap ${overlapping.keyPath}.range ${overlapping.range!.start}-${overlapping.range!.end}`,
      );
    }
  }
}

/** The global router serves every pool that has no router of its own, so it must be on each such pool's link. */
function checkOptionsRouter(r: DocumentReader, draft: ConfigDraft): void {
  const router = draft.options.router;
  if (!router || draft.mode !== 'dhcp') return;
  for (const pool of draft.pools) {
    if (!pool.subnet || pool.router !== undefined) continue;
    const before = r.problems.length;
    checkRouter(r, 'options.router', router, { ...pool, subnet: pool.subnet });
    if (r.problems.length > before) return; // one problem names the first pool it fails for; enough to act on
  }
}

function checkHosts(r: DocumentReader, draft: ConfigDraft): void {
  const byMac = new Map<Mac, string>();
  const byIp = new Map<Ipv4, string>();
  const byName = new Map<string, string>();
  const poolSubnets = draft.pools.map((pool) => pool.subnet);
  const routers = new Map<Ipv4, string>();
  if (draft.options.router) routers.set(draft.options.router, 'options.router');
  for (const pool of draft.pools) if (pool.router) routers.set(pool.router, `${pool.keyPath}.router`);
  const rules: FixedAddressRules = {
    mode: draft.mode === 'proxy' ? 'proxy' : 'dhcp',
    ...(draft.serverAddress !== undefined && { serverAddress: draft.serverAddress }),
    ...(draft.mode === 'dhcp' && poolSubnets.every((s) => s !== undefined) && { subnets: poolSubnets }),
    routers,
  };

  for (const host of draft.hosts) {
    if (host.mac) {
      const first = byMac.get(host.mac);
      if (first) r.report(`${host.keyPath}.mac`, undefined, JSON.stringify(host.mac), `a MAC address no other host has (${first}.mac is the same address)`);
      else byMac.set(host.mac, host.keyPath);
    }
    if (host.hostname) {
      const key = host.hostname.toLowerCase(); // DNS names compare case-insensitively
      const first = byName.get(key);
      if (first)
        r.report(`${host.keyPath}.hostname`, undefined, JSON.stringify(host.hostname), `a host name no other host has (${first}.hostname is the same name)`);
      else byName.set(key, host.keyPath);
    }
    if (!host.ip) continue;
    const ipPath = `${host.keyPath}.ip`;
    const found = JSON.stringify(host.ip);
    const first = byIp.get(host.ip);
    if (first) {
      r.report(ipPath, undefined, found, fixedElsewhereExpectation(`${first}.ip is the same address`));
      continue;
    }
    byIp.set(host.ip, host.keyPath);
    const expected = fixedAddressExpectation(host.ip, rules);
    if (expected) r.report(ipPath, undefined, found, expected);
  }
}

function checkProfileReferences(r: DocumentReader, draft: ConfigDraft): void {
  const names = draft.boot.profileNames;
  const defined = names.length > 0 ? `one of the profiles in boot.profiles: ${names.join(', ')}` : 'a profile defined in boot.profiles (there are none)';
  const check = (keyPath: string, name: string, found = JSON.stringify(name)) => {
    if (!names.includes(name)) r.report(keyPath, undefined, found, defined, didYouMean(name, names));
  };
  if (draft.boot.defaultProfile !== undefined) {
    const written = draft.boot.defaultProfileWritten;
    check(
      'boot.default_profile',
      draft.boot.defaultProfile,
      written ? undefined : `${JSON.stringify(draft.boot.defaultProfile)} (the default when boot.default_profile is not set)`,
    );
  }
  for (const host of draft.hosts) if (host.profile) check(`${host.keyPath}.profile`, host.profile);
  // GRUB boots linux and local profiles; a host that asks for GRUB must not name an iPXE-only one.
  for (const host of draft.hosts) {
    const kind = host.profile !== undefined && host.loader === 'grub' ? draft.boot.profiles[host.profile]?.kind : undefined;
    if (kind === 'chain' || kind === 'menu') {
      r.report(`${host.keyPath}.loader`, undefined, 'grub', `ipxe or no loader key (profile ${host.profile} is a ${kind} profile, which only iPXE boots)`);
    }
  }
  for (const ref of draft.boot.menuRefs) {
    if (ref.profile === ref.menu) r.report(ref.keyPath, undefined, JSON.stringify(ref.profile), `a profile other than the menu itself (${ref.menu})`);
    else check(ref.keyPath, ref.profile);
  }
}
