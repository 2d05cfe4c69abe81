// firmware/src/http/ui.ts: the UI takes "/" exactly and "/ui/...", boot files keep the rest;
// ETag/304, gzip negotiation, cache lifetimes and security headers.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsGzip, createUiRoutes, etagMatches, type WebAssets } from '../../firmware/src/http/ui.js';
import { Router } from '../../firmware/src/http/router.js';
import { createHttpServer } from '../../firmware/src/http/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

function asset(text: string, contentType: string, etag: string) {
  const body = Buffer.from(text);
  return { contentType, body, gzip: gzipSync(body), etag };
}

const assets: WebAssets = {
  '/index.html': asset('<!doctype html><title>rackboot</title>', 'text/html; charset=utf-8', '"idx1"'),
  '/ui/app-ABC.js': asset('console.log("rackboot")'.repeat(20), 'text/javascript; charset=utf-8', '"js1"'),
};

let server: Server;
let base: string;

beforeAll(async () => {
  const router = new Router(silentLogger, new Counters());
  for (const route of createUiRoutes(assets)) router.add(route);
  // Stands in for the boot-files catch-all that createHttpServer adds after the extra routes.
  router.add({ name: 'boot-files', methods: ['GET', 'HEAD'], prefix: '/', handler: (_req, res, ctx) => void res.end(`boot file ${ctx.path}`) });
  server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Raw http.request: fetch would decompress gzip and hide what was sent. */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('UI routes', () => {
  it('serves index.html at "/" only, revalidated each time, with security headers', async () => {
    const reply = await get('/');
    expect(reply.status).toBe(200);
    expect(reply.body.toString()).toContain('<title>rackboot</title>');
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(reply.headers['cache-control']).toBe('no-cache');
    expect(reply.headers['content-security-policy']).toContain("default-src 'self'");
    expect(reply.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['x-frame-options']).toBe('DENY');
    expect(reply.headers.etag).toBe('"idx1"');
  });

  it('leaves every other path to the boot files', async () => {
    for (const path of ['/undionly.kpxe', '/index.html', '/ubuntu/vmlinuz', '/uix', '/ui-thing/x']) {
      const reply = await get(path);
      expect(reply.body.toString(), path).toBe(`boot file ${path}`);
    }
  });

  it('serves hashed assets as immutable, 404s unknown ones under /ui/, and does not expose index.html there', async () => {
    const js = await get('/ui/app-ABC.js');
    expect(js.status).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body.toString()).toBe(assets['/ui/app-ABC.js'].body.toString());
    expect((await get('/ui/app-OLD.js')).status).toBe(404);
    expect((await get('/ui/index.html')).status).toBe(404);
    expect((await get('/ui')).status).toBe(404);
  });

  it('sends gzip when accepted, with its own ETag and Vary', async () => {
    const reply = await get('/ui/app-ABC.js', { 'Accept-Encoding': 'br, gzip;q=0.8' });
    expect(reply.headers['content-encoding']).toBe('gzip');
    expect(reply.headers.vary).toBe('Accept-Encoding');
    expect(reply.headers.etag).toBe('"js1-gz"');
    expect(Number(reply.headers['content-length'])).toBe(reply.body.length);
    expect(gunzipSync(reply.body).toString()).toBe(assets['/ui/app-ABC.js'].body.toString());
    const refused = await get('/ui/app-ABC.js', { 'Accept-Encoding': 'gzip;q=0, identity' });
    expect(refused.headers['content-encoding']).toBeUndefined();
  });

  it('answers 304 to a matching If-None-Match, for either encoding', async () => {
    expect((await get('/', { 'If-None-Match': '"idx1"' })).status).toBe(304);
    expect((await get('/', { 'If-None-Match': 'W/"idx1-gz"', 'Accept-Encoding': 'gzip' })).status).toBe(304);
    const changed = await get('/', { 'If-None-Match': '"old"' });
    expect(changed.status).toBe(200);
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get('/', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(assets['/index.html'].body.length);
    const post = await get('/', {}, 'POST');
    expect(post.status).toBe(405);
  });

  it('refuses an asset map without index.html', () => {
    expect(() => createUiRoutes({})).toThrow(/index.html/);
  });
});

describe('UI rows in the real HTTP server', () => {
  it('take "/" and "/ui/..." while boot files keep every other path', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rbweb-boot-'));
    await writeFile(join(root, 'undionly.kpxe'), 'ipxe binary');
    const http = createHttpServer({
      root,
      profiles: {},
      defaultProfile: 'none',
      serverBase: 'http://127.0.0.1',
      log: silentLogger,
      counters: new Counters(),
      resolveNode: () => Promise.resolve(undefined),
      extraRoutes: createUiRoutes(assets),
    });
    await http.listen(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${http.address().port}`;
      const index = await fetch(`${url}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toContain('<title>rackboot</title>');
      expect((await fetch(`${url}/ui/app-ABC.js`)).status).toBe(200);
      const boot = await fetch(`${url}/undionly.kpxe`);
      expect(boot.status).toBe(200);
      expect(await boot.text()).toBe('ipxe binary');
      expect(boot.headers.get('content-security-policy')).toBeNull();
    } finally {
      await http.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('header parsing', () => {
  it('acceptsGzip follows q-values, x-gzip and *', () => {
    expect(acceptsGzip(undefined)).toBe(false);
    expect(acceptsGzip('gzip')).toBe(true);
    expect(acceptsGzip('GZIP;q=0.5')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('x-gzip')).toBe(true);
    expect(acceptsGzip('br, *')).toBe(true);
    expect(acceptsGzip('*;q=0')).toBe(false);
    expect(acceptsGzip('br, deflate')).toBe(false);
  });

  it('etagMatches compares weakly, handles lists and *', () => {
    expect(etagMatches('"a"', ['"a"'])).toBe(true);
    expect(etagMatches('W/"a"', ['"a"'])).toBe(true);
    expect(etagMatches('"x", "a"', ['"a"'])).toBe(true);
    expect(etagMatches('*', ['"a"'])).toBe(true);
    expect(etagMatches('"b"', ['"a"'])).toBe(false);
    expect(etagMatches(undefined, ['"a"'])).toBe(false);
  });
});
