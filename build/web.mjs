// Builds the web UI (web/, Preact) into one JS and one CSS asset with esbuild,
// and hands them to the main bundle as the virtual module `rackboot:web-assets`
// so the single-file rackboot.mjs serves its own UI (no files beside it, no CDN).
//
//   node build/web.mjs            build, print sizes, fail when over budget
//   buildWebAssets()              the assets, for tests and the fake API server
//   webAssetsPlugin()             esbuild plugin for build/bundle.mjs
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants as zlibConstants } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webDir = join(root, 'web');

/** The budget: JavaScript plus CSS, gzipped. */
export const WEB_BUDGET_GZIP_BYTES = 40 * 1024;

const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

function asset(body, contentType) {
  const gzip = gzipSync(body, { level: zlibConstants.Z_BEST_COMPRESSION });
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { contentType, body, gzip, etag };
}

/**
 * Builds the UI. Returns url path -> asset: "/index.html" (never cached) and
 * "/ui/app-<hash>.js", "/ui/app-<hash>.css" (content-hashed, cached forever).
 */
export async function buildWebAssets({ minify = true } = {}) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: join(webDir, 'main.tsx') },
    bundle: true,
    write: false,
    outdir: join(root, 'build', 'out', 'web'),
    entryNames: '[name]-[hash]',
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    platform: 'browser',
    minify,
    sourcemap: false,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    logLevel: 'warning',
    metafile: false,
  });
  const assets = {};
  let script;
  let style;
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const ext = name.slice(name.lastIndexOf('.'));
    const type = CONTENT_TYPES[ext];
    if (!type) throw new Error(`web build produced an unexpected file: ${name}`);
    const urlPath = `/ui/${name}`;
    assets[urlPath] = asset(Buffer.from(file.contents), type);
    if (ext === '.js') script = urlPath;
    if (ext === '.css') style = urlPath;
  }
  if (!script || !style) throw new Error('web build must produce one .js and one .css file');
  const template = readFileSync(join(webDir, 'index.html'), 'utf8');
  if (!template.includes('{{script}}') || !template.includes('{{style}}')) throw new Error('web/index.html needs {{script}} and {{style}}');
  const html = template.replaceAll('{{script}}', script).replaceAll('{{style}}', style);
  assets['/index.html'] = asset(Buffer.from(html, 'utf8'), CONTENT_TYPES['.html']);
  return assets;
}

/** Gzipped size of the JS and CSS (what the budget counts). */
export function measureWebAssets(assets) {
  let js = 0;
  let css = 0;
  for (const [path, item] of Object.entries(assets)) {
    if (path.endsWith('.js')) js += item.gzip.length;
    if (path.endsWith('.css')) css += item.gzip.length;
  }
  return { js, css, total: js + css, budget: WEB_BUDGET_GZIP_BYTES };
}

export function formatMeasurement(m) {
  const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
  return `web UI: ${kb(m.js)} JS + ${kb(m.css)} CSS gzipped = ${kb(m.total)} (budget ${kb(m.budget)})`;
}

function checkBudget(assets) {
  const m = measureWebAssets(assets);
  console.log(formatMeasurement(m));
  if (m.total > m.budget) throw new Error(`web UI over budget: ${m.total} bytes gzipped > ${m.budget}`);
  return m;
}

let builtOnce;

/**
 * esbuild plugin: `import webAssets from 'rackboot:web-assets'` gives the
 * built UI as { [urlPath]: { contentType, body: Buffer, gzip: Buffer, etag } }.
 * Bodies travel as base64 in the bundle and are decoded once at start-up.
 * quiet: skip the size line (test helpers bundle many times). The UI is built
 * once per process: test runs bundle the app repeatedly from unchanged sources.
 */
export function webAssetsPlugin({ quiet = false } = {}) {
  return {
    name: 'rackboot-web-assets',
    setup(b) {
      b.onResolve({ filter: /^rackboot:web-assets$/ }, (args) => ({ path: args.path, namespace: 'rackboot-web-assets' }));
      b.onLoad({ filter: /.*/, namespace: 'rackboot-web-assets' }, async () => {
        builtOnce ??= buildWebAssets();
        const assets = await builtOnce.catch((error) => {
          builtOnce = undefined; // a failed build is not cached: the next bundle tries again
          throw error;
        });
        const m = measureWebAssets(assets);
        if (!quiet) console.log(formatMeasurement(m));
        if (m.total > m.budget) throw new Error(`web UI over budget: ${m.total} bytes gzipped > ${m.budget}`);
        const rows = Object.entries(assets).map(
          ([path, item]) =>
            `  ${JSON.stringify(path)}: { contentType: ${JSON.stringify(item.contentType)}, etag: ${JSON.stringify(item.etag)}, ` +
            `body: Buffer.from(${JSON.stringify(item.body.toString('base64'))}, 'base64'), ` +
            `gzip: Buffer.from(${JSON.stringify(item.gzip.toString('base64'))}, 'base64') },`,
        );
        return {
          contents: `import { Buffer } from 'node:buffer';\nexport default {\n${rows.join('\n')}\n};\n`,
          loader: 'js',
          resolveDir: root,
          watchFiles: [],
        };
      });
    },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const assets = await buildWebAssets();
  checkBudget(assets);
}
