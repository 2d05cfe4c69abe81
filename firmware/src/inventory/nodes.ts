// The node inventory: one record per MAC, kept in the crash-safe journal (store
// `nodes` in the state dir). Every mutation resolves only after the journal's
// fdatasync (acknowledged = durable), then tells the change listeners, which the
// app turns into node.* events.
//
// Where records come from, and who wins (reconciliation):
//  - config: the configuration's `hosts` are seeded on open (and on reseed()).
//    A config-origin record follows the configuration: a changed hostname, ip or
//    profile in the file changes the record; a host removed from the file
//    removes its record.
//  - api: created through the API, or a config/discovered record that someone
//    edited through the API (name, ip, profile, power channel, tags, notes).
//    From then on the record is the operator's: the configuration no longer
//    changes or removes it. To hand it back to the file, delete it through the
//    API; the next seeding recreates it from the config.
//  - discovered: an unknown MAC whose boot firmware asked to boot. Approved at
//    once under the `boot` policy, held (no boot file) under `hold` until
//    approve(). If the configuration later names the MAC, the record becomes a
//    config one.
// A config host whose name is already taken by a record the config does not
// control gets node-<mac> instead (logged): seeding must never fail a start.
//
// Bounded: discovered records are capped (maxDiscovered, default 1024) so a
// flood of forged PXE DISCOVERs cannot grow the store without limit; beyond the
// cap, discover() refuses (logged, counted) until the operator cleans up.

import { Journal, type LoadReport } from '../store/journal.js';
import { isIpv4, isMac, normalizeMac, type Ipv4, type Mac } from '../net/addr.js';
import { fixedAddressExpectation, fixedElsewhereExpectation, leasedElsewhereExpectation, type FixedAddressRules } from '../config/fixed-address.js';
import type { HostConfig } from '../config/schema.js';
import { isHostnameLabel } from '../config/value-specs.js';
import { defaultNodeName, type NodeRecord } from '../model/node.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { EventInput } from './events.js';

export type InventoryErrorCode = 'bad_request' | 'conflict' | 'not_found';

/** A refused request, naming the field; the API maps code to 400/409/404. */
export class InventoryError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly code: InventoryErrorCode,
  ) {
    super(message);
    this.name = 'InventoryError';
  }
}

export type UnknownNodePolicy = 'boot' | 'hold';

export interface NodeInput {
  mac: string;
  name?: string;
  ip?: string;
  profile?: string;
  powerChannel?: string;
  tags?: string[];
  notes?: string;
}

/** An edit. null (or '') clears ip, profile, powerChannel and nextBootProfile. */
export interface NodePatch {
  name?: string;
  ip?: string | null;
  profile?: string | null;
  powerChannel?: string | null;
  tags?: string[];
  notes?: string;
  nextBootProfile?: string | null;
}

export type InventoryChangeType = 'node.created' | 'node.updated' | 'node.deleted' | 'node.discovered';

export interface InventoryChange {
  type: InventoryChangeType;
  /** The record after the change (before it, for node.deleted). */
  node: NodeRecord;
  previous?: NodeRecord;
  /** The fields that changed (node.updated). */
  fields: string[];
  by: string;
}

export type InventoryListener = (change: InventoryChange) => void;

export interface InventoryOptions {
  clock: Clock;
  /** The configuration's hosts, seeded on open. Absent: no reconciliation at all (config records stay as stored). */
  seed?: readonly HostConfig[];
  unknownNodes: UnknownNodePolicy;
  log: Logger;
  /** Profile names a node may use (the configuration's profiles). Unchecked when absent. */
  knownProfiles?: () => Iterable<string>;
  /** Power channel names a node may use. Unchecked when absent. */
  knownPowerChannels?: () => Iterable<string>;
  /** Told about every change, seeding at open included. */
  onChange?: InventoryListener;
  maxDiscovered?: number;
  compactAfterBytes?: number;
  /** What an API-set ip may be; see setAddressRules(). */
  addressRules?: NodeAddressRules;
}

