// Which node a boot script request is for: named by the requester's address,
// never by ?mac= alone; mismatches bounded and counted; hold applies; only
// RFC 1123 labels from DHCP option 12 reach a script.
import { describe, expect, it } from 'vitest';
import { BootTokens } from '../../firmware/src/boot-policy/boot-token.js';
import { isHostLabel, NodeResolver, type BootNode, type MacMismatch } from '../../firmware/src/boot-policy/nodes.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';
import { Counters } from '../../firmware/src/util/counters.js';

const VICTIM = '52:54:00:00:00:01';
const ATTACKER = '52:54:00:00:00:66';

function record(mac: string, name: string, approved = true): NodeRecord {
  return { mac, name, tags: [], notes: '', origin: 'api', approved, createdAt: 0, updatedAt: 0 };
}

function world(
  opts: {
    hold?: boolean;
    hostnames?: Record<string, string>;
    neighbours?: Record<string, string>;
    leases?: Record<string, { mac: string; state: string }>;
    recordDiscovered?: boolean;
  } = {},
) {
  const nodes = new Map<string, NodeRecord>([[VICTIM, { ...record(VICTIM, 'victim'), profile: 'compute', nextBootProfile: 'reimage' }]]);
  const discovered: string[] = [];
  const served: { mac: string; profile: string; oneShot: boolean; token?: string }[] = [];
  const mismatches: MacMismatch[] = [];
  const addresses: Record<string, string> = { '10.0.0.5': VICTIM, '10.0.0.66': ATTACKER };
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
  const counters = new Counters();
  const tokens = new BootTokens();
  const resolver = new NodeResolver({
    directory: {
      get: (mac) => nodes.get(mac),
      nextBoot: (mac) => nodes.get(mac)?.nextBootProfile,
      isBootAllowed: (mac) => {
        const node = nodes.get(mac);
        return node ? node.approved : !opts.hold;
      },
      discover: (mac) => {
        discovered.push(mac);
        if (opts.recordDiscovered !== false) nodes.set(mac, record(mac, `node-${mac.replace(/:/g, '')}`, !opts.hold));
        return Promise.resolve();
      },
    },
    defaultProfile: () => 'compute',
    holdUnknown: () => opts.hold === true,
    addressOf: (ip) => addresses[ip],
    leases: { byIp: (ip) => opts.leases?.[ip], byClient: (mac) => (opts.hostnames?.[mac] !== undefined ? { hostname: opts.hostnames[mac] } : undefined) },
    neighbourLookup: (ip) => Promise.resolve(opts.neighbours?.[ip]),
    tokens,
    counters,
    clock,
    onMacMismatch: (m) => mismatches.push(m),
    onProfileServed: (mac, profile, oneShot, token) => served.push({ mac, profile, oneShot, ...(token !== undefined && { token }) }),
  });
  return { nodes, discovered, served, mismatches, clock, counters, tokens, resolver };
}

