// The REST API's authentication, CSRF, validation and the booted callback,
// over a real HTTP server on 127.0.0.1 with a fake ApiHost and a fake clock.

import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthService, type AuthEventInput } from '../../firmware/src/auth/service.js';
import { createApi, type Api } from '../../firmware/src/http/api/routes.js';
import { ApiHostError, type ApiHost } from '../../firmware/src/http/api/host.js';
import type { ApiError, ApiTokenCreated, ApiTokenInfo, NodeView, PowerResult, RackbootEvent, SessionInfo } from '../../firmware/src/model/api.js';
import { createHttpServer, type RackbootHttpServer } from '../../firmware/src/http/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'correct horse battery';

function nodeView(mac: string, name: string, currentIp?: string): NodeView {
  return {
    mac,
    name,
    tags: [],
    notes: '',
    origin: 'api',
    approved: true,
    createdAt: 0,
    updatedAt: 0,
    stage: 'off',
    loader: 'ipxe',
    stageSince: 0,
    boots: 0,
    booted: 0,
    dhcpAcks: 0,
    evidence: [],
    power: 'unknown',
    recovery: { on: false, attempts: 0 },
    ...(currentIp !== undefined && { currentIp }),
  };
}

const BOOT_TOKEN = 'a'.repeat(32);

/** Records every call that changes something, so a refused request can be shown to have reached nothing. */
class FakeHost implements ApiHost {
  nodes = new Map<string, NodeView>([
    ['52:54:00:00:00:01', nodeView('52:54:00:00:00:01', 'n1', '127.0.0.1')],
    ['52:54:00:00:00:02', nodeView('52:54:00:00:00:02', 'n2', '10.9.9.9')],
  ]);
  writes: string[] = [];
  booted: string[] = [];
  eventLog: RackbootEvent[] = [];
  failWith: Error | undefined;
  private listeners = new Set<(e: RackbootEvent) => void>();

  status() {
    return {
      version: 't',
      uptimeSeconds: 1,
      hostname: 'h',
      interface: 'eth1',
      address: '10.0.0.1',
      mode: 'dhcp' as const,
      httpPort: 80,
      tftpPort: 69,
      nodes: this.nodes.size,
      nodesByStage: {},
      activeTftpTransfers: 0,
      activeHttpDownloads: 0,
      counters: {},
    };
  }
  listNodes() {
    if (this.failWith) throw this.failWith;
    return [...this.nodes.values()];
  }
  getNode(id: string) {
    return this.nodes.get(id) ?? [...this.nodes.values()].find((n) => n.name === id);
  }
  createNode(input: { mac: string; name?: string }, by: string) {
    this.writes.push(`create ${input.mac} by ${by}`);
    if ([...this.nodes.values()].some((n) => n.name === input.name)) throw new ApiHostError(409, 'conflict', `name: ${input.name} is taken`, 'name');
    const node = nodeView(input.mac, input.name ?? 'new');
    this.nodes.set(node.mac, node);
    return node;
  }
  updateNode(mac: string, _patch: unknown, by: string) {
    this.writes.push(`update ${mac} by ${by}`);
    return this.nodes.get(mac)!;
  }
  deleteNode(mac: string, by: string) {
    this.writes.push(`delete ${mac} by ${by}`);
  }
  approveNode(mac: string, by: string) {
    this.writes.push(`approve ${mac} by ${by}`);
    return this.nodes.get(mac)!;
  }
  setNextBoot(mac: string, profile: string | null, by: string) {
    this.writes.push(`next-boot ${mac} ${profile} by ${by}`);
    return this.nodes.get(mac)!;
  }
  timeline() {
    return [];
  }
  power(mac: string, action: 'on' | 'off' | 'cycle', by: string): PowerResult {
    this.writes.push(`power ${mac} ${action} by ${by}`);
    return { mac, name: 'n1', action, ok: true, state: 'on' };
  }
  powerAll(req: { action: 'on' | 'off' | 'cycle' }, by: string) {
    this.writes.push(`power-all ${req.action} by ${by}`);
    return [];
  }
  leases() {
    return [];
  }
  events(query: { after?: number; limit?: number }) {
    return this.eventLog.filter((e) => query.after === undefined || e.id > query.after).slice(0, query.limit ?? 1000);
  }
  subscribeEvents(listener: (e: RackbootEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  stats() {
    return { nodesByStage: {}, nodesByDiagnosis: {}, bootsStarted: 0, bootsCompleted: 0, bootSeconds: { count: 0 }, dhcpAcksPerBoot: {} };
  }
  profiles() {
    return [];
  }
  config() {
    return {
      source: 'test',
      interface: 'eth1',
      mode: 'dhcp' as const,
      serverAddress: '10.0.0.1',
      defaultProfile: 'linux',
      unknownNodes: 'boot' as const,
      effective: {},
    };
  }
  patchConfig(patch: object, by: string) {
    this.writes.push(`config ${JSON.stringify(patch)} by ${by}`);
    return this.config();
  }
  /** Node 01's current boot token is BOOT_TOKEN; nobody else has one. */
  confirmBoot(mac: string, token: string | undefined) {
    if (mac !== '52:54:00:00:00:01' || token !== BOOT_TOKEN) return false;
    this.booted.push(mac);
    return true;
  }
}

/** An answer; `json` is its body as the route documents it (an ApiError unless the caller names the type), undefined if not JSON. */
interface Answer<T = ApiError> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: T;
}

interface CallOptions {
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  cookie?: string;
  csrf?: string;
  bearer?: string;
  headers?: Record<string, string>;
  /** The client's source address (any of 127.0.0.0/8 on Linux), to be many hosts from one. */
  from?: string;
}

let stateDir: string;
let clock: { t: number; now(): number };
let host: FakeHost;
let auth: AuthService;
let api: Api;
let http: RackbootHttpServer;
let port: number;
let authEvents: AuthEventInput[];

async function start(): Promise<void> {
  auth = await AuthService.open(stateDir, { log: silentLogger, clock, scrypt: FAST_SCRYPT, onEvent: (e) => authEvents.push(e) });
  api = createApi({ host, auth, log: silentLogger, counters: new Counters(), clock });
  http = createHttpServer({
    root: stateDir,
    resolveNode: () => Promise.resolve(undefined),
    profiles: {},
    defaultProfile: 'linux',
    serverBase: 'http://127.0.0.1',
    log: silentLogger,
    counters: new Counters(),
    extraRoutes: api.routes,
  });
  await http.listen(0, '127.0.0.1');
  port = http.address().port;
}

async function stop(): Promise<void> {
  api.close();
  await http.close();
  await auth.close();
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'rbapi-auth-'));
  clock = {
    t: 1_700_000_000_000,
    now() {
      return this.t;
    },
  };
  host = new FakeHost();
  authEvents = [];
  await start();
});