/** The configuration's rules for fixed addresses, and who holds a lease on an address now. */
export interface NodeAddressRules extends FixedAddressRules {
  /** The MAC an unexpired bound lease of `ip` belongs to, if any. */
  boundTo?(ip: Ipv4): Mac | undefined;
}

export const MAX_TAGS = 32;
export const MAX_TAG_LENGTH = 64;
export const MAX_NOTES_LENGTH = 4000;
export const DEFAULT_MAX_DISCOVERED = 1024;
const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/=+-]*$/;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/; // profile and power channel names, as the config spells them
const CREATE_FIELDS = new Set(['mac', 'name', 'ip', 'profile', 'powerChannel', 'tags', 'notes']);
const PATCH_FIELDS = new Set(['name', 'ip', 'profile', 'powerChannel', 'tags', 'notes', 'nextBootProfile']);
/** Fields whose API edit makes the record the operator's (nextBootProfile is an action, not an edit). */
const OWNED_FIELDS = new Set(['name', 'ip', 'profile', 'powerChannel', 'tags', 'notes']);
/** Refused discoveries are logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export class NodeInventory {
  /** Lower-case name -> MAC: names are DNS names, which compare case-insensitively. */
  private readonly byName = new Map<string, Mac>();
  private readonly listeners = new Set<InventoryListener>();
  private readonly discovering = new Map<Mac, Promise<NodeRecord | undefined>>();
  private policy: UnknownNodePolicy;
  private discoveredCount = 0;
  private refusedDiscoveries = 0;
  private lastRefusalLog = -Infinity;
  private addressRules: NodeAddressRules | undefined;

  private constructor(
    private readonly journal: Journal<NodeRecord>,
    private readonly opts: InventoryOptions,
  ) {
    this.policy = opts.unknownNodes;
    this.addressRules = opts.addressRules;
    if (opts.onChange) this.listeners.add(opts.onChange);
    this.reindex();
  }

  static async open(stateDir: string, opts: InventoryOptions): Promise<NodeInventory> {
    const journal = await Journal.open<NodeRecord>(stateDir, 'nodes', {
      validate: isStoredNode,
      logger: opts.log,
      ...(opts.compactAfterBytes !== undefined && { compactAfterBytes: opts.compactAfterBytes }),
    });
    const inventory = new NodeInventory(journal, opts);
    try {
      if (opts.seed) await inventory.reseed(opts.seed);
    } catch (error) {
      // The caller gets no inventory to close: close its journal here.
      await journal.close().catch(() => {});
      throw error;
    }
    return inventory;
  }

  /** A point-in-time copy of the stored nodes, without opening the store for writing (CLI listings while the server runs). */
  static async read(stateDir: string): Promise<NodeRecord[]> {
    const { entries } = await Journal.read<NodeRecord>(stateDir, 'nodes', { validate: isStoredNode });
    return [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get loadReport(): LoadReport {
    return this.journal.loadReport;
  }

  get unknownNodes(): UnknownNodePolicy {
    return this.policy;
  }

  /** Changes the policy for MACs discovered from now on (records already held stay held). */
  setUnknownNodes(policy: UnknownNodePolicy): void {
    if (policy !== 'boot' && policy !== 'hold')
      throw new InventoryError('unknownNodes', `unknownNodes: expected "boot" or "hold", found ${show(policy)}`, 'bad_request');
    this.policy = policy;
  }

  /**
   * From now on an ip set through create() or update() must pass the same rules
   * as a host's ip in the configuration file (config/fixed-address.ts) and be
   * leased to no other MAC. Seeding from the configuration is checked by the
   * configuration loader instead.
   */
  setAddressRules(rules: NodeAddressRules): void {
    this.addressRules = rules;
  }

  /** Discoveries refused because the cap on discovered nodes was reached. */
  get refusedDiscoveryCount(): number {
    return this.refusedDiscoveries;
  }

  get size(): number {
    return this.journal.size;
  }

  subscribe(listener: InventoryListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ---- reading -------------------------------------------------------------

  /** Every node, by name. */
  list(): NodeRecord[] {
    return [...this.journal.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A node by MAC (any common spelling) or by name (case-insensitive). */
  get(macOrName: string): NodeRecord | undefined {
    if (typeof macOrName !== 'string') return undefined;
    if (isMac(macOrName)) return this.journal.get(normalizeMac(macOrName));
    const mac = this.byName.get(macOrName.toLowerCase());
    return mac === undefined ? undefined : this.journal.get(mac);
  }

  /** Like get(), or a not_found InventoryError. */
  require(macOrName: string): NodeRecord {
    const node = this.get(macOrName);
    if (!node) throw new InventoryError('id', `no node with MAC or name ${show(macOrName)}`, 'not_found');
    return node;
  }

  /** Whether a boot file may be handed to this MAC: approved nodes, and unknown ones under the `boot` policy. */
  isBootAllowed(mac: string): boolean {
    const node = this.get(mac);
    return node ? node.approved : this.policy === 'boot';
  }

  // ---- API mutations ---------------------------------------------------------

  async create(input: NodeInput, by: string): Promise<NodeRecord> {
    const fields = asObject(input, 'node');
    rejectUnknownFields(fields, CREATE_FIELDS, 'a node has');
    const mac = readMac(fields.mac);
    const existing = this.journal.get(mac);
    if (existing) throw new InventoryError('mac', `mac: a node with MAC ${mac} already exists (${existing.name})`, 'conflict');
    const now = this.opts.clock.now();
    const name = fields.name === undefined ? this.uniqueName(defaultNodeName(mac)) : this.readName(fields.name, mac);
    const record: NodeRecord = {
      mac,
      name,
      tags: fields.tags === undefined ? [] : readTags(fields.tags),
      notes: fields.notes === undefined ? '' : readNotes(fields.notes),
      origin: 'api',
      approved: true,
      createdAt: now,
      updatedAt: now,
    };
    const ip = this.readIp(fields.ip, mac);
    if (ip !== undefined) record.ip = ip;
    const profile = this.readProfile(fields.profile, 'profile');
    if (profile !== undefined) record.profile = profile;
    const powerChannel = this.readPowerChannel(fields.powerChannel);
    if (powerChannel !== undefined) record.powerChannel = powerChannel;
    await this.put(record);
    this.emit({ type: 'node.created', node: record, fields: [], by });
    return record;
  }

  async update(id: string, patch: NodePatch, by: string): Promise<NodeRecord> {
    const node = this.require(id);
    const fields = asObject(patch, 'patch');
    if ('mac' in fields && fields.mac !== undefined && (typeof fields.mac !== 'string' || !isMac(fields.mac) || normalizeMac(fields.mac) !== node.mac)) {
      throw new InventoryError('mac', 'mac: cannot be changed; delete the node and create it with the new MAC', 'bad_request');
    }
    rejectUnknownFields(fields, new Set([...PATCH_FIELDS, 'mac']), 'a node has');
    const next: NodeRecord = { ...node };
    if (fields.name !== undefined) next.name = this.readName(fields.name, node.mac);
    if (fields.ip !== undefined) setOptional(next, 'ip', this.readIp(fields.ip, node.mac));
    if (fields.profile !== undefined) setOptional(next, 'profile', this.readProfile(fields.profile, 'profile'));
    if (fields.powerChannel !== undefined) setOptional(next, 'powerChannel', this.readPowerChannel(fields.powerChannel));
    if (fields.tags !== undefined) next.tags = readTags(fields.tags);
    if (fields.notes !== undefined) next.notes = readNotes(fields.notes);
    if (fields.nextBootProfile !== undefined) setOptional(next, 'nextBootProfile', this.readProfile(fields.nextBootProfile, 'nextBootProfile'));
    const changed = changedFields(node, next);
    if (changed.length === 0) return node;
    if (changed.some((f) => OWNED_FIELDS.has(f))) next.origin = 'api';
    return this.commitUpdate(node, next, changed, by);
  }

  async remove(id: string, by: string): Promise<NodeRecord> {
    const node = this.require(id);
    this.byName.delete(node.name.toLowerCase());
    if (node.origin === 'discovered') this.discoveredCount--;
    await this.journal.delete(node.mac);
    this.emit({ type: 'node.deleted', node, fields: [], by });
    return node;
  }

  async approve(id: string, by: string): Promise<NodeRecord> {
    const node = this.require(id);
    if (node.approved) return node;
    return this.commitUpdate(node, { ...node, approved: true }, ['approved'], by);
  }

  /** Sets (or with null clears) the one-shot profile for the node's next boot (re-image). */
  async setNextBoot(id: string, profile: string | null, by: string): Promise<NodeRecord> {
    const node = this.require(id);
    const next = { ...node };
    setOptional(next, 'nextBootProfile', this.readProfile(profile, 'profile'));
    if (next.nextBootProfile === node.nextBootProfile) return node;
    return this.commitUpdate(node, next, ['nextBootProfile'], by);
  }

  /** The node's one-shot profile for its next boot (boot/one-shot.ts decides when that boot has begun). */
  nextBoot(mac: string): string | undefined {
    return this.get(mac)?.nextBootProfile;
  }

  /**
   * Clears the one-shot profile once its boot has begun, if it is still `profile`:
   * an operator who chose another in the meantime keeps theirs. Resolves once the
   * clearing is durable, so a crash cannot re-image the node a second time.
   */
  async clearNextBoot(mac: string, profile: string): Promise<void> {
    const node = this.get(mac);
    if (!node || node.nextBootProfile !== profile) return;
    const next = { ...node };
    delete next.nextBootProfile;
    await this.commitUpdate(node, next, ['nextBootProfile'], 'boot');
  }

  /**
   * An unknown MAC's boot firmware asked to boot: records it as discovered
   * (approved under the `boot` policy). Idempotent: a known MAC comes back as it
   * is. Undefined when the cap on discovered nodes refuses it.
   */
  discover(mac: string): Promise<NodeRecord | undefined> {
    const normal = readMac(mac);
    const known = this.journal.get(normal);
    if (known) return Promise.resolve(known);
    const inFlight = this.discovering.get(normal);
    if (inFlight) return inFlight;
    const max = this.opts.maxDiscovered ?? DEFAULT_MAX_DISCOVERED;
    if (this.discoveredCount >= max) {
      this.refusedDiscoveries++;
      const now = this.opts.clock.now();
      if (now - this.lastRefusalLog >= REFUSAL_LOG_INTERVAL_MS) {
        this.lastRefusalLog = now;
        this.opts.log.warn('inventory: too many discovered nodes; not recording more until some are approved or deleted', {
          mac: normal,
          discovered: this.discoveredCount,
          refused: this.refusedDiscoveries,
        });
      }
      return Promise.resolve(undefined);
    }
    const now = this.opts.clock.now();
    const record: NodeRecord = {
      mac: normal,
      name: this.uniqueName(defaultNodeName(normal)),
      tags: [],
      notes: '',
      origin: 'discovered',
      approved: this.policy === 'boot',
      createdAt: now,
      updatedAt: now,
    };
    const done = this.put(record)
      .then(() => {
        this.emit({ type: 'node.discovered', node: record, fields: [], by: 'dhcp' });
        return record;
      })
      .finally(() => this.discovering.delete(normal));
    this.discovering.set(normal, done);
    return done;
  }

  // ---- configuration -----------------------------------------------------------

  /** Applies the configuration's hosts (see the top of the file for who wins). */
  async reseed(hosts: readonly HostConfig[], by = 'config'): Promise<void> {
    const now = this.opts.clock.now();
    const wanted = new Map<Mac, HostConfig>();
    for (const host of hosts) wanted.set(normalizeMac(host.mac), host);
    const followsConfig = (node: NodeRecord | undefined) => node === undefined || node.origin !== 'api';

    // Names held by records this seeding does not control.
    const fixedNames = new Map<string, Mac>();
    for (const node of this.journal.values()) {
      const controlled = wanted.has(node.mac) ? followsConfig(node) : node.origin === 'config';
      if (!controlled) fixedNames.set(node.name.toLowerCase(), node.mac);
    }

    const writes: { before?: NodeRecord; after?: NodeRecord; fields: string[] }[] = [];
    const taken = new Set(fixedNames.keys());
    for (const [mac, host] of wanted) {
      const existing = this.journal.get(mac);
      if (!followsConfig(existing)) continue;
      let name = host.hostname ?? defaultNodeName(mac);
      if (taken.has(name.toLowerCase())) {
        const fallback = uniqueAmong(defaultNodeName(mac), taken);
        this.opts.log.warn('inventory: a config host name is taken by a node edited through the API; using another name', {
          mac,
          hostname: name,
          holder: fixedNames.get(name.toLowerCase()),
          name: fallback,
        });
        name = fallback;
      }
      taken.add(name.toLowerCase());
      const next: NodeRecord = existing
        ? { ...existing, name, origin: 'config', approved: true }
        : { mac, name, tags: [], notes: '', origin: 'config', approved: true, createdAt: now, updatedAt: now };
      setOptional(next, 'ip', host.ip);
      setOptional(next, 'profile', host.profile);
      setOptional(next, 'powerChannel', host.powerChannel);
      const fields = existing ? changedFields(existing, next) : [];
      if (existing && fields.length === 0) continue;
      if (existing) next.updatedAt = now;
      writes.push({ ...(existing && { before: existing }), after: next, fields });
    }
    for (const node of this.journal.values()) {
      if (node.origin === 'config' && !wanted.has(node.mac)) writes.push({ before: node, fields: [] });
    }
    if (writes.length === 0) return;

    const durable = writes.map((w) => (w.after ? this.journal.put(w.after.mac, freeze(w.after)) : this.journal.delete(w.before!.mac)));
    // The map changed synchronously above: index it before anything else can look names up.
    this.reindex();
    await Promise.all(durable);
    for (const w of writes) {
      if (!w.after) this.emit({ type: 'node.deleted', node: w.before!, fields: [], by });
      else if (!w.before) this.emit({ type: 'node.created', node: w.after, fields: [], by });
      else this.emit({ type: 'node.updated', node: w.after, previous: w.before, fields: w.fields, by });
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.discovering.values()]);
    await this.journal.close();
  }

  // ---- internals ---------------------------------------------------------------

  private async commitUpdate(before: NodeRecord, after: NodeRecord, fields: string[], by: string): Promise<NodeRecord> {
    after.updatedAt = this.opts.clock.now();
    if (before.origin === 'discovered' && after.origin !== 'discovered') this.discoveredCount--;
    this.byName.delete(before.name.toLowerCase());
    await this.put(after);
    this.emit({ type: 'node.updated', node: after, previous: before, fields, by });
    return after;
  }

  /** Indexes and journals a record; resolves when durable. Synchronous up to the journal's put, so checks made before it hold. */
  private put(record: NodeRecord): Promise<void> {
    const before = this.journal.get(record.mac);
    if (before) this.byName.delete(before.name.toLowerCase());
    if (record.origin === 'discovered' && before?.origin !== 'discovered') this.discoveredCount++;
    this.byName.set(record.name.toLowerCase(), record.mac);
    return this.journal.put(record.mac, freeze(record));
  }

  private reindex(): void {
    this.byName.clear();
    this.discoveredCount = 0;
    for (const node of this.journal.values()) {
      freeze(node);
      this.byName.set(node.name.toLowerCase(), node.mac);
      if (node.origin === 'discovered') this.discoveredCount++;
    }
  }

  private emit(change: InventoryChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.opts.log.error('inventory listener failed', { type: change.type, mac: change.node.mac, error: error as Error });
      }
    }
  }

  private uniqueName(base: string): string {
    return uniqueAmong(base, new Set(this.byName.keys()));
  }

  private readName(value: unknown, mac: Mac): string {
    if (typeof value !== 'string' || !isHostnameLabel(value)) {
      throw new InventoryError(
        'name',
        `name: expected a host name (letters, digits and '-', 1 to 63 characters, not starting or ending with '-'), found ${show(value)}`,
        'bad_request',
      );
    }
    if (isMac(value)) throw new InventoryError('name', `name: ${show(value)} reads as a MAC address; pick a name that does not`, 'bad_request');
    const holder = this.byName.get(value.toLowerCase());
    if (holder !== undefined && holder !== mac) throw new InventoryError('name', `name: ${show(value)} is already the name of ${holder}`, 'conflict');
    return value;
  }

  /** undefined: clear (null or ''). Refuses what the configuration file would refuse for a host's ip. */
  private readIp(value: unknown, mac: Mac): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !isIpv4(value))
      throw new InventoryError('ip', `ip: expected an IPv4 address like 10.0.0.11, found ${show(value)}`, 'bad_request');
    const refuse = (expected: string, code: InventoryErrorCode): never => {
      throw new InventoryError('ip', `ip: expected ${expected}, found ${show(value)}`, code);
    };
    const rules = this.addressRules;
    const expected = rules && fixedAddressExpectation(value, rules);
    if (expected) refuse(expected, 'bad_request');
    for (const node of this.journal.values()) {
      if (node.ip === value && node.mac !== mac) refuse(fixedElsewhereExpectation(`${value} is fixed for ${node.name}, ${node.mac}`), 'conflict');
    }
    const holder = rules?.boundTo?.(value);
    if (holder !== undefined && holder !== mac) {
      const named = this.journal.get(holder);
      refuse(leasedElsewhereExpectation(value, named ? `${named.name}, ${holder}` : holder), 'conflict');
    }
    return value;
  }

  private readProfile(value: unknown, field: string): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !NAME_PATTERN.test(value))
      throw new InventoryError(field, `${field}: expected a profile name, found ${show(value)}`, 'bad_request');
    const known = this.opts.knownProfiles ? [...this.opts.knownProfiles()] : undefined;
    if (known && !known.includes(value)) {
      throw new InventoryError(field, `${field}: no profile named ${show(value)}; profiles: ${known.length ? known.join(', ') : '(none)'}`, 'bad_request');
    }
    return value;
  }

  private readPowerChannel(value: unknown): string | undefined {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !NAME_PATTERN.test(value))
      throw new InventoryError('powerChannel', `powerChannel: expected a power channel name, found ${show(value)}`, 'bad_request');
    const known = this.opts.knownPowerChannels ? [...this.opts.knownPowerChannels()] : undefined;
    if (known && !known.includes(value)) {
      throw new InventoryError(
        'powerChannel',
        `powerChannel: no power channel named ${show(value)}; channels: ${known.length ? known.join(', ') : '(none configured)'}`,
        'bad_request',
      );
    }
    return value;
  }
}

