// Who is asking for a boot script, and which profile does it boot? Anything on
// the boot network can send any `?mac=`, so the requester is named by its
// address: the bound lease first (rackboot's own DHCP state, which a frame
// whose Ethernet source is not its chaddr cannot change), then the address book
// (rackboot's DHCP answers and the ARP it saw, which anyone can forge), then
// the kernel's neighbour table (a TCP peer on the link is always in it; proxy
// mode leases nothing). The `?mac=` iPXE sends
// (`${netX/mac}`) is only compared with that:
//
// - it matches, or there is none: the node's script, with a fresh per-boot
//   token (boot-token.ts), its one-shot next-boot profile if one is set, and
//   the script counts as served to that node;
// - it names another MAC: the requester gets its OWN node's script, without a
//   token and without its one-shot profile, and the mismatch is counted
//   (boot.mac_mismatch) and reported, at most once per source address and 8
//   times overall per 10 minutes;
// - the address names no MAC (a client beyond a router): the script of the
//   `?mac=` node, without a token; nothing is attributed to that node.
//
// Every MAC that asks by address becomes an inventory node (discovered), and
// under `inventory.unknown_nodes: hold` a node that is not approved gets no
// script (the HTTP server answers 403). Names come from the inventory, else the
// lease's host name (DHCP option 12) when it is an RFC 1123 label, else
// `node-<mac without colons>`: nothing a client chose reaches a script unless
// it is a plain label.

import { readFile } from 'node:fs/promises';
import { isMac, normalizeMac, type Ipv4, type Mac } from '../net/addr.js';
import { defaultNodeName, type NodeRecord } from '../model/node.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { BootTokens } from './boot-token.js';

export interface BootNode {
  name: string;
  mac: Mac;
  ip: Ipv4;
  profile: string;
  /** The node's per-boot token; only on a script for the node that asked (attributed by address, no mismatch). */
  token?: string;
  /** False when the address named no MAC and the node is only the `?mac=` claim. */
  attributed: boolean;
}

/** A node the inventory holds (not approved): it gets no script. mac is undefined when nobody could be named. */
export interface HeldNode {
  held: true;
  mac?: Mac;
}

/** The inventory, as far as boot scripts need it. */
export interface NodeDirectory {
  get(mac: Mac): NodeRecord | undefined;
  /** The node's one-shot profile for its next boot, if one is set. */
  nextBoot(mac: Mac): string | undefined;
  /** Whether a boot script may be handed to this MAC (approved, or unknown under the `boot` policy). */
  isBootAllowed(mac: Mac): boolean;
  /** Records an unknown MAC that asked to boot (held under the `hold` policy). */
  discover?(mac: Mac): Promise<unknown>;
}

/** The lease table, as far as resolving a node needs it. */
export interface LeaseLookup {
  byIp(ip: Ipv4): { mac: Mac; state: string } | undefined;
  byClient(mac: Mac): { hostname?: string } | undefined;
}

/** A script request whose `?mac=` named another MAC than its address (reported within the bounds above). */
export interface MacMismatch {
  remote: Ipv4;
  /** The MAC the request claimed (never attributed anything). */
  claimed: Mac;
  /** The MAC behind the requester's address, whose script it got. */
  actual: Mac;
  /** Mismatches counted since the last report. */
  count: number;
}

export interface NodeResolverOptions {
  directory: NodeDirectory;
  /** The default profile now (it can change at run time). */
  defaultProfile(): string;
  /** True under `inventory.unknown_nodes: hold`: a request nobody can name gets no script. */
  holdUnknown?(): boolean;
  leases?: LeaseLookup;
  /** ip -> MAC from what rackboot saw on the link (boot-tracking/address-book.ts). */
  addressOf?(ip: Ipv4): Mac | undefined;
  /** Reads ip -> MAC from the kernel; /proc/net/arp by default. */
  neighbourLookup?(ip: Ipv4): Promise<Mac | undefined>;
  /** Per-boot tokens; without them scripts carry none. */
  tokens?: BootTokens;
  counters?: Counters;
  clock?: Clock;
  onMacMismatch?(mismatch: MacMismatch): void;
  /**
   * Told which profile a node's script was built from (the boot tracker names kernel
   * and initrd downloads by it), whether that was its one-shot next-boot profile,
   * and the token the script carries.
   */
  onProfileServed?(mac: Mac, profile: string, oneShot: boolean, token: string | undefined): void;
}

export interface ScriptQuery {
  /** `?mac=`, as sent. */
  mac?: string;
  /** The requester's address. */
  ip: Ipv4;
  /** `?profile=`, a menu choice. */
  profile?: string;
  /** `?token=`: the retry loop or a menu choice of the same boot presents it. */
  token?: string;
}

/** Mismatch reports: one per source address and this many overall per window. */
const MISMATCH_WINDOW_MS = 10 * 60_000;
const MISMATCH_REPORTS_PER_WINDOW = 8;
const MISMATCH_SOURCES_KEPT = 1024;

export class NodeResolver {
  private readonly mismatches = new MismatchLimiter();