afterEach(async () => {
  await stop();
  await rm(stateDir, { recursive: true, force: true });
});

function call<T = ApiError>(method: string, path: string, opts: CallOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.raw !== undefined) payload = Buffer.from(opts.raw);
  else if (opts.body !== undefined) payload = Buffer.from(JSON.stringify(opts.body));
  if (payload) {
    headers['Content-Type'] = opts.contentType ?? 'application/json';
    headers['Content-Length'] = String(payload.length);
  }
  if (opts.cookie) headers.Cookie = opts.cookie;
  if (opts.csrf) headers['X-CSRF-Token'] = opts.csrf;
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers, agent: false, ...(opts.from !== undefined && { localAddress: opts.from }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json: json as T });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function cookieOf(answer: Answer<unknown>): string {
  const set = answer.headers['set-cookie'];
  const line = (Array.isArray(set) ? set[0] : set) ?? '';
  return line.split(';')[0];
}

async function setUp(): Promise<{ cookie: string; csrf: string }> {
  const answer = await call<SessionInfo>('POST', '/api/v1/auth/setup', { body: { token: auth.setupToken(), password: PASSWORD } });
  expect(answer.status).toBe(200);
  return { cookie: cookieOf(answer), csrf: answer.json.csrfToken };
}

async function login(): Promise<{ cookie: string; csrf: string }> {
  const answer = await call<SessionInfo>('POST', '/api/v1/auth/login', { body: { password: PASSWORD } });
  expect(answer.status).toBe(200);
  return { cookie: cookieOf(answer), csrf: answer.json.csrfToken };
}

/** A valid body for each state-changing route, so a refusal can only come from auth. */
const VALID_BODIES: Record<string, unknown> = {
  'POST auth/password': { current: PASSWORD, password: 'another password' },
  'POST auth/tokens': { name: 'ci' },
  'POST nodes': { mac: '52:54:00:00:00:09', name: 'n9' },
  'PATCH nodes/:id': { notes: 'x' },
  'POST nodes/:id/power': { action: 'on' },
  'POST nodes/:id/next-boot': { profile: 'rescue' },
  'POST power': { action: 'cycle' },
  'PATCH config': { unknownNodes: 'hold' },
};

