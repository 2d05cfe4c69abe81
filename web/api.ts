// The one door to the REST API (firmware/src/http/api/contract.ts): JSON in
// and out, the CSRF header on state-changing requests, and every failure
// turned into an ApiFailure whose message a person can read.

import type { ApiError } from '../firmware/src/model/api.js';

export const API_BASE = '/api/v1';

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

let csrfToken = '';
let unauthorizedHandler: (() => void) | undefined;

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the API answers 401 to a logged-in page (the session expired or was revoked). */
export function onUnauthorized(handler: () => void): void {
  unauthorizedHandler = handler;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(API_BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiFailure('The appliance did not answer: check the network connection.', 0, 'network');
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const failure = toFailure(response, parsed, text);
    // A 401 from login/setup is a wrong password or token, not an ended session.
    if (response.status === 401 && path !== '/auth/login' && path !== '/auth/setup') unauthorizedHandler?.();
    throw failure;
  }
  if (text && parsed === undefined) throw new ApiFailure(`The appliance sent something that is not JSON (${method} ${path}).`, response.status, 'bad_response');
  return parsed as T;
}

function isApiError(value: unknown): value is ApiError {
  return typeof value === 'object' && value !== null && typeof (value as ApiError).message === 'string';
}

function toFailure(response: Response, body: unknown, text: string): ApiFailure {
  if (isApiError(body)) {
    let message = body.message;
    const retry = response.headers.get('Retry-After');
    if (response.status === 429 && retry) message += ` Try again in ${retry} s.`;
    return new ApiFailure(message, response.status, body.error || 'error', body.field);
  }
  return new ApiFailure(describeStatus(response.status, text), response.status, 'http_' + response.status);
}

export function describeStatus(status: number, text = ''): string {
  const detail = text.trim().slice(0, 200);
  switch (status) {
    case 401:
      return 'You are not logged in (or the session expired).';
    case 403:
      return 'Not allowed' + (detail ? `: ${detail}` : '.');
    case 404:
      return 'Not found.';
    case 429:
      return 'Too many attempts; wait a moment and try again.';
    case 503:
      return 'The appliance is not ready yet; try again in a few seconds.';
    default:
      return `The appliance answered ${status}` + (detail ? `: ${detail}` : '.');
  }
}

/** Words for any thrown value. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function nodePath(id: string): string {
  return `/nodes/${encodeURIComponent(id)}`;
}
