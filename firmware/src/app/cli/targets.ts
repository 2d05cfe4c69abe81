// How the rack command line names nodes: a name, a MAC in any common spelling
// (52:54:00:ab:cd:ef, 52-54-00-AB-CD-EF, 5254.00ab.cdef, 525400abcdef), a
// range of names (rack1-n[01-40]: the width of the first bound pads every
// number) or a tag (tag:gpu). Resolved against the server's node list, so a
// target that matches nothing is an error before anything is changed.

import type { NodeView } from '../../model/api.js';

/** Largest range one target may expand to (a typo like n[1-100000] is refused, not sent). */
export const MAX_RANGE = 4096;

export class TargetError extends Error {}

/** A MAC in colon, dash, dot (Cisco) or bare-hex spelling as 52:54:00:ab:cd:ef, or undefined. */
export function parseMac(text: string): string | undefined {
  const t = text.trim();
  const groups =
    /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$/.test(t) ||
    /^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/.test(t) ||
    /^[0-9A-Fa-f]{12}$/.test(t);
  if (!groups) return undefined;
  const hex = t.replace(/[:.-]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/** Expands every `[A-B]` of a name (A and B decimal, A <= B); a name without brackets is itself. */
export function expandRange(text: string): string[] {
  const m = /^([^[\]]*)\[(\d+)-(\d+)\](.*)$/.exec(text);
  if (!m) {
    if (/[[\]]/.test(text)) throw new TargetError(`${text}: expected a range like rack1-n[01-40]`);
    return [text];
  }
  const [, head, from, to, tail] = m;
  const a = Number(from);
  const b = Number(to);
  if (a > b) throw new TargetError(`${text}: the range [${from}-${to}] runs backwards`);
  if (b - a + 1 > MAX_RANGE) throw new TargetError(`${text}: the range has ${b - a + 1} names; at most ${MAX_RANGE}`);
  const width = from.length;
  const out: string[] = [];
  for (let i = a; i <= b; i++) {
    for (const rest of expandRange(tail)) out.push(`${head}${String(i).padStart(width, '0')}${rest}`);
  }
  return out;
}

/**
 * The nodes the targets name, in the order given, each once. Throws TargetError
 * naming every target (or expanded name) that matches no node.
 */
export function resolveTargets(targets: readonly string[], nodes: readonly NodeView[]): NodeView[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const byMac = new Map(nodes.map((n) => [n.mac, n]));
  const found = new Map<string, NodeView>();
  const missing: string[] = [];
  for (const target of targets) {
    if (target.startsWith('tag:')) {
      const tag = target.slice(4);
      const tagged = nodes.filter((n) => n.tags.includes(tag));
      if (tagged.length === 0) missing.push(target);
      for (const n of tagged) found.set(n.mac, n);
      continue;
    }
    for (const name of expandRange(target)) {
      const mac = parseMac(name);
      const node = byName.get(name) ?? (mac !== undefined ? byMac.get(mac) : undefined);
      if (node) found.set(node.mac, node);
      else missing.push(name);
    }
  }
  if (missing.length > 0) {
    const shown = missing.length > 10 ? `${missing.slice(0, 10).join(', ')} and ${missing.length - 10} more` : missing.join(', ');
    throw new TargetError(`no node ${shown} (give a name, a MAC, a range like rack1-n[01-40] or tag:NAME)`);
  }
  return [...found.values()];
}
