// The boot tracker: one boot stage machine (stages.ts) per MAC, fed by what the
// servers observe and by a once-a-second tick for the timing rules. Every stage
// change and diagnosis goes to the event log (type 'stage' / 'diagnosis', with
// the node's inventory name) and to listeners; stats() summarises completed
// boots for the API and the metrics.
//
// Which MACs are tracked: inventory nodes always; a MAC the inventory does not
// know only from its boot firmware's DISCOVER (or a power_on), and that DISCOVER
// also asks the inventory to discover it. Anything else (ARP from every host on
// the segment, a plain OS's DHCP) is dropped for unknown MACs. Unknown MACs are
// capped (oldest evicted), and only MACs the inventory holds get events (a
// discovered MAC's first changes are held until the inventory has recorded it),
// so a DHCP starvation attack with forged MACs can neither grow memory
// without limit nor wash the real history out of the event log.

import type { Mac } from '../net/addr.js';
import type { BootStats } from '../model/api.js';
import type { BootObservation, BootStage, Diagnosis, NodeBootState } from '../model/boot.js';
import type { NodeRecord } from '../model/node.js';
import type { EventInput } from '../inventory/events.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import {
  advance,
  checkStall,
  DEFAULT_BOOT_LIMITS,
  initialBootState,
  isBootInProgress,
  publicBootState,
  type BootLimits,
  type BootMachineState,
  type StageChange,
  type Transition,
} from './stages.js';

/** What the tracker needs of the inventory (NodeInventory fits). */
export interface TrackerInventory {
  get(mac: string): NodeRecord | undefined;
  list(): NodeRecord[];
  discover(mac: string): Promise<NodeRecord | undefined>;
}

/** Where events go (EventLog fits). */
export interface TrackerEventSink {
  append(event: EventInput): unknown;
}

export type BootChangeListener = (mac: Mac, change: StageChange, state: NodeBootState) => void;

export interface BootTrackerOptions {
  inventory: TrackerInventory;
  events: TrackerEventSink;
  clock: Clock;
  log: Logger;
  counters?: Counters;
  limits?: Partial<BootLimits>;
  /** Most MACs tracked that are not in the inventory (default 1024); the least recently seen go first. */
  maxUnlisted?: number;
  /** True when a script for this profile ends what rackboot can see of the boot (local disk, chain to elsewhere). */
  scriptEndsBoot?: (profile: string) => boolean;
}

export const DEFAULT_MAX_UNLISTED = 1024;
/** Boot durations kept for the percentiles. */
const DURATION_SAMPLES = 10_000;
/** Changes held per MAC while the inventory records it (a boot's first few). */
const MAX_HELD_CHANGES = 50;

export class BootTracker {
  private readonly states = new Map<Mac, BootMachineState>();
  /** MACs tracked that the inventory did not hold when last seen, least recently seen first. */
  private readonly unlisted = new Map<Mac, true>();
  /** MACs the inventory is recording right now, with their changes held until it has (or has refused). */
  private readonly discovering = new Map<Mac, { change: StageChange; stage: BootStage; view: NodeBootState }[]>();
  private readonly listeners = new Set<BootChangeListener>();
  private readonly limits: BootLimits;
  private readonly maxUnlisted: number;
  private bootsStarted = 0;
  private bootsCompleted = 0;
  private readonly durations: number[] = [];
  private durationNext = 0;
  private readonly acksByFirmware = new Map<string, { boots: number; acks: number }>();

  constructor(private readonly opts: BootTrackerOptions) {
    this.limits = { ...DEFAULT_BOOT_LIMITS, ...opts.limits };
    this.maxUnlisted = Math.max(1, opts.maxUnlisted ?? DEFAULT_MAX_UNLISTED);
  }

  /** Folds in one observation from a server. Never throws for a bad observation: it is counted and logged. */
  observe(obs: BootObservation): void {
    const mac = obs.mac;
    const listed = this.opts.inventory.get(mac) !== undefined;
    let state = this.states.get(mac);
    const firmwareDiscover = obs.kind === 'dhcp_discover' && obs.firmware !== 'plain';
    if (!state) {
      if (!listed && !firmwareDiscover && obs.kind !== 'power_on') {
        this.opts.counters?.inc('boot.observations_untracked');
        return;
      }
      state = initialBootState(mac, obs.at);
    }
    if (listed) this.unlisted.delete(mac);
    else this.touchUnlisted(mac);
    if (!listed && firmwareDiscover) this.discover(mac);

    const hints = obs.kind === 'http_script' && this.opts.scriptEndsBoot ? { scriptEndsBoot: this.opts.scriptEndsBoot(obs.profile) } : {};
    this.apply(mac, state, advance(state, obs, this.limits, hints));
  }

