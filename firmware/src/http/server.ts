// rackboot's HTTP server: per-node iPXE scripts at /boot.ipxe and boot files
// from the boot root, on one node:http server built to be leaned on by a rack
// booting at once from a small box.
//
// - Keep-alive: iPXE fetches script, kernel and initrds back to back on one
//   connection, and a menu may sit for its timeout before the next request, so
//   idle connections are kept 20 s (Node's default of 5 s would cut most menus).
// - Slow clients: the request head must arrive within 10 s and the whole
//   request within 30 s (slowloris), and a connection with no progress in
//   either direction for 60 s is closed (a client that stopped reading its
//   download). Node checks these every second instead of every 30.
// - Too many clients: past maxConnections, new connections are answered 503
//   with Retry-After and closed — iPXE reports it and the script's retry loop
//   tries again — and past maxConnections + 64 they are dropped outright, so
//   file descriptors and memory stay bounded however many nodes arrive.
// - One address holding many connections (slowloris from one host): past
//   maxConnectionsPerAddress its new connections are dropped at once, before a
//   byte is read, so one host cannot take the whole maxConnections. A booting
//   node uses one to four (iPXE one, UEFI HTTP Boot a few); the default of 128
//   leaves room for a test harness or a NAT in front of a few nodes.
//
// Counters: http.requests, http.bytes_sent (bodies), http.errors.<status>
// (every response >= 400), http.refused (paths outside the root), http.aborted
// (client left mid-download), http.read_errors, http.range_unsatisfiable,
// http.scripts, http.connections, http.busy (503), http.dropped,
// http.client_errors (unparseable or too slow requests), http.request_timeouts
// (of those, too slow: 408), http.address_limited (dropped by the per-address cap),
// http.grub_configs (generated GRUB configurations served).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { ProfileConfig } from '../config/schema.js';
import { isMac, normalizeMac } from '../net/addr.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import { BootRoot } from '../boot-policy/boot-root.js';
import { createBootFilesHandler, type HttpDownloadEvent } from './boot-files.js';
import type { HotFilesOptions } from './hot-files.js';
import { isBootTokenText } from '../boot-policy/boot-token.js';
import { bootedCallbackUrl } from './booted-url.js';
import { buildIpxeScript, type IpxeScriptContext } from './ipxe-script.js';
import { Router, sendText, type RequestContext, type Route } from './router.js';

export interface NodeQuery {
  /** From `?mac=` when it is a MAC address (normalised: lower case, colons). A claim only: the address says who asks. */
  mac?: string;
  /** The client's address. */
  ip: string;
  /** From `?profile=` (a menu choice), when it names a defined profile. */
  profile?: string;
  /** From `?token=` when it has a boot token's form (the retry loop and menu choices present it). */
  token?: string;
}

export interface ResolvedNode {
  name: string;
  mac: string;
  ip: string;
  /** The node's profile; a `?profile=` in the request takes precedence over it (see serveBootScript). */
  profile: string;
  /** The node's boot token: its kernel, initrd, retry and booted-callback URLs carry it. */
  token?: string;
  /** False when the node is only the request's `?mac=` claim (its address named nobody): its events are not attributed. */
  attributed?: boolean;
}

/** The node may not boot (unapproved under `inventory.unknown_nodes: hold`): 403. */
export interface HeldNode {
  held: true;
  mac?: string;
}

/** One per /boot.ipxe request answered with a script (or refused). */
export interface IpxeScriptEvent {
  type: 'ipxe-script';
  status: number;
  profile?: string;
  mac?: string;
  name?: string;
  remote: string;
}

export type HttpEvent = HttpDownloadEvent | IpxeScriptEvent;

export interface HttpLimits {
  /** Connections served at once; further ones get 503 (and past this + 64, are dropped). */
  maxConnections: number;
  /** Connections one client address may hold at once; further ones are dropped. */
  maxConnectionsPerAddress: number;
  /** How long an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** Time allowed for the request head (Node's headersTimeout). */
  headersTimeoutMs: number;
  /** Time allowed for the whole request, head and body (Node's requestTimeout); not the response. */
  requestTimeoutMs: number;
  /** A connection with no I/O either way for this long is closed (a stalled download). */
  idleTimeoutMs: number;
  /** How often Node checks headersTimeout and requestTimeout. */
  checkIntervalMs: number;
  /** close(): how long running downloads may finish before connections are cut. */
  closeGraceMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 128,
  keepAliveTimeoutMs: 20_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  checkIntervalMs: 1_000,
  closeGraceMs: 5_000,
};

