// Per-boot tokens: random, kept for the same boot, replaced by a new one, compared in constant time, bounded.
import { describe, expect, it, vi } from 'vitest';
import * as crypto from 'node:crypto';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});
import { BootTokens, isBootTokenText } from '../../firmware/src/boot-policy/boot-token.js';

const A = '52:54:00:00:00:01';
const B = '52:54:00:00:00:02';

describe('boot tokens', () => {
  it('are 128 random bits per boot, only the current one matches, and only for its node', () => {
    const tokens = new BootTokens();
    const first = tokens.forScript(A);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(isBootTokenText(first)).toBe(true);
    expect(tokens.matches(A, first)).toBe(true);
    expect(tokens.matches(B, first)).toBe(false);
    expect(tokens.matches(A, undefined)).toBe(false);
    expect(tokens.matches(A, '')).toBe(false);
    expect(tokens.matches(A, first.toUpperCase())).toBe(false);
    expect(tokens.matches(A, first.slice(0, 31))).toBe(false);
    expect(tokens.matches(A, `${first}0`)).toBe(false);

    // The retry loop presents it: the same boot keeps it.
    expect(tokens.forScript(A, first)).toBe(first);
    // A request without it (a new boot) or with a wrong one gets a new token; the old one is dead.
    const second = tokens.forScript(A);
    expect(second).not.toBe(first);
    expect(tokens.matches(A, first)).toBe(false);
    expect(tokens.forScript(A, first)).not.toBe(first);
    const seen = new Set(Array.from({ length: 200 }, () => tokens.forScript(B)));
    expect(seen.size).toBe(200);
  });

  it('compares with crypto.timingSafeEqual', () => {
    const tokens = new BootTokens();
    const token = tokens.forScript(A);
    const calls = vi.mocked(crypto.timingSafeEqual).mock.calls.length;
    expect(
      tokens.matches(
        A,
        token.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      ),
    ).toBe(false);
    expect(tokens.matches(A, token)).toBe(true);
    expect(vi.mocked(crypto.timingSafeEqual).mock.calls.length).toBe(calls + 2);
  });

  it('keeps a bounded number of nodes, forgetting the oldest', () => {
    const tokens = new BootTokens(3);
    const macs = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03', '02:00:00:00:00:04'];
    const issued = macs.map((mac) => tokens.forScript(mac));
    expect(tokens.size).toBe(3);
    expect(tokens.matches(macs[0], issued[0])).toBe(false);
    expect(tokens.matches(macs[3], issued[3])).toBe(true);
    tokens.forget(macs[3]);
    expect(tokens.matches(macs[3], issued[3])).toBe(false);
  });
});
