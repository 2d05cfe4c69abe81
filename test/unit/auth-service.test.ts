// The auth building blocks without HTTP: password hashing, the setup token,
// the attempt throttle (fake clock) and the service's persistence.

import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword, isPasswordHash, passwordProblem, verifyPassword } from '../../firmware/src/auth/password.js';
import { canonicalSetupToken, constantTimeEqual, createSetupToken } from '../../firmware/src/auth/secrets.js';
import { AuthError, AuthService, type AuthEventInput } from '../../firmware/src/auth/service.js';
import { AttemptThrottle } from '../../firmware/src/auth/throttle.js';
import { createLogger } from '../../firmware/src/util/log.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('password hashing', () => {
  it('stores scrypt parameters and a random salt with the hash, and verifies only the right password', async () => {
    const a = await hashPassword('hunter2hunter2', FAST);
    const b = await hashPassword('hunter2hunter2', FAST);
    expect(a).toMatchObject({ algorithm: 'scrypt', N: 1024, r: 8, p: 1 });
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifyPassword('hunter2hunter2', a)).toBe(true);
    expect(await verifyPassword('hunter2hunter3', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('refuses stored parameters that would make a login take minutes', async () => {
    const good = await hashPassword('hunter2hunter2', FAST);
    expect(isPasswordHash(good)).toBe(true);
    expect(isPasswordHash({ ...good, N: 1 << 24 })).toBe(false);
    expect(isPasswordHash({ ...good, N: 1000 })).toBe(false);
    expect(isPasswordHash({ ...good, p: 1000 })).toBe(false);
    expect(await verifyPassword('hunter2hunter2', { ...good, N: 1 << 24 })).toBe(false);
  });

  it('explains weak passwords', () => {
    expect(passwordProblem('short')).toMatch(/at least 8/);
    expect(passwordProblem('        ')).toMatch(/blanks/);
    expect(passwordProblem('long enough')).toBeUndefined();
  });
});

describe('setup token', () => {
  it('is 100 bits of unambiguous base32 in groups, and forgiving to type', () => {
    const tokens = new Set(Array.from({ length: 200 }, createSetupToken));
    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(token).toMatch(/^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}){4}$/);
    expect(canonicalSetupToken('abcd-efgh 0o1l-iiii')).toBe('ABCDEFGH00111111');
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('attempt throttle', () => {
  it('locks an address out after 5 failures a minute, doubling up to the cap, and forgets after a quiet hour', () => {
    const t = new AttemptThrottle({ global: 1000 });
    let now = 0;
    const fail5 = () => {
      for (let i = 0; i < 4; i++) t.failure('10.0.0.9', now);
      return t.failure('10.0.0.9', now);
    };
    // Spread out, failures do not add up.
    for (let i = 0; i < 20; i++) {
      expect(t.failure('10.0.0.9', now).allowed).toBe(true);
      now += 15_000;
      if (i % 4 === 3) now += 60_000;
    }
    now += 3 * 3600_000;
    const locks: number[] = [];
    for (let round = 0; round < 8; round++) {
      const verdict = fail5();
      expect(verdict.allowed).toBe(false);
      expect(verdict.lockoutStarted).toBe(true);
      if (!verdict.allowed) locks.push(verdict.retryAfterMs);
      expect(t.check('10.0.0.8', now).allowed).toBe(true); // other addresses unaffected
      now += verdict.allowed ? 0 : verdict.retryAfterMs;
      expect(t.check('10.0.0.9', now).allowed).toBe(true);
    }
    expect(locks).toEqual([60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
    now += 3600_001;
    const fresh = fail5();
    expect(fresh.allowed === false && fresh.retryAfterMs).toBe(60_000);
  });

  it('when many addresses fail together, makes only the ones that failed recently wait, never a fresh address', () => {
    const t = new AttemptThrottle({ global: 30 });
    for (let i = 0; i < 29; i++) expect(t.failure(`10.1.0.${i}`, 1000 + i).allowed).toBe(true);
    const last = t.failure('10.1.0.200', 2000);
    expect(last.allowed).toBe(false);
    expect(last.lockoutStarted).toBe(true);
    // An address that failed within the window waits until its failure is a window old...
    expect(t.check('10.1.0.5', 2000)).toEqual({ allowed: false, retryAfterMs: 59_005, scope: 'global' });
    expect(t.check('10.1.0.5', 61_005).allowed).toBe(true);
    // ...and one that has not failed may try at once.
    expect(t.check('10.9.9.9', 2000)).toEqual({ allowed: true });
  });

  it('bounds an attacker with endless addresses to one guess per address per window, and IPv6 by its /64', () => {
    const t = new AttemptThrottle({ global: 30 });
    let now = 0;
    for (let i = 0; i < 200; i++) t.failure(`10.2.${i >> 8}.${i & 255}`, now++);
    expect(t.check('10.2.0.7', now).allowed).toBe(false);
    expect(t.failure('10.2.0.7', now).allowed).toBe(false);
    for (let i = 0; i < 10; i++) t.failure(`2001:db8:1:2::${i + 1}`, now);
    expect(t.check('2001:db8:1:2:ffff:1:2:3', now)).toMatchObject({ allowed: false });
    expect(t.check('2001:db8:1:3::1', now)).toEqual({ allowed: true });
    expect(t.check('10.200.0.1', now)).toEqual({ allowed: true });
  });

  it('tracks a bounded number of addresses', () => {
    const t = new AttemptThrottle({ maxTracked: 100, global: 1e9 });
    for (let i = 0; i < 10_000; i++) t.failure(`addr-${i}`, i);
    expect(t.trackedAddresses).toBeLessThanOrEqual(100);
  });
});

describe('auth service', () => {
  let dir: string;
  let events: AuthEventInput[];
  let lines: string[];
  const clock = {
    t: 5_000_000,
    now() {
      return this.t;
    },
  };
  const open = () =>
    AuthService.open(dir, {
      log: createLogger({ format: 'json', write: (line) => lines.push(line) }),
      clock,
      scrypt: FAST,
      onEvent: (e) => events.push(e),
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbapi-authsvc-'));
    events = [];
    lines = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('logs the setup token once at warn level, and the console can set the first password', async () => {
    const auth = await open();
    const token = auth.setupToken()!;
    const warnings = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toBe(`setup token: ${token}`);
    expect(auth.state()).toEqual({ setupDone: false });
    await auth.setPassword('from the console', 'console');
    expect(auth.state()).toEqual({ setupDone: true });
    expect(auth.setupToken()).toBeUndefined();
    await expect(auth.completeSetup(token, 'another password', '10.0.0.5')).rejects.toMatchObject({ status: 403 });
    expect(await auth.verifyPassword('from the console')).toBe(true);
    expect(events.map((e) => [e.message, e.by])).toEqual([['Setup done: admin password set', 'console']]);
    await auth.close();
    // The store holds a hash, never the password.
    for (const file of await readdir(dir)) expect(await readFile(join(dir, file), 'utf8')).not.toContain('from the console');
  });

  it('lets only one of two simultaneous setups with the right token win', async () => {
    const auth = await open();
    const token = auth.setupToken()!;
    const results = await Promise.allSettled([auth.completeSetup(token, 'first password', 'a'), auth.completeSetup(token, 'second password', 'b')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(AuthError);
    await auth.close();
  });

  it('skips damaged records in its store instead of failing to start', async () => {
    const auth = await open();
    await auth.setPassword('the password', 'console');
    await auth.createToken('ok', 'admin');
    await auth.close();
    await appendFile(join(dir, 'auth.journal'), 'garbage line\n00000000 {"k":"admin","v":{"kind":"admin"}}\n');
    const reopened = await open();
    expect(reopened.state().setupDone).toBe(true);
    expect(await reopened.verifyPassword('the password')).toBe(true);
    expect(reopened.listTokens().map((t) => t.name)).toEqual(['ok']);
    await reopened.close();
  });

  it('reports login failures as events, throttled, and lockouts always', async () => {
    const auth = await open();
    await auth.setPassword('the password', 'console');
    events = [];
    for (let i = 0; i < 4; i++) await expect(auth.login('wrong password', '10.0.0.7')).rejects.toMatchObject({ status: 401 });
    expect(events.map((e) => e.message)).toEqual(['Failed login from 10.0.0.7']);
    await expect(auth.login('wrong password', '10.0.0.7')).rejects.toMatchObject({ status: 401 });
    expect(events.at(-1)!.message).toBe('Too many failed login attempts: 10.0.0.7 locked out for 60 s');
    await expect(auth.login('the password', '10.0.0.7')).rejects.toMatchObject({ status: 429, retryAfterSeconds: 60 });
    expect(events).toHaveLength(2);
    await auth.close();
  });

  it('a login flood from many addresses cannot lock the owner out: a fresh address, API tokens and the console still work', async () => {
    const auth = await open();
    await auth.setPassword('the password', 'console');
    const { token } = await auth.createToken('script', 'admin');
    // Forty addresses, each guessing until it is refused: far past the per-address and the global limit.
    for (let a = 0; a < 40; a++) {
      for (let i = 0; i < 6; i++) await expect(auth.login(`guess ${i}`, `10.66.0.${a + 1}`)).rejects.toMatchObject({ status: expect.any(Number) as number });
    }
    await expect(auth.login('the password', '10.66.0.1')).rejects.toMatchObject({ status: 429 });
    const owner = await auth.login('the password', '10.0.0.2');
    expect(owner.session.address).toBe('10.0.0.2');
    expect(auth.useToken(token)).toMatchObject({ name: 'script' });
    expect(await auth.verifyPassword('the password')).toBe(true);
    // Every lockout ends: an hour later the flooding addresses may try again.
    clock.t += 3600_000;
    await expect(auth.login('the password', '10.66.0.1')).resolves.toMatchObject({ session: { address: '10.66.0.1' } });
    await auth.close();
  });

  it('a console passwd begun before setup cannot overwrite the password the web setup set meanwhile', async () => {
    const auth = await open();
    const token = auth.setupToken()!;
    // The console saw no password and is prompting; the web setup completes first.
    await auth.completeSetup(token, 'set through the web', '10.0.0.5');
    await expect(auth.setFirstPassword('typed at the console', 'console')).rejects.toMatchObject({ status: 409, code: 'already_set_up' });
    expect(await auth.verifyPassword('set through the web')).toBe(true);
    expect(await auth.verifyPassword('typed at the console')).toBe(false);
    await auth.close();
  });

  it('of a web setup and a console first password started together, exactly one wins', async () => {
    for (const consoleFirst of [true, false]) {
      await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(tmpdir(), 'rbapi-authsvc-'));
      const auth = await open();
      const token = auth.setupToken()!;
      const web = () => auth.completeSetup(token, 'set through the web', '10.0.0.5');
      const console = () => auth.setFirstPassword('typed at the console', 'console');
      const results = await Promise.allSettled(consoleFirst ? [console(), web()] : [web(), console()]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
      expect(await auth.verifyPassword(consoleFirst ? 'typed at the console' : 'set through the web')).toBe(true);
      await auth.close();
    }
  });

  it("keeps a token's last use on disk, at most every 10 minutes", async () => {
    const auth = await open();
    const { token } = await auth.createToken('script', 'admin');
    expect(auth.useToken(token)).toMatchObject({ name: 'script' });
    const firstUse = clock.t;
    clock.t += 60_000;
    auth.useToken(token);
    expect(auth.listTokens()[0].lastUsedAt).toBe(clock.t);
    await auth.close();
    const reopened = await open();
    expect(reopened.listTokens()[0].lastUsedAt).toBe(firstUse);
    expect(reopened.useToken(token + 'x')).toBeUndefined();
    expect(reopened.useToken('not even the format')).toBeUndefined();
    await reopened.revokeToken('script', 'admin');
    expect(reopened.useToken(token)).toBeUndefined();
    await expect(reopened.revokeToken('script', 'admin')).rejects.toMatchObject({ status: 404 });
    await reopened.close();
  });
});