/** Connections past maxConnections that still get a 503 rather than being dropped. */
const BUSY_ANSWER_ALLOWANCE = 64;
const BUSY_LOG_INTERVAL_MS = 5_000;

export interface HttpServerOptions {
  /** The boot root (absolute). */
  root: string;
  /** Looks up the node behind a script request (boot-policy/nodes.ts). Undefined: an unknown node, which boots the default profile. */
  resolveNode(req: NodeQuery): Promise<ResolvedNode | HeldNode | undefined>;
  profiles: Record<string, ProfileConfig>;
  /** The profile of nodes that have none; a function when it can change at run time. */
  defaultProfile: string | (() => string);
  /** `http://10.0.0.1` or `http://10.0.0.1:8080`: what scripts use to reach this server. */
  serverBase: string;
  log: Logger;
  counters: Counters;
  onEvent?: (event: HttpEvent) => void;
  /** More rows for the routing table (API, SSE, UI). Rows win over built-in ones with the same prefix. */
  extraRoutes?: Route[];
  /** The boot server's serial number, `{serial}` in templates. */
  bootServerSerial?: string;
  /** Path of the endpoint a booted OS calls (`/api/v1/booted`); Linux scripts of nodes with a boot token then carry `rackboot.booted=URL?mac=MAC&token=T`. */
  bootedCallbackPath?: string;
  limits?: Partial<HttpLimits>;
  /** Serve HTTPS with this PEM key and certificate instead of plain HTTP. */
  tls?: { key: string; cert: string };
  /** Serve /boot.ipxe and the boot root (default true); false: only extraRoutes (the management plane). */
  bootFiles?: boolean;
  /**
   * Files generated per node in place of boot-root files under /grub/ (the GRUB
   * configurations, boot-policy/loader.ts), the same the TFTP server generates: `relative`
   * is the path without its leading slash; undefined serves the boot root's file, if any.
   */
  generated?: (relative: string, client: string) => Promise<Buffer | undefined>;
  /** Boot files kept in memory (boot-files.ts); absent or false streams every file. */
  hotFiles?: HotFilesOptions | false;
  clock?: Clock;
}

export interface RackbootHttpServer {
  server: Server;
  router: Router;
  listen(port: number, host?: string): Promise<void>;
  /** Stops accepting, lets running responses finish for closeGraceMs, then cuts what is left. */
  close(): Promise<void>;
  /** The bound address (after listen). */
  address(): AddressInfo;
  activeConnections(): number;
}

