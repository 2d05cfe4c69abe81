// Bundles rackboot into ONE file, build/out/rackboot.mjs, that runs with plain
// `node` and no node_modules. Native addons (.node) cannot live inside a JS
// bundle, so each one is copied beside it and loaded from the bundle's directory.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, chmodSync, existsSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webAssetsPlugin } from './web.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build', 'out');
mkdirSync(outDir, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
let revision;
try {
  revision = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  revision = 'unknown';
}

/**
 * Copies a file into place by rename: a rackboot already running from build/out
 * keeps the addon it mapped (rewriting a mapped .node in place crashes that process).
 */
function installFile(from, to) {
  const temporary = `${to}.${process.pid}.tmp`;
  copyFileSync(from, temporary);
  renameSync(temporary, to);
}

/** Rewrites `require('./build/Release/x.node')` to load x.node from beside the bundle. */
const nativeAddons = {
  name: 'native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: resolve(args.resolveDir, args.path), namespace: 'native-addon' }));
    b.onLoad({ filter: /.*/, namespace: 'native-addon' }, (args) => {
      if (!existsSync(args.path)) throw new Error(`native addon missing: ${args.path} (run make build)`);
      const name = basename(args.path);
      installFile(args.path, join(outDir, name));
      return { contents: `module.exports = require(__rackbootDir + ${JSON.stringify('/' + name)});`, loader: 'js' };
    });
  },
};

/**
 * onoff's epoll loads its addon through the `bindings` package, which searches
 * node_modules at run time: give the bundle epoll.node beside it instead.
 * Only gpio power channels load onoff (a dynamic import), so a missing build is not fatal here.
 */
const epollAddon = {
  name: 'epoll-addon',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]epoll[\\/]epoll\.js$/ }, () => {
      const addon = join(root, 'node_modules/epoll/build/Release/epoll.node');
      if (!existsSync(addon)) throw new Error(`native addon missing: ${addon} (npm ci runs its build; check allowScripts for epoll)`);
      installFile(addon, join(outDir, 'epoll.node'));
      return { contents: "module.exports = require('os').type() === 'Linux' ? require(__rackbootDir + '/epoll.node') : { Epoll: {} };", loader: 'js' };
    });
  },
};

/**
 * @serialport/bindings-cpp finds its binary with node-gyp-build in its package's
 * prebuilds/ at run time; the bundle ships the one for this platform beside it
 * as serialport.node (the image build swaps in the arm64 one).
 */
const serialportAddon = {
  name: 'serialport-addon',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]@serialport[\\/]bindings-cpp[\\/]dist[\\/]serialport-bindings\.js$/ }, () => {
      const dir = join(root, 'node_modules/@serialport/bindings-cpp/prebuilds', `${process.platform}-${process.arch}`);
      const addon = join(dir, '@serialport+bindings-cpp.glibc.node');
      if (!existsSync(addon))
        throw new Error(`native addon missing: ${addon} (@serialport/bindings-cpp ships no prebuild for ${process.platform}-${process.arch})`);
      installFile(addon, join(outDir, 'serialport.node'));
      return { contents: "exports.binding = require(__rackbootDir + '/serialport.node');", loader: 'js' };
    });
  },
};

await build({
  entryPoints: [join(root, 'firmware/src/main.ts')],
  outfile: join(outDir, 'rackboot.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [nativeAddons, epollAddon, serialportAddon, webAssetsPlugin()],
  define: { __RACKBOOT_VERSION__: JSON.stringify(`${pkg.version} (${revision})`) },
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __rackbootCreateRequire } from 'node:module';",
      "import { dirname as __rackbootDirname } from 'node:path';",
      "import { fileURLToPath as __rackbootFileURLToPath } from 'node:url';",
      'const require = __rackbootCreateRequire(import.meta.url);',
      'const __rackbootDir = __rackbootDirname(__rackbootFileURLToPath(import.meta.url));',
    ].join('\n'),
  },
});

// Our own AF_PACKET addon is loaded by firmware/src/net/native.ts from beside the bundle.
const packetAddon = join(root, 'firmware/native/build/Release/rackboot_packet.node');
if (!existsSync(packetAddon)) throw new Error(`${packetAddon} is missing: build it first (make build)`);
installFile(packetAddon, join(outDir, 'rackboot_packet.node'));
chmodSync(join(outDir, 'rackboot.mjs'), 0o755);
console.log(`built ${join(outDir, 'rackboot.mjs')} (${pkg.version} ${revision})`);
