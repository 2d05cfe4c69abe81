// Room in the kernel's neighbour table for a storm, set from the initial
// namespace (the harness runs there; the table and its gc_thresh sysctls are
// shared by every namespace, see firmware/src/storm/scale.ts). Each storm
// node needs two entries, the server's for it and its own for the server; the
// 1,024-entry default overflows at 500 nodes. Only raises, and restores only
// what it changed.
import { readFile, writeFile } from 'node:fs/promises';

const KEYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'];
const path = (key) => `/proc/sys/net/ipv4/neigh/default/${key}`;

async function read() {
  const out = {};
  for (const k of KEYS) out[k] = Number((await readFile(path(k), 'utf8')).trim());
  return out;
}

/** Same arithmetic as neighbourThresholdsFor() in scale.ts: when thresh3 < 2N + 256, thresh2 = 2N + 256, thresh3 = twice that. */
export async function raiseNeighbourTable(nodes) {
  const before = await read();
  const need = 2 * nodes + 256;
  if (before.gc_thresh3 >= need) return async () => undefined;
  const wanted = { ...before, gc_thresh2: Math.max(before.gc_thresh2, need), gc_thresh3: Math.max(before.gc_thresh3, 2 * need) };
  for (const k of KEYS) await writeFile(path(k), String(wanted[k]));
  return async () => {
    const now = await read().catch(() => undefined);
    if (now && KEYS.every((k) => now[k] === wanted[k])) for (const k of KEYS) await writeFile(path(k), String(before[k])).catch(() => undefined);
  };
}
