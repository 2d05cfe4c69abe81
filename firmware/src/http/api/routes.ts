// The REST API under /api/v1 (contract.ts), as one row of the HTTP server's
// routing table plus /metrics. Every request goes through the same steps:
//   match the route (JSON 404 / 405 with Allow) → Origin check for writes →
//   who is calling (cookie or bearer) → 401 unless the route is public →
//   CSRF header for cookie writes → body (64 kB, JSON only, strict fields) →
//   the handler, whose refusals become ApiError bodies.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthService, LoggedIn } from '../../auth/service.js';
import { isMac, normalizeMac } from '../../net/addr.js';
import type { Clock } from '../../util/clock.js';
import type { Counters } from '../../util/counters.js';
import type { Logger } from '../../util/log.js';
import { BOOTED_PATH } from '../booted-url.js';
import { createMetricsRoute, type RateMeter } from '../metrics.js';
import type { RequestContext, Route } from '../router.js';
import { EventStreams, parseLastEventId, type SseLimits } from '../sse.js';
import { discardBody, readJsonBody } from './body.js';
import type { AuthState, NodeView } from '../../model/api.js';
import {
  accessOf,
  checkCsrf,
  checkOrigin,
  clearedSessionCookie,
  identify,
  isHttps,
  isStateChanging,
  requirePrincipal,
  sessionCookie,
  type Principal,
} from './guard.js';
import type { ApiHost } from './host.js';
import { ApiFailure, notFound, sendEmpty, sendFailure, sendJson, toFailure } from './respond.js';
import * as valid from './validate.js';

export const API_PREFIX = '/api/v1';
export { BOOTED_PATH };

export interface ApiOptions {
  host: ApiHost;
  auth: AuthService;
  log: Logger;
  counters: Counters;
  clock: Clock;
  sse?: Partial<SseLimits>;
}

/** What a handler gets. */
interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  ctx: RequestContext;
  params: Record<string, string>;
  principal: Principal | undefined;
  /** The parsed JSON body (undefined when none was sent). */
  body: unknown;
}

/** A JSON answer, or 'sent' when the handler answered itself (SSE, 204). */
type Reply = { status?: number; body: unknown; headers?: Record<string, string> } | 'sent';

interface Endpoint {
  method: string;
  /** Segments after /api/v1; ':name' matches one segment. */
  path: string[];
  public?: boolean;
  /** Reads a JSON body (state-changing routes). */
  body?: boolean;
  handle(call: Call): Promise<Reply> | Reply;
}

export interface Api {
  /** Rows for createHttpServer's extraRoutes: /api/v1 and /metrics (the management plane). */
  routes: Route[];
  /** The row nodes call over plain HTTP: /api/v1/booted (a booted OS has neither the certificate nor a way to check it). */
  bootRoute: Route;
  /** The API's routes, for documentation and tests: method, path under /api/v1 (':name' for a parameter), public or not. */
  endpoints: { method: string; path: string; public: boolean }[];
  streams: EventStreams;
  meter: RateMeter;
  /** Starts the DHCP rate sampling (call once the app runs). */
  start(): void;
  /** Ends event streams and stops timers (shutdown). */
  close(): void;
}

export function createApi(opts: ApiOptions): Api {
  const log = opts.log.child({ component: 'api' });
  const streams = new EventStreams({ source: opts.host, log, counters: opts.counters, limits: opts.sse, isLive: (access) => opts.auth.isLive(access) });
  const stopListening = opts.auth.onAccessEnded((ended) => streams.endAccess(ended));
  const metrics = createMetricsRoute({
    source: opts.host,
    counters: opts.counters,
    clock: opts.clock,
    log,
    extraGauges: () => [
      { name: 'rackboot_event_streams', help: 'Server-Sent Events streams open.', value: streams.active },
      { name: 'rackboot_sessions', help: 'Browser sessions logged in.', value: opts.auth.activeSessions },
    ],
  });
  const endpoints = buildEndpoints(opts, streams);
  const bootEndpoints = endpoints.filter((e) => e.path.join('/') === BOOTED_PATH.slice(API_PREFIX.length + 1));
  const methods = [...new Set(endpoints.map((e) => e.method))];
  const apiRoute: Route = {
    name: 'api',
    // Every method reaches the dispatcher, so unknown ones get a JSON 405 with Allow.
    methods: [...methods, 'HEAD', 'PUT', 'OPTIONS'].filter((m, i, all) => all.indexOf(m) === i),
    prefix: API_PREFIX,
    handler: (req, res, ctx) => dispatch(endpoints, opts, log, req, res, ctx),
  };
  const bootRoute: Route = {
    name: 'booted',
    methods: [...new Set(bootEndpoints.map((e) => e.method))],
    prefix: BOOTED_PATH,
    exact: true,
    handler: (req, res, ctx) => dispatch(bootEndpoints, opts, log, req, res, ctx),
  };
  return {
    routes: [apiRoute, metrics.route],
    bootRoute,
    endpoints: endpoints.map((e) => ({ method: e.method, path: e.path.join('/'), public: e.public === true })),
    streams,
    meter: metrics.meter,
    start: () => metrics.meter.start(),
    close: () => {
      stopListening();
      streams.closeAll();
      metrics.meter.stop();
    },
  };
}

