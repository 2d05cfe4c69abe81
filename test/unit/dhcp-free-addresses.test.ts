// The free-address search: the reuse order of leases.ts (never used, then the
// least recently used), without a pool walk per DISCOVER; and the prober's
// shared and cached probes that the look-ahead relies on.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LeaseTable } from '../../firmware/src/dhcp/leases.js';
import { AddressPlan } from '../../firmware/src/dhcp/address-plan.js';
import { FreeAddressFinder } from '../../firmware/src/dhcp/free-addresses.js';
import { ArpProber } from '../../firmware/src/net/arp-prober.js';
import type { PoolConfig } from '../../firmware/src/config/schema.js';

const POOL: PoolConfig = { subnet: '10.9.0.0', prefix: 24, start: '10.9.0.100', end: '10.9.0.109' };
const client = (n: number) => ({ key: `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`, mac: `52:54:00:00:00:${n.toString(16).padStart(2, '0')}` });

describe('FreeAddressFinder', () => {
  let dir: string;
  let leases: LeaseTable;
  let now: number;
  const clock = { now: () => now };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rackboot-free-'));
    now = 1_700_000_000_000;
    leases = await LeaseTable.open(dir, clock);
  });
  afterEach(async () => {
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const first = (finder: FreeAddressFinder): string | undefined => {
    const next = finder.candidates([POOL], now).next();
    return next.done ? undefined : next.value;
  };

  it('hands out never-used addresses in order, skipping static and reserved ones, and every address once', () => {
    const plan = new AddressPlan([POOL], [{ mac: '52:54:00:00:00:99', ip: '10.9.0.101' }], ['10.9.0.100']);
    const finder = new FreeAddressFinder(plan, leases);
    const given: string[] = [];
    for (let i = 0; i < 8; i++) {
      const ip = first(finder)!;
      leases.offer(ip, client(i));
      given.push(ip);
    }
    expect(given).toEqual(['10.9.0.102', '10.9.0.103', '10.9.0.104', '10.9.0.105', '10.9.0.106', '10.9.0.107', '10.9.0.108', '10.9.0.109']);
    expect(first(finder)).toBeUndefined();
  });

  it('after the never-used ones, the least recently released first; a lapsed offer behind the cursor is found again', async () => {
    const plan = new AddressPlan([POOL], [], []);
    const finder = new FreeAddressFinder(plan, leases);
    for (let i = 0; i < 10; i++) await leases.bind(first(finder)!, client(i), 3600);
    expect(first(finder)).toBeUndefined();
    await leases.release('10.9.0.105');
    now += 10;
    await leases.release('10.9.0.102');
    // The empty result is trusted for a second; then the new scan sees both, oldest release first.
    now += 1000;
    expect([...finder.candidates([POOL], now)]).toEqual(['10.9.0.105', '10.9.0.102']);
    // An offer on a never-bound address that lapses is free again (no record on disk).
    const fresh = await LeaseTable.open(await mkdtemp(join(tmpdir(), 'rackboot-free-')), clock);
    const finder2 = new FreeAddressFinder(plan, fresh);
    for (let i = 0; i < 10; i++) fresh.offer(first(finder2)!, client(i), 1000);
    now += 2000;
    expect(new Set(finder2.candidates([POOL], now))).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `10.9.0.${100 + i}`)));
    await fresh.close();
  });
});

describe('ArpProber', () => {
  it('shares one probe between concurrent callers and trusts a free verdict until it ages out', async () => {
    let now = 0;
    const sent: string[] = [];
    const prober = new ArpProber({
      sendProbe: (ip) => sent.push(ip),
      icmpProbe: () => Promise.resolve(false),
      now: () => now,
      timeoutMs: 20,
      freeCacheMs: 1000,
      isConnected: () => true,
    });
    const [a, b] = await Promise.all([prober.inUse('10.9.0.100'), prober.inUse('10.9.0.100')]);
    expect([a, b]).toEqual([false, false]);
    expect(sent).toEqual(['10.9.0.100', '10.9.0.100']); // one probe: its two frames
    expect(prober.knownFree('10.9.0.100')).toBe(true);
    now = 1000;
    expect(prober.knownFree('10.9.0.100')).toBe(false);
    const answered = prober.inUse('10.9.0.100');
    prober.handleArp({ senderIp: '10.9.0.100' } as never);
    expect(await answered).toBe(true);
    expect(prober.knownFree('10.9.0.100')).toBe(false);
  });
});

describe('ipToInt', () => {
  it('accepts exactly what isIpv4 accepts', async () => {
    const { ipToInt, isIpv4 } = await import('../../firmware/src/net/addr.js');
    const samples = [
      '0.0.0.0',
      '255.255.255.255',
      '10.9.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.256',
      '1..2.3',
      '.1.2.3',
      '1.2.3.',
      ' 1.2.3.4',
      '1.2.3.4\n',
      '1.2.3.a',
      '',
      '1000.1.1.1',
      '0.0.0.00',
      '192.168.100.200',
    ];
    for (let i = 0; i < 2000; i++) samples.push(Array.from({ length: 4 }, () => String(Math.floor(Math.random() * 300))).join('.'));
    for (const text of samples) {
      if (isIpv4(text)) expect(ipToInt(text), text).toBe(text.split('.').reduce((v, p) => v * 256 + Number(p), 0));
      else expect(() => ipToInt(text), text).toThrow(RangeError);
    }
  });
});