function concretePath(path: string): string {
  return '/api/v1/' + path.replace(':id', 'n1').replace(':name', 'ci');
}

describe('setup', () => {
  it('has no default password: the setup token, once, then login', async () => {
    let state = await call('GET', '/api/v1/auth/state');
    expect(state.json).toEqual({ setupDone: false, authenticated: false });
    const token = auth.setupToken()!;
    expect(token).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/);
    expect((await call('POST', '/api/v1/auth/login', { body: { password: 'whatever123' } })).status).toBe(403);

    const wrong = await call('POST', '/api/v1/auth/setup', { body: { token: 'AAAA-BBBB-CCCC-DDDD-EEEE', password: PASSWORD } });
    expect(wrong.status).toBe(401);
    expect(wrong.json.field).toBe('token');
    const short = await call('POST', '/api/v1/auth/setup', { body: { token, password: 'short' } });
    expect(short.status).toBe(400);
    expect(short.json.field).toBe('password');

    // Typed the way people type: lower case, no dashes.
    const done = await call<SessionInfo>('POST', '/api/v1/auth/setup', { body: { token: token.toLowerCase().replace(/-/g, ''), password: PASSWORD } });
    expect(done.status).toBe(200);
    const setCookie = String(done.headers['set-cookie']);
    expect(setCookie).toMatch(/^rackboot_session=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=\/$/);
    expect(done.json.user).toBe('admin');
    expect(done.headers['cache-control']).toBe('no-store');
    expect(auth.setupToken()).toBeUndefined();
    expect(authEvents.some((e) => /Setup done/.test(e.message))).toBe(true);

    const reuse = await call('POST', '/api/v1/auth/setup', { body: { token, password: 'attacker password' } });
    expect(reuse.status).toBe(403);
    state = await call('GET', '/api/v1/auth/state', { cookie: cookieOf(done) });
    expect(state.json).toEqual({ setupDone: true, authenticated: true });
    // The attacker's password was not set; the real one works.
    expect((await call('POST', '/api/v1/auth/login', { body: { password: 'attacker password' } })).status).toBe(401);
    expect((await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } })).status).toBe(200);
  });

  it('survives a restart: the password is kept, sessions are not, no new setup token', async () => {
    const { cookie } = await setUp();
    await stop();
    await start();
    expect(auth.setupToken()).toBeUndefined();
    expect((await call('GET', '/api/v1/status', { cookie })).status).toBe(401);
    await login();
  });

  it('limits setup token guesses per address', async () => {
    for (let i = 0; i < 5; i++) expect((await call('POST', '/api/v1/auth/setup', { body: { token: `WRONG-${i}`, password: PASSWORD } })).status).toBe(401);
    const limited = await call('POST', '/api/v1/auth/setup', { body: { token: auth.setupToken(), password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBe(60);
    clock.t += 60_000;
    expect((await call('POST', '/api/v1/auth/setup', { body: { token: auth.setupToken(), password: PASSWORD } })).status).toBe(200);
  });
});

describe('authentication and CSRF', () => {
  it('refuses every state-changing route without a session or token, before it reaches the app', async () => {
    await setUp();
    const writes = api.endpoints.filter((e) => !e.public && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(e.method));
    expect(writes.length).toBeGreaterThanOrEqual(12);
    for (const endpoint of writes) {
      const body = VALID_BODIES[`${endpoint.method} ${endpoint.path}`];
      const answer = await call(endpoint.method, concretePath(endpoint.path), body === undefined ? {} : { body });
      expect(answer.status, `${endpoint.method} ${endpoint.path}`).toBe(401);
      expect(answer.json.error).toBe('unauthorized');
    }
    // Reads too (everything not public).
    for (const endpoint of api.endpoints.filter((e) => !e.public && e.method === 'GET')) {
      expect((await call('GET', concretePath(endpoint.path))).status, endpoint.path).toBe(401);
    }
    expect(host.writes).toEqual([]);
    expect(auth.listTokens()).toEqual([]);
  });

  it('refuses cookie writes without the right CSRF token or from a foreign Origin', async () => {
    const { cookie, csrf } = await setUp();
    const body = { mac: '52:54:00:00:00:09', name: 'n9' };
    const missing = await call('POST', '/api/v1/nodes', { cookie, body });
    expect(missing.status).toBe(403);
    expect(missing.json.error).toBe('csrf');
    expect((await call('POST', '/api/v1/nodes', { cookie, csrf: csrf + 'x', body })).status).toBe(403);
    expect((await call('POST', '/api/v1/nodes', { cookie, csrf, body, headers: { Origin: 'http://evil.example' } })).status).toBe(403);
    expect((await call('POST', '/api/v1/nodes', { cookie, csrf, body, headers: { Origin: 'null' } })).status).toBe(403);
    expect((await call('POST', '/api/v1/nodes', { cookie, csrf, body, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(403);
    // Every write checks it, not just one route.
    for (const endpoint of api.endpoints.filter((e) => !e.public && ['POST', 'PATCH', 'DELETE'].includes(e.method))) {
      const b = VALID_BODIES[`${endpoint.method} ${endpoint.path}`];
      const answer = await call(endpoint.method, concretePath(endpoint.path), { cookie, ...(b !== undefined && { body: b }) });
      expect(answer.status, `${endpoint.method} ${endpoint.path}`).toBe(403);
    }
    // Login CSRF: a foreign page cannot log the browser in either.
    expect((await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD }, headers: { Origin: 'http://evil.example' } })).status).toBe(403);
    expect(host.writes).toEqual([]);

    const ok = await call('POST', '/api/v1/nodes', { cookie, csrf, body, headers: { Origin: `http://127.0.0.1:${port}` } });
    expect(ok.status).toBe(201);
    expect(host.writes).toEqual(['create 52:54:00:00:00:09 by admin']);
    // Reads need no CSRF token.
    expect((await call('GET', '/api/v1/nodes', { cookie })).status).toBe(200);
  });

  it('accepts a bearer token without CSRF, and not once it is revoked', async () => {
    const { cookie, csrf } = await setUp();
    const created = await call<ApiTokenCreated>('POST', '/api/v1/auth/tokens', { cookie, csrf, body: { name: 'ci' } });
    expect(created.status).toBe(201);
    const secret: string = created.json.token;
    expect(secret.length).toBeGreaterThan(40);
    const listed = await call('GET', '/api/v1/auth/tokens', { cookie });
    expect(listed.json).toEqual([{ name: 'ci', createdAt: clock.t }]);
    expect(listed.text).not.toContain(secret);
    expect((await call('POST', '/api/v1/auth/tokens', { cookie, csrf, body: { name: 'ci' } })).status).toBe(409);

    clock.t += 1000;
    const used = await call('POST', '/api/v1/nodes/n1/power', { bearer: secret, body: { action: 'cycle' } });
    expect(used.status).toBe(200);
    expect(host.writes).toEqual(['power 52:54:00:00:00:01 cycle by token:ci']);
    expect((await call<ApiTokenInfo[]>('GET', '/api/v1/auth/tokens', { cookie })).json[0].lastUsedAt).toBe(clock.t);
    expect((await call('GET', '/api/v1/nodes', { bearer: secret + 'x' })).status).toBe(401);

    expect((await call('DELETE', '/api/v1/auth/tokens/ci', { cookie, csrf })).status).toBe(200);
    const revoked = await call('POST', '/api/v1/nodes/n1/power', { bearer: secret, body: { action: 'off' } });
    expect(revoked.status).toBe(401);
    expect((await call('GET', '/api/v1/nodes', { bearer: secret })).status).toBe(401);
    expect(host.writes).toHaveLength(1);
    expect(authEvents.map((e) => e.message)).toEqual(expect.arrayContaining(['API token ci created', 'API token ci revoked']));
  });

  it('keeps tokens across a restart, as hashes only', async () => {
    const { cookie, csrf } = await setUp();
    const secret: string = (await call<ApiTokenCreated>('POST', '/api/v1/auth/tokens', { cookie, csrf, body: { name: 'backup' } })).json.token;
    await stop();
    const { readFile, readdir } = await import('node:fs/promises');
    for (const file of await readdir(stateDir)) expect(await readFile(join(stateDir, file), 'utf8')).not.toContain(secret);
    await start();
    expect((await call('GET', '/api/v1/nodes', { bearer: secret })).status).toBe(200);
  });

  it('rate-limits wrong passwords: 429 with Retry-After, then allowed after the window, longer each time', async () => {
    await setUp();
    for (let i = 0; i < 5; i++) expect((await call('POST', '/api/v1/auth/login', { body: { password: `wrong ${i}xxxxx` } })).status).toBe(401);
    let limited = await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(limited.json.error).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBe('60');
    clock.t += 59_000;
    limited = await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    clock.t += 1_000;
    await login();
    // A second lockout (the record was cleared by the success, so this starts over at 60 s) — then doubling.
    for (let i = 0; i < 5; i++) await call('POST', '/api/v1/auth/login', { body: { password: `wrong ${i}xxxxx` } });
    expect((await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } })).headers['retry-after']).toBe('60');
    clock.t += 60_000;
    for (let i = 0; i < 5; i++) await call('POST', '/api/v1/auth/login', { body: { password: `wrong ${i}xxxxx` } });
    expect((await call('POST', '/api/v1/auth/login', { body: { password: PASSWORD } })).headers['retry-after']).toBe('120');
    expect(authEvents.filter((e) => /locked out/.test(e.message)).length).toBe(3);
  });

  it('cannot be turned against the owner: after a flood of wrong passwords from many addresses, a fresh address logs in', async () => {
    await setUp();
    const { token } = (await call<ApiTokenCreated>('POST', '/api/v1/auth/tokens', { ...(await login()), body: { name: 'script' } })).json;
    for (let a = 2; a < 42; a++) {
      for (let i = 0; i < 6; i++) await call('POST', '/api/v1/auth/login', { from: `127.0.66.${a}`, body: { password: `wrong ${i}xxxxx` } });
    }
    expect((await call('POST', '/api/v1/auth/login', { from: '127.0.66.2', body: { password: PASSWORD } })).status).toBe(429);
    const owner = await call<SessionInfo>('POST', '/api/v1/auth/login', { from: '127.0.0.9', body: { password: PASSWORD } });
    expect(owner.status).toBe(200);
    expect((await call('GET', '/api/v1/nodes', { bearer: token, from: '127.0.66.2' })).status).toBe(200);
  });

  it('holds the limit against parallel guesses', async () => {
    await setUp();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call('POST', '/api/v1/auth/login', { body: { password: `guess ${i}xxxxx` } })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
  });

  it('ends idle sessions after 12 h and every session after 7 days', async () => {
    const first = await setUp();
    clock.t += 12 * 3600_000 - 1;
    expect((await call('GET', '/api/v1/status', { cookie: first.cookie })).status).toBe(200);
    clock.t += 12 * 3600_000;
    expect((await call('GET', '/api/v1/status', { cookie: first.cookie })).status).toBe(401);

    const second = await login();
    const info = await call<SessionInfo>('GET', '/api/v1/auth/session', { cookie: second.cookie });
    expect(info.json.expiresAt).toBe(clock.t + 12 * 3600_000);
    for (let h = 0; h < 7 * 24 - 1; h++) {
      clock.t += 3600_000;
      expect((await call('GET', '/api/v1/status', { cookie: second.cookie })).status).toBe(200);
    }
    clock.t += 3600_000;
    expect((await call('GET', '/api/v1/status', { cookie: second.cookie })).status).toBe(401);
  });

  it('logs out, and a password change ends the other sessions', async () => {
    const a = await setUp();
    const b = await login();
    const wrong = await call('POST', '/api/v1/auth/password', { ...a, body: { current: 'not it at all', password: 'new password 1' } });
    expect(wrong.status).toBe(403);
    expect(wrong.json.field).toBe('current');
    expect((await call('POST', '/api/v1/auth/password', { ...a, body: { current: PASSWORD, password: 'new password 1' } })).status).toBe(200);
    expect((await call('GET', '/api/v1/status', { cookie: a.cookie })).status).toBe(200);
    expect((await call('GET', '/api/v1/status', { cookie: b.cookie })).status).toBe(401);
    const out = await call('POST', '/api/v1/auth/logout', a);
    expect(out.status).toBe(200);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await call('GET', '/api/v1/status', { cookie: a.cookie })).status).toBe(401);
    expect(await auth.verifyPassword('new password 1')).toBe(true);
  });
});

