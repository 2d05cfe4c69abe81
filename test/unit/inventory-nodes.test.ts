// The node inventory: durable mutations, crash safety, validation messages,
// config seeding and reconciliation, discovery policies, one-shot profiles.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventoryError, inventoryChangeEvent, NodeInventory, type InventoryChange, type InventoryOptions } from '../../firmware/src/inventory/nodes.js';
import { Journal } from '../../firmware/src/store/journal.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';
import type { HostConfig } from '../../firmware/src/config/schema.js';
import { silentLogger, type Logger } from '../../firmware/src/util/log.js';
import { FakeClock } from '../helpers/fake-clock.js';

const M1 = '52:54:00:00:00:01';
const M2 = '52:54:00:00:00:02';
const M3 = '52:54:00:00:00:03';
const PROFILES = ['debian', 'rescue', 'local'];
const CHANNELS = ['relay1', 'relay2'];

describe('NodeInventory', () => {
  let dir: string;
  let clock: FakeClock;
  let changes: InventoryChange[];
  const open = (extra: Partial<InventoryOptions> = {}) =>
    NodeInventory.open(dir, {
      clock: { now: () => clock.now },
      unknownNodes: 'boot',
      log: silentLogger,
      knownProfiles: () => PROFILES,
      knownPowerChannels: () => CHANNELS,
      onChange: (c) => changes.push(c),
      ...extra,
    });

  /** Expects `promise` to reject with an InventoryError with these properties. */
  async function refused(promise: Promise<unknown>, expected: { field: string; code: string; message: string | RegExp }) {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InventoryError);
    const e = error as InventoryError;
    expect({ field: e.field, code: e.code }).toEqual({ field: expected.field, code: expected.code });
    if (typeof expected.message === 'string') expect(e.message).toBe(expected.message);
    else expect(e.message).toMatch(expected.message);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbinv-nodes-'));
    clock = new FakeClock();
    clock.now = 1_700_000_000_000;
    changes = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('mutations', () => {
    it('creates, reads by MAC or name, updates, removes; each one durable when it resolves', async () => {
      const inv = await open();
      const created = await inv.create(
        {
          mac: '52-54-00-00-00-01',
          name: 'node01',
          ip: '10.0.0.11',
          profile: 'debian',
          powerChannel: 'relay1',
          tags: ['gpu', 'rack-1', 'gpu'],
          notes: 'top slot',
        },
        'admin',
      );
      expect(created).toEqual({
        mac: M1,
        name: 'node01',
        ip: '10.0.0.11',
        profile: 'debian',
        powerChannel: 'relay1',
        tags: ['gpu', 'rack-1'],
        notes: 'top slot',
        origin: 'api',
        approved: true,
        createdAt: clock.now,
        updatedAt: clock.now,
      });
      // Durable as soon as the promise resolved: another reader of the files sees it (no close needed).
      expect((await Journal.read<NodeRecord>(dir, 'nodes')).entries.get(M1)).toEqual(created);
      expect(inv.get('NODE01')).toEqual(created);
      expect(Object.isFrozen(created) && Object.isFrozen(created.tags)).toBe(true);
      expect(inv.get('52:54:00:00:00:01')).toEqual(created);

      clock.now += 1000;
      const updated = await inv.update('node01', { name: 'gpu01', ip: null, tags: [], notes: '' }, 'token:ci');
      expect(updated).toMatchObject({ name: 'gpu01', tags: [], notes: '', updatedAt: clock.now, createdAt: created.createdAt });
      expect(updated).not.toHaveProperty('ip');
      expect(inv.get('node01')).toBeUndefined();
      expect((await Journal.read<NodeRecord>(dir, 'nodes')).entries.get(M1)).toEqual(updated);

      const second = await inv.create({ mac: M2 }, 'admin');
      expect(second.name).toBe('node-525400000002');
      expect(inv.list().map((n) => n.name)).toEqual(['gpu01', 'node-525400000002']);

      await inv.remove('gpu01', 'admin');
      expect(inv.get(M1)).toBeUndefined();
      expect((await Journal.read<NodeRecord>(dir, 'nodes')).entries.has(M1)).toBe(false);

      expect(changes.map((c) => [c.type, c.by, c.fields])).toEqual([
        ['node.created', 'admin', []],
        ['node.updated', 'token:ci', ['name', 'ip', 'tags', 'notes']],
        ['node.created', 'admin', []],
        ['node.deleted', 'admin', []],
      ]);
      await inv.close();
    });

    it('an edit that changes nothing writes nothing and tells nobody', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'a', tags: ['x'] }, 'admin');
      const before = inv.get(M1);
      expect(await inv.update(M1, { name: 'a', tags: ['x'] }, 'admin')).toBe(before);
      expect(changes).toHaveLength(1);
      await inv.close();
    });

    it('comes back after close and reopen', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'a' }, 'admin');
      await inv.create({ mac: M2, name: 'b' }, 'admin');
      await inv.update('b', { profile: 'rescue' }, 'admin');
      await inv.remove('a', 'admin');
      await inv.close();
      const again = await open();
      expect(again.list()).toEqual([expect.objectContaining({ mac: M2, name: 'b', profile: 'rescue' })]);
      // The name index is rebuilt too: the freed name can be reused, the held one cannot.
      await again.create({ mac: M1, name: 'a' }, 'admin');
      await refused(again.create({ mac: M3, name: 'B' }, 'admin'), { field: 'name', code: 'conflict', message: `name: "B" is already the name of ${M2}` });
      await again.close();
    });

    it('survives a torn write: everything acknowledged before it comes back, and writing goes on', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'a' }, 'admin');
      await inv.create({ mac: M2, name: 'b' }, 'admin');
      await inv.close();
      const journal = join(dir, 'nodes.journal');
      const whole = await readFile(journal);
      // The crash cut the last record in half...
      await writeFile(journal, whole.subarray(0, whole.length - 20));
      const afterCut = await open();
      expect(afterCut.list().map((n) => n.mac)).toEqual([M1]);
      expect(afterCut.loadReport.truncatedTail).toBeGreaterThan(0);
      await afterCut.close();
      // ...or left a half record after the last whole one.
      await appendFile(journal, '1234abcd {"k":"52:54:00:00:00:09","v":{"mac":');
      const afterTail = await open();
      expect(afterTail.list().map((n) => n.mac)).toEqual([M1]);
      await afterTail.create({ mac: M3, name: 'c' }, 'admin');
      await afterTail.close();
      const last = await open();
      expect(last.list().map((n) => n.name)).toEqual(['a', 'c']);
      await last.close();
    });
  });

  describe('validation', () => {
    it('names the field and says what was expected', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'node01', ip: '10.0.0.11' }, 'admin');
      await refused(inv.create({ mac: 'zz:54:00:00:00:01' }, 'admin'), {
        field: 'mac',
        code: 'bad_request',
        message: 'mac: expected a MAC address like 52:54:00:12:34:56, found "zz:54:00:00:00:01"',
      });
      await refused(inv.create({ mac: M1.toUpperCase() }, 'admin'), {
        field: 'mac',
        code: 'conflict',
        message: `mac: a node with MAC ${M1} already exists (node01)`,
      });
      await refused(inv.create({ mac: M2, name: 'a b' }, 'admin'), {
        field: 'name',
        code: 'bad_request',
        message: /^name: expected a host name .*found "a b"$/,
      });
      await refused(inv.create({ mac: M2, name: '-x' }, 'admin'), { field: 'name', code: 'bad_request', message: /found "-x"/ });
      await refused(inv.create({ mac: M2, name: 'x'.repeat(64) }, 'admin'), { field: 'name', code: 'bad_request', message: /^name: expected a host name/ });
      await refused(inv.create({ mac: M2, name: '52-54-00-00-00-09' }, 'admin'), {
        field: 'name',
        code: 'bad_request',
        message: 'name: "52-54-00-00-00-09" reads as a MAC address; pick a name that does not',
      });
      await refused(inv.create({ mac: M2, name: 'NODE01' }, 'admin'), {
        field: 'name',
        code: 'conflict',
        message: `name: "NODE01" is already the name of ${M1}`,
      });
      await refused(inv.create({ mac: M2, ip: '10.0.0.256' }, 'admin'), {
        field: 'ip',
        code: 'bad_request',
        message: 'ip: expected an IPv4 address like 10.0.0.11, found "10.0.0.256"',
      });
      await refused(inv.create({ mac: M2, ip: '10.0.0.11' }, 'admin'), {
        field: 'ip',
        code: 'conflict',
        message: `ip: expected an address no other host has (10.0.0.11 is fixed for node01, ${M1}), found "10.0.0.11"`,
      });
      await refused(inv.create({ mac: M2, profile: 'windows' }, 'admin'), {
        field: 'profile',
        code: 'bad_request',
        message: 'profile: no profile named "windows"; profiles: debian, rescue, local',
      });
      await refused(inv.create({ mac: M2, powerChannel: 'relay9' }, 'admin'), {
        field: 'powerChannel',
        code: 'bad_request',
        message: 'powerChannel: no power channel named "relay9"; channels: relay1, relay2',
      });
      await refused(inv.create({ mac: M2, tags: 'gpu' as unknown as string[] }, 'admin'), {
        field: 'tags',
        code: 'bad_request',
        message: 'tags: expected a list of strings, found "gpu"',
      });
      await refused(inv.create({ mac: M2, tags: ['ok', 'has space'] }, 'admin'), {
        field: 'tags',
        code: 'bad_request',
        message: /^tags\[1\]: expected a tag .*found "has space"$/,
      });
      await refused(inv.create({ mac: M2, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'admin'), {
        field: 'tags',
        code: 'bad_request',
        message: 'tags: at most 32 tags, found 33',
      });
      await refused(inv.create({ mac: M2, notes: 'n'.repeat(4001) }, 'admin'), {
        field: 'notes',
        code: 'bad_request',
        message: 'notes: at most 4000 characters, found 4001',
      });
      await refused(inv.create({ mac: M2, colour: 'red' } as never, 'admin'), {
        field: 'colour',
        code: 'bad_request',
        message: /^colour: unknown field; a node has mac, name, ip/,
      });
      await refused(inv.create(null as never, 'admin'), { field: 'node', code: 'bad_request', message: 'node: expected a JSON object, found null' });
      await refused(inv.update('node01', { mac: M2 } as never, 'admin'), { field: 'mac', code: 'bad_request', message: /^mac: cannot be changed/ });
      await refused(inv.update('nobody', { notes: 'x' }, 'admin'), { field: 'id', code: 'not_found', message: 'no node with MAC or name "nobody"' });
      await refused(inv.remove(M3, 'admin'), { field: 'id', code: 'not_found', message: /no node/ });
      await refused(inv.setNextBoot('node01', 'windows', 'admin'), { field: 'profile', code: 'bad_request', message: /no profile named "windows"/ });
      // Nothing refused left a trace.
      expect(inv.list()).toHaveLength(1);
      expect(changes).toHaveLength(1);
      await inv.close();
    });

    it('a node may keep its own name and address in an edit', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'node01', ip: '10.0.0.11' }, 'admin');
      const updated = await inv.update(M1, { name: 'Node01', ip: '10.0.0.11' }, 'admin');
      expect(updated.name).toBe('Node01');
      await inv.close();
    });
  });

  describe('seeding from the configuration', () => {
    const hosts: HostConfig[] = [
      { mac: M1, hostname: 'node01', ip: '10.0.0.11', profile: 'debian' },
      { mac: M2, hostname: 'node02' },
    ];

    it('creates config records on first start and leaves them alone when the config is unchanged', async () => {
      const inv = await open({ seed: hosts });
      expect(inv.list()).toEqual([
        expect.objectContaining({ mac: M1, name: 'node01', ip: '10.0.0.11', profile: 'debian', origin: 'config', approved: true }),
        expect.objectContaining({ mac: M2, name: 'node02', origin: 'config' }),
      ]);
      expect(changes.map((c) => [c.type, c.by])).toEqual([
        ['node.created', 'config'],
        ['node.created', 'config'],
      ]);
      await inv.close();
      changes = [];
      const again = await open({ seed: hosts });
      expect(changes).toEqual([]);
      await again.close();
      // Opened without a seed (a tool, not the server): nothing is reconciled away.
      const noSeed = await open();
      expect(noSeed.size).toBe(2);
      await noSeed.close();
      expect((await NodeInventory.read(dir)).map((n) => n.name)).toEqual(['node01', 'node02']);
    });

    it('a config record follows the config until edited through the API, which makes it the operator’s', async () => {
      const inv = await open({ seed: hosts });
      await inv.update('node02', { notes: 'replaced PSU' }, 'admin');
      expect(inv.get(M2)!.origin).toBe('api');
      await inv.close();
      changes = [];

      // The file changes both hosts and drops none: only the unedited one follows.
      const changed: HostConfig[] = [
        { mac: M1, hostname: 'compute01', ip: '10.0.0.21' },
        { mac: M2, hostname: 'other02', profile: 'rescue' },
      ];
      const again = await open({ seed: changed });
      expect(again.get(M1)).toMatchObject({ name: 'compute01', ip: '10.0.0.21', origin: 'config' });
      expect(again.get(M1)).not.toHaveProperty('profile');
      expect(again.get(M2)).toMatchObject({ name: 'node02', notes: 'replaced PSU', origin: 'api' });
      expect(again.get(M2)).not.toHaveProperty('profile');
      expect(changes.map((c) => [c.type, c.node.mac, c.fields])).toEqual([['node.updated', M1, ['name', 'ip', 'profile']]]);

      // Hosts removed from the file: the config record goes, the operator's stays.
      changes = [];
      await again.reseed([]);
      expect(again.list().map((n) => n.mac)).toEqual([M2]);
      expect(changes.map((c) => [c.type, c.node.mac, c.by])).toEqual([['node.deleted', M1, 'config']]);
      await again.close();
    });

    it('a discovered node that the config names becomes a config node', async () => {
      const inv = await open({ unknownNodes: 'hold' });
      await inv.discover(M1);
      expect(inv.isBootAllowed(M1)).toBe(false);
      await inv.reseed(hosts);
      expect(inv.get(M1)).toMatchObject({ name: 'node01', origin: 'config', approved: true });
      expect(inv.isBootAllowed(M1)).toBe(true);
      await inv.close();
    });

    it('a config name taken by an API node falls back to node-<mac>, and seeding never fails', async () => {
      const warnings: string[] = [];
      const log: Logger = { ...silentLogger, warn: (msg) => warnings.push(msg), child: () => log };
      const first = await open();
      await first.create({ mac: M3, name: 'node01' }, 'admin');
      await first.close();
      const inv = await open({ seed: hosts, log });
      expect(inv.get(M1)!.name).toBe('node-525400000001');
      expect(inv.get('node01')!.mac).toBe(M3);
      expect(warnings).toContain('inventory: a config host name is taken by a node edited through the API; using another name');
      await inv.close();
    });

    it('config records may swap names in one seeding', async () => {
      const inv = await open({ seed: hosts });
      await inv.reseed([
        { mac: M1, hostname: 'node02' },
        { mac: M2, hostname: 'node01' },
      ]);
      expect(inv.get('node01')!.mac).toBe(M2);
      expect(inv.get('node02')!.mac).toBe(M1);
      await inv.close();
    });
  });

  describe('discovery', () => {
    it('boot policy: an unknown MAC is recorded approved, once, however many ask at once', async () => {
      const inv = await open();
      expect(inv.isBootAllowed(M1)).toBe(true);
      const [a, b] = await Promise.all([inv.discover(M1), inv.discover(M1.toUpperCase())]);
      expect(a).toBe(b);
      expect(a).toMatchObject({ mac: M1, name: 'node-525400000001', origin: 'discovered', approved: true });
      expect(await inv.discover(M1)).toBe(a);
      expect(changes.map((c) => [c.type, c.by])).toEqual([['node.discovered', 'dhcp']]);
      expect(inventoryChangeEvent(changes[0])).toMatchObject({
        type: 'node.discovered',
        mac: M1,
        node: 'node-525400000001',
        message: `node-525400000001 (${M1}) discovered`,
        by: 'dhcp',
      });
      await inv.close();
    });

    it('hold policy: discovered but not allowed to boot until approved; approval survives a restart', async () => {
      const inv = await open({ unknownNodes: 'hold' });
      expect(inv.isBootAllowed(M1)).toBe(false);
      const held = await inv.discover(M1);
      expect(held).toMatchObject({ origin: 'discovered', approved: false });
      expect(inventoryChangeEvent(changes[0]).message).toBe(`node-525400000001 (${M1}) discovered, held until approved`);
      expect(inv.isBootAllowed(M1)).toBe(false);
      const approved = await inv.approve('node-525400000001', 'admin');
      expect(approved.approved).toBe(true);
      expect(await inv.approve(M1, 'admin')).toBe(approved); // no second event
      expect(changes.map((c) => c.type)).toEqual(['node.discovered', 'node.updated']);
      await inv.close();
      const again = await open({ unknownNodes: 'hold' });
      expect(again.isBootAllowed(M1)).toBe(true);
      // The policy can change at run time.
      again.setUnknownNodes('boot');
      expect(again.isBootAllowed(M2)).toBe(true);
      expect(() => again.setUnknownNodes('maybe' as never)).toThrow(InventoryError);
      await again.close();
    });

    it('discovered nodes are capped: a flood of forged MACs cannot grow the store', async () => {
      const inv = await open({ maxDiscovered: 3 });
      for (let i = 0; i < 10; i++) await inv.discover(`02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
      expect(inv.size).toBe(3);
      expect(inv.refusedDiscoveryCount).toBe(7);
      // Deleting one makes room again; API nodes do not count against the cap.
      await inv.remove('02:00:00:00:00:00', 'admin');
      await inv.create({ mac: M1 }, 'admin');
      expect(await inv.discover('02:00:00:00:00:0a')).toMatchObject({ origin: 'discovered' });
      expect(await inv.discover('02:00:00:00:00:0b')).toBeUndefined();
      await inv.close();
    });
  });

  describe('next boot profile', () => {
    it('is one-shot: read while the boot is under way, cleared once (only if unchanged), and the clearing is durable', async () => {
      const inv = await open();
      await inv.create({ mac: M1, name: 'a', profile: 'debian' }, 'admin');
      const set = await inv.setNextBoot('a', 'rescue', 'admin');
      expect(set).toMatchObject({ nextBootProfile: 'rescue', origin: 'api' });
      expect(inv.nextBoot(M1)).toBe('rescue');
      expect(inv.nextBoot(M1)).toBe('rescue');
      expect(inv.nextBoot(M2)).toBeUndefined();
      // A boot that began with another one-shot leaves the operator's newer choice alone.
      await inv.clearNextBoot(M1, 'debian');
      expect(inv.nextBoot(M1)).toBe('rescue');
      await inv.clearNextBoot(M1, 'rescue');
      await inv.clearNextBoot(M1, 'rescue');
      await inv.clearNextBoot(M2, 'rescue');
      expect(inv.nextBoot(M1)).toBeUndefined();
      expect((await Journal.read<NodeRecord>(dir, 'nodes')).entries.get(M1)).not.toHaveProperty('nextBootProfile');
      expect(changes.slice(1).map((c) => [c.type, c.fields, c.by])).toEqual([
        ['node.updated', ['nextBootProfile'], 'admin'],
        ['node.updated', ['nextBootProfile'], 'boot'],
      ]);
      // Setting a next boot is an action, not an edit: a config node stays the config's.
      await inv.reseed([{ mac: M2, hostname: 'cfg' }]);
      expect((await inv.setNextBoot('cfg', 'rescue', 'admin')).origin).toBe('config');
      expect((await inv.setNextBoot('cfg', null, 'admin')).nextBootProfile).toBeUndefined();
      await inv.close();
    });
  });
});