  constructor(private readonly opts: NodeResolverOptions) {}

  /** The MAC of the bound lease on `ip`: an offer or a lease that ended names no current holder. */
  private boundLeaseHolder(ip: Ipv4): Mac | undefined {
    const lease = this.opts.leases?.byIp(ip);
    return lease?.state === 'bound' ? lease.mac : undefined;
  }

  async resolve(query: ScriptQuery): Promise<BootNode | HeldNode | undefined> {
    const claimed = query.mac && isMac(query.mac) ? normalizeMac(query.mac) : undefined;
    const seen = this.boundLeaseHolder(query.ip) ?? this.opts.addressOf?.(query.ip) ?? (await (this.opts.neighbourLookup ?? procNetArpLookup)(query.ip));
    if (!seen) return this.unattributed(claimed, query);

    const { directory } = this.opts;
    if (!directory.get(seen)) void directory.discover?.(seen).catch(() => undefined);
    if (!directory.isBootAllowed(seen)) return { held: true, mac: seen };
    const mismatch = claimed !== undefined && claimed !== seen;
    if (mismatch) this.reportMismatch(query.ip, claimed, seen);
    const record = directory.get(seen);
    // A menu choice (?profile=) is this boot's choice: the one-shot profile stays for the next boot.
    const nextBoot = query.profile === undefined && !mismatch ? directory.nextBoot(seen) : undefined;
    const profile = query.profile ?? nextBoot ?? record?.profile ?? this.opts.defaultProfile();
    const token = mismatch ? undefined : this.opts.tokens?.forScript(seen, query.token);
    this.opts.onProfileServed?.(seen, profile, nextBoot !== undefined, token);
    return { name: this.nameOf(seen, record), mac: seen, ip: query.ip, profile, attributed: true, ...(token !== undefined && { token }) };
  }

  /** The address names nobody: the `?mac=` node's script, with nothing attributed to it and no token. */
  private unattributed(claimed: Mac | undefined, query: ScriptQuery): BootNode | HeldNode | undefined {
    if (claimed === undefined) return this.opts.holdUnknown?.() ? { held: true } : undefined;
    if (!this.opts.directory.isBootAllowed(claimed)) return { held: true };
    const record = this.opts.directory.get(claimed);
    const profile = query.profile ?? record?.profile ?? this.opts.defaultProfile();
    return { name: this.nameOf(claimed, record), mac: claimed, ip: query.ip, profile, attributed: false };
  }

  private nameOf(mac: Mac, record: NodeRecord | undefined): string {
    if (record) return record.name;
    const hostname = this.opts.leases?.byClient(mac)?.hostname;
    return hostname !== undefined && isHostLabel(hostname) ? hostname : defaultNodeName(mac);
  }

  private reportMismatch(remote: Ipv4, claimed: Mac, actual: Mac): void {
    this.opts.counters?.inc('boot.mac_mismatch');
    const count = this.mismatches.admit(remote, this.opts.clock?.now() ?? Date.now());
    if (count > 0) this.opts.onMacMismatch?.({ remote, claimed, actual, count });
  }
}

/** RFC 1123 section 2.1 host name label: letters, digits and inner hyphens, 1 to 63 characters. */
export function isHostLabel(text: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(text);
}

/** At most one report per source per window and MISMATCH_REPORTS_PER_WINDOW overall; counts what it held back. */
class MismatchLimiter {
  /** source -> when it was last reported and how many since. Insertion-ordered: oldest report first. */
  private readonly sources = new Map<Ipv4, { at: number; since: number }>();
  private windowStart = -Infinity;
  private reportsInWindow = 0;

  /** How many mismatches this report stands for (0: not reported now). */
  admit(source: Ipv4, now: number): number {
    if (now - this.windowStart >= MISMATCH_WINDOW_MS) {
      this.windowStart = now;
      this.reportsInWindow = 0;
    }
    const entry = this.sources.get(source);
    if (entry && now - entry.at < MISMATCH_WINDOW_MS) {
      entry.since++;
      return 0;
    }
    if (this.reportsInWindow >= MISMATCH_REPORTS_PER_WINDOW) {
      if (entry) entry.since++;
      return 0;
    }
    this.reportsInWindow++;
    const count = (entry?.since ?? 0) + 1;
    this.sources.delete(source);
    this.sources.set(source, { at: now, since: 0 });
    if (this.sources.size > MISMATCH_SOURCES_KEPT) this.sources.delete(this.sources.keys().next().value as Ipv4);
    return count;
  }
}

/** /proc/net/arp: "IP address  HW type  Flags  HW address  Mask  Device". */
export async function procNetArpLookup(ip: Ipv4): Promise<Mac | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/net/arp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const [address, , flags, hw] = line.trim().split(/\s+/);
    // Flags 0x0 is an incomplete entry (no answer yet).
    if (address === ip && hw && flags !== '0x0' && isMac(hw) && hw !== '00:00:00:00:00:00') return normalizeMac(hw);
  }
  return undefined;
}