describe('requests', () => {
  it('names the offending field', async () => {
    const s = await setUp();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/v1/nodes', { mac: 'zz:zz' }, 'mac'],
      ['POST', '/api/v1/nodes', { name: 'x' }, 'mac'],
      ['POST', '/api/v1/nodes', { mac: '52:54:00:00:00:09', color: 'red' }, 'color'],
      ['POST', '/api/v1/nodes', { mac: '52:54:00:00:00:09', ip: '10.0.0.300' }, 'ip'],
      ['POST', '/api/v1/nodes', { mac: '52:54:00:00:00:09', tags: ['ok', 'not ok'] }, 'tags'],
      ['POST', '/api/v1/nodes', { mac: '52:54:00:00:00:09', name: 'a b' }, 'name'],
      ['PATCH', '/api/v1/nodes/n1', { notes: 5 }, 'notes'],
      ['POST', '/api/v1/nodes/n1/power', { action: 'reboot' }, 'action'],
      ['POST', '/api/v1/power', { action: 'on', nodes: [] }, 'nodes'],
      ['PATCH', '/api/v1/config', { unknownNodes: 'maybe' }, 'unknownNodes'],
      ['POST', '/api/v1/auth/tokens', { name: 'has space' }, 'name'],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await call(method, path, { ...s, body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json.field, JSON.stringify(body)).toBe(field);
      expect(answer.json.message).toContain(field);
    }
    const query = await call('GET', '/api/v1/events?limit=0', s);
    expect([query.status, query.json.field]).toEqual([400, 'limit']);
    expect((await call('GET', '/api/v1/nodes?stage=flying', s)).json.field).toBe('stage');
    expect((await call('GET', '/api/v1/nodes?color=red', s)).json.field).toBe('color');
    // The host's own refusals keep their status and field.
    const taken = await call('POST', '/api/v1/nodes', { ...s, body: { mac: '52:54:00:00:00:09', name: 'n1' } });
    expect([taken.status, taken.json.field]).toEqual([409, 'name']);
  });

  it('refuses bodies that are too large, not JSON, or not declared JSON', async () => {
    const s = await setUp();
    const big = await call('POST', '/api/v1/nodes', { ...s, raw: JSON.stringify({ mac: '52:54:00:00:00:09', notes: 'x'.repeat(70_000) }) });
    expect(big.status).toBe(413);
    const text = await call('POST', '/api/v1/nodes', { ...s, raw: 'mac=52:54:00:00:00:09', contentType: 'application/x-www-form-urlencoded' });
    expect(text.status).toBe(415);
    const broken = await call('POST', '/api/v1/nodes', { ...s, raw: '{"mac":' });
    expect(broken.status).toBe(400);
    const array = await call('POST', '/api/v1/nodes', { ...s, body: [1] });
    expect(array.status).toBe(400);
    expect(host.writes).toEqual([]);
  });

  it('answers unknown paths with JSON 404, wrong methods with 405 and Allow, and hides internal errors', async () => {
    const s = await setUp();
    const missing = await call('GET', '/api/v1/nope', s);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/application\/json/);
    expect(missing.json.error).toBe('not_found');
    const wrong = await call('PUT', '/api/v1/nodes', s);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, POST');
    expect((await call('GET', '/api/v1/nodes/ghost', s)).status).toBe(404);
    host.failWith = new Error('secret detail at /srv/x.ts:12');
    const failed = await call('GET', '/api/v1/nodes', s);
    expect(failed.status).toBe(500);
    expect(failed.text).not.toContain('secret');
    expect(failed.text).not.toContain('.ts:');
  });
});

