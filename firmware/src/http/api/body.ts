// Reading a request body as JSON: a size limit (413), application/json only
// (415), and a parse error that says where (400). Requests without a body
// (no Content-Length or 0, and not chunked) read as undefined.

import type { IncomingMessage } from 'node:http';
import { ApiFailure } from './respond.js';

export const MAX_BODY_BYTES = 64 * 1024;

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new ApiFailure(415, 'unsupported_media_type', `Send the body as JSON with Content-Type: application/json (found ${JSON.stringify(type || 'none')}).`);
  }
  const raw = await readLimited(req, limit);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new ApiFailure(400, 'bad_request', `The body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads and discards a body (the booted callback accepts any), still bounded. */
export async function discardBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<void> {
  if (hasBody(req)) await readLimited(req, limit);
}

function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    // Do not read it: answer and close, so the client stops sending.
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (error) => {
      if (!failed) reject(error);
      failed = true;
    });
    req.on('aborted', () => {
      if (!failed) reject(new ApiFailure(400, 'bad_request', 'The request body ended early.'));
      failed = true;
    });
  });
}

function tooLarge(limit: number): ApiFailure {
  return new ApiFailure(413, 'payload_too_large', `The body is larger than ${limit / 1024} kB.`, undefined, { Connection: 'close' });
}