/** The event an inventory change becomes. */
export function inventoryChangeEvent(change: InventoryChange): EventInput {
  const { node, previous, fields, by } = change;
  const message =
    change.type === 'node.created'
      ? `${node.name} (${node.mac}) created`
      : change.type === 'node.deleted'
        ? `${node.name} (${node.mac}) deleted`
        : change.type === 'node.discovered'
          ? `${node.name} (${node.mac}) discovered${node.approved ? '' : ', held until approved'}`
          : `${node.name} updated: ${fields.join(', ')}`;
  const detail: Record<string, unknown> = { origin: node.origin, approved: node.approved };
  if (previous && fields.length > 0) {
    detail.changes = Object.fromEntries(
      fields.map((f) => [
        f,
        { from: (previous as unknown as Record<string, unknown>)[f] ?? null, to: (node as unknown as Record<string, unknown>)[f] ?? null },
      ]),
    );
  }
  return { type: change.type, mac: node.mac, node: node.name, message, by, detail };
}

// ---- validation helpers ----------------------------------------------------------

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InventoryError(what, `${what}: expected a JSON object, found ${show(value)}`, 'bad_request');
  return value as Record<string, unknown>;
}

function rejectUnknownFields(fields: Record<string, unknown>, allowed: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(fields)) {
    if (!allowed.has(key)) throw new InventoryError(key, `${key}: unknown field; ${what} ${[...allowed].join(', ')}`, 'bad_request');
  }
}

