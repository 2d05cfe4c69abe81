// Launcher for build/lab.ts (`make lab`): bundles it with esbuild into
// node_modules/.cache/rackboot-lab-runner/ and runs it in this process.
// The test helpers it imports find the repository from their own location
// (import.meta.url / import.meta.dirname); in a bundle those would point at the
// cache directory, so they are defined as the helpers' real directory.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'node_modules/.cache/rackboot-lab-runner');
const outfile = join(outDir, 'lab.mjs');
mkdirSync(outDir, { recursive: true });
const helpers = join(root, 'test/helpers');

await build({
  entryPoints: [join(root, 'build/lab.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
  define: {
    'import.meta.url': JSON.stringify(pathToFileURL(join(helpers, 'lab-bundle.mjs')).href),
    'import.meta.dirname': JSON.stringify(helpers),
  },
});

process.setSourceMapsEnabled?.(true);
await import(pathToFileURL(outfile).href);
