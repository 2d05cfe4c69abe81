// Serves the embedded web UI: "/" (exactly) is the UI's index.html and
// "/ui/..." its content-hashed JS and CSS. Every other path still falls
// through to the boot-files catch-all row, so boot files keep working; only a
// boot file literally named "/ui/..." would be shadowed.
//
// Caching: hashed assets are immutable for a year; index.html is revalidated
// on every load (no-cache + ETag) so a new firmware's UI shows up at once.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendText, type Route } from './router.js';

export interface WebAsset {
  contentType: string;
  body: Buffer;
  /** The same body, gzipped (built once at build time). */
  gzip: Buffer;
  /** Strong ETag of the identity body, quoted: "\"abc\"". */
  etag: string;
}

/** URL path ("/index.html", "/ui/app-<hash>.js") -> asset; what build/web.mjs produces. */
export type WebAssets = Record<string, WebAsset>;

export const UI_INDEX_PATH = '/index.html';
export const UI_ASSET_PREFIX = '/ui';

/** Only same-origin resources; no framing (clickjacking); no plugins; forms post back here only. */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  // No Cross-Origin-Opener-Policy: the box is reached over plain HTTP at a LAN address, where
  // browsers ignore it and log an error on every page (found by the real-rackboot browser test).
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** The routing rows for the UI; add them to the HTTP server's extraRoutes. */
export function createUiRoutes(assets: WebAssets): Route[] {
  const index = assets[UI_INDEX_PATH];
  if (!index) throw new Error(`web assets have no ${UI_INDEX_PATH}: was the UI built?`);
  return [
    {
      name: 'ui-index',
      methods: ['GET', 'HEAD'],
      prefix: '/',
      exact: true,
      handler: (req, res) => sendAsset(req, res, index, REVALIDATE),
    },
    {
      name: 'ui-assets',
      methods: ['GET', 'HEAD'],
      prefix: UI_ASSET_PREFIX,
      handler: (req, res, ctx) => {
        const asset = ctx.path === UI_INDEX_PATH ? undefined : assets[ctx.path];
        if (!asset) {
          sendText(res, 404, 'Not Found', { ...UI_SECURITY_HEADERS });
          return;
        }
        sendAsset(req, res, asset, IMMUTABLE);
      },
    },
  ];
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: WebAsset, cacheControl: string): void {
  const gzip = acceptsGzip(req.headers['accept-encoding']);
  // Each encoding is its own representation, so each gets its own strong validator (RFC 9110 8.8.3).
  const etag = gzip ? gzipEtag(asset.etag) : asset.etag;
  const headers: Record<string, string> = {
    ...UI_SECURITY_HEADERS,
    'Content-Type': asset.contentType,
    'Cache-Control': cacheControl,
    ETag: etag,
    Vary: 'Accept-Encoding',
  };
  if (etagMatches(req.headers['if-none-match'], [asset.etag, gzipEtag(asset.etag)])) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const body = gzip ? asset.gzip : asset.body;
  if (gzip) headers['Content-Encoding'] = 'gzip';
  headers['Content-Length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function gzipEtag(etag: string): string {
  return etag.endsWith('"') ? `${etag.slice(0, -1)}-gz"` : `${etag}-gz`;
}

/** RFC 9110 13.1.2: If-None-Match compares weakly; "*" matches any current representation. */
export function etagMatches(header: string | undefined, current: readonly string[]): boolean {
  if (!header) return false;
  const wanted = header.trim();
  if (wanted === '*') return true;
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  const tags = wanted.split(',').map(strip);
  return current.some((tag) => tags.includes(strip(tag)));
}

/** RFC 9110 12.5.3: gzip is acceptable unless absent or given q=0 (x-gzip is its alias). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (!header) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  let star: boolean | undefined;
  for (const part of text.split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const allowed = q === undefined || Number.parseFloat(q.slice(2)) > 0;
    const name = coding.trim();
    if (name === 'gzip' || name === 'x-gzip') return allowed;
    if (name === '*') star = allowed;
  }
  return star ?? false;
}