function readMac(value: unknown): Mac {
  if (typeof value !== 'string' || !isMac(value))
    throw new InventoryError('mac', `mac: expected a MAC address like 52:54:00:12:34:56, found ${show(value)}`, 'bad_request');
  return normalizeMac(value);
}

function readTags(value: unknown): string[] {
  if (!Array.isArray(value)) throw new InventoryError('tags', `tags: expected a list of strings, found ${show(value)}`, 'bad_request');
  if (value.length > MAX_TAGS) throw new InventoryError('tags', `tags: at most ${MAX_TAGS} tags, found ${value.length}`, 'bad_request');
  const out: string[] = [];
  for (const [index, tag] of value.entries()) {
    if (typeof tag !== 'string' || tag.length > MAX_TAG_LENGTH || !TAG_PATTERN.test(tag)) {
      throw new InventoryError(
        'tags',
        `tags[${index}]: expected a tag of letters, digits and . _ : / = + - (at most ${MAX_TAG_LENGTH} characters), found ${show(tag)}`,
        'bad_request',
      );
    }
    if (!out.includes(tag)) out.push(tag);
  }
  return out;
}

function readNotes(value: unknown): string {
  if (typeof value !== 'string') throw new InventoryError('notes', `notes: expected text, found ${show(value)}`, 'bad_request');
  if (value.length > MAX_NOTES_LENGTH) throw new InventoryError('notes', `notes: at most ${MAX_NOTES_LENGTH} characters, found ${value.length}`, 'bad_request');
  return value;
}

