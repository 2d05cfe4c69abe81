// JSON answers of the API and the one error type handlers throw. Every answer
// carries Cache-Control: no-store (sessions, tokens and live state must not
// sit in a cache) and nosniff; errors are ApiError bodies, never stack traces.

import type { ServerResponse } from 'node:http';
import type { Logger } from '../../util/log.js';
import { AuthError } from '../../auth/service.js';
import type { ApiError } from '../../model/api.js';
import { ApiHostError } from './host.js';

/** A refusal with its HTTP status; handlers throw it, the dispatcher answers it. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiFailure';
  }

  body(): ApiError {
    return { error: this.code, message: this.message, ...(this.field !== undefined && { field: this.field }) };
  }
}

export const badRequest = (field: string, message: string) => new ApiFailure(400, 'bad_request', message, field);
export const notFound = (message: string) => new ApiFailure(404, 'not_found', message);

const BASE_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length), ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...BASE_HEADERS, ...headers });
  res.end();
}

export function sendFailure(res: ServerResponse, failure: ApiFailure): void {
  sendJson(res, failure.status, failure.body(), failure.headers);
}

const INVENTORY_STATUS: Record<string, number> = { bad_request: 400, conflict: 409, not_found: 404 };

/**
 * What a thrown value means for the client: our own failures and the host's
 * and auth service's typed refusals keep their status and words; an
 * InventoryError-like value ({code, field}) maps by code; anything else is a
 * 500 with a generic message, and the details go to the log only.
 */
export function toFailure(error: unknown, log: Logger, context: Record<string, unknown>): ApiFailure {
  if (error instanceof ApiFailure) return error;
  if (error instanceof ApiHostError) return new ApiFailure(error.status, error.code, error.message, error.field);
  if (error instanceof AuthError) {
    const headers: Record<string, string> = error.retryAfterSeconds !== undefined ? { 'Retry-After': String(error.retryAfterSeconds) } : {};
    return new ApiFailure(error.status, error.code, error.message, error.field, headers);
  }
  if (error instanceof Error) {
    const typed = error as Error & { code?: unknown; field?: unknown };
    if (typeof typed.code === 'string' && Object.hasOwn(INVENTORY_STATUS, typed.code)) {
      return new ApiFailure(INVENTORY_STATUS[typed.code], typed.code, error.message, typeof typed.field === 'string' ? typed.field : undefined);
    }
  }
  log.error('api request failed', { ...context, error: error as Error, stack: error instanceof Error ? error.stack : undefined });
  return new ApiFailure(500, 'internal', 'Internal error: the details are in the appliance log.');
}
