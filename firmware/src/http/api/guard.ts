// Who is calling, and may this request change anything: the session cookie or
// a bearer token, the CSRF header for cookie-authenticated writes, and the
// Origin check that stops another site's page from writing through the
// operator's browser (a second line behind SameSite=Strict).

import type { IncomingMessage } from 'node:http';
import type { Access, AuthService } from '../../auth/service.js';
import type { Session } from '../../auth/sessions.js';
import { constantTimeEqual } from '../../auth/secrets.js';
import { ApiFailure } from './respond.js';

export const SESSION_COOKIE = 'rackboot_session';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export type Principal = { kind: 'session'; session: Session; by: 'admin' } | { kind: 'token'; name: string; key: string; by: `token:${string}` };

/** The session or token a principal holds, as the auth service names it when it ends. */
export function accessOf(principal: Principal): Access {
  return principal.kind === 'session' ? { kind: 'session', key: principal.session.key } : { kind: 'token', key: principal.key, name: principal.name };
}

export function isStateChanging(method: string): boolean {
  return STATE_CHANGING.has(method);
}

/** The caller, or undefined when the request carries no valid session or token. A bad bearer token is refused outright. */
export function identify(req: IncomingMessage, auth: AuthService): Principal | undefined {
  const authorization = req.headers.authorization;
  if (authorization !== undefined && authorization.trim() !== '') {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    const token = match ? auth.useToken(match[1]) : undefined;
    if (!token)
      throw new ApiFailure(401, 'unauthorized', 'The API token is not valid (revoked, mistyped, or not a bearer token).', undefined, {
        'WWW-Authenticate': 'Bearer',
      });
    return { kind: 'token', name: token.name, key: token.key, by: `token:${token.name}` };
  }
  const sessionId = readCookie(req, SESSION_COOKIE);
  if (sessionId === undefined) return undefined;
  const session = auth.useSession(sessionId);
  return session ? { kind: 'session', session, by: 'admin' } : undefined;
}

/** 401 unless the caller is logged in or holds a token. */
export function requirePrincipal(principal: Principal | undefined): Principal {
  if (!principal) throw new ApiFailure(401, 'unauthorized', 'Log in first (session cookie), or send Authorization: Bearer <API token>.');
  return principal;
}

/** Cookie-authenticated writes must echo the session's CSRF token; bearer tokens cannot be sent by another site, so need none. */
export function checkCsrf(req: IncomingMessage, principal: Principal): void {
  if (principal.kind !== 'session') return;
  const header = req.headers['x-csrf-token'];
  const sent = Array.isArray(header) ? header[0] : header;
  if (sent === undefined || sent === '')
    throw new ApiFailure(403, 'csrf', 'Missing X-CSRF-Token header: state-changing requests with a session need the csrfToken of the session.');
  if (!constantTimeEqual(sent, principal.session.csrfToken)) throw new ApiFailure(403, 'csrf', 'The X-CSRF-Token header does not match the session.');
}

/**
 * A state-changing request that says where it comes from (Origin, or a
 * browser's Sec-Fetch-Site) must come from this host. Requests without either
 * (curl, scripts) pass: they are not a browser acting for someone else.
 */
export function checkOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site') throw new ApiFailure(403, 'csrf', 'Cross-site requests may not change anything.');
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host;
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  const sameHost =
    url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && host !== undefined && url.host === hostAsUrlWrites(url.protocol, host);
  if (!sameHost) throw new ApiFailure(403, 'csrf', `Requests from another origin (${origin.slice(0, 100)}) may not change anything.`);
}

/** The Host header as URL.host writes it for this scheme (lower case, default port dropped), for comparison. */
function hostAsUrlWrites(protocol: string, host: string): string | undefined {
  try {
    return new URL(`${protocol}//${host}`).host;
  } catch {
    return undefined;
  }
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a session: HttpOnly, SameSite=Strict, Path=/, Secure only over HTTPS. Session cookie lifetime (no Max-Age): the server ends it. */
export function sessionCookie(sessionId: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${sessionId}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** Whether the request came over TLS (rackboot itself serves plain HTTP; a TLS socket would say so). */
export function isHttps(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}
