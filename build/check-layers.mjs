#!/usr/bin/env node
// Fails when a folder of firmware/src imports a folder above it in LAYERS, or
// when the folders' imports form a cycle. docs/architecture.md draws these layers.
// Reads import/export specifiers as text; only relative imports between
// folders count (node: and package imports are not layers).
//   node build/check-layers.mjs          exit 1 and one line per offending import
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(repo, 'firmware/src');

/** Bottom layer first. A folder may import its own layer's files only inside itself, and any folder of a lower layer. */
export const LAYERS = [
  ['util', 'net', 'store'],
  ['model'],
  ['config'],
  ['auth'],
  ['inventory'],
  ['boot-policy'],
  ['dhcp', 'tftp', 'http'],
  ['power'],
  ['boot-tracking'],
  ['console'],
  ['storm'],
  ['app'],
  ['.'], // main.ts, serve.ts
];

const layerOf = new Map(LAYERS.flatMap((folders, level) => folders.map((folder) => [folder, level])));
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (/\.(ts|tsx|mts)$/.test(name) && !name.endsWith('.d.ts')) yield path;
  }
}

/** The top folder under firmware/src a path belongs to ('.' for files at its root), or undefined outside it. */
function folderOf(path) {
  const rel = relative(src, path);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? '.' : parts[0];
}

export function checkLayers() {
  const problems = [];
  const edges = new Map(); // folder -> Set(folder)
  for (const file of sources(src)) {
    const from = folderOf(file);
    if (!layerOf.has(from)) problems.push(`${relative(repo, file)}: folder '${from}' has no layer in build/check-layers.mjs`);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), match[1] ?? match[2]);
      const to = folderOf(target);
      if (to === undefined || to === from) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from).add(to);
      if (!layerOf.has(to)) continue;
      if (layerOf.get(to) >= layerOf.get(from)) {
        problems.push(`${relative(repo, file)}: ${from}/ imports ${to}/ (${match[1] ?? match[2]}), which is not below it`);
      }
    }
  }
  // The web UI runs in the browser: of the firmware it may use only the vocabulary and the API contract.
  for (const file of sources(join(repo, 'web'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const folder = folderOf(resolve(dirname(file), match[1] ?? match[2]));
      if (folder !== undefined && folder !== 'model')
        problems.push(`${relative(repo, file)}: web/ imports firmware/src/${folder}/, but only model/ is shared with the UI`);
    }
  }
  for (const cycle of folderCycles(edges)) problems.push(`import cycle between folders: ${cycle.join(' -> ')}`);
  return problems;
}

/** Every cycle found by a depth-first walk, each once, as folder names with the first repeated at the end. */
function folderCycles(edges) {
  const cycles = [];
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkLayers();
  for (const line of problems) console.error(line);
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} problem(s); the layers are listed in build/check-layers.mjs and drawn in docs/architecture.md`);
    process.exit(1);
  }
  console.log('check-layers: every folder of firmware/src imports only the layers below it');
}