function setOptional<K extends 'ip' | 'profile' | 'powerChannel' | 'nextBootProfile'>(record: NodeRecord, key: K, value: string | undefined): void {
  if (value === undefined) delete record[key];
  else record[key] = value;
}

const COMPARED: (keyof NodeRecord)[] = ['name', 'ip', 'profile', 'nextBootProfile', 'powerChannel', 'tags', 'notes', 'origin', 'approved'];

function changedFields(a: NodeRecord, b: NodeRecord): string[] {
  return COMPARED.filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]));
}

/** Records are shared with callers and the journal keeps them by reference: nobody may change one in place. */
function freeze(record: NodeRecord): NodeRecord {
  Object.freeze(record.tags);
  return Object.freeze(record);
}

function uniqueAmong(base: string, takenLowerCase: ReadonlySet<string>): string {
  if (!takenLowerCase.has(base.toLowerCase())) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base}-${n}`;
    if (!takenLowerCase.has(candidate.toLowerCase())) return candidate;
  }
}

/** A value as the message shows it: short, quoted, never a wall of JSON. */
function show(value: unknown): string {
  let text: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- String() gets only what JSON.stringify cannot show: a symbol or a function
    text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function isStoredNode(value: unknown, key: string): value is NodeRecord {
  if (typeof value !== 'object' || value === null) return false;
  const n = value as Record<string, unknown>;
  const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
  return (
    n.mac === key &&
    isMac(key) &&
    typeof n.name === 'string' &&
    Array.isArray(n.tags) &&
    n.tags.every((t) => typeof t === 'string') &&
    typeof n.notes === 'string' &&
    (n.origin === 'config' || n.origin === 'api' || n.origin === 'discovered') &&
    typeof n.approved === 'boolean' &&
    typeof n.createdAt === 'number' &&
    typeof n.updatedAt === 'number' &&
    optionalString(n.ip) &&
    optionalString(n.profile) &&
    optionalString(n.nextBootProfile) &&
    optionalString(n.powerChannel)
  );
}
