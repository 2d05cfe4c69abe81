// The lease table: state transitions, the client index, stickiness, quarantine,
// offer expiry, and a reload from disk that gives back the same table.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeaseTable, type Lease, type LeaseClient } from '../../firmware/src/dhcp/leases.js';
import { crc32 } from '../../firmware/src/store/crc32.js';

const T0 = 1_700_000_000_000;
const A: LeaseClient = { key: '52:54:00:aa:00:01', mac: '52:54:00:aa:00:01', clientId: '0152540000aa0001' };
const B: LeaseClient = { key: '52:54:00:aa:00:02', mac: '52:54:00:aa:00:02' };
const C: LeaseClient = { key: '52:54:00:aa:00:03', mac: '52:54:00:aa:00:03' };

describe('LeaseTable', () => {
  let dir: string;
  let now: number;
  let table: LeaseTable;
  const clock = { now: () => now };

  async function reopen(): Promise<LeaseTable> {
    await table.close();
    table = await LeaseTable.open(dir, clock);
    return table;
  }

  const byIpOrder = (leases: Lease[]) => [...leases].sort((x, y) => x.ip.localeCompare(y.ip));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-leases-'));
    now = T0;
    table = await LeaseTable.open(dir, clock);
  });
  afterEach(async () => {
    await table.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('offers', () => {
    it('reserves the address for the client, in memory only', async () => {
      const offer = table.offer('10.0.0.10', A, 30_000);
      expect(offer).toMatchObject({ ip: '10.0.0.10', mac: A.mac, clientKey: A.key, state: 'offered', expires: T0 + 30_000 });
      expect(table.byIp('10.0.0.10')).toBe(offer);
      expect(table.byClient(A.key)).toBe(offer);
      expect(table.isFree('10.0.0.10', now)).toBe(false);
      expect(table.isFreeFor('10.0.0.10', A.key, now)).toBe(true);
      expect(table.isFreeFor('10.0.0.10', B.key, now)).toBe(false);
      expect(() => table.offer('10.0.0.10', B)).toThrow(/not free/);
      await expect(table.bind('10.0.0.10', B, 60)).rejects.toThrow(/not free/);

      await reopen();
      expect(table.byIp('10.0.0.10')).toBeUndefined();
      expect(table.all()).toEqual([]);
    });

    it('expires after its ttl, and a sweep forgets it', () => {
      table.offer('10.0.0.10', A, 30_000);
      now += 30_000;
      expect(table.isFree('10.0.0.10', now)).toBe(true);
      expect(table.byIp('10.0.0.10')).toBeUndefined();
      expect(table.byClient(A.key)).toBeUndefined();
      table.offer('10.0.0.10', B);
      expect(table.byIp('10.0.0.10')!.clientKey).toBe(B.key);
      expect(table.byIp('10.0.0.10')!.expires).toBe(now + 60_000);
      now += 60_000;
      expect(table.sweep(now)).toBe(0);
      expect(table.all()).toEqual([]);
    });

    it('holds one offer per client and can be withdrawn', () => {
      table.offer('10.0.0.10', A);
      table.offer('10.0.0.11', A);
      expect(table.isFree('10.0.0.10', now)).toBe(true);
      expect(table.byClient(A.key)!.ip).toBe('10.0.0.11');
      table.withdrawOffer(A.key);
      expect(table.isFree('10.0.0.11', now)).toBe(true);
      expect(table.byClient(A.key)).toBeUndefined();
    });
  });

  it('binds durably, with the client index and host name, replacing the offer', async () => {
    table.offer('10.0.0.10', A);
    const lease = await table.bind('10.0.0.10', A, 3600, 'node1');
    expect(lease).toEqual({
      ip: '10.0.0.10',
      mac: A.mac,
      clientId: A.clientId,
      clientKey: A.key,
      hostname: 'node1',
      state: 'bound',
      start: T0,
      expires: T0 + 3_600_000,
    });
    expect(table.byClient(A.key)).toBe(lease);
    expect(table.isFree('10.0.0.10', now)).toBe(false);
    expect(() => ((lease as { state: string }).state = 'released')).toThrow(TypeError);

    await reopen();
    expect(table.byIp('10.0.0.10')).toEqual(lease);
    expect(table.byClient(A.key)).toEqual(lease);

    // A renewal extends the lease and keeps the host name the client gave before.
    now += 1_800_000;
    const renewed = await table.bind('10.0.0.10', A, 3600);
    expect(renewed).toMatchObject({ hostname: 'node1', start: now, expires: now + 3_600_000 });
  });

  it('applies a bind to readers at once and resolves after the write', async () => {
    const pending = table.bind('10.0.0.10', A, 60);
    expect(table.byIp('10.0.0.10')!.state).toBe('bound');
    expect(table.byClient(A.key)!.ip).toBe('10.0.0.10');
    await pending;
  });

  it('keeps the client on release, so it gets the same address again', async () => {
    await table.bind('10.0.0.10', A, 3600);
    now += 1000;
    const released = await table.release('10.0.0.10');
    expect(released).toMatchObject({ state: 'released', clientKey: A.key, expires: now });
    expect(table.isFree('10.0.0.10', now)).toBe(true);
    expect(table.isFreeFor('10.0.0.10', A.key, now)).toBe(true);

    await reopen();
    expect(table.byClient(A.key)).toMatchObject({ ip: '10.0.0.10', state: 'released' });
    expect(await table.release('10.0.0.10')).toMatchObject({ state: 'released' }); // releasing twice changes nothing
    const again = await table.bind('10.0.0.10', A, 3600);
    expect(again.state).toBe('bound');
  });

  it('hands a released address to another client only by taking it from the first', async () => {
    await table.bind('10.0.0.10', A, 3600);
    await table.release('10.0.0.10');
    await table.bind('10.0.0.10', B, 3600);
    expect(table.byClient(A.key)).toBeUndefined();
    expect(table.byClient(B.key)!.ip).toBe('10.0.0.10');
    await reopen();
    expect(table.byClient(A.key)).toBeUndefined();
    expect(table.byClient(B.key)!.ip).toBe('10.0.0.10');
  });

  it('lets a client that binds a new address go of its old one', async () => {
    await table.bind('10.0.0.10', A, 3600, 'node1');
    await table.bind('10.0.0.11', A, 3600);
    expect(table.byClient(A.key)!.ip).toBe('10.0.0.11');
    const old = table.byIp('10.0.0.10')!;
    expect(old).toMatchObject({ state: 'released', mac: A.mac, expires: now });
    expect(old.clientKey).toBeUndefined();
    expect(table.isFree('10.0.0.10', now)).toBe(true);
    await reopen();
    expect(table.byClient(A.key)!.ip).toBe('10.0.0.11');
    expect(table.byIp('10.0.0.10')!.clientKey).toBeUndefined();
  });

  it('quarantines a declined address and forgets its client', async () => {
    await table.bind('10.0.0.10', A, 3600);
    const declined = await table.decline('10.0.0.10', 600, 'decline');
    expect(declined).toEqual({ ip: '10.0.0.10', mac: A.mac, state: 'declined', cause: 'decline', start: now, expires: now + 600_000 });
    expect(table.byClient(A.key)).toBeUndefined();
    expect(table.isFree('10.0.0.10', now)).toBe(false);
    expect(table.isFreeFor('10.0.0.10', A.key, now)).toBe(false);
    expect(() => table.offer('10.0.0.10', B)).toThrow();

    await reopen();
    expect(table.isFree('10.0.0.10', now + 599_999)).toBe(false);
    now += 600_000;
    expect(table.isFree('10.0.0.10', now)).toBe(true);
    expect((await table.bind('10.0.0.10', B, 60)).state).toBe('bound');
  });

  it('quarantines an address nobody held (a conflict probe answered)', async () => {
    const declined = await table.decline('10.0.0.20', 600, 'probe');
    expect(declined).toMatchObject({ mac: '00:00:00:00:00:00', state: 'declined', cause: 'probe' });
    expect(table.isFree('10.0.0.20', now)).toBe(false);
  });

  it('expires bound leases on sweep and keeps the client for its next visit', async () => {
    await table.bind('10.0.0.10', A, 60);
    await table.bind('10.0.0.11', B, 3600);
    now += 60_000;
    // Past expiry is free even before the sweep runs.
    expect(table.isFree('10.0.0.10', now)).toBe(true);
    expect(table.byIp('10.0.0.10')!.state).toBe('bound');
    expect(table.sweep(now)).toBe(1);
    expect(table.byIp('10.0.0.10')).toMatchObject({ state: 'expired', clientKey: A.key });
    expect(table.byIp('10.0.0.11')!.state).toBe('bound');
    expect(table.isFreeFor('10.0.0.10', A.key, now)).toBe(true);
    await reopen(); // close flushes the lazy expiry write
    expect(table.byIp('10.0.0.10')!.state).toBe('expired');
    expect(table.byClient(A.key)!.ip).toBe('10.0.0.10');
    expect(table.sweep(now)).toBe(0);
  });

  it('reloads from disk to the same table', async () => {
    for (let i = 0; i < 40; i++) {
      const client: LeaseClient = { key: `c${i}`, mac: `52:54:00:00:01:${i.toString(16).padStart(2, '0')}` };
      await table.bind(`10.0.1.${i}`, client, 100 + i, i % 3 === 0 ? `host${i}` : undefined);
      now += 1000;
    }
    for (let i = 0; i < 40; i += 5) await table.release(`10.0.1.${i}`);
    for (let i = 1; i < 40; i += 7) await table.decline(`10.0.1.${i}`, 60, 'decline');
    await table.bind('10.0.1.50', { key: 'c2', mac: '52:54:00:00:01:02' }, 600);
    table.sweep(now);
    const before = byIpOrder(table.all());
    const clients = Array.from({ length: 40 }, (_, i) => table.byClient(`c${i}`)?.ip);
    await table.compact();
    table.offer('10.0.1.99', C);

    await reopen();
    expect(byIpOrder(table.all())).toEqual(before);
    expect(Array.from({ length: 40 }, (_, i) => table.byClient(`c${i}`)?.ip)).toEqual(clients);
    expect(table.loadReport.skippedCorrupt).toBe(0);
  });

  it('skips stored records that are not leases', async () => {
    await table.bind('10.0.0.10', A, 60);
    await table.close();
    const bad = (json: string) => `${crc32(Buffer.from(json)).toString(16).padStart(8, '0')} ${json}\n`;
    await appendFile(join(dir, 'leases.journal'), bad('{"k":"10.0.0.11","v":{"ip":"10.0.0.99","mac":"x","state":"bound","start":1,"expires":2}}'));
    await appendFile(join(dir, 'leases.journal'), bad('{"k":"10.0.0.12","v":{"ip":"10.0.0.12","mac":"x","state":"lost","start":1,"expires":2}}'));
    await appendFile(join(dir, 'leases.journal'), bad('{"k":"10.0.0.13","v":{"ip":"10.0.0.13","mac":"x","state":"bound","start":1,"expires":2}}'));
    table = await LeaseTable.open(dir, clock);
    expect(table.loadReport).toEqual({ records: 2, skippedCorrupt: 2, truncatedTail: 0 });
    expect(
      table
        .all()
        .map((l) => l.ip)
        .sort(),
    ).toEqual(['10.0.0.10', '10.0.0.13']);
  });

  it('rejects a negative lease time without changing anything', async () => {
    await expect(table.bind('10.0.0.10', A, -1)).rejects.toThrow(RangeError);
    expect(table.byIp('10.0.0.10')).toBeUndefined();
  });
});
