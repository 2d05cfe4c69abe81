// Bulk import for `rackboot nodes import FILE`: a CSV file with a header row, or
// a YAML file holding a list of nodes (or the config file's `hosts:` list).
// Both spellings of a field are read: the config file's (hostname,
// power_channel) and the API's (name, powerChannel). Every row is checked here
// before anything is sent; a problem names the file, the row and the field.

import { parse as parseYaml } from 'yaml';
import type { NodeCreate } from '../../model/api.js';
import { parseMac } from './targets.js';

/** One node to create or update, and where it came from (for messages). */
export interface ImportRow {
  where: string;
  node: NodeCreate;
}

export class ImportError extends Error {}

const FIELDS: Record<string, keyof NodeCreate> = {
  mac: 'mac',
  name: 'name',
  hostname: 'name',
  ip: 'ip',
  profile: 'profile',
  power_channel: 'powerChannel',
  powerchannel: 'powerChannel',
  'power-channel': 'powerChannel',
  tags: 'tags',
  notes: 'notes',
};

/** Reads the file's text as CSV (`.csv`, or any file whose first line has a comma and no colon) or YAML. */
export function parseImport(file: string, text: string): ImportRow[] {
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  const csv = /\.csv$/i.test(file) || (!/\.ya?ml$/i.test(file) && firstLine.includes(',') && !firstLine.includes(':'));
  const rows = csv ? csvRows(file, text) : yamlRows(file, text);
  const seen = new Map<string, string>();
  for (const row of rows) {
    const before = seen.get(row.node.mac);
    if (before !== undefined) throw new ImportError(`${row.where}: mac: ${row.node.mac} is already in ${before}`);
    seen.set(row.node.mac, row.where);
  }
  return rows;
}

function toNode(where: string, record: Record<string, unknown>, tagsFromText: (text: string) => string[]): ImportRow {
  const node: Partial<NodeCreate> = {};
  for (const [key, value] of Object.entries(record)) {
    const field = FIELDS[key.trim().toLowerCase()];
    if (field === undefined) throw new ImportError(`${where}: ${key}: unknown field, expected one of mac, name, ip, profile, power_channel, tags, notes`);
    if (value === undefined || value === null || value === '') continue;
    if (field === 'tags') {
      const tags = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? tagsFromText(value) : undefined;
      if (tags === undefined) throw new ImportError(`${where}: tags: expected a list of tags, found ${JSON.stringify(value)}`);
      node.tags = tags;
    } else {
      if (typeof value !== 'string' && typeof value !== 'number') throw new ImportError(`${where}: ${key}: expected text, found ${JSON.stringify(value)}`);
      node[field] = String(value);
    }
  }
  if (node.mac === undefined) throw new ImportError(`${where}: mac: missing (every node needs its MAC)`);
  const mac = parseMac(node.mac);
  if (mac === undefined) throw new ImportError(`${where}: mac: found ${JSON.stringify(node.mac)}, expected a MAC address like 52:54:00:12:34:56`);
  return { where, node: { ...node, mac } };
}

function yamlRows(file: string, text: string): ImportRow[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new ImportError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const list = Array.isArray(doc)
    ? doc
    : typeof doc === 'object' && doc !== null && Array.isArray((doc as { hosts?: unknown }).hosts)
      ? (doc as { hosts: unknown[] }).hosts
      : undefined;
  const prefix = Array.isArray(doc) ? '' : 'hosts';
  if (list === undefined) throw new ImportError(`${file}: expected a list of nodes, or a mapping with a 'hosts:' list`);
  return list.map((entry, i) => {
    const where = `${file}: ${prefix}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ImportError(`${where}: expected a mapping like { mac: ..., name: ... }`);
    return toNode(where, entry as Record<string, unknown>, (t) => t.split(/[\s,;]+/).filter(Boolean));
  });
}

function csvRows(file: string, text: string): ImportRow[] {
  const records = parseCsv(file, text);
  const header = records.shift();
  if (header === undefined) throw new ImportError(`${file}: empty (expected a header line like mac,name,ip,power_channel,tags)`);
  const names = header.cells.map((h) => h.trim());
  if (!names.some((n) => n.toLowerCase() === 'mac')) throw new ImportError(`${file}:${header.line}: the header has no 'mac' column (found ${names.join(',')})`);
  return records
    .filter((r) => r.cells.some((c) => c.trim() !== ''))
    .map((r) => {
      const where = `${file}:${r.line}`;
      if (r.cells.length !== names.length) throw new ImportError(`${where}: found ${r.cells.length} fields, expected ${names.length} as in the header`);
      const record = Object.fromEntries(names.map((n, i) => [n, r.cells[i].trim()]));
      // In a CSV cell tags are separated by ';' or spaces (commas separate the cells).
      return toNode(where, record, (t) => t.split(/[\s;]+/).filter(Boolean));
    });
}

/** RFC 4180 CSV: quoted cells may hold commas, quotes ("") and newlines. Each record keeps the line it starts on. */
export function parseCsv(file: string, text: string): { line: number; cells: string[] }[] {
  const out: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let start = 1;
  let quoted = false;
  let i = 0;
  const endRecord = () => {
    cells.push(cell);
    out.push({ line: start, cells });
    cells = [];
    cell = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else if (c === '#' && cell === '' && cells.length === 0) {
      // A comment line: skipped to its end.
      while (i < text.length && text[i] !== '\n') i++;
      line++;
      start = line;
    } else cell += c;
    i++;
  }
  if (quoted) throw new ImportError(`${file}:${start}: a quoted field is not closed`);
  if (cell !== '' || cells.length > 0) endRecord();
  return out;
}