  /** Applies the timing rules to every boot in progress; the app calls it every second. */
  tick(now: number = this.opts.clock.now()): void {
    for (const [mac, state] of this.states) {
      if (!isBootInProgress(state)) continue;
      const transition = checkStall(state, now, this.limits);
      if (transition.state !== state) this.apply(mac, state, transition);
    }
  }

  /** A node's boot state: tracked, or idle for an inventory node never seen booting; undefined for an unknown MAC. */
  state(mac: Mac): NodeBootState | undefined {
    const state = this.states.get(mac);
    if (state) return publicBootState(state);
    return this.opts.inventory.get(mac) ? publicBootState(initialBootState(mac, 0)) : undefined;
  }

  /** Every tracked MAC's state. */
  all(): NodeBootState[] {
    return [...this.states.values()].map(publicBootState);
  }

  /** Inventory nodes per stage (never seen: off). */
  nodesByStage(): Partial<Record<BootStage, number>> {
    const out: Partial<Record<BootStage, number>> = {};
    for (const node of this.opts.inventory.list()) {
      const stage = this.states.get(node.mac)?.stage ?? 'off';
      out[stage] = (out[stage] ?? 0) + 1;
    }
    return out;
  }

  /** Inventory nodes per current diagnosis. */
  nodesByDiagnosis(): Partial<Record<Diagnosis, number>> {
    const out: Partial<Record<Diagnosis, number>> = {};
    for (const node of this.opts.inventory.list()) {
      const diagnosis = this.states.get(node.mac)?.diagnosis;
      if (diagnosis !== undefined) out[diagnosis] = (out[diagnosis] ?? 0) + 1;
    }
    return out;
  }

  stats(): BootStats {
    const sorted = [...this.durations].sort((a, b) => a - b);
    const bootSeconds: BootStats['bootSeconds'] = { count: sorted.length };
    if (sorted.length > 0) {
      bootSeconds.min = sorted[0] / 1000;
      bootSeconds.median = nearestRank(sorted, 0.5) / 1000;
      bootSeconds.p95 = nearestRank(sorted, 0.95) / 1000;
      bootSeconds.max = sorted.at(-1)! / 1000;
    }
    return {
      nodesByStage: this.nodesByStage(),
      nodesByDiagnosis: this.nodesByDiagnosis(),
      bootsStarted: this.bootsStarted,
      bootsCompleted: this.bootsCompleted,
      bootSeconds,
      dhcpAcksPerBoot: Object.fromEntries([...this.acksByFirmware].map(([firmware, v]) => [firmware, { ...v }])),
    };
  }

