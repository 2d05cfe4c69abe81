// A small routing table for the HTTP server: rows of (methods, path prefix,
// handler), most specific prefix first. Boot files sit at "/" as the catch-all;
// /boot.ipxe, and later /api/v1, /events and the web UI, are rows above it.
//
// Paths are matched on the raw request target (percent-encoding intact, dot
// segments not removed): the WHATWG URL parser would turn "/a/%2e%2e/b" into
// "/b" before boot-files.ts could see and refuse it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';

export interface RequestContext {
  method: string;
  /** The request target's path as sent: not decoded, not normalised. Always starts with "/". */
  path: string;
  /** The query string, parsed (application/x-www-form-urlencoded rules). */
  query: URLSearchParams;
  /** The client's address, IPv4-mapped IPv6 addresses unwrapped ("10.0.0.5"). */
  remote: string;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => void | Promise<void>;

export interface Route {
  /** Methods this row answers, upper case. HEAD is not implied by GET: list it if the handler supports it. */
  methods: readonly string[];
  /** "/api/v1" matches "/api/v1" and "/api/v1/..." (not "/api/v1x"); "/" matches everything. */
  prefix: string;
  /** Match the prefix only as the whole path. */
  exact?: boolean;
  handler: RouteHandler;
  /** For logs. */
  name?: string;
}

export type RouteMatch = { kind: 'route'; route: Route } | { kind: 'method-not-allowed'; allow: string[] } | { kind: 'none' };

export class Router {
  private readonly routes: Route[] = [];

  constructor(
    private readonly log: Logger,
    private readonly counters: Counters,
  ) {}

  add(route: Route): this {
    if (!route.prefix.startsWith('/')) throw new Error(`route prefix must start with "/": ${JSON.stringify(route.prefix)}`);
    this.routes.push({ ...route, methods: route.methods.map((method) => method.toUpperCase()) });
    // Longest prefix first; rows with equal prefixes keep the order they were added in (sort is stable).
    this.routes.sort((a, b) => b.prefix.length - a.prefix.length);
    return this;
  }

  /**
   * The row for a request. When rows match the path but none the method, the
   * answer is 405 with the methods of the most specific matching row (RFC 9110
   * 15.5.6: Allow lists what the target resource supports).
   */
  match(method: string, path: string): RouteMatch {
    let allow: string[] | undefined;
    for (const route of this.routes) {
      if (!pathMatches(route, path)) continue;
      if (route.methods.includes(method)) return { kind: 'route', route };
      allow ??= [...route.methods];
    }
    return allow ? { kind: 'method-not-allowed', allow } : { kind: 'none' };
  }

  /** Dispatches one request; counts it and its outcome; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counters.inc('http.requests');
    const remote = clientAddress(req.socket);
    // 'close' rather than 'finish': an error response the client hung up on still counts.
    res.once('close', () => {
      if (res.statusCode >= 400) this.counters.inc(`http.errors.${res.statusCode}`);
    });
    const target = splitTarget(req.url ?? '');
    if (!target) {
      sendText(res, 400, 'Bad Request: the request target must be a path', { Connection: 'close' });
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const found = this.match(method, target.path);
    if (found.kind === 'none') {
      sendText(res, 404, 'Not Found');
      return;
    }
    if (found.kind === 'method-not-allowed') {
      sendText(res, 405, 'Method Not Allowed', { Allow: found.allow.join(', ') });
      return;
    }
    const ctx: RequestContext = { method, path: target.path, query: target.query, remote };
    try {
      await found.route.handler(req, res, ctx);
    } catch (error) {
      this.log.error('http handler failed', { route: found.route.name ?? found.route.prefix, path: truncate(target.path), remote, error: error as Error });
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
    }
  }
}

function pathMatches(route: Route, path: string): boolean {
  if (route.exact) return path === route.prefix;
  if (route.prefix === '/') return true;
  return path === route.prefix || path.startsWith(route.prefix.endsWith('/') ? route.prefix : `${route.prefix}/`);
}

/**
 * Splits a request target into raw path and query. Origin-form ("/path?q") is
 * what clients send; absolute-form ("http://host/path?q", RFC 9112 3.2.2,
 * which a server must accept) has its scheme and authority dropped. Anything
 * else (asterisk-form, authority-form, garbage) gives undefined.
 */
export function splitTarget(target: string): { path: string; query: URLSearchParams } | undefined {
  let rest = target;
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
  if (absolute) rest = rest.slice(absolute[0].length) || '/';
  if (!rest.startsWith('/')) return undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  const path = question >= 0 ? rest.slice(0, question) : rest;
  const query = new URLSearchParams(question >= 0 ? rest.slice(question + 1) : '');
  return { path, query };
}

/** The peer's address; "::ffff:10.0.0.5" (a dual-stack socket's view of an IPv4 client) becomes "10.0.0.5". */
export function clientAddress(socket: Socket | undefined | null): string {
  const address = socket?.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** A short text/plain response (also the body of every error). HEAD gets the headers only. */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${text}\n`, 'utf8');
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

/** Request paths from the network go into logs; keep a hostile one from filling a line. */
export function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