describe('boot script attribution', () => {
  it('trusts the bound lease on the address over ARP seen on the link (which anyone can forge)', async () => {
    // The address book says the victim's address is the attacker's MAC (forged ARP); the lease says it is the victim's.
    const w = world({ leases: { '10.0.0.66': { mac: VICTIM, state: 'bound' } } });
    const node = (await w.resolver.resolve({ mac: ATTACKER, ip: '10.0.0.66' })) as BootNode;
    expect(node).toMatchObject({ mac: VICTIM, attributed: true });
    expect(node.token).toBeUndefined(); // ?mac= named another MAC: no token for the requester
    // An offer or an ended lease names no holder: the address book decides.
    const offered = world({ leases: { '10.0.0.66': { mac: VICTIM, state: 'offered' } } });
    expect(await offered.resolver.resolve({ mac: ATTACKER, ip: '10.0.0.66' })).toMatchObject({ mac: ATTACKER, attributed: true });
  });

  it('gives the node at the address its own script with a token and its one-shot profile; ?mac= alone names nobody', async () => {
    const w = world();
    const own = (await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.5' })) as BootNode;
    expect(own).toMatchObject({ mac: VICTIM, name: 'victim', profile: 'reimage', attributed: true });
    expect(w.tokens.matches(VICTIM, own.token)).toBe(true);
    expect(w.served).toEqual([{ mac: VICTIM, profile: 'reimage', oneShot: true, token: own.token }]);

    // Another host claims to be the victim: it gets its own node's script, with no token and nothing for the victim.
    const forged = (await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.66', profile: 'nope' })) as BootNode;
    expect(forged).toMatchObject({ mac: ATTACKER, attributed: true });
    expect(forged.token).toBeUndefined();
    expect(forged.profile).toBe('nope');
    expect(w.served.slice(1)).toEqual([{ mac: ATTACKER, profile: 'nope', oneShot: false }]);
    expect(w.tokens.matches(VICTIM, own.token)).toBe(true); // the victim's boot is untouched
    expect(w.counters.get('boot.mac_mismatch')).toBe(1);
    expect(w.mismatches).toEqual([{ remote: '10.0.0.66', claimed: VICTIM, actual: ATTACKER, count: 1 }]);
  });

  it('falls back to the kernel neighbour table, and without any address only serves the claim, unattributed and without a token', async () => {
    const w = world({ neighbours: { '10.0.0.7': VICTIM } });
    expect(await w.resolver.resolve({ ip: '10.0.0.7' })).toMatchObject({ mac: VICTIM, attributed: true });
    const served = w.served.length;
    const claim = (await w.resolver.resolve({ mac: VICTIM, ip: '192.0.2.1' })) as BootNode;
    expect(claim).toMatchObject({ mac: VICTIM, profile: 'compute', attributed: false });
    expect(claim.token).toBeUndefined();
    expect(w.served).toHaveLength(served);
    expect(await w.resolver.resolve({ ip: '192.0.2.1' })).toBeUndefined();
  });

  it('keeps the token through the retry loop and replaces it for a new boot', async () => {
    const w = world();
    const first = ((await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.5' })) as BootNode).token!;
    expect(((await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.5', token: first })) as BootNode).token).toBe(first);
    // Presented by another host, it is a mismatch and changes nothing.
    expect(((await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.66', token: first })) as BootNode).token).toBeUndefined();
    expect(w.tokens.matches(VICTIM, first)).toBe(true);
    const next = ((await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.5' })) as BootNode).token!;
    expect(next).not.toBe(first);
  });

  it('reports mismatches once per source per 10 minutes and 8 overall, and counts every one', async () => {
    const w = world();
    for (let i = 0; i < 5; i++) await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.66' });
    expect(w.mismatches).toHaveLength(1);
    const sources = Array.from({ length: 20 }, (_, i) => `10.0.1.${i + 1}`);
    const many = world({ neighbours: Object.fromEntries(sources.map((ip, i) => [ip, `02:00:00:00:01:${(i + 16).toString(16)}`])) });
    for (const ip of sources) await many.resolver.resolve({ mac: VICTIM, ip });
    expect(many.mismatches).toHaveLength(8);
    expect(many.counters.get('boot.mac_mismatch')).toBe(20);
    // A new window: the first source is reported again, with what was held back since.
    many.clock.advance(10 * 60_000);
    await many.resolver.resolve({ mac: VICTIM, ip: sources[0] });
    expect(many.mismatches).toHaveLength(9);
    expect(many.mismatches[8]).toMatchObject({ remote: sources[0], count: 1 });
    for (let i = 0; i < 3; i++) await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.66' });
    w.clock.advance(10 * 60_000);
    await w.resolver.resolve({ mac: VICTIM, ip: '10.0.0.66' });
    expect(w.mismatches[1]).toMatchObject({ count: 8 });
  });
});

describe('unknown nodes over HTTP', () => {
  it('under hold: the asking MAC becomes a held node and gets no script', async () => {
    const w = world({ hold: true });
    expect(await w.resolver.resolve({ mac: ATTACKER, ip: '10.0.0.66' })).toEqual({ held: true, mac: ATTACKER });
    expect(w.discovered).toEqual([ATTACKER]);
    expect(w.nodes.get(ATTACKER)?.approved).toBe(false);
    expect(await w.resolver.resolve({ ip: '10.0.0.66' })).toEqual({ held: true, mac: ATTACKER });
    // Nobody at the address and an unknown claim: held too, and nothing recorded from a claim.
    expect(await w.resolver.resolve({ mac: '52:54:00:00:00:77', ip: '192.0.2.1' })).toEqual({ held: true });
    expect(await w.resolver.resolve({ ip: '192.0.2.1' })).toEqual({ held: true });
    expect(w.discovered).toEqual([ATTACKER]);
    expect(w.served).toEqual([]);
  });

  it('under boot: the asking MAC is discovered and boots the default profile', async () => {
    const w = world();
    expect(await w.resolver.resolve({ ip: '10.0.0.66' })).toMatchObject({ mac: ATTACKER, profile: 'compute', attributed: true });
    expect(w.discovered).toEqual([ATTACKER]);
  });
});

describe('node names in scripts', () => {
  it('take option-12 host names only when they are RFC 1123 labels', async () => {
    const evil = '52:54:00:00:00:10';
    const fine = '52:54:00:00:00:11';
    const w = world({
      neighbours: { '10.0.0.10': evil, '10.0.0.11': fine },
      hostnames: { [evil]: 'x init=/bin/sh ${net0/ip};', [fine]: 'rack1-n07' },
      // Not recorded yet (discovery is asynchronous): the lease's name is what the script shows.
      recordDiscovered: false,
    });
    expect(((await w.resolver.resolve({ ip: '10.0.0.10' })) as BootNode).name).toBe('node-525400000010');
    expect(((await w.resolver.resolve({ ip: '10.0.0.11' })) as BootNode).name).toBe('rack1-n07');
    for (const bad of ['', '-a', 'a-', 'a b', 'a.b', 'a;b', 'a$b', 'x'.repeat(64), 'ünï', 'a\nb']) expect(isHostLabel(bad), bad).toBe(false);
    for (const good of ['a', 'A1', 'n-1', '1rack', 'x'.repeat(63)]) expect(isHostLabel(good), good).toBe(true);
  });
});
