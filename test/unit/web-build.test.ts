// build/web.mjs: the UI build (one JS, one CSS, an index that names them) and
// the esbuild plugin that embeds it in the main bundle.

import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets, formatMeasurement, measureWebAssets, webAssetsPlugin } from '../../build/web.mjs';
import type { WebAssets } from '../../firmware/src/http/ui.js';

let assets: WebAssets;
let work: string;

beforeAll(async () => {
  assets = await buildWebAssets();
  work = await mkdtemp(join(tmpdir(), 'rbweb-build-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('buildWebAssets', () => {
  it('makes index.html plus one hashed JS and one hashed CSS that the index links', () => {
    const paths = Object.keys(assets).sort();
    expect(paths).toHaveLength(3);
    const js = paths.find((p) => /^\/ui\/app-[A-Z0-9]+\.js$/.test(p));
    const css = paths.find((p) => /^\/ui\/app-[A-Z0-9]+\.css$/.test(p));
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    const html = assets['/index.html'].body.toString();
    expect(html).toContain(`<script type="module" src="${js}"></script>`);
    expect(html).toContain(`<link rel="stylesheet" href="${css}">`);
    // Nothing from elsewhere: no absolute URLs in the page or the script.
    expect(html).not.toMatch(/https?:\/\//);
    expect(assets[css!].body.toString()).not.toMatch(/url\(|@import|https?:\/\//);
  });

  it('gives each asset a matching gzip body, a quoted ETag and a content type', () => {
    for (const [path, item] of Object.entries(assets)) {
      expect(gunzipSync(item.gzip).equals(item.body), path).toBe(true);
      expect(item.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      expect(item.contentType).toMatch(/^text\/(html|javascript|css); charset=utf-8$/);
    }
  });

  it('measures the gzip size against the budget', () => {
    const m = measureWebAssets(assets);
    expect(m.total).toBe(m.js + m.css);
    expect(m.total).toBeLessThan(m.budget);
    expect(formatMeasurement(m)).toMatch(/^web UI: [\d.]+ kB JS \+ [\d.]+ kB CSS gzipped = [\d.]+ kB \(budget 40.0 kB\)$/);
  });
});

describe('webAssetsPlugin', () => {
  it('provides rackboot:web-assets to a node bundle, bodies intact', async () => {
    const outfile = join(work, 'probe.mjs');
    await build({
      stdin: { contents: "import assets from 'rackboot:web-assets'; export default assets;", resolveDir: work, loader: 'ts' },
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      plugins: [webAssetsPlugin({ quiet: true })],
      logLevel: 'silent',
    });
    const embedded = ((await import(pathToFileURL(outfile).href)) as { default: WebAssets }).default;
    expect(Object.keys(embedded).sort()).toEqual(Object.keys(assets).sort());
    for (const [path, item] of Object.entries(assets)) {
      const copy = embedded[path];
      expect(Buffer.isBuffer(copy.body)).toBe(true);
      expect(copy.body.equals(item.body), path).toBe(true);
      expect(copy.gzip.equals(item.gzip), path).toBe(true);
      expect(copy.etag).toBe(item.etag);
      expect(copy.contentType).toBe(item.contentType);
    }
  });
});
