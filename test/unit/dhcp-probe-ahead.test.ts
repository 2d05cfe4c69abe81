// The DHCP look-ahead on its own: when it probes (only under load, at most once
// per walk interval), how far and how many (depth and burst from the offer
// rate), and what it skips (known free, already being probed).
import { describe, expect, it } from 'vitest';
import { ProbeAhead, type ProbeAheadOptions } from '../../firmware/src/dhcp/probe-ahead.js';
import type { PoolConfig } from '../../firmware/src/config/schema.js';
import { silentLogger, type Logger } from '../../firmware/src/util/log.js';
import { FakeClock } from '../helpers/fake-clock.js';

const POOL: PoolConfig = { subnet: '10.9.0.0', prefix: 16, start: '10.9.0.1', end: '10.9.255.254' };
const ips = Array.from({ length: 4000 }, (_, i) => `10.9.${i >> 8}.${(i & 0xff) + 1}`);

interface Harness {
  ahead: ProbeAhead;
  clock: FakeClock;
  probed: string[];
  known: Set<string>;
  /** Settles every probe started so far. */
  finish(): Promise<void>;
}

function harness(overrides: Partial<ProbeAheadOptions> = {}): Harness {
  const clock = new FakeClock();
  clock.now = 1_700_000_000_000;
  const probed: string[] = [];
  const known = new Set<string>();
  const waiting: (() => void)[] = [];
  const ahead = new ProbeAhead({
    clock: clock.timers,
    verdicts: { knownFree: (ip) => known.has(ip) },
    free: { candidates: (pools) => (pools.length > 0 ? ips : []) },
    probe: (ip) => {
      probed.push(ip);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    log: silentLogger,
    ...overrides,
  });
  const finish = async (): Promise<void> => {
    for (const resolve of waiting.splice(0)) resolve();
    await new Promise((r) => setImmediate(r));
  };
  return { ahead, clock, probed, known, finish };
}

/** `count` offers, evenly spread over `ms`. */
function offer(h: Harness, count: number, ms = 0): void {
  for (let i = 0; i < count; i++) {
    h.ahead.offered([POOL]);
    h.clock.advance(ms / count);
  }
}

describe('ProbeAhead', () => {
  it('probes nothing below 20 new offers a second', () => {
    const h = harness();
    offer(h, 19, 900);
    expect(h.probed).toEqual([]);
  });

  it('from the 20th offer in a second walks half a second of offers ahead, at most the burst per walk', () => {
    const h = harness();
    offer(h, 19);
    h.ahead.offered([POOL]);
    // rate 20: depth max(8, 20 * 0.5) = 10, burst max(8, 4 * 20 * 50 ms) = 8
    expect(h.probed).toEqual(ips.slice(0, 8));
    expect(h.ahead.inFlight).toBe(8);
  });

  it('walks at most once per 50 ms, and skips addresses being probed or known free', async () => {
    const h = harness();
    offer(h, 20);
    expect(h.probed).toHaveLength(8);
    h.clock.advance(49);
    h.ahead.offered([POOL]);
    expect(h.probed).toHaveLength(8);
    h.clock.advance(1);
    h.known.add(ips[8]);
    h.ahead.offered([POOL]); // rate 22: depth 11; the first 8 are in flight, the 9th known free
    expect(h.probed.slice(8)).toEqual([ips[9], ips[10]]);
    await h.finish();
    expect(h.ahead.inFlight).toBe(0);
  });

  it('goes deeper and probes more per walk as the rate rises, within the bounds', async () => {
    const h = harness();
    offer(h, 1000, 999);
    await h.finish();
    h.clock.advance(50);
    // rate 1000 (the window before): depth 500, burst 4 * 1000 * 50 ms = 200
    let before = h.probed.length;
    h.ahead.offered([POOL]);
    expect(h.probed.slice(before)).toEqual(ips.slice(0, 200));
    await h.finish();
    for (const ip of ips.slice(0, 400)) h.known.add(ip);
    h.clock.advance(50);
    before = h.probed.length;
    h.ahead.offered([POOL]);
    expect(h.probed.slice(before)).toEqual(ips.slice(400, 500));
  });

  it('keeps the previous window as the rate, and forgets it after a second without offers', async () => {
    const h = harness();
    offer(h, 30, 990);
    await h.finish();
    const start = h.probed.length;
    expect(start).toBeGreaterThan(0);
    h.clock.advance(20); // a new window: one offer in it, but 30 in the one before
    h.ahead.offered([POOL]);
    expect(h.probed.length).toBeGreaterThan(start);

    const idle = harness();
    offer(idle, 30, 990);
    await idle.finish();
    const seen = idle.probed.length;
    idle.clock.advance(2000);
    idle.ahead.offered([POOL]);
    expect(idle.probed).toHaveLength(seen);
  });

  it('probes nothing when the prober keeps no free verdicts', () => {
    const h = harness({ verdicts: {} });
    offer(h, 100);
    expect(h.probed).toEqual([]);
  });

  it('logs a probe that fails and lets the address be probed again', async () => {
    const warnings: unknown[] = [];
    const log: Logger = { ...silentLogger, warn: (msg, fields) => warnings.push({ msg, ...fields }), child: () => log };
    let fail = true;
    const probed: string[] = [];
    const h = harness({
      log,
      probe: (ip) => {
        probed.push(ip);
        return fail ? Promise.reject(new Error('socket closed')) : Promise.resolve(false);
      },
    });
    offer(h, 20);
    await new Promise((r) => setImmediate(r));
    expect(warnings).toHaveLength(8);
    expect(warnings[0]).toMatchObject({ msg: 'background conflict probe failed', ip: ips[0] });
    expect(h.ahead.inFlight).toBe(0);
    fail = false;
    h.clock.advance(50);
    h.ahead.offered([POOL]);
    expect(probed.slice(8, 10)).toEqual([ips[0], ips[1]]);
  });
});
