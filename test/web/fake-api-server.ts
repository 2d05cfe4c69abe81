// An in-memory stand-in for rackboot's REST API (firmware/src/http/api/contract.ts)
// that serves the built UI through firmware/src/http/ui.ts, so the browser
// tests can run before (and independently of) the real API. Tests talk to it
// through `baseUrl` like they would to real rackboot, and drive the "rack"
// through the small control surface below (stage events, profiles, power log).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  ApiError,
  ApiTokenInfo,
  ApplianceStatus,
  BootStats,
  ConfigView,
  LeaseView,
  NodeView,
  PowerResult,
  ProfileView,
  SessionInfo,
} from '../../firmware/src/model/api.js';
import { createUiRoutes, type WebAssets } from '../../firmware/src/http/ui.js';
import { Router } from '../../firmware/src/http/router.js';
import type { BootStage, Diagnosis } from '../../firmware/src/model/boot.js';
import type { EventType, RackbootEvent } from '../../firmware/src/model/event.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

export interface FakeApiOptions {
  assets: WebAssets;
  /** How many nodes the rack has (node-0001 ...). */
  nodes?: number;
  /** When set, setup is already done with this admin password. */
  password?: string;
  /** The clock for event times; tests pass a fixed one so timelines are deterministic. */
  now?: () => number;
}

export interface FakeApi {
  baseUrl: string;
  setupToken: string;
  nodes: Map<string, NodeView>;
  profiles: Map<string, ProfileView>;
  events: RackbootEvent[];
  powerRequests: { mac: string; action: string }[];
  powerAllRequests: { action: string }[];
  /** Moves a node to a stage (and optionally a diagnosis) and pushes the events to every SSE client. */
  setStage(mac: string, stage: BootStage, options?: { at?: number; diagnosis?: Diagnosis; detail?: string }): void;
  /** Pushes an arbitrary event (id and time filled in). */
  pushEvent(event: Omit<RackbootEvent, 'id' | 'at'> & { at?: number }): RackbootEvent;
  /** Open SSE connections. */
  streamClients(): number;
  close(): Promise<void>;
}

const MIN_PASSWORD = 8;
const MAX_BODY = 64 * 1024;
const MAX_LOGIN_FAILURES = 5;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

const fail = (status: number, error: string, message: string, field?: string) => new HttpError(status, { error, message, ...(field ? { field } : {}) });