describe('booted callback', () => {
  it('is public, but only the holder of the boot token can mark the node booted', async () => {
    const t = `&token=${BOOT_TOKEN}`;
    expect((await call('GET', `/api/v1/booted?mac=52:54:00:00:00:01${t}`)).status).toBe(204);
    expect((await call('POST', `/api/v1/booted?mac=52-54-00-00-00-01${t}`, { raw: 'x=1', contentType: 'application/x-www-form-urlencoded' })).status).toBe(204);
    expect(host.booted).toEqual(['52:54:00:00:00:01', '52:54:00:00:00:01']);
    // The caller's address proves nothing: without the token, or with another, it is 403.
    const bare = await call('GET', '/api/v1/booted?mac=52:54:00:00:00:01');
    expect(bare.status).toBe(403);
    expect(bare.text).toContain('token');
    expect((await call('GET', `/api/v1/booted?mac=52:54:00:00:00:01&token=${'b'.repeat(32)}`)).status).toBe(403);
    expect((await call('GET', `/api/v1/booted?mac=52:54:00:00:00:02${t}`)).status).toBe(403);
    expect((await call('GET', `/api/v1/booted?mac=52:54:00:00:00:99${t}`)).status).toBe(404);
    expect((await call('GET', '/api/v1/booted?mac=nonsense')).status).toBe(400);
    expect(host.booted).toHaveLength(2);
  });
});