  subscribe(listener: BootChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Drops a MAC's state (its inventory record was deleted). */
  forget(mac: Mac): void {
    this.states.delete(mac);
    this.unlisted.delete(mac);
  }

  /** How many MACs are tracked, and how many of them are not in the inventory. */
  get size(): { tracked: number; unlisted: number } {
    return { tracked: this.states.size, unlisted: this.unlisted.size };
  }

  // ---- internals ---------------------------------------------------------------

  private apply(mac: Mac, before: BootMachineState, transition: Transition): void {
    const after = transition.state;
    this.states.set(mac, after);
    this.bootsStarted += after.boots - before.boots;
    this.bootsCompleted += after.booted - before.booted;
    if (transition.changes.length === 0) return;
    for (const change of transition.changes) if (change.kind === 'diagnosis' && change.diagnosis === 'booted') this.recordBooted(change);
    const node = this.opts.inventory.get(mac);
    const held = node ? undefined : this.discovering.get(mac);
    if (!node && !held) {
      this.opts.counters?.inc('boot.changes_unreported', transition.changes.length);
      return;
    }
    const view = publicBootState(after);
    for (const change of transition.changes) {
      if (node) this.report(mac, node.name, after.stage, change, view);
      else if (held!.length < MAX_HELD_CHANGES) held!.push({ change, stage: after.stage, view });
    }
  }

  private report(mac: Mac, name: string, stage: BootStage, change: StageChange, view: NodeBootState): void {
    this.opts.events.append(eventOf(mac, name, stage, change, view.arch));
    for (const listener of this.listeners) {
      try {
        listener(mac, change, view);
      } catch (error) {
        this.opts.log.error('boot tracker listener failed', { mac, error: error as Error });
      }
    }
  }

  private recordBooted(change: Extract<StageChange, { kind: 'diagnosis' }>): void {
    if (change.durationMs !== undefined) {
      if (this.durations.length < DURATION_SAMPLES) this.durations.push(change.durationMs);
      else this.durations[this.durationNext] = change.durationMs;
      this.durationNext = (this.durationNext + 1) % DURATION_SAMPLES;
    }
    if (change.firmware !== undefined && change.dhcpAcks !== undefined) {
      const entry = this.acksByFirmware.get(change.firmware) ?? { boots: 0, acks: 0 };
      entry.boots++;
      entry.acks += change.dhcpAcks;
      this.acksByFirmware.set(change.firmware, entry);
    }
  }

  private touchUnlisted(mac: Mac): void {
    this.unlisted.delete(mac);
    this.unlisted.set(mac, true);
    while (this.unlisted.size > this.maxUnlisted) {
      const oldest = this.unlisted.keys().next().value as Mac;
      this.unlisted.delete(oldest);
      // It may have been recorded since it was last seen: then it is a node, and stays.
      if (this.opts.inventory.get(oldest) === undefined) {
        this.states.delete(oldest);
        this.opts.counters?.inc('boot.unlisted_evicted');
      }
    }
  }

  /** Asks the inventory to record `mac`; its changes meanwhile are held, then reported under its name, or dropped if refused. */
  private discover(mac: Mac): void {
    if (this.discovering.has(mac)) return;
    this.discovering.set(mac, []);
    const settle = (node: NodeRecord | undefined) => {
      const held = this.discovering.get(mac) ?? [];
      this.discovering.delete(mac);
      if (!node) {
        this.opts.counters?.inc('boot.changes_unreported', held.length);
        return;
      }
      this.unlisted.delete(mac);
      for (const h of held) this.report(mac, node.name, h.stage, h.change, h.view);
    };
    this.opts.inventory.discover(mac).then(settle, (error: unknown) => {
      this.opts.log.warn('boot tracker: could not record a discovered node', { mac, error: error as Error });
      settle(undefined);
    });
  }
}

/** The event a change becomes; `arch` is the node's (NodeBootState.arch) after the change. */
export function eventOf(mac: Mac, name: string, stage: BootStage, change: StageChange, arch?: string): EventInput {
  switch (change.kind) {
    case 'stage':
      return {
        at: change.at,
        type: 'stage',
        mac,
        node: name,
        stage: change.to,
        message: change.newBoot ? `${name}: new boot, ${change.to}` : `${name}: ${change.to}`,
        // arch: the node's architecture once its firmware has said it, so a live view sees a new one.
        detail: { from: change.from, newBoot: change.newBoot, ...(arch !== undefined && { arch }) },
      };
    case 'diagnosis': {
      const detail: Record<string, unknown> = { detail: change.detail, evidence: change.evidence };
      if (change.source !== undefined) detail.source = change.source;
      if (change.durationMs !== undefined) detail.durationMs = change.durationMs;
      if (change.firmware !== undefined) detail.firmware = change.firmware;
      if (change.dhcpAcks !== undefined) detail.dhcpAcks = change.dhcpAcks;
      return {
        at: change.at,
        type: 'diagnosis',
        mac,
        node: name,
        stage,
        diagnosis: change.diagnosis,
        message: `${name}: ${change.diagnosis}: ${change.detail}`,
        detail,
      };
    }
    case 'diagnosis_cleared':
      return {
        at: change.at,
        type: 'diagnosis',
        mac,
        node: name,
        stage,
        message: `${name}: ${change.diagnosis} cleared: ${change.reason}`,
        detail: { cleared: change.diagnosis, reason: change.reason },
      };
  }
}

function nearestRank(sorted: readonly number[], quantile: number): number {
  const rank = Math.max(1, Math.ceil(quantile * sorted.length));
  return sorted[rank - 1];
}
