// The management plane (web UI, API, event stream) on the plain-HTTP port,
// when it is served over HTTPS only: a browser that opens http://SERVER/ is
// sent to the same path over HTTPS, and anything that would send a password,
// cookie or token over plain HTTP to change something is refused instead, so
// nothing secret is asked for in the clear. The booted callback and /metrics
// are not rows here: they stay on plain HTTP (app/http.ts).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Counters } from '../util/counters.js';
import { API_PREFIX } from './api/routes.js';
import { sendText, type RequestContext, type Route } from './router.js';

export interface ManagementRedirectOptions {
  /** The HTTPS addresses and ports; an empty address means every address of the box. */
  listen: readonly { address: string; port: number }[];
  counters: Counters;
}

const UI_PREFIXES = ['/', '/ui'];

/** Rows for the plain-HTTP server: /api/v1 (GET and HEAD redirected, other methods refused), the UI's / and /ui/ (redirected). */
export function managementRedirectRoutes(opts: ManagementRedirectOptions): Route[] {
  const redirect = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    opts.counters.inc('http.management_redirects');
    const target = httpsLocation(req, ctx, opts.listen);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const body = JSON.stringify({
        error: 'https_required',
        message: `The API is served over HTTPS only: use ${target.split('/').slice(0, 3).join('/')} (see the certificate fingerprint on the console: tls).`,
      });
      res.writeHead(403, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store' });
      res.end(body);
      return;
    }
    sendText(res, 308, `Moved to ${target}`, { Location: target });
  };
  return [
    { name: 'api-over-http', methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], prefix: API_PREFIX, handler: redirect },
    ...UI_PREFIXES.map((prefix) => ({ name: 'ui-over-http', methods: ['GET', 'HEAD'], prefix, exact: prefix === '/', handler: redirect })),
  ];
}

/**
 * The HTTPS URL for this request: the host the client asked for when HTTPS
 * answers on the address it connected to, else the first HTTPS address; the
 * port left out when it is 443.
 */
export function httpsLocation(req: IncomingMessage, ctx: RequestContext, listen: readonly { address: string; port: number }[]): string {
  const local = (req.socket.localAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
  const here = listen.find((l) => l.address === '' || l.address === '0.0.0.0' || l.address === '::' || l.address === local) ?? listen[0];
  let host: string;
  if (here.address === '' || here.address === '0.0.0.0' || here.address === '::' || here.address === local) {
    const header = req.headers.host ?? '';
    const named = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?$/.exec(header);
    host = named ? named[1] : isIP(local) === 6 ? `[${local}]` : local;
  } else host = isIP(here.address) === 6 ? `[${here.address}]` : here.address;
  const query = ctx.query.toString();
  return `https://${host}${here.port === 443 ? '' : `:${here.port}`}${ctx.path}${query ? `?${query}` : ''}`;
}