export function createHttpServer(opts: HttpServerOptions): RackbootHttpServer {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const log = opts.log.child({ component: 'http' });
  const { counters } = opts;

  const router = new Router(log, counters);
  for (const route of opts.extraRoutes ?? []) router.add(route);
  if (opts.bootFiles !== false) addBootRoutes(router, opts, log);

  const serverOptions = {
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    // Node refuses a head timeout longer than the whole request's.
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
  const server: Server = opts.tls ? createHttpsServer({ ...serverOptions, key: opts.tls.key, cert: opts.tls.cert }) : createServer(serverOptions);
  // A failed TLS handshake (a scanner, a client that does not trust the certificate) is counted; Node closes the socket.
  if (opts.tls) server.on('tlsClientError', () => counters.inc('http.tls_errors'));
  server.maxConnections = limits.maxConnections + BUSY_ANSWER_ALLOWANCE;
  // No progress either way for this long: destroy (Node destroys on 'timeout' when the server has no listener).
  server.setTimeout(limits.idleTimeoutMs);

  let active = 0;
  const perAddress = new Map<string, number>();
  const overLimit = new WeakSet<Socket>();
  // During a storm every refused connection would log a line; one every few seconds says the same.
  const clock = opts.clock ?? systemClock;
  const reportBusy = throttledReport(clock, BUSY_LOG_INTERVAL_MS, (refused) =>
    log.warn('too many connections, answering 503', { active, max: limits.maxConnections, refused }),
  );
  const reportAddressLimited = throttledReport(clock, BUSY_LOG_INTERVAL_MS, (dropped, address: string, held: number) =>
    log.warn('too many connections from one address, dropping', { remote: address, held, max: limits.maxConnectionsPerAddress, dropped }),
  );
  server.on('connection', (socket: Socket) => {
    counters.inc('http.connections');
    const address = socket.remoteAddress ?? '';
    const held = (perAddress.get(address) ?? 0) + 1;
    // Checked before it counts as active: a host cycling refused connections must not push others past maxConnections.
    if (held > limits.maxConnectionsPerAddress) {
      counters.inc('http.address_limited');
      reportAddressLimited(address, held - 1);
      socket.destroy();
      return;
    }
    perAddress.set(address, held);
    active++;
    socket.once('close', () => {
      active--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    if (active > limits.maxConnections) {
      overLimit.add(socket);
      counters.inc('http.busy');
    }
  });
  server.on('drop', () => counters.inc('http.dropped'));

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (overLimit.has(req.socket)) {
      counters.inc('http.requests');
      counters.inc('http.errors.503');
      reportBusy();
      sendText(res, 503, 'Service Unavailable: too many connections, try again shortly', { 'Retry-After': '2', Connection: 'close' });
      return;
    }
    void router.handle(req, res);
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    counters.inc('http.client_errors');
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') counters.inc('http.request_timeouts');
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? '408 Request Timeout'
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
    log.debug('bad or slow request', { remote: socket.remoteAddress, error: error.code ?? error.message });
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  return {
    server,
    router,
    listen(port: number, host?: string) {
      return new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const address = server.address() as AddressInfo;
          log.info(opts.tls ? 'https listening' : 'http listening', {
            address: address.address,
            port: address.port,
            ...(opts.bootFiles !== false && { root: opts.root }),
          });
          resolve();
        });
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        if (!server.listening) {
          server.closeAllConnections();
          resolve();
          return;
        }
        const cut = setTimeout(() => server.closeAllConnections(), limits.closeGraceMs);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
    address() {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('http server is not listening on a TCP port');
      return address;
    },
    activeConnections: () => active,
  };
}

function addBootRoutes(router: Router, opts: HttpServerOptions, log: Logger): void {
  router.add({ name: 'boot-script', methods: ['GET', 'HEAD'], prefix: '/boot.ipxe', exact: true, handler: bootScriptHandler(opts, log) });
  const bootFiles = createBootFilesHandler({
    root: new BootRoot(opts.root),
    log,
    counters: opts.counters,
    onEvent: opts.onEvent,
    clock: opts.clock,
    ...(opts.hotFiles !== undefined && { hotFiles: opts.hotFiles }),
  });
  router.add({ name: 'boot-files', methods: ['GET', 'HEAD'], prefix: '/', handler: bootFiles });
  const generated = opts.generated;
  if (generated) {
    // GRUB after UEFI HTTP Boot reads its configuration over HTTP: /grub/grub.cfg, then /grub/node-<mac>.cfg.
    router.add({
      name: 'grub-config',
      methods: ['GET', 'HEAD'],
      prefix: '/grub/',
      handler: async (req, res, ctx) => {
        let relative: string;
        try {
          relative = decodeURIComponent(ctx.path.replace(/^\/+/, ''));
        } catch {
          return bootFiles(req, res, ctx);
        }
        const content = await generated(relative, ctx.remote);
        if (!content) return bootFiles(req, res, ctx);
        opts.counters.inc('http.grub_configs');
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(content.length), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : content);
      },
    });
  }
}

/**
 * GET /boot.ipxe?mac=<mac>&profile=<name>&platform=efi|pcbios&token=<token>
 *
 * The DHCP answer points iPXE at `/boot.ipxe?mac=${netX/mac}` (iPXE expands
 * the setting in the URL it is given). resolveNode names the node by the
 * client's address and treats `?mac=` as a claim to compare; events carry a
 * MAC only when the address named it. A held node gets 403. The profile is
 * `?profile=` when given (a menu choice; unknown names are 404, attributed to
 * nobody), else the node's, else the default. A profile is not a security
 * boundary — any client on the boot network can fetch any boot file anyway —
 * so the request's choice wins over the inventory's; what needs protecting
 * (confirming a boot, consuming a one-shot profile) needs the node's token.
 */
function bootScriptHandler(opts: HttpServerOptions, log: Logger): Route['handler'] {
  const reported = new Set<string>();
  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const macParam = ctx.query.get('mac') ?? '';
    const mac = isMac(macParam) ? normalizeMac(macParam) : undefined;
    const tokenParam = ctx.query.get('token');
    const token = isBootTokenText(tokenParam) ? tokenParam : undefined;
    const requested = ctx.query.get('profile') || undefined;
    const platformParam = ctx.query.get('platform');
    const platform = platformParam === 'efi' || platformParam === 'pcbios' ? platformParam : undefined;
    const event = (status: number, fields: Partial<IpxeScriptEvent> = {}) => opts.onEvent?.({ type: 'ipxe-script', status, remote: ctx.remote, ...fields });

    if (requested !== undefined && !Object.hasOwn(opts.profiles, requested)) {
      log.warn('script requested for an unknown profile', { remote: ctx.remote, mac, profile: requested.slice(0, 64) });
      sendText(res, 404, `Not Found: no profile ${JSON.stringify(requested.slice(0, 64))}`);
      return event(404);
    }
    const found = await opts.resolveNode({
      ...(mac !== undefined && { mac }),
      ip: ctx.remote,
      ...(requested !== undefined && { profile: requested }),
      ...(token !== undefined && { token }),
    });
    if (found && 'held' in found) {
      log.info('boot script refused: the node is held until approved', { remote: ctx.remote, mac: found.mac });
      sendText(res, 403, 'Forbidden: this node is held until an operator approves it');
      // No MAC on the event: a held node is waiting for approval, not failing a boot (no diagnosis, no recovery).
      return event(403);
    }
    const node = found;
    const attributed = node !== undefined && node.attributed !== false;
    const profileName = requested ?? node?.profile ?? (typeof opts.defaultProfile === 'function' ? opts.defaultProfile() : opts.defaultProfile);
    const profile = Object.hasOwn(opts.profiles, profileName) ? opts.profiles[profileName] : undefined;
    if (!profile) {
      log.error('node has a profile that is not defined', { remote: ctx.remote, mac, node: node?.name, profile: profileName });
      sendText(res, 500, 'Internal Server Error: profile not defined');
      return event(500, { profile: profileName, ...(attributed && { mac: node.mac }) });
    }

    const scriptCtx: IpxeScriptContext = {
      profiles: opts.profiles,
      node: node ? { name: node.name, mac: node.mac, ip: node.ip || ctx.remote } : { name: '', mac: mac ?? '', ip: ctx.remote },
      serverBase: opts.serverBase,
      profileName,
      ...(opts.bootServerSerial !== undefined && { bootServerSerial: opts.bootServerSerial }),
      ...(platform !== undefined && { platform }),
      ...(requested !== undefined && { requestedProfile: requested }),
      ...(node?.token !== undefined && { token: node.token }),
      ...(opts.bootedCallbackPath !== undefined &&
        node?.token !== undefined && { bootedUrl: bootedCallbackUrl(opts.serverBase, node.mac, node.token, opts.bootedCallbackPath) }),
    };
    const built = buildIpxeScript(profile, scriptCtx);
    // Once per profile: the same template problem would otherwise fill the log during a rack boot.
    if ((built.unknownPlaceholders.length > 0 || built.warnings.length > 0) && !reported.has(profileName)) {
      reported.add(profileName);
      if (built.unknownPlaceholders.length > 0) {
        log.warn('profile uses placeholders with no value; left as written', {
          profile: profileName,
          placeholders: built.unknownPlaceholders.map((name) => `{${name}}`).join(' '),
          known: '{mac} {ip} {name} {server} {server_url} {profile}' + (opts.bootServerSerial !== undefined ? ' {serial}' : ''),
        });
      }
      for (const warning of built.warnings) log.warn(warning, { profile: profileName });
    }

    const body = Buffer.from(built.script, 'utf8');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-store' });
    res.end(ctx.method === 'HEAD' ? undefined : body);
    if (ctx.method !== 'HEAD') opts.counters.inc('http.bytes_sent', body.length);
    opts.counters.inc('http.scripts');
    log.info('served boot script', { remote: ctx.remote, mac: scriptCtx.node.mac, node: scriptCtx.node.name, profile: profileName });
    event(200, { profile: profileName, ...(attributed && { name: node.name, mac: node.mac }) });
  };
}

/**
 * Counts occurrences and reports at most once per interval, with how many there
 * were since the last report: a flood must not flood the log too. The returned
 * function passes its arguments on to `report` after the count.
 */
function throttledReport<A extends unknown[]>(clock: Clock, intervalMs: number, report: (count: number, ...args: A) => void): (...args: A) => void {
  let reportedAt = -Infinity;
  let since = 0;
  return (...args: A) => {
    since++;
    const now = clock.now();
    if (now - reportedAt < intervalMs) return;
    report(since, ...args);
    reportedAt = now;
    since = 0;
  };
}