/** The API's rows for createHttpServer({ extraRoutes }). Use createApi() to also get start()/close(). */
export function createApiRoutes(opts: ApiOptions): Route[] {
  return createApi(opts).routes;
}

async function dispatch(endpoints: Endpoint[], opts: ApiOptions, log: Logger, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  try {
    const segments = ctx.path
      .slice(API_PREFIX.length)
      .split('/')
      .filter((s, i) => i > 0 || s !== '');
    if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
    const candidates = endpoints.map((e) => ({ e, params: matchPath(e.path, segments) })).filter((c) => c.params !== undefined);
    if (candidates.length === 0) throw notFound(`No API route ${ctx.path.slice(0, 100)} (see /api/v1 in the documentation).`);
    const found = candidates.find((c) => c.e.method === ctx.method);
    if (!found) {
      const allow = candidates.map((c) => c.e.method).join(', ');
      throw new ApiFailure(405, 'method_not_allowed', `${ctx.method} is not allowed here; use ${allow}.`, undefined, { Allow: allow });
    }
    const endpoint = found.e;
    const writes = isStateChanging(ctx.method);
    if (writes) checkOrigin(req);
    let principal: Principal | undefined;
    if (endpoint.public) {
      try {
        principal = identify(req, opts.auth);
      } catch {
        principal = undefined; // a stale token does not stop a public route
      }
    } else {
      principal = requirePrincipal(identify(req, opts.auth));
      if (writes) checkCsrf(req, principal);
    }
    const body = endpoint.body ? await readJsonBody(req) : undefined;
    if (!endpoint.body && endpoint.public) await discardBody(req);
    else if (!endpoint.body && writes) valid.emptyBody(await readJsonBody(req));
    const reply = await endpoint.handle({ req, res, ctx, params: found.params!, principal, body });
    if (reply === 'sent') return;
    sendJson(res, reply.status ?? 200, reply.body, reply.headers);
  } catch (error) {
    const failure = toFailure(error, log, { method: ctx.method, path: ctx.path.slice(0, 200), remote: ctx.remote });
    if (failure.status === 401 || failure.status === 403 || failure.status === 429) opts.counters.inc(`api.refused.${failure.code}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // An unread body would otherwise be parsed as the next request on a keep-alive connection.
    if (!req.complete) failure.headers.Connection = 'close';
    sendFailure(res, failure);
  }
}

function matchPath(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p.startsWith(':')) params[p.slice(1)] = valid.pathParam(segments[i], p.slice(1));
    else if (p !== segments[i]) return undefined;
  }
  return params;
}

function buildEndpoints(opts: ApiOptions, streams: EventStreams): Endpoint[] {
  const { host, auth, counters } = opts;
  const list: Endpoint[] = [];
  const route = (method: string, path: string, handle: Endpoint['handle'], extra: Partial<Endpoint> = {}) =>
    list.push({ method, path: path.split('/').filter(Boolean), handle, ...extra });

  /** A node by MAC or name, or 404. */
  const node = async (id: string): Promise<NodeView> => {
    const found = await host.getNode(isMac(id) ? normalizeMac(id) : id);
    if (!found) throw notFound(`No node ${JSON.stringify(id.slice(0, 80))} (give its MAC or name).`);
    return found;
  };
  const loggedIn = (call: Call, session: LoggedIn): Reply => ({
    body: auth.sessionInfo(session.session),
    headers: { 'Set-Cookie': sessionCookie(session.sessionId, isHttps(call.req)) },
  });
  const by = (call: Call) => call.principal!.by;

  // ---- auth ----
  route(
    'GET',
    'auth/state',
    (c) => {
      valid.noQuery(c.ctx.query);
      const state: AuthState = { setupDone: auth.state().setupDone, authenticated: c.principal !== undefined };
      return { body: state };
    },
    { public: true },
  );
  route(
    'POST',
    'auth/setup',
    async (c) => {
      const request = valid.setupRequest(c.body);
      return loggedIn(c, await auth.completeSetup(request.token, request.password, c.ctx.remote));
    },
    { public: true, body: true },
  );
  route(
    'POST',
    'auth/login',
    async (c) => {
      const request = valid.loginRequest(c.body);
      return loggedIn(c, await auth.login(request.password, c.ctx.remote));
    },
    { public: true, body: true },
  );
  route('POST', 'auth/logout', (c) => {
    if (c.principal?.kind === 'session') auth.logout(c.principal.session);
    return { body: {}, headers: { 'Set-Cookie': clearedSessionCookie(isHttps(c.req)) } };
  });
  route('GET', 'auth/session', (c) => {
    if (c.principal?.kind !== 'session') throw new ApiFailure(400, 'not_a_session', 'API tokens have no session; this route is for browser sessions.');
    return { body: auth.sessionInfo(c.principal.session) };
  });
  route(
    'POST',
    'auth/password',
    async (c) => {
      const request = valid.passwordChange(c.body);
      await auth.changePassword(c.principal?.kind === 'session' ? c.principal.session : undefined, request.current, request.password, c.ctx.remote);
      return { body: {} };
    },
    { body: true },
  );
  route('GET', 'auth/tokens', () => ({ body: auth.listTokens() }));
  route('POST', 'auth/tokens', async (c) => ({ status: 201, body: await auth.createToken(valid.tokenCreate(c.body).name, by(c)) }), { body: true });
  route('DELETE', 'auth/tokens/:name', async (c) => {
    await auth.revokeToken(c.params.name, by(c));
    return { body: {} };
  });

  // ---- appliance and nodes ----
  route('GET', 'status', async () => ({ body: await host.status() }));
  route('GET', 'nodes', async (c) => ({ body: await host.listNodes(valid.nodeFilter(c.ctx.query)) }));
  route('POST', 'nodes', async (c) => ({ status: 201, body: await host.createNode(valid.nodeCreate(c.body), by(c)) }), { body: true });
  route('GET', 'nodes/:id', async (c) => ({ body: await node(c.params.id) }));
  route(
    'PATCH',
    'nodes/:id',
    async (c) => {
      const patch = valid.nodeUpdate(c.body);
      return { body: await host.updateNode((await node(c.params.id)).mac, patch, by(c)) };
    },
    { body: true },
  );
  route('DELETE', 'nodes/:id', async (c) => {
    await host.deleteNode((await node(c.params.id)).mac, by(c));
    return { body: {} };
  });
  route('GET', 'nodes/:id/timeline', async (c) => ({ body: await host.timeline((await node(c.params.id)).mac) }));
  route('POST', 'nodes/:id/approve', async (c) => ({ body: await host.approveNode((await node(c.params.id)).mac, by(c)) }));
  route(
    'POST',
    'nodes/:id/power',
    async (c) => {
      const { action } = valid.powerRequest(c.body);
      return { body: await host.power((await node(c.params.id)).mac, action, by(c)) };
    },
    { body: true },
  );
  route(
    'POST',
    'nodes/:id/next-boot',
    async (c) => {
      const profile = valid.nextBoot(c.body);
      return { body: await host.setNextBoot((await node(c.params.id)).mac, profile, by(c)) };
    },
    { body: true },
  );
  route('POST', 'power', async (c) => ({ body: await host.powerAll(valid.powerAllRequest(c.body), by(c)) }), { body: true });
  route('GET', 'leases', async (c) => {
    valid.noQuery(c.ctx.query);
    return { body: await host.leases() };
  });
  route('GET', 'events', async (c) => ({ body: await host.events(valid.eventsQuery(c.ctx.query)) }));
  route('GET', 'events/stream', async (c) => {
    const lastEventId = parseLastEventId(c.req.headers['last-event-id'], c.ctx.query.get('lastEventId'));
    const opened = await streams.open(c.req, c.res, lastEventId, accessOf(c.principal!));
    if (!opened.ok)
      throw new ApiFailure(503, 'too_many_streams', `At most ${streams.limits.maxStreams} event streams at once; close one or try again later.`, undefined, {
        'Retry-After': '10',
      });
    return 'sent' as const;
  });
  route('GET', 'stats', async () => ({ body: await host.stats() }));
  route('GET', 'profiles', async () => ({ body: await host.profiles() }));
  route('GET', 'config', async () => ({ body: await host.config() }));
  route('PATCH', 'config', async (c) => ({ body: await host.patchConfig(valid.configPatch(c.body), by(c)) }), { body: true });

  // ---- the booted OS's callback (public, but only the holder of the boot's token may say it booted) ----
  const booted = async (c: Call): Promise<Reply> => {
    const mac = c.ctx.query.get('mac') ?? '';
    if (!isMac(mac)) throw new ApiFailure(400, 'bad_request', `mac: expected a MAC address like 52:54:00:12:34:56, found ${valid.show(mac)}`, 'mac');
    const found = await host.getNode(normalizeMac(mac));
    if (!found) {
      counters.inc('api.booted.unknown');
      throw notFound(`No node with MAC ${normalizeMac(mac)}.`);
    }
    // The token is on the kernel command line of the node's current boot (http/booted-url.ts); nobody else was given it.
    if (!(await host.confirmBoot(found.mac, c.ctx.query.get('token') ?? undefined))) {
      counters.inc('api.booted.bad_token');
      opts.log.warn("booted callback without the node's current boot token; ignored", { mac: found.mac, node: found.name, remote: c.ctx.remote });
      throw new ApiFailure(403, 'forbidden', `Only ${found.name} itself, with the token of its current boot, may report that it booted.`, 'token');
    }
    counters.inc('api.booted.accepted');
    sendEmpty(c.res, 204);
    return 'sent';
  };
  route('GET', 'booted', booted, { public: true });
  route('POST', 'booted', booted, { public: true });

  return list;
}