export function fakeMac(index: number): string {
  return `52:54:00:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
}

const FAKE_ARCHES = ['', 'x64 UEFI', 'x86 BIOS', 'arm64 UEFI HTTP'];

function makeNode(index: number, now: number): NodeView {
  return {
    mac: fakeMac(index),
    name: `node-${String(index).padStart(4, '0')}`,
    ip: `10.0.${(index >> 8) & 0xff}.${index & 0xff}`,
    tags: [index % 2 ? 'odd' : 'even', `rack${Math.ceil(index / 40)}`],
    notes: '',
    origin: 'config',
    approved: true,
    createdAt: now,
    updatedAt: now,
    powerChannel: `relay-${index}`,
    stage: 'off',
    stageSince: now,
    // node-0001, 0009, ... (x64 UEFI) have shim + GRUB; the firmware of every fourth node is not yet seen.
    loader: index % 8 === 1 ? 'grub' : 'ipxe',
    ...(index % 4 !== 0 && { arch: FAKE_ARCHES[index % 4] }),
    boots: 0,
    booted: 0,
    dhcpAcks: 0,
    evidence: [],
    power: 'off',
    // Recovery is opt-in: on for node-0001 only.
    recovery: { on: index === 1, attempts: 0 },
  };
}

export async function startFakeApi(options: FakeApiOptions): Promise<FakeApi> {
  const now = options.now ?? (() => Date.now());
  const setupToken = 'setup-' + randomBytes(6).toString('hex');
  let password = options.password;
  let loginFailures = 0;
  const sessions = new Map<string, SessionInfo>();
  const tokens = new Map<string, ApiTokenInfo & { secret: string }>();
  const nodes = new Map<string, NodeView>();
  for (let i = 1; i <= (options.nodes ?? 12); i++) {
    const node = makeNode(i, now());
    nodes.set(node.mac, node);
  }
  const profiles = new Map<string, ProfileView>(
    [
      { name: 'ubuntu', kind: 'linux', settings: { kernel: 'ubuntu/vmlinuz', initrds: ['ubuntu/initrd'], cmdline: 'ip=dhcp' }, isDefault: true },
      { name: 'rescue', kind: 'linux', settings: { kernel: 'rescue/vmlinuz', initrds: ['rescue/initrd'] }, isDefault: false },
      { name: 'local-disk', kind: 'local', settings: {}, isDefault: false },
    ].map((p) => [p.name, p as ProfileView]),
  );
  const config = { defaultProfile: 'ubuntu', unknownNodes: 'boot' as 'boot' | 'hold' };
  const events: RackbootEvent[] = [];
  const streams = new Set<ServerResponse>();
  const powerRequests: { mac: string; action: string }[] = [];
  const powerAllRequests: { action: string }[] = [];
  let nextEventId = 1;

  function pushEvent(partial: Omit<RackbootEvent, 'id' | 'at'> & { at?: number }): RackbootEvent {
    const event: RackbootEvent = { ...partial, id: nextEventId++, at: partial.at ?? now() };
    events.push(event);
    for (const res of streams) writeEvent(res, event);
    return event;
  }

  function setStage(mac: string, stage: BootStage, opts: { at?: number; diagnosis?: Diagnosis; detail?: string } = {}): void {
    const node = nodes.get(mac);
    if (!node) throw new Error(`fake: no node ${mac}`);
    const at = opts.at ?? now();
    const updated: NodeView = { ...node, stage, stageSince: at, lastSeenAt: at };
    if (stage === 'power_on' || stage === 'dhcp_discover') {
      delete updated.diagnosis;
      delete updated.diagnosisDetail;
      updated.bootStartedAt = at;
      if (stage === 'dhcp_discover') updated.boots++;
    }
    if (stage === 'booted') updated.booted++;
    if (stage === 'acknowledged') updated.currentIp = node.ip;
    nodes.set(mac, updated);
    pushEvent({ type: 'stage', mac, node: node.name, stage, at, message: `${node.name} is at stage ${stage}` });
    if (opts.diagnosis) {
      updated.diagnosis = opts.diagnosis;
      updated.diagnosisDetail = opts.detail ?? opts.diagnosis;
      pushEvent({ type: 'diagnosis', mac, node: node.name, diagnosis: opts.diagnosis, at, message: opts.detail ?? opts.diagnosis });
    }
  }

  const findNode = (id: string): NodeView => {
    const key = decodeURIComponent(id).toLowerCase();
    const node = nodes.get(key) ?? [...nodes.values()].find((n) => n.name.toLowerCase() === key);
    if (!node) throw fail(404, 'not_found', `no node ${JSON.stringify(key)}`);
    return node;
  };

  const power = (node: NodeView, action: 'on' | 'off' | 'cycle'): PowerResult => {
    const state = action === 'off' ? 'off' : 'on';
    nodes.set(node.mac, { ...node, power: state });
    pushEvent({ type: 'power', mac: node.mac, node: node.name, by: 'admin', message: `power ${action} ${node.name}: ok` });
    if (action !== 'off') setStage(node.mac, 'power_on');
    else setStage(node.mac, 'off');
    return { mac: node.mac, name: node.name, action, ok: true, state };
  };

  function authenticate(req: IncomingMessage): SessionInfo | undefined {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (bearer) return [...tokens.values()].some((t) => t.secret === bearer[1]) ? { user: 'admin', csrfToken: '', expiresAt: now() + 3600_000 } : undefined;
    const sid = /(?:^|;\s*)rackboot_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const session = sid ? sessions.get(sid) : undefined;
    if (!session) return undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers['x-csrf-token'] !== session.csrfToken)
      throw fail(403, 'csrf', 'missing or wrong X-CSRF-Token header');
    return session;
  }

  function newSession(res: ServerResponse): SessionInfo {
    const sid = randomBytes(18).toString('base64url');
    const session: SessionInfo = { user: 'admin', csrfToken: randomBytes(18).toString('base64url'), expiresAt: now() + 8 * 3600_000 };
    sessions.set(sid, session);
    res.setHeader('Set-Cookie', `rackboot_session=${sid}; HttpOnly; SameSite=Strict; Path=/`);
    return session;
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<unknown> {
    const method = req.method ?? 'GET';
    const route = `${method} ${path.replace(/^\/api\/v1/, '')}`;
    const body = method === 'GET' ? undefined : await readJson(req);

    // PUBLIC
    if (route === 'GET /auth/state') {
      let authenticated: boolean;
      try {
        authenticated = authenticate(req) !== undefined;
      } catch {
        authenticated = false;
      }
      return { setupDone: password !== undefined, authenticated };
    }
    if (route === 'POST /auth/setup') {
      if (password !== undefined) throw fail(403, 'forbidden', 'setup is already done; log in');
      const { token, password: chosen } = body as { token?: unknown; password?: unknown };
      if (token !== setupToken) throw fail(403, 'bad_token', 'token: wrong setup token (see the console or the log)', 'token');
      if (typeof chosen !== 'string' || chosen.length < MIN_PASSWORD)
        throw fail(400, 'bad_request', `password: at least ${MIN_PASSWORD} characters`, 'password');
      password = chosen;
      pushEvent({ type: 'auth', by: 'admin', message: 'admin password set (setup done)' });
      return newSession(res);
    }
    if (route === 'POST /auth/login') {
      if (loginFailures >= MAX_LOGIN_FAILURES) throw new HttpError(429, { error: 'rate_limited', message: 'Too many failed logins.' }, { 'Retry-After': '30' });
      if (password === undefined) throw fail(403, 'forbidden', 'setup is not done yet');
      if ((body as { password?: unknown }).password !== password) {
        loginFailures++;
        throw fail(401, 'unauthorized', 'wrong password', 'password');
      }
      loginFailures = 0;
      return newSession(res);
    }

    const session = authenticate(req);
    if (!session) throw fail(401, 'unauthorized', 'not logged in');

    if (route === 'POST /auth/logout') {
      for (const [sid, s] of sessions) if (s === session) sessions.delete(sid);
      res.setHeader('Set-Cookie', 'rackboot_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
      return {};
    }
    if (route === 'GET /auth/session') return session;
    if (route === 'POST /auth/password') {
      const change = body as { current?: unknown; password?: unknown };
      if (change.current !== password) throw fail(403, 'forbidden', 'current: wrong password', 'current');
      if (typeof change.password !== 'string' || change.password.length < MIN_PASSWORD)
        throw fail(400, 'bad_request', `password: at least ${MIN_PASSWORD} characters`, 'password');
      password = change.password;
      return {};
    }
    if (route === 'GET /auth/tokens') return [...tokens.values()].map(({ secret: _secret, ...info }) => info);
    if (route === 'POST /auth/tokens') {
      const name = (body as { name?: unknown }).name;
      if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,31}$/i.test(name)) throw fail(400, 'bad_request', "name: letters, digits and '-'", 'name');
      if (tokens.has(name)) throw fail(409, 'conflict', `a token named ${name} exists`, 'name');
      const created = { name, createdAt: now(), secret: randomBytes(24).toString('base64url') };
      tokens.set(name, created);
      return { name, createdAt: created.createdAt, token: created.secret };
    }
    const tokenMatch = /^DELETE \/auth\/tokens\/([^/]+)$/.exec(route);
    if (tokenMatch) {
      if (!tokens.delete(decodeURIComponent(tokenMatch[1]))) throw fail(404, 'not_found', 'no such token');
      return {};
    }

    if (route === 'GET /status') {
      const nodesByStage: Partial<Record<BootStage, number>> = {};
      for (const n of nodes.values()) nodesByStage[n.stage] = (nodesByStage[n.stage] ?? 0) + 1;
      const status: ApplianceStatus = {
        version: '0.1.0 (fake)',
        uptimeSeconds: 3725,
        hostname: 'rackboot-fake',
        interface: 'eth1',
        address: '10.0.0.1',
        mode: 'dhcp',
        httpPort: 80,
        tftpPort: 69,
        nodes: nodes.size,
        nodesByStage,
        activeTftpTransfers: 2,
        activeHttpDownloads: 5,
        counters: { 'dhcp.rx': 1200, 'dhcp.tx': 1180, 'tftp.transfers': 410, 'http.requests': 2300 },
      };
      return status;
    }
    if (route === 'GET /stats') {
      const stats: BootStats = {
        nodesByStage: {},
        nodesByDiagnosis: {},
        bootsStarted: 10,
        bootsCompleted: 8,
        bootSeconds: { count: 8, min: 31, median: 44, p95: 70, max: 75 },
        dhcpAcksPerBoot: { 'bios-pxe': { boots: 8, acks: 16 } },
      };
      return stats;
    }
    if (route === 'GET /nodes') {
      const q = query.get('q')?.toLowerCase();
      return [...nodes.values()].filter((n) => (!query.get('stage') || n.stage === query.get('stage')) && (!q || n.name.includes(q) || n.mac.includes(q)));
    }
    if (route === 'POST /power') {
      const action = (body as { action?: unknown }).action;
      if (action !== 'on' && action !== 'off' && action !== 'cycle') throw fail(400, 'bad_request', "action: expected 'on', 'off' or 'cycle'", 'action');
      powerAllRequests.push({ action });
      return [...nodes.values()].filter((n) => n.powerChannel).map((n) => power(n, action));
    }
    const nodeMatch = /^(GET|PATCH|POST|DELETE) \/nodes\/([^/]+)(?:\/([a-z-]+))?$/.exec(route);
    if (nodeMatch) {
      const [, verb, id, action] = nodeMatch;
      const node = findNode(id);
      if (verb === 'GET' && !action) return node;
      if (verb === 'GET' && action === 'timeline') return events.filter((e) => e.mac === node.mac);
      if (verb === 'POST' && action === 'power') {
        const wanted = (body as { action?: unknown }).action;
        if (wanted !== 'on' && wanted !== 'off' && wanted !== 'cycle') throw fail(400, 'bad_request', "action: expected 'on', 'off' or 'cycle'", 'action');
        if (!node.powerChannel) throw fail(409, 'conflict', `${node.name} has no power channel`);
        powerRequests.push({ mac: node.mac, action: wanted });
        return power(node, wanted);
      }
      if (verb === 'POST' && action === 'approve') {
        const updated = { ...node, approved: true };
        nodes.set(node.mac, updated);
        return updated;
      }
      if (verb === 'POST' && action === 'next-boot') {
        const profile = (body as { profile?: unknown }).profile;
        if (typeof profile !== 'string' || !profiles.has(profile))
          throw fail(400, 'bad_request', `profile: no profile named ${JSON.stringify(profile)}`, 'profile');
        const updated = { ...node, nextBootProfile: profile };
        nodes.set(node.mac, updated);
        return updated;
      }
      if (verb === 'PATCH' && !action) {
        const change = body as { profile?: unknown; nextBootProfile?: unknown };
        const updated = { ...node, updatedAt: now() };
        if (change.profile !== undefined) {
          if (typeof change.profile !== 'string' || !profiles.has(change.profile))
            throw fail(400, 'bad_request', `profile: no profile named ${JSON.stringify(change.profile)}`, 'profile');
          updated.profile = change.profile;
        }
        if (change.nextBootProfile === null) delete updated.nextBootProfile;
        nodes.set(node.mac, updated);
        pushEvent({ type: 'node.updated', mac: node.mac, node: node.name, by: 'admin', message: `${node.name} updated` });
        return updated;
      }
      throw fail(404, 'not_found', `no route ${route}`);
    }
    if (route === 'GET /leases') {
      return [...nodes.values()]
        .filter((n) => n.currentIp)
        .map((n): LeaseView => ({ ip: n.currentIp!, mac: n.mac, state: 'bound', expiresAt: now() + 3600_000, node: n.name }));
    }
    if (route === 'GET /events') {
      const type = query.get('type');
      const mac = query.get('mac');
      const limit = Number(query.get('limit') ?? 1000);
      return events.filter((e) => (!type || e.type === type) && (!mac || e.mac === mac)).slice(-limit);
    }
    if (route === 'GET /profiles') return [...profiles.values()].map((p) => ({ ...p, isDefault: p.name === config.defaultProfile }));
    if (route === 'GET /config') return configView();
    if (route === 'PATCH /config') {
      const patch = body as Record<string, unknown>;
      for (const key of Object.keys(patch))
        if (key !== 'defaultProfile' && key !== 'unknownNodes') throw fail(400, 'bad_request', `${key}: cannot be changed at run time`, key);
      if (patch.defaultProfile !== undefined) {
        if (typeof patch.defaultProfile !== 'string' || !profiles.has(patch.defaultProfile)) {
          throw fail(
            400,
            'bad_request',
            `defaultProfile: no boot profile named ${JSON.stringify(patch.defaultProfile)} (known: ${[...profiles.keys()].join(', ')})`,
            'defaultProfile',
          );
        }
      }
      if (patch.unknownNodes !== undefined && patch.unknownNodes !== 'boot' && patch.unknownNodes !== 'hold')
        throw fail(400, 'bad_request', "unknownNodes: expected 'boot' or 'hold'", 'unknownNodes');
      Object.assign(config, patch);
      pushEvent({ type: 'config', by: 'admin', message: `config changed: ${Object.keys(patch).join(', ')}` });
      return configView();
    }
    throw fail(404, 'not_found', `no route ${route}`);
  }

  function configView(): ConfigView {
    return {
      source: '/etc/rackboot/rackboot.yaml',
      interface: 'eth1',
      mode: 'dhcp',
      serverAddress: '10.0.0.1',
      ...config,
      effective: { http: { port: 80 }, tftp: { port: 69 } },
    };
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': rackboot fake stream\n\n');
    // Only a resuming client (Last-Event-ID) gets what it missed; a new one starts from now.
    const last = req.headers['last-event-id'];
    if (last !== undefined) for (const event of events) if (event.id > Number(last)) writeEvent(res, event);
    streams.add(res);
    res.on('close', () => streams.delete(res));
  }

  const router = new Router(silentLogger, new Counters());
  for (const route of createUiRoutes(options.assets)) router.add(route);
  router.add({
    name: 'api',
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    prefix: '/api/v1',
    handler: async (req, res, ctx) => {
      try {
        if (ctx.path === '/api/v1/events/stream' && ctx.method === 'GET') {
          if (!authenticate(req)) throw fail(401, 'unauthorized', 'not logged in');
          openStream(req, res);
          return;
        }
        sendJson(res, req.method === 'POST' && /\/nodes$/.test(ctx.path) ? 201 : 200, await handleApi(req, res, ctx.path, ctx.query));
      } catch (error) {
        if (error instanceof HttpError) sendJson(res, error.status, error.body, error.headers);
        else sendJson(res, 500, { error: 'internal', message: (error as Error).message });
      }
    },
  });

  const server: Server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    setupToken,
    nodes,
    profiles,
    events,
    powerRequests,
    powerAllRequests,
    setStage,
    pushEvent,
    streamClients: () => streams.size,
    close: async () => {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function writeEvent(res: ServerResponse, event: RackbootEvent): void {
  res.write(`id: ${event.id}\nevent: ${event.type satisfies EventType}\ndata: ${JSON.stringify(event)}\n\n`);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw fail(413, 'too_large', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw fail(400, 'bad_request', 'the body is not JSON');
  }
}
